import { describe, expect, test } from '@jest/globals'

import {
  buildxArguments,
  digestFromMetadata,
  type BuildxRequest
} from '../../src/buildx.js'

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
