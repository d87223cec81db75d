/**
 * The run's first two ECR calls, made by the entry (dist/index.js) as
 * soon as the inputs are read, as signed requests of its own: the token
 * (GetAuthorizationToken) and the repository (DescribeRepositories).
 *
 * The AWS SDK is most of what the main step loads, and most of its
 * start-up time (src/sdk.ts). With these two answered without it, the
 * registry lookups start sooner, and a run that needs no other call (a
 * rerun, usually) never loads the SDK at all.
 *
 * They are made only where the SDK would send the same requests with the
 * same credentials to the same endpoint (directRoute). Any other answer
 * than a success or "no such repository", or no answer, leaves the call
 * to the SDK, which then makes it as it always does, with its retries and
 * its error messages; these requests are never retried themselves.
 */
import * as core from '@actions/core'
import type { Repository } from '@aws-sdk/client-ecr'
import { createHash, createHmac } from 'node:crypto'
import { existsSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'

import { decodeLogin, type RegistryLogin } from './auth.js'
import { errorMessage } from './errors.js'
import type { Settings } from './inputs.js'
import { seconds } from './limits.js'
import { proxyFor } from './proxy.js'
import { USER_AGENT } from './user-agent.js'

/** Static credentials, as the SDK reads them from the environment. */
export interface Credentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

/** Where and as whom the direct calls go. */
export interface DirectRoute {
  endpoint: URL
  region: string
  credentials: Credentials
}

/** The repository as DescribeRepositories found it; undefined: missing. */
export interface FoundRepository {
  repository: Repository | undefined
}

/** Each answer is undefined when the SDK is to make that call instead. */
export interface DirectCalls {
  login: Promise<RegistryLogin | undefined>
  repository: Promise<FoundRepository | undefined>
  /** Where they went: a missing repository is created the same way. */
  route: DirectRoute
  timeoutMs: number
}

/** CreateRepository's answer: made, or made by someone else first. */
export type CreatedRepository =
  { repository: Repository } | { alreadyExists: true }

type RouteSettings = Pick<Settings, 'registryType' | 'region' | 'partition'>

const ECR_TARGET = 'AmazonEC2ContainerRegistry_V20150921'

/**
 * Where the SDK's ECR client would send this run's requests, signed with
 * which credentials; or why the action cannot be sure, in which case the
 * SDK makes every call. The SDK's default credential chain takes the
 * environment's keys first unless AWS_PROFILE names a profile; its
 * endpoint is AWS_ENDPOINT_URL_ECR, then AWS_ENDPOINT_URL, then a config
 * file's, then the region's own.
 */
export function directRoute(
  settings: RouteSettings,
  env: NodeJS.ProcessEnv,
  now: Date = new Date(),
  fileExists: (file: string) => boolean = existsSync
): DirectRoute | string {
  if (settings.registryType !== 'private') return 'ECR Public'
  if (env.AWS_PROFILE) return 'AWS_PROFILE names a profile'
  const accessKeyId = env.AWS_ACCESS_KEY_ID
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY
  if (!accessKeyId || !secretAccessKey) {
    return 'no access key in the environment'
  }
  const expiration = env.AWS_CREDENTIAL_EXPIRATION
  if (expiration && !(Date.parse(expiration) > now.getTime())) {
    return 'AWS_CREDENTIAL_EXPIRATION is past or unreadable'
  }
  if (isTrue(env.AWS_USE_FIPS_ENDPOINT)) return 'FIPS endpoints are asked for'
  if (isTrue(env.AWS_USE_DUALSTACK_ENDPOINT)) {
    return 'dual-stack endpoints are asked for'
  }

  const configured = isTrue(env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS)
    ? undefined
    : env.AWS_ENDPOINT_URL_ECR || env.AWS_ENDPOINT_URL
  let endpoint: URL
  if (configured) {
    try {
      endpoint = new URL(configured)
    } catch {
      return 'the configured endpoint is not a URL'
    }
    if (!/^https?:$/.test(endpoint.protocol)) {
      return 'the configured endpoint is neither http nor https'
    }
    if (endpoint.pathname !== '/' || endpoint.search || endpoint.username) {
      return 'the configured endpoint has a path, a query or a user'
    }
  } else {
    const configFile =
      env.AWS_CONFIG_FILE || path.join(os.homedir(), '.aws', 'config')
    if (fileExists(configFile)) {
      return `${configFile} may set the endpoint`
    }
    if (settings.partition !== 'aws') {
      return `the ${settings.partition} partition`
    }
    endpoint = new URL(`https://api.ecr.${settings.region}.amazonaws.com/`)
  }

  try {
    if (proxyFor(endpoint, env)) return 'a proxy is set for the endpoint'
  } catch {
    return 'a proxy variable is malformed'
  }
  return {
    endpoint,
    region: settings.region,
    credentials: {
      accessKeyId,
      secretAccessKey,
      ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {})
    }
  }
}

