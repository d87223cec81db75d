import {
  afterEach,
  beforeEach,
  describe,
  expect,
  jest,
  test
} from '@jest/globals'
import { createHash } from 'node:crypto'

import { ARN, REGISTRY } from '../fixtures/aws.js'
import { core, resetCore } from '../fixtures/core.js'
import { http } from '../fixtures/http.js'
import { FakeRegistry, manifestFor, sha256 } from '../fixtures/registry.js'
import { AccessDeniedError } from '../../src/errors.js'

jest.unstable_mockModule('@actions/core', () => core)
jest.unstable_mockModule('../../src/http.js', () => http)

const { RegistryClient, bearerChallenge } =
  await import('../../src/registry.js')

const IMAGE_ID = 'sha256:' + 'c'.repeat(64)

const client = new RegistryClient({
  registry: REGISTRY,
  username: 'AWS',
  password: 'secret'
})
const MANIFEST = {
  digest: 'sha256:' + 'a'.repeat(64),
  mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
  body: Buffer.from('{}')
}

let fetchSpy: ReturnType<typeof jest.spyOn>

function answer(status: number, body = ''): void {
  fetchSpy.mockImplementation(async () => new Response(body, { status }))
}

async function failure(call: Promise<unknown>): Promise<Error> {
  const error = await call.then(
    () => undefined,
    (thrown: unknown) => thrown
  )
  if (!(error instanceof Error)) throw new Error('expected a failure')
  return error
}

beforeEach(() => {
  fetchSpy = jest.spyOn(globalThis, 'fetch')
})

afterEach(() => {
  fetchSpy.mockRestore()
})

describe('a registry that refuses', () => {
  test('403 on a read: ecr:BatchGetImage on the repository, and the statement', async () => {
    answer(403, '{"errors":[{"code":"DENIED","message":"Not Authorized"}]}')

    const error = await failure(client.getManifest('shop/api', 'latest'))

    expect(error).toBeInstanceOf(AccessDeniedError)
    expect(error.message).toContain('the registry answered 403')
    expect(error.message).toContain(`ecr:BatchGetImage was denied on ${ARN}.`)
    expect(error.message).toContain(
      JSON.stringify({
        Effect: 'Allow',
        Action: 'ecr:BatchGetImage',
        Resource: ARN
      })
    )
  })

  test('403 on a tag write: ecr:PutImage', async () => {
    answer(403)

    const error = await failure(client.putManifest('shop/api', 'v1', MANIFEST))

    expect(error.message).toContain(`ecr:PutImage was denied on ${ARN}.`)
  })

  test("the action ECR's body quotes wins", async () => {
    answer(
      403,
      JSON.stringify({
        errors: [
          {
            code: 'DENIED',
            message:
              'User: arn:aws:sts::123456789012:assumed-role/ci/run is not ' +
              'authorized to perform: ecr:BatchGetImage on resource: ' +
              `${ARN} with an explicit deny in an identity-based policy`
          }
        ]
      })
    )

    const error = await failure(client.putManifest('shop/api', 'v1', MANIFEST))

    expect(error.message).toContain(`ecr:BatchGetImage was denied on ${ARN}.`)
    expect(error.message).toContain('remove or narrow that Deny')
  })

  test('401: the token, or the action', async () => {
    answer(401)

    const error = await failure(client.getManifest('shop/api', 'latest'))

    expect(error.message).toContain('The login token was refused')
    expect(error.message).toContain('ecr:BatchGetImage was denied')
  })

  test('other statuses are no denial', async () => {
    answer(500, 'internal error')

    const error = await failure(client.getManifest('shop/api', 'latest'))

    expect(error).not.toBeInstanceOf(AccessDeniedError)
    expect(error.message).toContain('the registry answered 500')
  })
})

