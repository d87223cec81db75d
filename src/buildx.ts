import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { docker, type BuildRequest, type DockerSession } from './docker.js'
import { ActionError } from './errors.js'

/** A build for several platforms (or with a registry cache): buildx only. */
export interface BuildxRequest extends Omit<BuildRequest, 'references'> {
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

export async function hasBuildx(session: DockerSession): Promise<boolean> {
  try {
    await docker(session, ['buildx', 'version'], { silent: true })
    return true
  } catch {
    return false
  }
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
    '--platform',
    request.platforms.join(','),
    `--provenance=${attest}`,
    `--sbom=${attest}`,
    '--metadata-file',
    metadataFile,
    '--output',
    output
  ]
  for (const buildArg of request.buildArgs) args.push('--build-arg', buildArg)
  for (const label of request.labels) args.push('--label', label)
  if (request.target) args.push('--target', request.target)
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

/** Builds (and pushes by digest); returns the pushed manifest digest. */
export async function buildx(
  session: DockerSession,
  request: BuildxRequest
): Promise<string | undefined> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ecr-push-buildx-'))
  const metadataFile = path.join(dir, 'metadata.json')
  try {
    await docker(session, buildxArguments(request, metadataFile))
    if (!request.push) return undefined
    return digestFromMetadata(readFileSync(metadataFile, 'utf8'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The pushed digest buildx writes to its metadata file. */
export function digestFromMetadata(text: string): string {
  let metadata: unknown
  try {
    metadata = JSON.parse(text)
  } catch {
    metadata = undefined
  }
  const digest =
    metadata && typeof metadata === 'object'
      ? (metadata as Record<string, unknown>)['containerimage.digest']
      : undefined
  if (typeof digest !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(digest)) {
    throw new ActionError(
      'docker buildx finished but its metadata names no pushed digest'
    )
  }
  return digest
}