function isTrue(value: string | undefined): boolean {
  return value?.trim().toLowerCase() === 'true'
}

/**
 * Starts both calls, or returns undefined (the SDK makes them) when the
 * route is not certain. Neither rejects.
 */
export function startDirectCalls(
  settings: RouteSettings &
    Pick<Settings, 'registryId' | 'repository' | 'networkTimeout'>,
  env: NodeJS.ProcessEnv = process.env
): DirectCalls | undefined {
  const route = directRoute(settings, env)
  if (typeof route === 'string') {
    core.debug(`ECR calls go through the AWS SDK: ${route}`)
    return undefined
  }
  const timeoutMs = seconds(settings.networkTimeout)
  const registryId = settings.registryId
  const token = callEcr(
    route,
    'GetAuthorizationToken',
    // registryIds: see getRegistryLogin.
    registryId ? { registryIds: [registryId] } : {},
    timeoutMs
  )
  const describe = callEcr(
    route,
    'DescribeRepositories',
    {
      repositoryNames: [settings.repository],
      ...(registryId ? { registryId } : {})
    },
    timeoutMs
  )
  return {
    login: token.then(loginOf, () => undefined),
    repository: describe.then(repositoryOf, () => undefined),
    route,
    timeoutMs
  }
}

/**
 * CreateRepository, the same way, for a repository the lookup found
 * missing; undefined when the SDK is to make the call instead. A write:
 * an answer that was lost leaves the SDK to find the repository there
 * already, which it reports as made by another run.
 */
export async function createRepository(
  calls: Pick<DirectCalls, 'route' | 'timeoutMs'>,
  input: object
): Promise<CreatedRepository | undefined> {
  let answer: EcrAnswer
  try {
    answer = await callEcr(
      calls.route,
      'CreateRepository',
      input,
      calls.timeoutMs
    )
  } catch {
    return undefined
  }
  if (answer.status === 200) {
    const made = (answer.body as { repository?: unknown }).repository
    const repository = repositoryFromJson(made)
    return repository ? { repository } : fallBack('CreateRepository', answer)
  }
  if (answer.errorType === 'RepositoryAlreadyExistsException') {
    return { alreadyExists: true }
  }
  return fallBack('CreateRepository', answer)
}

/** What ECR answered: the status, the error type if any, the JSON. */
export interface EcrAnswer {
  status: number
  errorType: string | undefined
  body: unknown
}

function loginOf(answer: EcrAnswer): RegistryLogin | undefined {
  if (answer.status !== 200) return fallBack('GetAuthorizationToken', answer)
  const data = (answer.body as { authorizationData?: unknown[] })
    .authorizationData?.[0] as
    | {
        authorizationToken?: unknown
        proxyEndpoint?: unknown
        expiresAt?: unknown
      }
    | undefined
  const token = data?.authorizationToken
  const proxyEndpoint = data?.proxyEndpoint
  if (typeof token !== 'string' || typeof proxyEndpoint !== 'string') {
    return fallBack('GetAuthorizationToken', answer)
  }
  // Masked here, the moment it exists, as the SDK's answer would be.
  try {
    return decodeLogin(token, proxyEndpoint, dateOf(data?.expiresAt))
  } catch {
    return fallBack('GetAuthorizationToken', answer)
  }
}

function repositoryOf(answer: EcrAnswer): FoundRepository | undefined {
  if (answer.status === 200) {
    const repository = repositoryFromJson(
      (answer.body as { repositories?: unknown[] }).repositories?.[0]
    )
    return repository
      ? { repository }
      : fallBack('DescribeRepositories', answer)
  }
  if (answer.errorType === 'RepositoryNotFoundException') {
    return { repository: undefined }
  }
  return fallBack('DescribeRepositories', answer)
}

/** A repository as the SDK gives it (its one timestamp a Date), if it is one. */
function repositoryFromJson(value: unknown): Repository | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const found = value as Record<string, unknown>
  if (typeof found.repositoryUri !== 'string') return undefined
  const repository = { ...found } as Repository
  if (found.createdAt !== undefined) {
    repository.createdAt = dateOf(found.createdAt)
  }
  return repository
}

