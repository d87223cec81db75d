import { ActionError } from './errors.js'
import type { StoredManifest } from './registry.js'

/** What the registry holds for the requested tags, before anything is pushed. */
export type TagLookup = Map<string, StoredManifest | undefined>

export interface Conflict {
  tag: string
  /** Manifest digest the tag points at now. */
  digest: string
  /** Image ID (config digest) it points at now, for single images. */
  configDigest: string | undefined
}

export interface PushPlan {
  /** Tags already at this image: nothing to push for them. */
  unchanged: string[]
  /** Tags to point at this image. */
  toWrite: string[]
  /** Immutable tags at another image: the push must not start. */
  conflicts: Conflict[]
  /** The manifest already in the registry for this image, if any. */
  existing: StoredManifest | undefined
}

/**
 * Whether ECR refuses to move this tag. With an exclusion mutability,
 * tags matching a filter take the opposite of the base setting.
 */
export function isImmutableTag(
  tag: string,
  mutability: string | undefined,
  filters: string[]
): boolean {
  const excluded = filters.some(filter => wildcard(filter).test(tag))
  switch (mutability) {
    case 'IMMUTABLE':
      return true
    case 'IMMUTABLE_WITH_EXCLUSION':
      return !excluded
    case 'MUTABLE_WITH_EXCLUSION':
      return excluded
    default:
      return false
  }
}

function wildcard(filter: string): RegExp {
  const escaped = filter
    .split('*')
    .map(part => part.replace(/[.+?^${}()|[\]\\-]/g, '\\$&'))
  return new RegExp(`^${escaped.join('.*')}$`)
}

/**
 * Decides, for every tag, whether it already points at the image (same
 * image ID), must be written, or cannot be: all before the first byte is
 * pushed, so a release is never left half-tagged.
 */
export function planPush(
  tags: string[],
  lookup: TagLookup,
  imageId: string,
  mutability: string | undefined,
  filters: string[]
): PushPlan {
  // The manifest of this image as the registry already holds it: the
  // first tag whose manifest has our config. Other tags must match it
  // byte for byte, or all tags could not end at one digest.
  const existing = tags
    .map(tag => lookup.get(tag))
    .find(manifest => manifest?.configDigest === imageId)

  const plan: PushPlan = { unchanged: [], toWrite: [], conflicts: [], existing }
  for (const tag of tags) {
    const manifest = lookup.get(tag)
    if (!manifest) {
      plan.toWrite.push(tag)
    } else if (existing && manifest.digest === existing.digest) {
      plan.unchanged.push(tag)
    } else if (isImmutableTag(tag, mutability, filters)) {
      plan.conflicts.push({
        tag,
        digest: manifest.digest,
        configDigest: manifest.configDigest
      })
    } else {
      plan.toWrite.push(tag)
    }
  }
  return plan
}

/** The refusal for immutable tags that already hold another image. */
export function conflictError(
  conflicts: Conflict[],
  imageId: string,
  mutability: string | undefined
): ActionError {
  const lines = conflicts.map(
    conflict =>
      `  ${conflict.tag}: at ${conflict.digest}` +
      (conflict.configDigest ? ` (image ${conflict.configDigest})` : '')
  )
  return new ActionError(
    `The repository's tag mutability is ${mutability ?? 'IMMUTABLE'}, and ` +
      `${conflicts.length === 1 ? 'this tag already points' : 'these tags already point'} ` +
      `at another image than this build (image ${imageId}):\n` +
      `${lines.join('\n')}\n` +
      'Nothing was pushed. Use new tags for a changed image, or rebuild ' +
      'exactly the image that is there.'
  )
}