describe('getBlob', () => {
  const CONFIG = Buffer.from('{"architecture":"arm64","os":"linux"}')
  const CONFIG_DIGEST = `sha256:${createHash('sha256').update(CONFIG).digest('hex')}`
  const S3 = 'prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com'

  function headersOf(call: unknown[]): Headers {
    return new Headers((call[1] as RequestInit | undefined)?.headers)
  }

  test('reads a blob the registry serves, with its credentials', async () => {
    answer(200, CONFIG.toString())

    const blob = await client.getBlob('shop/api', CONFIG_DIGEST)

    expect(blob.equals(CONFIG)).toBe(true)
    expect(fetchSpy.mock.calls[0]?.[0]).toBe(
      `https://${REGISTRY}/v2/shop/api/blobs/${CONFIG_DIGEST}`
    )
    expect(headersOf(fetchSpy.mock.calls[0] ?? []).get('authorization')).toBe(
      `Basic ${Buffer.from('AWS:secret').toString('base64')}`
    )
  })

  test("follows ECR's redirect without sending the password there", async () => {
    const signed = `https://${S3}/blob?X-Amz-Signature=abc`
    fetchSpy
      .mockImplementationOnce(
        async () =>
          new Response(null, { status: 307, headers: { location: signed } })
      )
      .mockImplementationOnce(async () => new Response(CONFIG))

    const blob = await client.getBlob('shop/api', CONFIG_DIGEST)

    expect(blob.equals(CONFIG)).toBe(true)
    expect(fetchSpy.mock.calls[1]?.[0]).toBe(signed)
    expect(headersOf(fetchSpy.mock.calls[1] ?? []).get('authorization')).toBe(
      null
    )
  })

  test('a refusal at the download host is no IAM denial', async () => {
    fetchSpy
      .mockImplementationOnce(
        async () =>
          new Response(null, {
            status: 307,
            headers: { location: `https://${S3}/blob?X-Amz-Signature=abc` }
          })
      )
      .mockImplementationOnce(
        async () => new Response('AccessDenied', { status: 403 })
      )

    const error = await failure(client.getBlob('shop/api', CONFIG_DIGEST))

    expect(error).not.toBeInstanceOf(AccessDeniedError)
    expect(error.message).toContain(`the download host ${S3} answered 403`)
    expect(error.message).not.toContain('X-Amz-Signature')
  })

  test('403 at the registry: ecr:GetDownloadUrlForLayer', async () => {
    answer(403)

    const error = await failure(client.getBlob('shop/api', CONFIG_DIGEST))

    expect(error).toBeInstanceOf(AccessDeniedError)
    expect(error.message).toContain(
      `ecr:GetDownloadUrlForLayer was denied on ${ARN}.`
    )
  })

  test('404: no such blob', async () => {
    answer(404)

    const error = await failure(client.getBlob('shop/api', CONFIG_DIGEST))

    expect(error.message).toContain('the registry has no such blob (404)')
  })

  test('bytes that do not match the digest are refused', async () => {
    answer(200, '{"architecture":"amd64","os":"linux"}')

    const error = await failure(client.getBlob('shop/api', CONFIG_DIGEST))

    expect(error.message).toContain(
      `Could not read blob ${CONFIG_DIGEST} of shop/api: the bytes that ` +
        'arrived have the digest sha256:'
    )
  })

  test('only sha256 digests are asked for', async () => {
    const error = await failure(client.getBlob('shop/api', '../../v2/_catalog'))

    expect(error.message).toContain('not a sha256 digest')
    expect(fetchSpy).not.toHaveBeenCalled()
  })
})

