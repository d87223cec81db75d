import { beforeEach, describe, expect, jest, test } from '@jest/globals'
import { writeFileSync } from 'node:fs'

import { core, logged, resetCore } from '../fixtures/core.js'
import { dockerCalls, exec, failed, ok } from '../fixtures/exec.js'
import { makeSettings } from '../fixtures/settings.js'

jest.unstable_mockModule('@actions/core', () => core)
jest.unstable_mockModule('@actions/exec', () => exec)

const {
  buildx,
  buildxArguments,
  digestFromMetadata,
  immutableCacheTag,
  resultFromMetadata,
  useBuildx
} = await import('../../src/buildx.js')
type BuildxRequest = import('../../src/buildx.js').BuildxRequest

const URI = '123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/api'
const DIGEST = `sha256:${'b'.repeat(64)}`

function request(overrides: Partial<BuildxRequest> = {}): BuildxRequest {
  return {
    context: '/work/app',
    dockerfile: '/work/app/Dockerfile',
    buildArgs: [],
    labels: [],
    target: undefined,
    platforms: ['linux/amd64', 'linux/arm64'],
    attestations: false,
    repositoryUri: URI,
    push: true,
    cacheReference: undefined,
    cacheFrom: [],
    cacheTo: [],
    ...overrides
  }
}

describe('buildxArguments', () => {
  test('pushes by digest, untagged, with attestations off', () => {
    expect(buildxArguments(request(), '/tmp/meta.json')).toEqual([
      'buildx',
      'build',
      '--file',
      '/work/app/Dockerfile',
      '--platform',
      'linux/amd64,linux/arm64',
      '--provenance=false',
      '--sbom=false',
      '--metadata-file',
      '/tmp/meta.json',
      '--output',
      `type=image,name=${URI},push-by-digest=true,name-canonical=true,push=true`,
      '/work/app'
    ])
  })

  test('turns attestations on only when asked', () => {
    const args = buildxArguments(request({ attestations: true }), '/m')
    expect(args).toContain('--provenance=true')
    expect(args).toContain('--sbom=true')
    expect(args).not.toContain('--provenance=false')
  })

  test('keeps the result in the build cache when push is off', () => {
    const args = buildxArguments(request({ push: false }), '/m')
    expect(args).toContain('type=image,push=false')
    expect(args.join(' ')).not.toContain('push=true')
  })

  test('passes build args, labels and target, context last', () => {
    const args = buildxArguments(
      request({
        buildArgs: ['A=1', 'B=two words'],
        labels: ['team=shop'],
        target: 'runtime'
      }),
      '/m'
    )
    expect(args.slice(-9)).toEqual([
      '--build-arg',
      'A=1',
      '--build-arg',
      'B=two words',
      '--label',
      'team=shop',
      '--target',
      'runtime',
      '/work/app'
    ])
  })

  test('keeps a registry cache in the repository the way ECR accepts it', () => {
    const cache = `${URI}:buildcache`
    const args = buildxArguments(request({ cacheReference: cache }), '/m')
    expect(args).toEqual(
      expect.arrayContaining([
        '--cache-from',
        `type=registry,ref=${cache}`,
        '--cache-to',
        `type=registry,ref=${cache},mode=max,image-manifest=true,oci-mediatypes=true`
      ])
    )
  })

  test('reads the cache but writes none when push is off', () => {
    const cache = `${URI}:buildcache`
    const args = buildxArguments(
      request({ cacheReference: cache, push: false }),
      '/m'
    )
    expect(args).toContain(`type=registry,ref=${cache}`)
    expect(args).not.toContain('--cache-to')
  })

  test('passes raw cache-from and cache-to through unchanged', () => {
    const args = buildxArguments(
      request({ cacheFrom: ['type=gha'], cacheTo: ['type=gha,mode=max'] }),
      '/m'
    )
    expect(args).toEqual(
      expect.arrayContaining([
        '--cache-from',
        'type=gha',
        '--cache-to',
        'type=gha,mode=max'
      ])
    )
  })
})

describe('buildxArguments without platforms', () => {
  test("builds for the runner's own platform", () => {
    const args = buildxArguments(
      request({ platforms: [], cacheReference: `${URI}:buildcache` }),
      '/m'
    )
    expect(args).not.toContain('--platform')
    expect(args.slice(0, 5)).toEqual([
      'buildx',
      'build',
      '--file',
      '/work/app/Dockerfile',
      '--provenance=false'
    ])
  })
})

