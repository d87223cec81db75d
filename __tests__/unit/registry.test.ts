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
import { AccessDeniedError } from '../../src/errors.js'
import { RegistryClient } from '../../src/registry.js'

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