describe('a registry that wants Bearer tokens, as public.ecr.aws does', () => {
  const HOST = 'public.ecr.aws'
  const PATH = 'a1b2c3d4/shop/api'
  const BASIC = `Basic ${Buffer.from('AWS:secret').toString('base64')}`
  let registry: FakeRegistry
  let bearer: InstanceType<typeof RegistryClient>

  beforeEach(() => {
    registry = new FakeRegistry(HOST)
    registry.bearerLogin = BASIC
    fetchSpy.mockImplementation(registry.fetch)
    bearer = new RegistryClient({
      registry: HOST,
      username: 'AWS',
      password: 'secret'
    })
  })

  test('buys a token with the login at the realm, then reads with it', async () => {
    const digest = registry.store(PATH, 'latest', manifestFor(IMAGE_ID))

    const manifest = await bearer.getManifest(PATH, 'latest')

    expect(manifest?.digest).toBe(digest)
    expect(registry.tokenRequests).toEqual([
      {
        scopes: [`repository:${PATH}:pull`],
        service: HOST,
        authorization: BASIC
      }
    ])
    expect(registry.requests).toEqual([
      {
        method: 'GET',
        repository: PATH,
        reference: 'latest',
        authorization: 'Bearer token-1'
      }
    ])
  })

  test('keeps the token for later reads: one token for many', async () => {
    registry.store(PATH, 'a', manifestFor(IMAGE_ID))
    registry.store(PATH, 'b', manifestFor(IMAGE_ID))

    await bearer.getManifest(PATH, 'a')
    await bearer.getManifest(PATH, 'b')
    await bearer.getManifest(PATH, 'c')

    expect(registry.tokenRequests).toHaveLength(1)
    expect(registry.requests.map(r => r.authorization)).toEqual([
      'Bearer token-1',
      'Bearer token-1',
      'Bearer token-1'
    ])
  })

  test('reads challenged together share one token', async () => {
    registry.store(PATH, 'a', manifestFor(IMAGE_ID))

    await Promise.all(['a', 'b', 'c'].map(t => bearer.getManifest(PATH, t)))

    expect(registry.tokenRequests).toHaveLength(1)
  })

  test('a write needs pull,push: a second token for that scope', async () => {
    const stored = manifestFor(IMAGE_ID)
    await bearer.getManifest(PATH, 'latest')

    await bearer.putManifest(PATH, 'latest', {
      ...stored,
      digest: sha256(stored.body)
    })

    expect(registry.tokenRequests.map(r => r.scopes)).toEqual([
      [`repository:${PATH}:pull`],
      [`repository:${PATH}:pull,push`]
    ])
    expect(registry.digestAt(PATH, 'latest')).toBe(sha256(stored.body))
  })

  test('a login the token service refuses fails with its answer', async () => {
    registry.bearerLogin = 'Basic c29tZW9uZTplbHNl'

    const error = await failure(bearer.getManifest(PATH, 'latest'))

    expect(error.message).toContain(
      `Could not get a registry token from https://${HOST}/token: it answered 401.`
    )
    expect(error.message).toContain('if it expired, run the step again')
  })

  test('masks the token the moment it arrives', async () => {
    resetCore()
    await bearer.getManifest(PATH, 'latest')
    expect(core.setSecret).toHaveBeenCalledWith('token-1')
  })

  test.each([
    ['another host', 'https://auth.example.com/token'],
    ['plain http', `http://${HOST}/token`],
    ['no URL', 'token']
  ])('never sends the login to a realm on %s', async (_, realm) => {
    fetchSpy.mockImplementation(
      async () =>
        new Response('', {
          status: 401,
          headers: {
            'www-authenticate': `Bearer realm="${realm}",service="${HOST}"`
          }
        })
    )

    const error = await failure(bearer.getManifest(PATH, 'latest'))

    expect(error.message).toContain(
      `asks for a token from ${JSON.stringify(realm)}, which is not https ` +
        'on its own host: the login is not sent there'
    )
    expect(fetchSpy).toHaveBeenCalledTimes(1)
  })

  test('a denied write names ecr-public:PutImage; a refused read no action', async () => {
    fetchSpy.mockImplementation(async () => new Response('', { status: 403 }))

    const write = await failure(bearer.putManifest(PATH, 'latest', MANIFEST))
    const read = await failure(bearer.getManifest(PATH, 'latest'))

    expect(write).toBeInstanceOf(AccessDeniedError)
    expect(write.message).toContain(
      `ecr-public:PutImage was denied on ${HOST}/${PATH}`
    )
    expect(read).not.toBeInstanceOf(AccessDeniedError)
    expect(read.message).not.toContain('ecr:BatchGetImage')
  })
})

describe('bearerChallenge', () => {
  test('reads realm, service and scope, quoted or not', () => {
    expect(
      bearerChallenge(
        'Bearer realm="https://public.ecr.aws/token",service=public.ecr.aws,' +
          'scope="repository:a/b:pull,push"'
      )
    ).toEqual({
      realm: 'https://public.ecr.aws/token',
      service: 'public.ecr.aws',
      scope: 'repository:a/b:pull,push'
    })
  })

  test.each([null, '', 'Basic realm="local-ecr"', 'Bearer service="x"'])(
    '%j is no Bearer challenge',
    header => {
      expect(bearerChallenge(header)).toBeUndefined()
    }
  )
})