describe('useBuildx', () => {
  const session = { configDir: undefined }

  beforeEach(() => {
    resetCore()
    exec.getExecOutput.mockReset()
    exec.getExecOutput.mockResolvedValue(ok('github.com/docker/buildx v0.30'))
  })

  function withoutBuildx(): void {
    exec.getExecOutput.mockResolvedValue(
      failed(1, 'docker: unknown command: docker buildx\n')
    )
  }

  test('no platform and no buildx input: docker build, without asking', async () => {
    expect(await useBuildx(session, makeSettings())).toBe(false)
    expect(exec.getExecOutput).not.toHaveBeenCalled()
  })

  test.each([
    ['one platform', { platforms: ['linux/arm64'] }],
    ['two platforms', { platforms: ['linux/amd64', 'linux/arm64'] }],
    ['a cache tag alone', { cacheTag: 'buildcache' }]
  ])('%s with buildx: buildx', async (_name, overrides) => {
    expect(await useBuildx(session, makeSettings(overrides))).toBe(true)
    expect(dockerCalls()).toEqual([['buildx', 'version']])
  })

  test('one platform without buildx: docker build --platform', async () => {
    withoutBuildx()

    const settings = makeSettings({ platforms: ['linux/arm64'] })

    expect(await useBuildx(session, settings)).toBe(false)
    expect(logged(core.info)).toContain(
      'building linux/arm64 with docker build --platform'
    )
  })

  test.each([
    [
      { platforms: ['linux/amd64', 'linux/arm64'] },
      'platforms linux/amd64,linux/arm64 needs docker buildx, which this ' +
        'runner does not have: add docker/setup-buildx-action before this step'
    ],
    [{ cacheTag: 'buildcache' }, 'cache-tag buildcache needs docker buildx'],
    [{ cacheFrom: ['type=gha'] }, 'cache-from needs docker buildx'],
    [
      { platforms: ['linux/arm64'], attestations: true },
      'attestations needs docker buildx'
    ]
  ])('%j without buildx: a clear error', async (overrides, message) => {
    withoutBuildx()

    await expect(useBuildx(session, makeSettings(overrides))).rejects.toThrow(
      message
    )
  })
})

describe('immutableCacheTag', () => {
  test.each([
    ['MUTABLE', [], false],
    ['IMMUTABLE', [], true],
    ['IMMUTABLE_WITH_EXCLUSION', ['buildcache'], false],
    ['IMMUTABLE_WITH_EXCLUSION', ['v*'], true],
    ['MUTABLE_WITH_EXCLUSION', ['build*'], true]
  ])('%s %j: refused %s', (mutability, filters, refused) => {
    const error = immutableCacheTag('buildcache', mutability, filters)
    expect(error !== undefined).toBe(refused)
    if (error) {
      expect(error.message).toContain('Input "cache-tag": "buildcache"')
      expect(error.message).toContain('Nothing was built')
    }
  })
})

describe('buildx', () => {
  const session = { configDir: undefined }

  beforeEach(() => {
    resetCore()
    exec.getExecOutput.mockReset()
  })

  function answerMetadata(metadata: Record<string, string>): void {
    exec.getExecOutput.mockImplementation(async (_command, args) => {
      const list = args ?? []
      const file = list[list.indexOf('--metadata-file') + 1] ?? ''
      writeFileSync(file, JSON.stringify(metadata))
      return ok('')
    })
  }

  test('returns the pushed digest', async () => {
    answerMetadata({ 'containerimage.digest': DIGEST })

    expect(await buildx(session, request())).toEqual({
      digest: DIGEST,
      configDigest: undefined
    })
  })

  test('push false: what buildx names, if anything', async () => {
    const config = `sha256:${'c'.repeat(64)}`
    answerMetadata({ 'containerimage.config.digest': config })

    expect(await buildx(session, request({ push: false }))).toEqual({
      digest: undefined,
      configDigest: config
    })
  })

  test('a denied push names the action and the statement', async () => {
    exec.getExecOutput.mockResolvedValue(
      failed(
        1,
        'ERROR: failed to push: denied: User: arn:aws:sts::123456789012:' +
          'assumed-role/ci/run is not authorized to perform: ' +
          'ecr:InitiateLayerUpload on resource: ' +
          'arn:aws:ecr:us-east-1:123456789012:repository/shop/api'
      )
    )

    await expect(buildx(session, request())).rejects.toThrow(
      'ecr:InitiateLayerUpload was denied on ' +
        'arn:aws:ecr:us-east-1:123456789012:repository/shop/api'
    )
  })
})

describe('resultFromMetadata', () => {
  test('a pushed build without a digest is an error', () => {
    expect(() => resultFromMetadata('{}', true)).toThrow(
      'names no pushed digest'
    )
  })

  test('an unpushed build may name nothing', () => {
    expect(resultFromMetadata('', false)).toEqual({
      digest: undefined,
      configDigest: undefined
    })
  })
})

describe('digestFromMetadata', () => {
  test('reads the pushed digest', () => {
    const metadata = JSON.stringify({
      'containerimage.digest': DIGEST,
      'image.name': URI
    })
    expect(digestFromMetadata(metadata)).toBe(DIGEST)
  })

  test.each([
    ['no digest', '{}'],
    ['not JSON', 'oops'],
    ['a malformed digest', '{"containerimage.digest":"sha256:xyz"}']
  ])('refuses metadata with %s', (_case, text) => {
    expect(() => digestFromMetadata(text)).toThrow('names no pushed digest')
  })
})
