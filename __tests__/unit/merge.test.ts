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
import { FakeRegistry, manifestFor, sha256 } from '../fixtures/registry.js'
import { rejectionMessage } from '../fixtures/rejection.js'

jest.unstable_mockModule('@actions/core', () => core)
jest.unstable_mockModule('../../src/http.js', () => http)

const { RegistryClient } = await import('../../src/registry.js')
const { lookupTags } = await import('../../src/push.js')
const { OCI_INDEX, buildIndex, mergeImages, sourceReference } =
  await import('../../src/merge.js')
type Request = import('../../src/existing-image.js').ExistingImageRequest

const REPO = 'shop/api'
const URI = `${REGISTRY}/${REPO}`
const DIGEST = `sha256:${'d'.repeat(64)}`
const AMD64 = { architecture: 'amd64', os: 'linux', rootfs: {} }
const ARM64 = { architecture: 'arm64', os: 'linux', rootfs: {} }

let registry: FakeRegistry
let client: InstanceType<typeof RegistryClient>
let fetchSpy: ReturnType<typeof jest.spyOn>

function request(overrides: Partial<Request> = {}): Request {
  return {
    repository: REPO,
    repositoryUri: URI,
    tags: ['v1', 'latest'],
    mutability: 'MUTABLE',
    mutabilityExclusionFilters: [],
    push: true,
    ...overrides
  }
}

function merge(sources: string[], overrides: Partial<Request> = {}) {
  const wanted = request(overrides)
  return mergeImages(
    client,
    lookupTags(client, REPO, wanted.tags),
    wanted,
    sources
  )
}

function puts(): string[] {
  return registry.requests
    .filter(call => call.method === 'PUT')
    .map(call => call.reference)
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

afterEach(() => fetchSpy.mockRestore())

describe('sourceReference', () => {
  test.each([
    ['a tag', 'build-amd64', 'build-amd64'],
    ['a digest', DIGEST, DIGEST],
    ['a tag reference', `${URI}:build-arm64`, 'build-arm64'],
    ['an image-uri output', `${URI}@${DIGEST}`, DIGEST]
  ])('%s', (_name, given, reference) => {
    expect(sourceReference(given, URI)).toBe(reference)
  })

  test.each([
    ['another repository', `${REGISTRY}/shop/web:amd64`],
    [
      'another registry',
      `210987654321.dkr.ecr.us-east-1.amazonaws.com/${REPO}:x`
    ],
    ['another repository by digest', `${REGISTRY}/shop/web@${DIGEST}`]
  ])('%s is refused', (_name, given) => {
    expect(() => sourceReference(given, URI)).toThrow(
      `is not in ${URI}: an image index can only reference images of its ` +
        'own repository'
    )
  })

  test('a reference without a tag or digest is refused', () => {
    expect(() => sourceReference(URI, URI)).toThrow('names no tag or digest')
  })
})

describe('buildIndex', () => {
  test('one entry per source, in order, each platform from its config', async () => {
    const amd64 = registry.storeImage(REPO, 'build-amd64', AMD64, 'a')
    const arm64 = registry.storeImage(
      REPO,
      'build-arm64',
      { ...ARM64, variant: 'v8' },
      'b'
    )

    const merged = await buildIndex(client, REPO, URI, [
      'build-amd64',
      `${URI}@${arm64}`
    ])

    const index = JSON.parse(merged.manifest.body.toString('utf8'))
    expect(index).toEqual({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        {
          mediaType: manifestFor('x').mediaType,
          digest: amd64,
          size: registry.manifests.get(`${REPO}:${amd64}`)?.body.length,
          platform: { architecture: 'amd64', os: 'linux' }
        },
        {
          mediaType: manifestFor('x').mediaType,
          digest: arm64,
          size: registry.manifests.get(`${REPO}:${arm64}`)?.body.length,
          platform: { architecture: 'arm64', os: 'linux', variant: 'v8' }
        }
      ]
    })
    expect(merged.manifest.mediaType).toBe(OCI_INDEX)
    expect(merged.manifest.digest).toBe(sha256(merged.manifest.body))
    expect(merged.manifest.configDigest).toBeUndefined()
    expect(merged.platforms).toEqual(['linux/amd64', 'linux/arm64/v8'])
    expect(puts()).toEqual([])
  })

  test('the same sources make the same bytes', async () => {
    registry.storeImage(REPO, 'build-amd64', AMD64, 'a')
    registry.storeImage(REPO, 'build-arm64', ARM64, 'b')
    const sources = ['build-amd64', 'build-arm64']

    const first = await buildIndex(client, REPO, URI, sources)
    const second = await buildIndex(client, REPO, URI, sources)

    expect(second.manifest.body.equals(first.manifest.body)).toBe(true)
    expect(second.manifest.digest).toBe(first.manifest.digest)
  })

  test('keeps os.version, for Windows images', async () => {
    const windows = { architecture: 'amd64', os: 'windows' }
    registry.storeImage(REPO, 'ltsc2019', {
      ...windows,
      'os.version': '10.0.17763.1'
    })
    registry.storeImage(
      REPO,
      'ltsc2022',
      { ...windows, 'os.version': '10.0.20348.1' },
      'b'
    )

    const merged = await buildIndex(client, REPO, URI, ['ltsc2019', 'ltsc2022'])

    const index = JSON.parse(merged.manifest.body.toString('utf8'))
    expect(index.manifests[1].platform).toEqual({
      ...windows,
      'os.version': '10.0.20348.1'
    })
  })

  test('two sources of one platform: named, nothing written', async () => {
    registry.storeImage(REPO, 'build-amd64', AMD64, 'a')
    registry.storeImage(REPO, 'build-arm64', AMD64, 'b')

    const message = await rejectionMessage(
      buildIndex(client, REPO, URI, ['build-amd64', 'build-arm64'])
    )

    expect(message).toBe(
      'Merge sources "build-amd64" and "build-arm64" are both linux/amd64: ' +
        'an index holds one image per platform. Check that each build job ' +
        'built for its own platform.'
    )
  })

  test('arm64 and arm64/v8 are one platform', async () => {
    registry.storeImage(REPO, 'a', ARM64, 'a')
    registry.storeImage(REPO, 'b', { ...ARM64, variant: 'v8' }, 'b')

    await expect(buildIndex(client, REPO, URI, ['a', 'b'])).rejects.toThrow(
      'are both linux/arm64/v8'
    )
  })

  test('a missing source: named, with the repository', async () => {
    registry.storeImage(REPO, 'build-amd64', AMD64)

    const message = await rejectionMessage(
      buildIndex(client, REPO, URI, ['build-amd64', 'build-arm64'])
    )

    expect(message).toBe(
      `Merge source "build-arm64" does not exist in ${URI}: did the job ` +
        'that builds it finish and push?'
    )
  })

  test('errors come in the order of the sources', async () => {
    const message = await rejectionMessage(
      buildIndex(client, REPO, URI, ['first', 'second'])
    )

    expect(message).toContain('"first"')
  })

  test('a source that is an index is refused', async () => {
    registry.storeImage(REPO, 'build-amd64', AMD64)
    const index = {
      body: Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_INDEX,
          manifests: []
        })
      ),
      mediaType: OCI_INDEX
    }
    registry.store(REPO, 'multi', index)

    const message = await rejectionMessage(
      buildIndex(client, REPO, URI, ['build-amd64', 'multi'])
    )

    expect(message).toContain(
      `Merge source "multi" is itself an image index (${OCI_INDEX})`
    )
    expect(message).toContain('attestations off')
  })

  test('a config without os and architecture is refused', async () => {
    registry.storeImage(REPO, 'build-amd64', AMD64)
    registry.storeImage(REPO, 'odd', { rootfs: {} }, 'b')

    await expect(
      buildIndex(client, REPO, URI, ['build-amd64', 'odd'])
    ).rejects.toThrow(
      'Merge source "odd" has an image config without os and architecture'
    )
  })

  test('a source of another repository is refused before any request', async () => {
    await expect(
      buildIndex(client, REPO, URI, ['a', `${REGISTRY}/shop/web:b`])
    ).rejects.toThrow('is not in')
  })
})