/** undefined, saying why; the body is never told (it may hold a token). */
function fallBack(operation: string, answer: EcrAnswer): undefined {
  core.debug(
    `${operation} answered ${answer.status}` +
      `${answer.errorType ? ` ${answer.errorType}` : ''}: asking through the ` +
      'AWS SDK'
  )
  return undefined
}

function dateOf(value: unknown): Date | undefined {
  return typeof value === 'number' ? new Date(value * 1000) : undefined
}

/**
 * One ECR API call (JSON 1.1 protocol), signed with Signature Version 4.
 * Rejects when no answer came within the timeout.
 */
export function callEcr(
  route: DirectRoute,
  operation: string,
  input: object,
  timeoutMs: number,
  now: Date = new Date()
): Promise<EcrAnswer> {
  const body = JSON.stringify(input)
  const headers = signedHeaders(
    {
      method: 'POST',
      path: '/',
      headers: {
        'content-length': String(Buffer.byteLength(body)),
        'content-type': 'application/x-amz-json-1.1',
        host: route.endpoint.host,
        'x-amz-target': `${ECR_TARGET}.${operation}`
      },
      body
    },
    route.credentials,
    route.region,
    'ecr',
    now
  )
  const transport = route.endpoint.protocol === 'https:' ? https : http
  return new Promise((resolve, reject) => {
    const request = transport.request(
      route.endpoint,
      {
        method: 'POST',
        headers: { ...headers, 'user-agent': USER_AGENT },
        // One request, no connection kept: nothing holds the process.
        agent: false,
        signal: AbortSignal.timeout(timeoutMs)
      },
      response => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.once('error', reject)
        response.once('end', () => {
          const status = response.statusCode ?? 0
          let parsed: unknown = {}
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}')
          } catch {
            parsed = {}
          }
          resolve({
            status,
            errorType: errorTypeOf(response.headers, parsed),
            body: parsed ?? {}
          })
        })
      }
    )
    request.once('error', error => {
      core.debug(`${operation} got no answer: ${errorMessage(error)}`)
      reject(error)
    })
    request.end(body)
  })
}

/** The error's name, from the header or the body, without a namespace. */
function errorTypeOf(
  headers: http.IncomingHttpHeaders,
  body: unknown
): string | undefined {
  const header = headers['x-amzn-errortype']
  const fromBody =
    typeof body === 'object' && body !== null
      ? (body as { __type?: unknown }).__type
      : undefined
  const raw =
    (typeof header === 'string' && header) ||
    (typeof fromBody === 'string' && fromBody) ||
    undefined
  if (!raw) return undefined
  // "aws.ecr#Name", or "Name:http://internal.amazon.com/...".
  return raw.split(':')[0]?.split('#').pop()
}

/** A request to sign: its headers are all signed, names in lower case. */
export interface SignableRequest {
  method: string
  path: string
  headers: Record<string, string>
  body: string
}

/**
 * The request's headers with x-amz-date, the payload's hash, the session
 * token and the Authorization of AWS Signature Version 4 added, as the
 * SDK's signer adds them: every header given is signed, and the path
 * must be canonical already.
 */
export function signedHeaders(
  request: SignableRequest,
  credentials: Credentials,
  region: string,
  service: string,
  now: Date
): Record<string, string> {
  const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '')
  const day = amzDate.slice(0, 8)
  const payloadHash = sha256Hex(request.body)
  const headers: Record<string, string> = {
    ...request.headers,
    'x-amz-content-sha256': payloadHash,
    'x-amz-date': amzDate,
    ...(credentials.sessionToken
      ? { 'x-amz-security-token': credentials.sessionToken }
      : {})
  }
  const names = Object.keys(headers).sort()
  const signedNames = names.join(';')
  const canonicalRequest = [
    request.method,
    request.path,
    '',
    ...names.map(name => `${name}:${canonicalValue(headers[name] ?? '')}`),
    '',
    signedNames,
    payloadHash
  ].join('\n')
  const scope = `${day}/${region}/${service}/aws4_request`
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    amzDate,
    scope,
    sha256Hex(canonicalRequest)
  ].join('\n')
  let key: Buffer = hmac(`AWS4${credentials.secretAccessKey}`, day)
  for (const part of [region, service, 'aws4_request']) key = hmac(key, part)
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex')
  return {
    ...headers,
    authorization:
      `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, ` +
      `SignedHeaders=${signedNames}, Signature=${signature}`
  }
}

function canonicalValue(value: string): string {
  return value.trim().replace(/\s+/g, ' ')
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex')
}

function hmac(key: string | Buffer, text: string): Buffer {
  return createHmac('sha256', key).update(text, 'utf8').digest()
}
