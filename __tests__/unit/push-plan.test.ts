import { describe, expect, test } from '@jest/globals'

import {
  buildWanted,
  conflictError,
  describeMutability,
  isImmutableTag,
  NOTHING_PUSHED,
  planPush,
  planTags,
  type TagLookup
} from '../../src/push-plan.js'
import { configDigestOf, type StoredManifest } from '../../src/registry.js'
import { manifestFor, sha256 } from '../fixtures/registry.js'

const IMAGE = `sha256:${'1'.repeat(64)}`
const OTHER_IMAGE = `sha256:${'2'.repeat(64)}`

/** A manifest as RegistryClient.getManifest returns it. */
function stored(imageId: string, layer = 'a'): StoredManifest {
  const { body, mediaType } = manifestFor(imageId, layer)
  return { digest: sha256(body), mediaType, body, configDigest: imageId }
}

const OURS = stored(IMAGE)
/** The same image ID behind other manifest bytes (another compression). */
const OURS_REPACKED = stored(IMAGE, 'f')
const THEIRS = stored(OTHER_IMAGE, 'b')
const INDEX: StoredManifest = (() => {
  const body = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ digest: OURS.digest, platform: { os: 'linux' } }]
    })
  )
  return {
    digest: sha256(body),
    mediaType: 'application/vnd.oci.image.index.v1+json',
    body,
    configDigest: configDigestOf(body)
  }
})()

function lookup(entries: Record<string, StoredManifest>): TagLookup {
  return new Map(Object.entries(entries))
}

describe('isImmutableTag', () => {
  test.each([
    // mutability, filters, tag, immutable
    ['MUTABLE', [], 'v1', false],
    [undefined, [], 'v1', false],
    ['IMMUTABLE', [], 'v1', true],
    ['IMMUTABLE', [], 'latest', true],
    // IMMUTABLE_WITH_EXCLUSION: the filters name the tags that may move.
    ['IMMUTABLE_WITH_EXCLUSION', ['latest', 'dev-*'], 'v1.2.3', true],
    ['IMMUTABLE_WITH_EXCLUSION', ['latest', 'dev-*'], 'latest', false],
    ['IMMUTABLE_WITH_EXCLUSION', ['latest', 'dev-*'], 'dev-42', false],
    ['IMMUTABLE_WITH_EXCLUSION', ['latest', 'dev-*'], 'dev-', false],
    ['IMMUTABLE_WITH_EXCLUSION', ['latest', 'dev-*'], 'xdev-42', true],
    ['IMMUTABLE_WITH_EXCLUSION', ['latest', 'dev-*'], 'latest2', true],
    ['IMMUTABLE_WITH_EXCLUSION', ['*'], 'anything', false],
    // MUTABLE_WITH_EXCLUSION: the filters name the tags that may not move.
    ['MUTABLE_WITH_EXCLUSION', ['v*'], 'v1.2.3', true],
    ['MUTABLE_WITH_EXCLUSION', ['v*'], 'latest', false],
    ['MUTABLE_WITH_EXCLUSION', ['release-*-final'], 'release-2-final', true],
    ['MUTABLE_WITH_EXCLUSION', ['release-*-final'], 'release-2-rc', false],
    // A dot in a filter is a dot, not any character.
    ['MUTABLE_WITH_EXCLUSION', ['1.*'], '1.2', true],
    ['MUTABLE_WITH_EXCLUSION', ['1.*'], '1x2', false]
  ] as const)('%s %j: %s is immutable: %s', (mutability, filters, tag, is) => {
    expect(isImmutableTag(tag, mutability, [...filters])).toBe(is)
  })
})

