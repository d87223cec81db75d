import * as core from '@actions/core'

import { ActionError } from './errors.js'
import { explainDenial } from './policy.js'
import { ecrClientOf, loadSdk, type EcrSource } from './sdk-loader.js'

/** Credentials for one registry; the password is masked already. */
export interface RegistryLogin {
  /** Registry host, as docker names it (no scheme). */
  registry: string
  username: string
  password: string
  expiresAt: Date | undefined
}

/**
 * Gets the registry's authorization token. The token and the password in
 * it are masked the moment they exist, before anything could print them.
 */
export async function getRegistryLogin(
  ecr: EcrSource,
  registryId: string | undefined
): Promise<RegistryLogin> {
  const { GetAuthorizationTokenCommand } = await loadSdk()
  const client = await ecrClientOf(ecr)
  const response = await client
    .send(
      new GetAuthorizationTokenCommand(
        // registryIds is deprecated in the API, but still the only way to
        // ask for another account's registry host in the answer.
        registryId ? { registryIds: [registryId] } : {}
      )
    )
    .catch((error: unknown) => {
      throw explainDenial(error, 'ecr:GetAuthorizationToken', '*')
    })

  const data = response.authorizationData?.[0]
  if (!data?.authorizationToken || !data.proxyEndpoint) {
    throw new ActionError(
      'ECR returned no authorization token: try the run again'
    )
  }
  return decodeLogin(
    data.authorizationToken,
    data.proxyEndpoint,
    data.expiresAt
  )
}

export function decodeLogin(
  token: string,
  proxyEndpoint: string,
  expiresAt: Date | undefined
): RegistryLogin {
  core.setSecret(token)
  const decoded = Buffer.from(token, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon <= 0 || colon === decoded.length - 1) {
    throw new ActionError(
      'The ECR authorization token is not in the user:password form'
    )
  }
  const password = decoded.slice(colon + 1)
  core.setSecret(password)

  return {
    registry: registryHost(proxyEndpoint),
    username: decoded.slice(0, colon),
    password,
    expiresAt
  }
}

/** `https://123.dkr.ecr.us-east-1.amazonaws.com` → the bare host. */
export function registryHost(proxyEndpoint: string): string {
  return proxyEndpoint.replace(/^https?:\/\//, '').replace(/\/+$/, '')
}
