import * as core from '@actions/core'
import type { ECRClient } from '@aws-sdk/client-ecr'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

import type { NetworkSettings } from './aws.js'
import type * as SdkModule from './sdk.js'

/** The AWS SDK side of the main step (src/sdk.ts). */
export type AwsSdk = typeof SdkModule

let loading: Promise<AwsSdk> | undefined

/**
 * Loads the AWS SDK side once, on the first call that needs it. From the
 * bundle it is dist/sdk/index.js, beside dist/main/; from the sources (the
 * unit tests) it is src/sdk.ts.
 */
export function loadSdk(): Promise<AwsSdk> {
  if (loading === undefined) core.debug('Loading the AWS SDK')
  loading ??= (
    import.meta.url.endsWith('.ts')
      ? import(/* webpackIgnore: true */ './sdk.js')
      : import(/* webpackIgnore: true */ bundledSdk())
  ) as Promise<AwsSdk>
  return loading
}

function bundledSdk(): string {
  // Built from parts: webpack takes new URL(<literal>, import.meta.url)
  // for a file to copy into the bundle.
  const here = path.dirname(fileURLToPath(import.meta.url))
  return pathToFileURL(path.join(here, '..', 'sdk', 'index.js')).href
}

/**
 * An ECR client, or the way to make one when first needed: a run that
 * makes no ECR call through the SDK never loads it.
 */
export type EcrSource = ECRClient | (() => Promise<ECRClient>)

/** The client of an EcrSource, made now if it was not yet. */
export async function ecrClientOf(source: EcrSource): Promise<ECRClient> {
  return typeof source === 'function' ? source() : source
}

/** An ECR client for the run's region and network settings, made once. */
export function lazyEcrClient(
  region: string,
  network: NetworkSettings
): () => Promise<ECRClient> {
  let client: Promise<ECRClient> | undefined
  return () =>
    (client ??= loadSdk().then(sdk => sdk.createEcrClient(region, network)))
}
