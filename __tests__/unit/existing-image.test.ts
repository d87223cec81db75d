import {
  afterEach,
  beforeEach,
  describe,
  expect,
  jest,
  test
} from '@jest/globals'

import { REGISTRY } from '../fixtures/aws.js'
import { core, logged, resetCore } from '../fixtures/core.js'
import { http } from '../fixtures/http.js'
import {
  FakeRegistry,
  manifestFor,
  sha256,
  type Stored
} from '../fixtures/registry.js'
import { rejectionMessage } from '../fixtures/rejection.js'

jest.unstable_mockModule('@actions/core', () => core)
jest.unstable_mockModule('../../src/http.js', () => http)

const { RegistryClient } = await import('../../src/registry.js')
const { lookupTags } = await import('../../src/push.js')
const { promote, reuseExisting, useExistingImage } =
  await import('../../src/existing-image.js')
type Request = import('../../src/existing-image.js').ExistingImageRequest

const REPO = 'shop/api'
const IMAGE = `sha256:${'1'.repeat(64)}`
const OTHER_IMAGE = `sha256:${'2'.repeat(64)}`
const INDEX_TYPE = 'application/vnd.oci.image.index.v1+json'

let registry: FakeRegistry
let client: InstanceType<typeof RegistryClient>
let fetchSpy: ReturnType<typeof jest.spyOn>

function request(overrides: Partial<Request> = {}): Request {
  return {
    repository: REPO,
    repositoryUri: `${REGISTRY}/${REPO}`,
    tags: ['staging', 'prod'],
    mutability: 'IMMUTABLE',
    mutabilityExclusionFilters: [],
    push: true,
    ...overrides
  }
}

