import * as core from '@actions/core'

import { ActionError, errorMessage } from './errors.js'
import {
  tagManifest,
  type ExistingImage,
  type ExistingImageRequest
} from './existing-image.js'
import type { TagLookup } from './push-plan.js'
import { sha256, type RegistryClient, type StoredManifest } from './registry.js'

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const INDEX_TYPES = new Set([
  OCI_INDEX,
  'application/vnd.docker.distribution.manifest.list.v2+json'
])

/** A platform as an image index names it. */
export interface Platform {
  architecture: string
  os: string
  variant?: string
  'os.version'?: string
}

interface MergeSource {
  /** What the user gave: a tag, a digest, or a full image reference. */
  given: string
  manifest: StoredManifest
  platform: Platform
}

/**
 * Turns what a matrix job passes on (a tag, `sha256:…`, or a full
 * `<repository-uri>:<tag>` / `<repository-uri>@sha256:…` such as its
 * image-uri output) into a reference inside this repository.
 */
export function sourceReference(given: string, repositoryUri: string): string {
  const at = given.lastIndexOf('@')
  if (at >= 0) {
    checkRepository(given, given.slice(0, at), repositoryUri)
    return given.slice(at + 1)
  }
  if (/^sha256:[a-f0-9]{64}$/.test(given)) return given
  const slash = given.lastIndexOf('/')
  const colon = given.lastIndexOf(':')
  if (slash >= 0 && colon > slash) {
    checkRepository(given, given.slice(0, colon), repositoryUri)
    return given.slice(colon + 1)
  }
  if (slash >= 0) {
    throw new ActionError(
      `Merge source ${JSON.stringify(given)} names no tag or digest`
    )
  }
  return given
}

function checkRepository(given: string, named: string, repositoryUri: string) {
  if (named !== repositoryUri) {
    throw new ActionError(
      `Merge source ${JSON.stringify(given)} is not in ${repositoryUri}: an ` +
        'image index can only reference images of its own repository'
    )
  }
}

/** The platform string people write: os/arch[/variant]. */
export function platformName(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant]
    .filter(Boolean)
    .join('/')
}

// The variant a platform has when none is written, as containerd matches
// them: linux/arm64 and linux/arm64/v8 are one platform. Windows images
// for different OS versions are not.
const DEFAULT_VARIANTS: Record<string, string> = {
  amd64: 'v1',
  arm64: 'v8',
  arm: 'v7'
}

function samePlatformKey(platform: Platform): string {
  const variant =
    platform.variant ?? DEFAULT_VARIANTS[platform.architecture] ?? ''
  return [platform.os, platform.architecture, variant, platform['os.version']]
    .filter(Boolean)
    .join('/')
}

/** An image index made from the sources, not yet in the registry. */
export interface MergedIndex {
  manifest: StoredManifest
  /** The platform of each entry, in the order of the sources. */
  platforms: string[]
}

/**
 * Reads each source image and writes nothing: the index is returned for
 * the caller to tag. Each entry's platform comes from its image config,
 * never from what the user says it is.
 */
export async function buildIndex(
  registry: RegistryClient,
  repository: string,
  repositoryUri: string,
  sources: string[]
): Promise<MergedIndex> {
  // Every source is checked to be of this repository before any is read.
  for (const given of sources) sourceReference(given, repositoryUri)
  const read = await Promise.allSettled(
    sources.map(given => readSource(registry, repository, repositoryUri, given))
  )
  // Reported in the order given, whichever answer came first.
  const merged: MergeSource[] = []
  for (const outcome of read) {
    if (outcome.status === 'rejected') throw outcome.reason
    const source = outcome.value
    const key = samePlatformKey(source.platform)
    const twin = merged.find(other => samePlatformKey(other.platform) === key)
    if (twin) {
      throw new ActionError(
        `Merge sources ${JSON.stringify(twin.given)} and ` +
          `${JSON.stringify(source.given)} are both ` +
          `${platformName(source.platform)}: an index holds one image per ` +
          'platform. Check that each build job built for its own platform.'
      )
    }
    core.info(
      `${source.given}: ${platformName(source.platform)} at ` +
        source.manifest.digest
    )
    merged.push(source)
  }
  return {
    manifest: indexOf(merged),
    platforms: merged.map(source => platformName(source.platform))
  }
}

