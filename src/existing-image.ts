import * as core from '@actions/core'

import { ActionError, quote } from './errors.js'
import {
  conflictError,
  planTags,
  type TagLookup,
  type TagPlan
} from './push-plan.js'
import type { RegistryClient, StoredManifest } from './registry.js'

/** Where the tags go, and what the repository allows. */
export interface ExistingImageRequest {
  repository: string
  repositoryUri: string
  tags: string[]
  /** The repository's tag mutability and exclusion filters, as ECR has them. */
  mutability: string | undefined
  mutabilityExclusionFilters: string[]
  /** False: decide and report, but write nothing. */
  push: boolean
}

/** The image in the registry that the tags now point at. */
export interface ExistingImage {
  /** Manifest digest of the image every requested tag points at. */
  digest: string
  /** Config digest of a single image; '' for an image index. */
  imageId: string
  /** True when this run pointed at least one tag at it. */
  pushed: boolean
  /** For an index this run made: its platforms, in order. */
  platforms?: string[]
}

/**
 * Tags an image the registry already holds, through the registry API
 * alone: no build, no pull, no layer transfer, no docker. With a source
 * tag it promotes the image at that tag; otherwise (skip-existing) it
 * reuses the image a requested tag is at, and returns undefined when no
 * requested tag exists yet, so the caller builds.
 */
export async function useExistingImage(
  registry: RegistryClient,
  lookup: Promise<TagLookup>,
  request: ExistingImageRequest,
  sourceTag: string | undefined
): Promise<ExistingImage | undefined> {
  if (sourceTag !== undefined) {
    return promote(registry, lookup, request, sourceTag)
  }
  return reuseExisting(registry, await lookup, request)
}

/**
 * Points the tags at the manifest now at sourceTag. The manifest is
 * copied as the registry stores it, same bytes and media type, so the
 * digest stays the same for single images and image indexes alike.
 */
export async function promote(
  registry: RegistryClient,
  lookup: Promise<TagLookup>,
  request: ExistingImageRequest,
  sourceTag: string
): Promise<ExistingImage> {
  const [source, current] = await Promise.all([
    registry.getManifest(request.repository, sourceTag),
    lookup
  ])
  if (!source) {
    throw new ActionError(
      `Input "source-tag": repository ${request.repository} has no image ` +
        `tagged ${quote(sourceTag)}, so there is nothing to promote. Push ` +
        'the image under that tag first, or check the tag and repository.'
    )
  }
  core.info(`${sourceTag} is at ${source.digest} (${describe(source)})`)

  return tagManifest(registry, current, request, source, {
    wanted: `source-tag ${sourceTag} (${source.digest})`,
    outcome:
      'Nothing was tagged: ECR never moves an immutable tag. Promote to ' +
      'tags that are not taken yet.'
  })
}

/**
 * Points the tags at one manifest through the registry API, each tag
 * once: tags already there are left alone, and immutable tags at another
 * manifest stop it before anything is written (with push off, a
 * warning). The manifest may be new to the registry (a merged index):
 * the first tag written uploads it. `refusal` words the conflict: what
 * the tags were to point at, and what did not happen.
 */
export async function tagManifest(
  registry: RegistryClient,
  current: TagLookup,
  request: ExistingImageRequest,
  manifest: StoredManifest,
  refusal: { wanted: string; outcome: string }
): Promise<ExistingImage> {
  const plan = planTags(
    request.tags,
    current,
    manifest.digest,
    request.mutability,
    request.mutabilityExclusionFilters
  )
  if (plan.conflicts.length) {
    const error = conflictError(
      plan.conflicts,
      refusal.wanted,
      request.mutability,
      request.mutabilityExclusionFilters,
      refusal.outcome
    )
    if (request.push) throw error
    core.warning(error.message)
  }
  return writeTags(registry, request, manifest, plan)
}

/**
 * An image buildx pushed by digest, untagged: the tags are pointed at it.
 * When an immutable tag holds another image, nothing is tagged, and the
 * pushed image stays untagged until a lifecycle rule removes it.
 */
