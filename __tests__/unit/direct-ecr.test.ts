import {
  afterAll,
  beforeEach,
  describe,
  expect,
  jest,
  test
} from '@jest/globals'
import { SignatureV4 } from '@smithy/signature-v4'
import { createHash, createHmac } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'

import { REGISTRY } from '../fixtures/aws.js'
import { core, resetCore } from '../fixtures/core.js'

jest.unstable_mockModule('@actions/core', () => core)

const {
  callEcr,
  createRepository,
  directRoute,
  signedHeaders,
  startDirectCalls
} = await import('../../src/direct-ecr.js')

const KEYS = {
  AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'
}
const PRIVATE = {
  registryType: 'private' as const,
  region: 'eu-west-1',
  partition: 'aws'
}
const NOW = new Date('2026-12-04T12:34:56.789Z')
const noFile = () => false

/** The SDK's own signer needs a hash class; node's crypto is one. */
class Sha256 {
  private readonly hash
  constructor(secret?: unknown) {
    this.hash = secret
      ? createHmac('sha256', secret as Buffer)
      : createHash('sha256')
  }
  update(data: string | Uint8Array): void {
    this.hash.update(data)
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest()
  }
}

describe('signedHeaders', () => {
  const request = {
    method: 'POST',
    path: '/',
    headers: {
      'content-length': '31',
      'content-type': 'application/x-amz-json-1.1',
      host: 'api.ecr.eu-west-1.amazonaws.com',
      'x-amz-target':
        'AmazonEC2ContainerRegistry_V20150921.DescribeRepositories'
    },
    body: '{"repositoryNames":["app/web"]}'
  }

  test.each([
    ['long-term keys', {}],
    ['a session token', { sessionToken: 'FwoGZXIvYXdzE//session+token==' }]
  ])('signs as the SDK signer does, with %s', async (_name, extra) => {
    const credentials = {
      accessKeyId: KEYS.AWS_ACCESS_KEY_ID,
      secretAccessKey: KEYS.AWS_SECRET_ACCESS_KEY,
      ...extra
    }
    const sdk = new SignatureV4({
      service: 'ecr',
      region: 'eu-west-1',
      credentials,
      sha256: Sha256
    })
    const expected = await sdk.sign(
      {
        method: request.method,
        protocol: 'https:',
        hostname: request.headers.host,
        path: request.path,
        query: {},
        headers: { ...request.headers },
        body: request.body
      },
      { signingDate: NOW }
    )

    const ours = signedHeaders(request, credentials, 'eu-west-1', 'ecr', NOW)

    expect(ours.authorization).toBe(expected.headers.authorization)
    expect(ours['x-amz-date']).toBe('20261204T123456Z')
    expect(ours['x-amz-security-token']).toBe(
      'sessionToken' in extra ? extra.sessionToken : undefined
    )
  })

  test('a different secret gives a different signature', () => {
    const sign = (secretAccessKey: string) =>
      signedHeaders(
        request,
        { accessKeyId: 'AKIDEXAMPLE', secretAccessKey },
        'eu-west-1',
        'ecr',
        NOW
      ).authorization
    expect(sign('one')).not.toBe(sign('two'))
    expect(sign('one')).not.toContain('one')
  })
})

