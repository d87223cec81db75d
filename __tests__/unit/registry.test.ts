import {
  afterEach,
  beforeEach,
  describe,
  expect,
  jest,
  test
} from '@jest/globals'

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