describe('mergeImages', () => {
  let amd64: string
  let arm64: string

  beforeEach(() => {
    amd64 = registry.storeImage(REPO, 'build-amd64', AMD64, 'a')
    arm64 = registry.storeImage(REPO, 'build-arm64', ARM64, 'b')
  })

  test('writes the index at each tag, once, and reports it', async () => {
    const image = await merge(['build-amd64', 'build-arm64'])

    const stored = registry.manifests.get(`${REPO}:v1`)
    expect(stored?.mediaType).toBe(OCI_INDEX)
    expect(image).toEqual({
      digest: sha256(stored?.body ?? Buffer.from('')),
      imageId: '',
      pushed: true,
      platforms: ['linux/amd64', 'linux/arm64']
    })
    expect(registry.digestAt(REPO, 'latest')).toBe(image.digest)
    expect(puts()).toEqual(['v1', 'latest'])
    const index = JSON.parse(stored?.body.toString('utf8') ?? '{}')
    expect(
      index.manifests.map((entry: { digest: string }) => entry.digest)
    ).toEqual([amd64, arm64])
  })

  test('a rerun finds its tags in place: nothing written', async () => {
    const first = await merge(['build-amd64', 'build-arm64'])
    registry.requests.length = 0

    const again = await merge(['build-amd64', 'build-arm64'])

    expect(again).toEqual({ ...first, pushed: false })
    expect(puts()).toEqual([])
  })

  test('an immutable tag at another manifest: refused, nothing written', async () => {
    const taken = registry.store(REPO, 'v1', manifestFor(DIGEST, 'c'))

    const message = await rejectionMessage(
      merge(['build-amd64', 'build-arm64'], { mutability: 'IMMUTABLE' })
    )

    expect(message).toContain("The repository's tag mutability is IMMUTABLE")
    expect(message).toContain(`v1: at ${taken}`)
    expect(message).toContain('the index of build-amd64, build-arm64')
    expect(message).toContain('Nothing was written')
    expect(puts()).toEqual([])
    expect(registry.digestAt(REPO, 'latest')).toBeUndefined()
  })

  test('a mutable tag at another manifest is moved', async () => {
    registry.store(REPO, 'latest', manifestFor(DIGEST, 'c'))

    const image = await merge(['build-amd64', 'build-arm64'])

    expect(registry.digestAt(REPO, 'latest')).toBe(image.digest)
  })

  test('push false: reads, warns of a conflict, writes nothing', async () => {
    registry.store(REPO, 'v1', manifestFor(DIGEST, 'c'))

    const image = await merge(['build-amd64', 'build-arm64'], {
      push: false,
      mutability: 'IMMUTABLE'
    })

    expect(image.pushed).toBe(false)
    expect(logged(core.warning)).toContain('v1: at')
    expect(puts()).toEqual([])
  })

  test('configs come through an S3 redirect, without the registry password', async () => {
    registry.downloadHost =
      'prod-us-east-1-starport-layer-bucket.s3.amazonaws.com'

    await merge(['build-amd64', 'build-arm64'])

    expect(registry.downloads).toHaveLength(2)
    for (const download of registry.downloads) {
      expect(download.authorization).toBeUndefined()
    }
  })
})