export async function tagPushedImage(
  registry: RegistryClient,
  lookup: Promise<TagLookup>,
  request: ExistingImageRequest,
  digest: string
): Promise<ExistingImage> {
  const [pushed, current] = await Promise.all([
    registry.getManifest(request.repository, digest),
    lookup
  ])
  if (!pushed) {
    throw new ActionError(
      `docker buildx reported pushing ${digest}, but the registry does ` +
        `not serve that manifest for ${request.repository}`
    )
  }
  core.info(`Pushed ${request.repositoryUri}@${digest} (${describe(pushed)})`)

  return tagManifest(registry, current, request, pushed, {
    wanted: `this build (${digest})`,
    outcome:
      'Nothing was tagged: ECR never moves an immutable tag. The build ' +
      `stays in the repository untagged, as ${request.repositoryUri}@` +
      `${digest}, until a lifecycle rule for untagged images removes it. ` +
      'Use new tags for a changed image.'
  })
}

/**
 * skip-existing: when a requested tag exists, its image is the image;
 * the missing tags are pointed at it. Tags that exist at different
 * images leave no one image to reuse, and fail the step by name.
 */
export async function reuseExisting(
  registry: RegistryClient,
  lookup: TagLookup,
  request: ExistingImageRequest
): Promise<ExistingImage | undefined> {
  const found = request.tags.flatMap(tag => {
    const manifest = lookup.get(tag)
    return manifest ? [{ tag, manifest }] : []
  })
  const first = found[0]
  if (!first) {
    core.info('skip-existing: none of the tags exists yet; building')
    return undefined
  }

  const digests = new Set(found.map(({ manifest }) => manifest.digest))
  if (digests.size > 1) {
    const lines = found.map(
      ({ tag, manifest }) => `  ${tag}: at ${manifest.digest}`
    )
    throw new ActionError(
      'skip-existing: the tags that exist point at different images, so ' +
        `there is no one image to reuse:\n${lines.join('\n')}\n` +
        'Nothing was built or pushed. Ask only for tags of one image, or ' +
        'leave skip-existing off to build.'
    )
  }

  const manifest = first.manifest
  const at = found.map(({ tag }) => tag).join(', ')
  core.info(
    `skip-existing: ${at} already at ${manifest.digest} ` +
      `(${describe(manifest)}); reusing it, nothing is built`
  )
  // Every tag that exists is at this digest, so none can conflict.
  const plan = planTags(
    request.tags,
    lookup,
    manifest.digest,
    request.mutability,
    request.mutabilityExclusionFilters
  )
  return writeTags(registry, request, manifest, plan)
}

async function writeTags(
  registry: RegistryClient,
  request: ExistingImageRequest,
  manifest: StoredManifest,
  plan: TagPlan
): Promise<ExistingImage> {
  const image = {
    digest: manifest.digest,
    imageId: manifest.configDigest ?? '',
    pushed: false
  }
  for (const tag of plan.unchanged) {
    core.info(`${tag} is already at ${manifest.digest}: nothing to write`)
  }
  if (!request.push) {
    core.info(
      'push is false: nothing was written (would tag ' +
        `${plan.toWrite.join(', ') || 'nothing'})`
    )
    return image
  }

  const writeTag = async (tag: string): Promise<void> => {
    await registry.putManifest(request.repository, tag, manifest)
    core.info(`Tagged ${request.repositoryUri}:${tag} at ${manifest.digest}`)
  }
  // The first write may be the one that stores the manifest; the others
  // then only add tags to it, together.
  const [first, ...others] = plan.toWrite
  if (first !== undefined) await writeTag(first)
  await Promise.all(others.map(writeTag))
  if (!plan.toWrite.length) {
    core.info('Every tag was already at this image: nothing written')
  }
  return { ...image, pushed: plan.toWrite.length > 0 }
}

function describe(manifest: StoredManifest): string {
  // An image index has no config of its own: its media type says what it is.
  return manifest.configDigest
    ? `image ${manifest.configDigest}`
    : manifest.mediaType
}
