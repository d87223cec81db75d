import * as core from '@actions/core'
import { readFileSync } from 'node:fs'

import {
  docker,
  sourceArguments,
  withResultFile,
  type BuildRequest,
  type DockerSession
} from './docker.js'
import { ActionError } from './errors.js'
import type { Settings } from './inputs.js'
import { explainDeniedText, registryRepositoryArn } from './policy.js'
import { describeMutability, isImmutableTag } from './push-plan.js'

/** A build for several platforms (or with a registry cache): buildx only. */
export interface BuildxRequest extends Omit<
  BuildRequest,
  'references' | 'platform'
> {
  /** `os/arch[/variant]` entries, e.g. linux/amd64 and linux/arm64. */
  platforms: string[]
  /** Provenance and SBOM attestations; off unless asked for. */
  attestations: boolean
  /** `<repository-uri>`: the image is pushed there by digest, untagged. */
  repositoryUri: string
  /** Push the result; false keeps it in the build cache only. */
  push: boolean
  /** `<repository-uri>:<cache-tag>` for a registry cache in ECR. */
  cacheReference: string | undefined
  /** Raw `--cache-from` / `--cache-to` values, passed as given. */
  cacheFrom: string[]
  cacheTo: string[]
}

/** What buildx made: the digest it pushed, and the image ID when it has one. */
export interface BuildxResult {
  /** Manifest (or index) digest; always set after a push. */
  digest: string | undefined
  /** Image ID of a single-platform image, when buildx names it. */
  configDigest: string | undefined
}

type BuilderSettings = Pick<
  Settings,
  'platforms' | 'attestations' | 'cacheTag' | 'cacheFrom' | 'cacheTo'
>

export async function hasBuildx(session: DockerSession): Promise<boolean> {
  try {
    await docker(session, ['buildx', 'version'], {
      silent: true,
      deadline: session.limits?.network
    })
    return true
  } catch {
    return false
  }
}

/** The inputs that only buildx can carry out, for the message; or undefined. */
export function buildxOnly(settings: BuilderSettings): string | undefined {
  const asked = [
    settings.platforms.length > 1
      ? `platforms ${settings.platforms.join(',')}`
      : '',
    settings.attestations ? 'attestations' : '',
    settings.cacheTag !== undefined ? `cache-tag ${settings.cacheTag}` : '',
    settings.cacheFrom.length ? 'cache-from' : '',
    settings.cacheTo.length ? 'cache-to' : ''
  ].filter(Boolean)
  return asked.length ? asked.join(' and ') : undefined
}

/**
 * Whether this run builds with buildx: whenever platforms are given and
 * buildx is there, and always for what only buildx can do, which fails
 * the run when buildx is missing. One platform without buildx falls back
 * to docker build --platform.
 */
export async function useBuildx(
  session: DockerSession,
  settings: BuilderSettings
): Promise<boolean> {
  const needs = buildxOnly(settings)
  if (needs === undefined && settings.platforms.length === 0) return false
  if (await hasBuildx(session)) return true
  if (needs !== undefined) {
    throw new ActionError(
      `${needs} needs docker buildx, which this runner does not have: ` +
        'add docker/setup-buildx-action before this step'
    )
  }
  core.info(
    `docker buildx is not installed: building ${settings.platforms[0]} ` +
      'with docker build --platform'
  )
  return false
}

/**
 * The refusal for a registry cache under a tag the repository keeps
 * immutable: every build rewrites the cache, so the second one would
 * fail after pushing its image. Undefined when the tag may move.
 */
export function immutableCacheTag(
  cacheTag: string,
  mutability: string | undefined,
  filters: string[]
): ActionError | undefined {
  if (!isImmutableTag(cacheTag, mutability, filters)) return undefined
  return new ActionError(
    `Input "cache-tag": ${JSON.stringify(cacheTag)} is immutable in this ` +
      `repository (${describeMutability(mutability, filters)}), but ` +
      'every build rewrites the cache at that tag, so the next build ' +
      'would fail. Use IMMUTABLE_WITH_EXCLUSION with the cache tag among ' +
      'the exclusion filters, or a mutable repository. Nothing was built.'
  )
}