describe('directRoute', () => {
  test('the region endpoint, with the keys from the environment', () => {
    const route = directRoute(
      PRIVATE,
      { ...KEYS, AWS_SESSION_TOKEN: 'token' },
      NOW,
      noFile
    )
    expect(route).toEqual({
      endpoint: new URL('https://api.ecr.eu-west-1.amazonaws.com/'),
      region: 'eu-west-1',
      credentials: {
        accessKeyId: KEYS.AWS_ACCESS_KEY_ID,
        secretAccessKey: KEYS.AWS_SECRET_ACCESS_KEY,
        sessionToken: 'token'
      }
    })
  })

  test.each([
    ['AWS_ENDPOINT_URL_ECR', { AWS_ENDPOINT_URL_ECR: 'http://127.0.0.1:5000' }],
    ['AWS_ENDPOINT_URL', { AWS_ENDPOINT_URL: 'http://127.0.0.1:5000/' }],
    [
      'AWS_ENDPOINT_URL_ECR before AWS_ENDPOINT_URL',
      {
        AWS_ENDPOINT_URL_ECR: 'http://127.0.0.1:5000',
        AWS_ENDPOINT_URL: 'http://127.0.0.1:6000'
      }
    ]
  ])('the endpoint from %s', (_name, env) => {
    const route = directRoute(PRIVATE, { ...KEYS, ...env }, NOW, noFile)
    expect(typeof route === 'string' ? route : route.endpoint.href).toBe(
      'http://127.0.0.1:5000/'
    )
  })

  test('AWS_IGNORE_CONFIGURED_ENDPOINT_URLS gives the region endpoint', () => {
    const route = directRoute(
      PRIVATE,
      {
        ...KEYS,
        AWS_ENDPOINT_URL: 'http://127.0.0.1:5000',
        AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true'
      },
      NOW,
      noFile
    )
    expect(typeof route === 'string' ? route : route.endpoint.host).toBe(
      'api.ecr.eu-west-1.amazonaws.com'
    )
  })

  test.each<[string, NodeJS.ProcessEnv, string]>([
    ['no keys', {}, 'no access key'],
    [
      'a key without its secret',
      { AWS_ACCESS_KEY_ID: 'AKID' },
      'no access key'
    ],
    ['a profile', { ...KEYS, AWS_PROFILE: 'ci' }, 'AWS_PROFILE'],
    [
      'expired keys',
      { ...KEYS, AWS_CREDENTIAL_EXPIRATION: '2026-12-04T12:00:00Z' },
      'AWS_CREDENTIAL_EXPIRATION'
    ],
    [
      'an unreadable expiration',
      { ...KEYS, AWS_CREDENTIAL_EXPIRATION: 'soon' },
      'AWS_CREDENTIAL_EXPIRATION'
    ],
    ['FIPS', { ...KEYS, AWS_USE_FIPS_ENDPOINT: 'true' }, 'FIPS'],
    ['dual-stack', { ...KEYS, AWS_USE_DUALSTACK_ENDPOINT: 'TRUE' }, 'dual'],
    [
      'an endpoint with a path',
      { ...KEYS, AWS_ENDPOINT_URL: 'https://gateway.example/ecr' },
      'path'
    ],
    [
      'an endpoint that is no URL',
      { ...KEYS, AWS_ENDPOINT_URL: 'localhost:5000' },
      'neither http nor https'
    ],
    ['a proxy', { ...KEYS, HTTPS_PROXY: 'http://proxy.example:3128' }, 'proxy'],
    [
      'a proxy for a plain-http endpoint',
      {
        ...KEYS,
        AWS_ENDPOINT_URL: 'http://ecr.internal:5000',
        HTTP_PROXY: 'http://proxy.example:3128'
      },
      'proxy'
    ]
  ])('leaves the calls to the SDK with %s', (_name, env, reason) => {
    const route = directRoute(PRIVATE, env, NOW, noFile)
    expect(route).toEqual(expect.stringContaining(reason))
  })

  test('a proxy the endpoint bypasses by NO_PROXY does not matter', () => {
    const route = directRoute(
      PRIVATE,
      {
        ...KEYS,
        HTTPS_PROXY: 'http://proxy.example:3128',
        NO_PROXY: '.amazonaws.com'
      },
      NOW,
      noFile
    )
    expect(typeof route).toBe('object')
  })

  test('an AWS config file may name an endpoint: the SDK reads it', () => {
    const seen: string[] = []
    const route = directRoute(
      PRIVATE,
      { ...KEYS, AWS_CONFIG_FILE: '/etc/aws/config' },
      NOW,
      file => {
        seen.push(file)
        return true
      }
    )
    expect(seen).toEqual(['/etc/aws/config'])
    expect(route).toEqual(expect.stringContaining('/etc/aws/config'))
  })

  test('other partitions and ECR Public go through the SDK', () => {
    expect(
      directRoute(
        { ...PRIVATE, region: 'cn-north-1', partition: 'aws-cn' },
        KEYS,
        NOW,
        noFile
      )
    ).toEqual(expect.stringContaining('aws-cn'))
    expect(
      directRoute({ ...PRIVATE, registryType: 'public' }, KEYS, NOW, noFile)
    ).toBe('ECR Public')
  })
})

// A stand-in for the ECR API on a local port: it answers each operation
// as told and keeps what it was sent.
interface Received {
  target: string
  headers: http.IncomingHttpHeaders
  body: unknown
}
type Reply = {
  status: number
  body: unknown
  headers?: http.OutgoingHttpHeaders
}
const received: Received[] = []
let replies: Record<string, Reply | 'hang'> = {}
const server = http.createServer((request, response) => {
  const chunks: Buffer[] = []
  request.on('data', (chunk: Buffer) => chunks.push(chunk))
  request.on('end', () => {
    const target = String(request.headers['x-amz-target']).split('.').pop()
    received.push({
      target: target ?? '',
      headers: request.headers,
      body: JSON.parse(Buffer.concat(chunks).toString('utf8'))
    })
    const reply = replies[target ?? '']
    if (reply === 'hang') return
    response.writeHead(reply?.status ?? 500, {
      'content-type': 'application/x-amz-json-1.1',
      ...reply?.headers
    })
    response.end(JSON.stringify(reply?.body ?? {}))
  })
})
await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
afterAll(async () => {
  server.closeAllConnections()
  await new Promise(resolve => server.close(resolve))
})

