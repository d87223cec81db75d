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

/** What each tag needs to end at one manifest. */
export interface TagPlan {
  /** Tags already at the manifest: nothing to write for them. */
  unchanged: string[]
  /** Tags to point at the manifest. */
  toWrite: string[]
  /** Immutable tags at another manifest: nothing may be written. */
  conflicts: Conflict[]
}

export interface PushPlan extends TagPlan {
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

  const plan = planTags(tags, lookup, existing?.digest, mutability, filters)
  return { ...plan, existing }
}

/**
 * Decides, for every tag, whether it is already at the manifest with this
 * digest, must be pointed at it, or cannot be because it is immutable and
 * holds another manifest. Without a digest (an image the registry does
 * not have yet), every tag that exists is at another manifest.
 */
export function planTags(
  tags: string[],
  lookup: TagLookup,
  digest: string | undefined,
  mutability: string | undefined,
  filters: string[]
): TagPlan {
  const plan: TagPlan = { unchanged: [], toWrite: [], conflicts: [] }
  for (const tag of tags) {
    const manifest = lookup.get(tag)
    if (!manifest) {
      plan.toWrite.push(tag)
    } else if (manifest.digest === digest) {
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

/** The repository's mutability as ECR applies it, for messages. */
export function describeMutability(
  mutability: string | undefined,
  filters: string[]
): string {
  const name = mutability ?? 'IMMUTABLE'
  if (!name.endsWith('_WITH_EXCLUSION')) return name
  const excepted = name.startsWith('IMMUTABLE') ? 'mutable' : 'immutable'
  return `${name} (${excepted}: ${filters.join(', ')})`
}

/**
 * The refusal for immutable tags that already hold another manifest. It
 * names each tag with what it holds, what it was to point at (`wanted`,
 * e.g. "this build (image sha256:...)"), and the mutability that forbids
 * the move; `outcome` says what did not happen and what to do instead.
 */
export function conflictError(
  conflicts: Conflict[],
  wanted: string,
  mutability: string | undefined,
  filters: string[],
  outcome: string
): ActionError {
  const lines = conflicts.map(
    conflict =>
      `  ${conflict.tag}: at ${conflict.digest}` +
      (conflict.configDigest ? ` (image ${conflict.configDigest})` : '')
  )
  const these =
    conflicts.length === 1
      ? 'this immutable tag already points'
      : 'these immutable tags already point'
  return new ActionError(
    `The repository's tag mutability is ` +
      `${describeMutability(mutability, filters)}, and ${these} at another ` +
      `manifest than ${wanted}:\n${lines.join('\n')}\n${outcome}`
  )
}

/** The `wanted` of a conflict for a local image about to be pushed. */
export function buildWanted(imageId: string): string {
  return `this build (image ${imageId})`
}

export const NOTHING_PUSHED =
  'Nothing was pushed: ECR never moves an immutable tag. Use new tags for ' +
  'a changed image, or rebuild exactly the image that is there.'