/**
 * The `docker buildx build` arguments. The image is pushed by digest with
 * no tag: tags are written afterwards, each once, through the registry
 * API, so immutable repositories and reruns are handled as for a single
 * platform image.
 */
export function buildxArguments(
  request: BuildxRequest,
  metadataFile: string
): string[] {
  // Attestations turn every push into an index with an unknown/unknown
  // entry, which AWS Lambda and some ECR tooling reject.
  const attest = request.attestations ? 'true' : 'false'
  const output = request.push
    ? `type=image,name=${request.repositoryUri},push-by-digest=true,name-canonical=true,push=true`
    : 'type=image,push=false'
  const args = [
    'buildx',
    'build',
    '--file',
    request.dockerfile,
    // Without platforms (a cache alone asked for buildx), the runner's own.
    ...(request.platforms.length
      ? ['--platform', request.platforms.join(',')]
      : []),
    `--provenance=${attest}`,
    `--sbom=${attest}`,
    '--metadata-file',
    metadataFile,
    '--output',
    output
  ]
  args.push(...sourceArguments(request))
  if (request.cacheReference) {
    args.push('--cache-from', `type=registry,ref=${request.cacheReference}`)
    if (request.push) {
      // ECR stores a cache only as an image manifest with OCI media types.
      args.push(
        '--cache-to',
        `type=registry,ref=${request.cacheReference},mode=max,image-manifest=true,oci-mediatypes=true`
      )
    }
  }
  for (const from of request.cacheFrom) args.push('--cache-from', from)
  for (const to of request.cacheTo) args.push('--cache-to', to)
  args.push(request.context)
  return args
}

/**
 * Builds, and with push pushes by digest. The push happens inside the
 * build, so build-timeout bounds both, and the build is not retried.
 */
export async function buildx(
  session: DockerSession,
  request: BuildxRequest
): Promise<BuildxResult> {
  return withResultFile('metadata.json', async metadataFile => {
    await docker(session, buildxArguments(request, metadataFile), {
      deadline: session.limits?.build,
      stuck: 'raise build-timeout if the build and push need longer'
    }).catch((error: unknown) => {
      // buildx quotes ECR's denial of the push or the cache.
      throw explainDeniedText(error, repositoryArnOf(request.repositoryUri))
    })
    return resultFromMetadata(readMetadata(metadataFile), request.push)
  })
}

function readMetadata(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}

function repositoryArnOf(repositoryUri: string): string {
  const slash = repositoryUri.indexOf('/')
  return (
    registryRepositoryArn(
      repositoryUri.slice(0, slash),
      repositoryUri.slice(slash + 1)
    ) ?? repositoryUri
  )
}

const DIGEST = /^sha256:[a-f0-9]{64}$/

function parseMetadata(text: string): Record<string, unknown> {
  try {
    const metadata: unknown = JSON.parse(text)
    return metadata && typeof metadata === 'object'
      ? (metadata as Record<string, unknown>)
      : {}
  } catch {
    return {}
  }
}

function digestField(
  metadata: Record<string, unknown>,
  name: string
): string | undefined {
  const value = metadata[name]
  return typeof value === 'string' && DIGEST.test(value) ? value : undefined
}

/** The pushed digest buildx writes to its metadata file. */
export function digestFromMetadata(text: string): string {
  const digest = digestField(parseMetadata(text), 'containerimage.digest')
  if (digest === undefined) {
    throw new ActionError(
      'docker buildx finished but its metadata names no pushed digest'
    )
  }
  return digest
}

/**
 * What buildx's metadata says it made. After a push the digest must be
 * there; without one, whatever buildx reports is taken as it is.
 */
export function resultFromMetadata(
  text: string,
  pushed: boolean
): BuildxResult {
  const metadata = parseMetadata(text)
  return {
    digest: pushed
      ? digestFromMetadata(text)
      : digestField(metadata, 'containerimage.digest'),
    configDigest: digestField(metadata, 'containerimage.config.digest')
  }
}