const PASSWORD = 'eyJwYXlsb2FkIjoi:c2VjcmV0'
const TOKEN = Buffer.from(`AWS:${PASSWORD}`).toString('base64')
const REPOSITORY = {
  repositoryArn: 'arn:aws:ecr:eu-west-1:123456789012:repository/app/web',
  registryId: '123456789012',
  repositoryName: 'app/web',
  repositoryUri: `${REGISTRY}/app/web`,
  createdAt: 1764000000.5,
  imageTagMutability: 'IMMUTABLE'
}
const TOKEN_OK: Reply = {
  status: 200,
  body: {
    authorizationData: [
      {
        authorizationToken: TOKEN,
        proxyEndpoint: `https://${REGISTRY}`,
        expiresAt: 1764043200
      }
    ]
  }
}
const FOUND: Reply = { status: 200, body: { repositories: [REPOSITORY] } }

function settings(extra: { registryId?: string } = {}) {
  return {
    ...PRIVATE,
    repository: 'app/web',
    registryId: undefined,
    networkTimeout: 1,
    ...extra
  }
}

function start(extra: { registryId?: string } = {}) {
  const calls = startDirectCalls(settings(extra), {
    ...KEYS,
    AWS_ENDPOINT_URL: endpoint
  })
  if (!calls) throw new Error('no direct calls')
  return calls
}

beforeEach(() => {
  resetCore()
  received.length = 0
  replies = {}
})

describe('startDirectCalls', () => {
  test('asks for the token and the repository, signed, at once', async () => {
    replies = { GetAuthorizationToken: TOKEN_OK, DescribeRepositories: FOUND }

    const calls = start()
    const [login, found] = await Promise.all([calls.login, calls.repository])

    expect(login).toEqual({
      registry: REGISTRY,
      username: 'AWS',
      password: PASSWORD,
      expiresAt: new Date(1764043200 * 1000)
    })
    expect(found).toEqual({
      repository: { ...REPOSITORY, createdAt: new Date(1764000000500) }
    })
    expect(received.map(call => [call.target, call.body])).toEqual(
      expect.arrayContaining([
        ['GetAuthorizationToken', {}],
        ['DescribeRepositories', { repositoryNames: ['app/web'] }]
      ])
    )
    for (const { headers } of received) {
      expect(headers.authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/ecr\/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-target, Signature=[0-9a-f]{64}$/
      )
      expect(headers['content-type']).toBe('application/x-amz-json-1.1')
      expect(headers['user-agent']).toBe('ecr-push-action')
    }
  })

  test('masks the token and the password the moment they arrive', async () => {
    replies = { GetAuthorizationToken: TOKEN_OK, DescribeRepositories: FOUND }

    await start().login

    expect(core.setSecret.mock.calls.map(call => call[0])).toEqual([
      TOKEN,
      PASSWORD
    ])
    const logged = JSON.stringify([core.debug.mock.calls, core.info.mock.calls])
    expect(logged).not.toContain(PASSWORD)
    expect(logged).not.toContain(TOKEN)
  })

  test('names another registry when registry-id is given', async () => {
    replies = { GetAuthorizationToken: TOKEN_OK, DescribeRepositories: FOUND }

    const calls = start({ registryId: '210987654321' })
    await Promise.all([calls.login, calls.repository])

    expect(received.map(call => [call.target, call.body])).toEqual(
      expect.arrayContaining([
        ['GetAuthorizationToken', { registryIds: ['210987654321'] }],
        [
          'DescribeRepositories',
          { repositoryNames: ['app/web'], registryId: '210987654321' }
        ]
      ])
    )
  })

  test.each([
    ['in the body', { __type: 'RepositoryNotFoundException' }, {}],
    [
      'with a namespace',
      { __type: 'com.amazonaws.ecr#RepositoryNotFoundException' },
      {}
    ],
    [
      'in the header',
      {},
      {
        'x-amzn-errortype':
          'RepositoryNotFoundException:http://internal.amazon.com/'
      }
    ]
  ])(
    'a missing repository is known as missing (%s)',
    async (_n, body, headers) => {
      replies = {
        GetAuthorizationToken: TOKEN_OK,
        DescribeRepositories: { status: 400, body, headers }
      }

      await expect(start().repository).resolves.toEqual({
        repository: undefined
      })
    }
  )

  test.each<[string, Reply]>([
    ['a denial', { status: 400, body: { __type: 'AccessDeniedException' } }],
    [
      'a bad signature',
      { status: 403, body: { __type: 'InvalidSignatureException' } }
    ],
    ['throttling', { status: 400, body: { __type: 'ThrottlingException' } }],
    ['a server error', { status: 500, body: {} }],
    ['an answer without data', { status: 200, body: {} }],
    [
      'a token not in user:password form',
      {
        status: 200,
        body: {
          authorizationData: [
            {
              authorizationToken: Buffer.from('nocolon').toString('base64'),
              proxyEndpoint: `https://${REGISTRY}`
            }
          ]
        }
      }
    ]
  ])('leaves both to the SDK after %s', async (_name, reply) => {
    replies = { GetAuthorizationToken: reply, DescribeRepositories: reply }

    const calls = start()

    await expect(calls.login).resolves.toBeUndefined()
    await expect(calls.repository).resolves.toBeUndefined()
    const said = core.debug.mock.calls.map(call => String(call[0])).join('\n')
    expect(said).toContain('asking through the AWS SDK')
  })

  test('no answer within network-timeout leaves them to the SDK', async () => {
    replies = { GetAuthorizationToken: 'hang', DescribeRepositories: 'hang' }

    const calls = start()

    await expect(calls.login).resolves.toBeUndefined()
    await expect(calls.repository).resolves.toBeUndefined()
    expect(received).toHaveLength(2)
  })

  test('no server leaves them to the SDK', async () => {
    const calls = startDirectCalls(settings(), {
      ...KEYS,
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9'
    })

    await expect(calls?.login).resolves.toBeUndefined()
    await expect(calls?.repository).resolves.toBeUndefined()
  })

  test('nothing is asked when the route is not certain', () => {
    expect(
      startDirectCalls(settings(), { ...KEYS, AWS_PROFILE: 'ci' })
    ).toBeUndefined()
    expect(core.debug).toHaveBeenCalledWith(
      'ECR calls go through the AWS SDK: AWS_PROFILE names a profile'
    )
  })
})