describe('planPush', () => {
  test('nothing in the registry: every tag is written, by a push', () => {
    const plan = planPush(['v1', 'latest'], lookup({}), IMAGE, 'IMMUTABLE', [])

    expect(plan).toEqual({
      unchanged: [],
      toWrite: ['v1', 'latest'],
      conflicts: [],
      existing: undefined
    })
  })

  test('an identical rerun: every tag already at this image', () => {
    const plan = planPush(
      ['v1', 'latest'],
      lookup({ v1: OURS, latest: OURS }),
      IMAGE,
      'IMMUTABLE',
      []
    )

    expect(plan).toEqual({
      unchanged: ['v1', 'latest'],
      toWrite: [],
      conflicts: [],
      existing: OURS
    })
  })

  test('one tag at this image: the others are pointed at its manifest', () => {
    const plan = planPush(
      ['sha-1', 'v1'],
      lookup({ 'sha-1': OURS }),
      IMAGE,
      'IMMUTABLE',
      []
    )

    expect(plan.unchanged).toEqual(['sha-1'])
    expect(plan.toWrite).toEqual(['v1'])
    expect(plan.existing).toBe(OURS)
  })

  test('IMMUTABLE: a tag at another image is a conflict, with its digests', () => {
    const plan = planPush(
      ['v1', 'new'],
      lookup({ v1: THEIRS }),
      IMAGE,
      'IMMUTABLE',
      []
    )

    expect(plan.conflicts).toEqual([
      { tag: 'v1', digest: THEIRS.digest, configDigest: OTHER_IMAGE }
    ])
    expect(plan.toWrite).toEqual(['new'])
  })

  test('MUTABLE: a tag at another image is moved', () => {
    const plan = planPush(
      ['latest'],
      lookup({ latest: THEIRS }),
      IMAGE,
      'MUTABLE',
      []
    )

    expect(plan.conflicts).toEqual([])
    expect(plan.toWrite).toEqual(['latest'])
  })

  test('IMMUTABLE_WITH_EXCLUSION: excluded tags move, the others conflict', () => {
    const plan = planPush(
      ['v1', 'latest', 'dev-7'],
      lookup({ v1: THEIRS, latest: THEIRS, 'dev-7': THEIRS }),
      IMAGE,
      'IMMUTABLE_WITH_EXCLUSION',
      ['latest', 'dev-*']
    )

    expect(plan.conflicts.map(conflict => conflict.tag)).toEqual(['v1'])
    expect(plan.toWrite).toEqual(['latest', 'dev-7'])
  })

  test('MUTABLE_WITH_EXCLUSION: only the tags a filter names conflict', () => {
    const plan = planPush(
      ['v1', 'latest'],
      lookup({ v1: THEIRS, latest: THEIRS }),
      IMAGE,
      'MUTABLE_WITH_EXCLUSION',
      ['v*']
    )

    expect(plan.conflicts.map(conflict => conflict.tag)).toEqual(['v1'])
    expect(plan.toWrite).toEqual(['latest'])
  })

  test('the same image under other manifest bytes is another digest', () => {
    // All tags must end at one digest: the first manifest of this image
    // found is the one, and an immutable tag elsewhere cannot follow.
    const plan = planPush(
      ['a', 'b'],
      lookup({ a: OURS, b: OURS_REPACKED }),
      IMAGE,
      'IMMUTABLE',
      []
    )

    expect(plan.existing).toBe(OURS)
    expect(plan.unchanged).toEqual(['a'])
    expect(plan.conflicts).toEqual([
      { tag: 'b', digest: OURS_REPACKED.digest, configDigest: IMAGE }
    ])
  })

  test('an image index at an immutable tag is a conflict for a single image', () => {
    const plan = planPush(['v1'], lookup({ v1: INDEX }), IMAGE, 'IMMUTABLE', [])

    expect(plan.conflicts).toEqual([
      { tag: 'v1', digest: INDEX.digest, configDigest: undefined }
    ])
  })
})

describe('planTags', () => {
  test('compares manifest digests, for indexes as for images', () => {
    const plan = planTags(
      ['prod', 'staging', 'new'],
      lookup({ prod: INDEX, staging: THEIRS }),
      INDEX.digest,
      'IMMUTABLE_WITH_EXCLUSION',
      ['staging']
    )

    expect(plan).toEqual({
      unchanged: ['prod'],
      toWrite: ['staging', 'new'],
      conflicts: []
    })
  })

  test('without a digest every existing tag is at another manifest', () => {
    const plan = planTags(
      ['v1'],
      lookup({ v1: OURS }),
      undefined,
      'IMMUTABLE',
      []
    )

    expect(plan.conflicts.map(conflict => conflict.tag)).toEqual(['v1'])
  })
})

describe('conflictError', () => {
  test('names each tag, both digests and the mutability', () => {
    const error = conflictError(
      [
        { tag: 'v1', digest: THEIRS.digest, configDigest: OTHER_IMAGE },
        { tag: 'v1.0', digest: INDEX.digest, configDigest: undefined }
      ],
      buildWanted(IMAGE),
      'IMMUTABLE',
      [],
      NOTHING_PUSHED
    )

    expect(error.message).toBe(
      "The repository's tag mutability is IMMUTABLE, and these immutable " +
        `tags already point at another manifest than this build (image ${IMAGE}):\n` +
        `  v1: at ${THEIRS.digest} (image ${OTHER_IMAGE})\n` +
        `  v1.0: at ${INDEX.digest}\n` +
        NOTHING_PUSHED
    )
  })

  test('with exclusion filters, names the filters', () => {
    const error = conflictError(
      [{ tag: 'v1', digest: THEIRS.digest, configDigest: OTHER_IMAGE }],
      buildWanted(IMAGE),
      'IMMUTABLE_WITH_EXCLUSION',
      ['latest', 'dev-*'],
      NOTHING_PUSHED
    )

    expect(error.message).toContain(
      'IMMUTABLE_WITH_EXCLUSION (mutable: latest, dev-*), and this ' +
        'immutable tag already points'
    )
  })
})

describe('describeMutability', () => {
  test.each([
    ['IMMUTABLE', [], 'IMMUTABLE'],
    ['MUTABLE', [], 'MUTABLE'],
    [undefined, [], 'IMMUTABLE'],
    [
      'IMMUTABLE_WITH_EXCLUSION',
      ['latest'],
      'IMMUTABLE_WITH_EXCLUSION (mutable: latest)'
    ],
    [
      'MUTABLE_WITH_EXCLUSION',
      ['v*', 'rel-*'],
      'MUTABLE_WITH_EXCLUSION (immutable: v*, rel-*)'
    ]
  ] as const)('%s %j', (mutability, filters, text) => {
    expect(describeMutability(mutability, [...filters])).toBe(text)
  })
})