/**
 * merge-sources: writes one image index over the sources and puts the
 * tags on it, each tag once, without docker. Immutable tags at another
 * manifest stop it before anything is written. The same sources in the
 * same order make the same index, so a rerun finds its tags in place.
 */
export async function mergeImages(
  registry: RegistryClient,
  lookup: Promise<TagLookup>,
  request: ExistingImageRequest,
  sources: string[]
): Promise<ExistingImage> {
  const [merged, current] = await Promise.all([
    buildIndex(registry, request.repository, request.repositoryUri, sources),
    lookup
  ])
  const index = merged.manifest
  core.info(`Image index ${index.digest}: ${merged.platforms.join(', ')}`)

  const image = await tagManifest(registry, current, request, index, {
    wanted: `the index of ${sources.join(', ')} (${index.digest})`,
    outcome:
      'Nothing was written: ECR never moves an immutable tag. Merge under ' +
      'tags that are not taken yet.'
  })
  return { ...image, platforms: merged.platforms }
}

async function readSource(
  registry: RegistryClient,
  repository: string,
  repositoryUri: string,
  given: string
): Promise<MergeSource> {
  const reference = sourceReference(given, repositoryUri)
  const manifest = await registry.getManifest(repository, reference)
  if (!manifest) {
    throw new ActionError(
      `Merge source ${JSON.stringify(given)} does not exist in ${repositoryUri}: ` +
        'did the job that builds it finish and push?'
    )
  }
  if (INDEX_TYPES.has(manifest.mediaType)) {
    throw new ActionError(
      `Merge source ${JSON.stringify(given)} is itself an image index ` +
        `(${manifest.mediaType}): merge the single-platform images it ` +
        'was made from. A buildx build with attestations makes an index ' +
        'even for one platform: build the sources with attestations off.'
    )
  }
  if (!manifest.configDigest) {
    throw new ActionError(
      `Merge source ${JSON.stringify(given)} is no single image ` +
        `(${manifest.mediaType}, without a config), so its platform ` +
        'cannot be known'
    )
  }
  const blob = await registry.getBlob(repository, manifest.configDigest)
  return {
    given,
    manifest,
    platform: platformOf(parseConfig(blob, given), given)
  }
}

function parseConfig(blob: Buffer, given: string): Record<string, unknown> {
  let config: unknown
  try {
    config = JSON.parse(blob.toString('utf8'))
  } catch (error) {
    throw new ActionError(
      `Merge source ${JSON.stringify(given)} has an image config that is ` +
        `not JSON: ${errorMessage(error)}`
    )
  }
  return config && typeof config === 'object' && !Array.isArray(config)
    ? (config as Record<string, unknown>)
    : {}
}

function platformOf(config: Record<string, unknown>, given: string): Platform {
  const { architecture, os, variant } = config
  const osVersion = config['os.version']
  if (typeof architecture !== 'string' || typeof os !== 'string') {
    throw new ActionError(
      `Merge source ${JSON.stringify(given)} has an image config without ` +
        'os and architecture'
    )
  }
  return {
    architecture,
    os,
    ...(typeof variant === 'string' && variant ? { variant } : {}),
    ...(typeof osVersion === 'string' && osVersion
      ? { 'os.version': osVersion }
      : {})
  }
}

/**
 * The OCI image index over the sources, in the order given, so that the
 * same sources always make the same bytes and the same digest: a rerun
 * of the merge finds its tags already in place.
 */
function indexOf(sources: MergeSource[]): StoredManifest {
  const index = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: sources.map(source => ({
      mediaType: source.manifest.mediaType,
      digest: source.manifest.digest,
      size: source.manifest.body.length,
      platform: source.platform
    }))
  }
  const body = Buffer.from(JSON.stringify(index))
  return {
    digest: sha256(body),
    mediaType: OCI_INDEX,
    body,
    configDigest: undefined
  }
}