describe('createRepository', () => {
  const calls = () => {
    const started = start()
    return { route: started.route, timeoutMs: started.timeoutMs }
  }
  const INPUT = { repositoryName: 'app/web', imageTagMutability: 'IMMUTABLE' }

  test('sends the request as given and returns the repository', async () => {
    replies = {
      CreateRepository: { status: 200, body: { repository: REPOSITORY } }
    }

    const made = await createRepository(calls(), INPUT)

    expect(made).toEqual({
      repository: { ...REPOSITORY, createdAt: new Date(1764000000500) }
    })
    expect(
      received.find(call => call.target === 'CreateRepository')?.body
    ).toEqual(INPUT)
  })

  test('made by someone else first', async () => {
    replies = {
      CreateRepository: {
        status: 400,
        body: { __type: 'RepositoryAlreadyExistsException' }
      }
    }

    await expect(createRepository(calls(), INPUT)).resolves.toEqual({
      alreadyExists: true
    })
  })

  test.each<[string, Reply]>([
    ['a denial', { status: 400, body: { __type: 'AccessDeniedException' } }],
    ['a server error', { status: 500, body: {} }],
    ['an answer without a repository', { status: 200, body: {} }]
  ])('leaves it to the SDK after %s', async (_name, reply) => {
    replies = { CreateRepository: reply }

    await expect(createRepository(calls(), INPUT)).resolves.toBeUndefined()
  })

  test('no server leaves it to the SDK', async () => {
    const route = directRoute(
      PRIVATE,
      { ...KEYS, AWS_ENDPOINT_URL: 'http://127.0.0.1:9' },
      NOW,
      noFile
    )
    if (typeof route === 'string') throw new Error(route)

    await expect(
      createRepository({ route, timeoutMs: 1000 }, INPUT)
    ).resolves.toBeUndefined()
  })
})

describe('callEcr', () => {
  test('gives the status, the error type and the JSON', async () => {
    replies = {
      DescribeImages: {
        status: 400,
        body: { __type: 'RepositoryNotFoundException', message: 'gone' }
      }
    }
    const answer = await callEcr(
      {
        endpoint: new URL(endpoint),
        region: 'eu-west-1',
        credentials: {
          accessKeyId: 'AKID',
          secretAccessKey: 'secret'
        }
      },
      'DescribeImages',
      { repositoryName: 'app' },
      1000
    )
    expect(answer).toEqual({
      status: 400,
      errorType: 'RepositoryNotFoundException',
      body: { __type: 'RepositoryNotFoundException', message: 'gone' }
    })
  })
})