/** An image index over one manifest, with its own (non-JSON-canonical) bytes. */
function indexOver(child: string): Stored {
  return {
    body: Buffer.from(
      `{"schemaVersion":2,"mediaType":"${INDEX_TYPE}",\n  "manifests":` +
        `[{"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
        `"digest":"${child}","size":528,` +
        `"platform":{"architecture":"amd64","os":"linux"}}]}`
    ),
    mediaType: INDEX_TYPE
  }
}

function lookup(tags: string[]) {
  return lookupTags(client, REPO, tags)
}

function puts(): string[] {
  return registry.requests
    .filter(call => call.method === 'PUT')
    .map(call => call.reference)
    .sort()
}

beforeEach(() => {
  resetCore()
  registry = new FakeRegistry(REGISTRY)
  fetchSpy = jest.spyOn(globalThis, 'fetch').mockImplementation(registry.fetch)
  client = new RegistryClient({
    registry: REGISTRY,
    username: 'AWS',
    password: 'secret'
  })
})

afterEach(() => {
  fetchSpy.mockRestore()
})

describe('promote (source-tag)', () => {
  test('copies the manifest to every tag: same bytes, type and digest', async () => {
    const image = manifestFor(IMAGE)
    const digest = registry.store(REPO, 'sha-abc', image)

    const result = await promote(
      client,
      lookup(['staging', 'prod']),
      request(),
      'sha-abc'
    )

    expect(result).toEqual({ digest, imageId: IMAGE, pushed: true })
    for (const tag of ['staging', 'prod']) {
      const copied = registry.manifests.get(`${REPO}:${tag}`)
      expect(copied?.body.equals(image.body)).toBe(true)
      expect(copied?.mediaType).toBe(image.mediaType)
    }
    expect(puts()).toEqual(['prod', 'staging'])
  })

  test('an image index is copied as it is; the image ID is empty', async () => {
    const child = registry.store(REPO, 'amd64', manifestFor(IMAGE))
    const index = indexOver(child)
    const digest = registry.store(REPO, 'multi', index)

    const result = await promote(
      client,
      lookup(['prod']),
      request({ tags: ['prod'] }),
      'multi'
    )

    expect(result).toEqual({ digest, imageId: '', pushed: true })
    expect(registry.digestAt(REPO, 'prod')).toBe(digest)
    expect(registry.manifests.get(`${REPO}:prod`)?.mediaType).toBe(INDEX_TYPE)
    expect(logged(core.info)).toContain(`multi is at ${digest} (${INDEX_TYPE})`)
  })

  test('tags already at the image are left alone; none: pushed is false', async () => {
    const digest = registry.store(REPO, 'sha-abc', manifestFor(IMAGE))
    registry.store(REPO, 'staging', manifestFor(IMAGE))
    registry.store(REPO, 'prod', manifestFor(IMAGE))

    const result = await promote(
      client,
      lookup(['staging', 'prod']),
      request(),
      'sha-abc'
    )

    expect(result).toEqual({ digest, imageId: IMAGE, pushed: false })
    expect(puts()).toEqual([])
    expect(logged(core.info)).toContain('nothing written')
  })

  test('a missing source tag fails, naming the tag and the repository', async () => {
    const message = await rejectionMessage(
      promote(client, lookup(['prod']), request(), 'sha-missing')
    )

    expect(message).toContain('Input "source-tag"')
    expect(message).toContain('"sha-missing"')
    expect(message).toContain(REPO)
    expect(puts()).toEqual([])
  })

  test('an immutable tag at another image: fails before writing any tag', async () => {
    const digest = registry.store(REPO, 'sha-abc', manifestFor(IMAGE))
    const taken = registry.store(REPO, 'prod', manifestFor(OTHER_IMAGE, 'b'))

    const message = await rejectionMessage(
      promote(client, lookup(['staging', 'prod']), request(), 'sha-abc')
    )

    expect(message).toContain(`prod: at ${taken} (image ${OTHER_IMAGE})`)
    expect(message).toContain(`source-tag sha-abc (${digest})`)
    expect(message).toContain('tag mutability is IMMUTABLE')
    expect(message).toContain('Nothing was tagged')
    expect(puts()).toEqual([])
    expect(registry.digestAt(REPO, 'staging')).toBeUndefined()
  })

  test('a mutable tag at another image is moved', async () => {
    const digest = registry.store(REPO, 'sha-abc', manifestFor(IMAGE))
    registry.store(REPO, 'prod', manifestFor(OTHER_IMAGE, 'b'))

    await promote(
      client,
      lookup(['prod']),
      request({ tags: ['prod'], mutability: 'MUTABLE' }),
      'sha-abc'
    )

    expect(registry.digestAt(REPO, 'prod')).toBe(digest)
  })

  test('push false: says what it would do, writes nothing, only warns', async () => {
    registry.store(REPO, 'sha-abc', manifestFor(IMAGE))
    registry.store(REPO, 'prod', manifestFor(OTHER_IMAGE, 'b'))

    const result = await promote(
      client,
      lookup(['staging', 'prod']),
      request({ push: false }),
      'sha-abc'
    )

    expect(result.pushed).toBe(false)
    expect(puts()).toEqual([])
    expect(logged(core.warning)).toContain('prod: at')
    expect(logged(core.info)).toContain('would tag staging')
  })
})

describe('reuseExisting (skip-existing)', () => {
  test('no requested tag exists: undefined, so the caller builds', async () => {
    const result = await reuseExisting(
      client,
      await lookup(['v1', 'latest']),
      request({ tags: ['v1', 'latest'] })
    )

    expect(result).toBeUndefined()
    expect(puts()).toEqual([])
    expect(logged(core.info)).toContain('none of the tags exists yet')
  })

  test('an existing tag: its image gets the missing tags', async () => {
    const digest = registry.store(REPO, 'sha-abc', manifestFor(IMAGE))

    const result = await reuseExisting(
      client,
      await lookup(['sha-abc', 'staging']),
      request({ tags: ['sha-abc', 'staging'] })
    )

    expect(result).toEqual({ digest, imageId: IMAGE, pushed: true })
    expect(puts()).toEqual(['staging'])
    expect(registry.digestAt(REPO, 'staging')).toBe(digest)
  })

  test('every tag there already: nothing written, pushed is false', async () => {
    const digest = registry.store(REPO, 'sha-abc', manifestFor(IMAGE))
    registry.store(REPO, 'staging', manifestFor(IMAGE))

    const result = await reuseExisting(
      client,
      await lookup(['sha-abc', 'staging']),
      request({ tags: ['sha-abc', 'staging'] })
    )

    expect(result).toEqual({ digest, imageId: IMAGE, pushed: false })
    expect(puts()).toEqual([])
  })

  test('existing tags at different images: fails naming them, writes nothing', async () => {
    const first = registry.store(REPO, 'v1', manifestFor(IMAGE))
    const second = registry.store(REPO, 'latest', manifestFor(OTHER_IMAGE, 'b'))

    const message = await rejectionMessage(
      reuseExisting(
        client,
        await lookup(['v1', 'latest', 'new']),
        request({ tags: ['v1', 'latest', 'new'], mutability: 'MUTABLE' })
      )
    )

    expect(message).toContain('skip-existing')
    expect(message).toContain(`v1: at ${first}`)
    expect(message).toContain(`latest: at ${second}`)
    expect(message).toContain('Nothing was built or pushed')
    expect(puts()).toEqual([])
  })

  test('an existing image index is reused as it is', async () => {
    const child = registry.store(REPO, 'amd64', manifestFor(IMAGE))
    const digest = registry.store(REPO, 'v1', indexOver(child))

    const result = await reuseExisting(
      client,
      await lookup(['v1', 'stable']),
      request({ tags: ['v1', 'stable'] })
    )

    expect(result).toEqual({ digest, imageId: '', pushed: true })
    expect(registry.digestAt(REPO, 'stable')).toBe(digest)
  })

  test('push false: nothing written', async () => {
    registry.store(REPO, 'sha-abc', manifestFor(IMAGE))

    const result = await reuseExisting(
      client,
      await lookup(['sha-abc', 'staging']),
      request({ tags: ['sha-abc', 'staging'], push: false })
    )

    expect(result?.pushed).toBe(false)
    expect(puts()).toEqual([])
  })
})

describe('useExistingImage', () => {
  test('with a source tag it promotes; without, it reuses', async () => {
    const digest = registry.store(REPO, 'sha-abc', manifestFor(IMAGE))

    const promoted = await useExistingImage(
      client,
      lookup(['prod']),
      request({ tags: ['prod'] }),
      'sha-abc'
    )
    const reused = await useExistingImage(
      client,
      lookup(['sha-abc', 'qa']),
      request({ tags: ['sha-abc', 'qa'] }),
      undefined
    )

    expect(promoted?.digest).toBe(digest)
    expect(reused?.digest).toBe(digest)
    expect(
      sha256(registry.manifests.get(`${REPO}:qa`)?.body ?? Buffer.from(''))
    ).toBe(digest)
  })
})
