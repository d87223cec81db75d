import { beforeEach, describe, expect, jest, test } from '@jest/globals'
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr'
import { mockClient } from 'aws-sdk-client-mock'

import { REGISTRY, accessDenied } from '../fixtures/aws.js'
import { core, resetCore } from '../fixtures/core.js'

jest.unstable_mockModule('@actions/core', () => core)

const { ActionError } = await import('../../src/errors.js')
const { decodeLogin, getRegistryLogin, registryHost } =
  await import('../../src/auth.js')

// Loaded before the tests, so that its one debug line is not among
// the events they check.
await (await import('../../src/sdk-loader.js')).loadSdk()

const ecrMock = mockClient(ECRClient)
const ecr = new ECRClient({ region: 'us-east-1' })

const PASSWORD = 'eyJwYXlsb2FkIjoiYWJj:ZGVm:with:colons=='
const TOKEN = Buffer.from(`AWS:${PASSWORD}`).toString('base64')
const ENDPOINT = `https://${REGISTRY}`
const EXPIRES = new Date('2024-05-01T22:00:00Z')

/** Every call to setSecret, info and debug, in the order they happened. */
function events(): string[] {
  const all = [
    ...core.setSecret.mock.calls.map((call, index) => ({
      order: core.setSecret.mock.invocationCallOrder[index] ?? 0,
      text: `setSecret ${String(call[0])}`
    })),
    ...[core.info, core.debug].flatMap(fn =>
      fn.mock.calls.map((call, index) => ({
        order: fn.mock.invocationCallOrder[index] ?? 0,
        text: `log ${String(call[0])}`
      }))
    )
  ]
  return all.sort((a, b) => a.order - b.order).map(event => event.text)
}

beforeEach(() => {
  ecrMock.reset()
  resetCore()
})

describe('decodeLogin', () => {
  test('splits user and password at the first colon', () => {
    expect(decodeLogin(TOKEN, ENDPOINT, EXPIRES)).toEqual({
      registry: REGISTRY,
      username: 'AWS',
      password: PASSWORD,
      expiresAt: EXPIRES
    })
  })

  test('masks the token, then the password, and logs nothing', () => {
    decodeLogin(TOKEN, ENDPOINT, undefined)

    expect(events()).toEqual([`setSecret ${TOKEN}`, `setSecret ${PASSWORD}`])
  })

  test.each([
    { name: 'no colon', decoded: 'AWSs3cr3tPassw0rd' },
    { name: 'no user', decoded: ':s3cr3tPassw0rd' },
    { name: 'no password', decoded: 'AWS:' },
    { name: 'empty', decoded: '' }
  ])('refuses a token with $name, without quoting it', ({ decoded }) => {
    const token = Buffer.from(decoded).toString('base64')
    let caught: unknown
    try {
      decodeLogin(token, ENDPOINT, undefined)
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(ActionError)
    const message = (caught as Error).message
    expect(message).toContain('user:password form')
    if (decoded) expect(message).not.toContain(decoded)
    if (token) expect(message).not.toContain(token)
    // Masked before it was even looked at.
    expect(core.setSecret).toHaveBeenCalledWith(token)
  })
})

describe('registryHost', () => {
  test.each([
    [ENDPOINT, REGISTRY],
    [`${ENDPOINT}/`, REGISTRY],
    [`${ENDPOINT}//`, REGISTRY],
    ['http://localhost:5000', 'localhost:5000'],
    [REGISTRY, REGISTRY],
    [
      'https://123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn',
      '123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn'
    ]
  ])('%s is %s', (endpoint, host) => {
    expect(registryHost(endpoint)).toBe(host)
  })
})

describe('getRegistryLogin', () => {
  function answer(): void {
    ecrMock.on(GetAuthorizationTokenCommand).resolves({
      authorizationData: [
        {
          authorizationToken: TOKEN,
          proxyEndpoint: ENDPOINT,
          expiresAt: EXPIRES
        }
      ]
    })
  }

  test('asks for the caller registry without registryIds', async () => {
    answer()

    const login = await getRegistryLogin(ecr, undefined)

    expect(
      ecrMock.commandCalls(GetAuthorizationTokenCommand)[0]?.args[0].input
    ).toStrictEqual({})
    expect(login).toEqual({
      registry: REGISTRY,
      username: 'AWS',
      password: PASSWORD,
      expiresAt: EXPIRES
    })
    expect(events()).toEqual([`setSecret ${TOKEN}`, `setSecret ${PASSWORD}`])
  })

  test('passes registryIds for another account', async () => {
    answer()

    await getRegistryLogin(ecr, '210987654321')

    expect(
      ecrMock.commandCalls(GetAuthorizationTokenCommand)[0]?.args[0].input
    ).toStrictEqual({ registryIds: ['210987654321'] })
  })

  test.each([
    { name: 'no data', response: {} },
    { name: 'empty data', response: { authorizationData: [] } },
    {
      name: 'no endpoint',
      response: { authorizationData: [{ authorizationToken: TOKEN }] }
    },
    {
      name: 'no token',
      response: { authorizationData: [{ proxyEndpoint: ENDPOINT }] }
    }
  ])('an answer with $name is an error', async ({ response }) => {
    ecrMock.on(GetAuthorizationTokenCommand).resolves(response)

    await expect(getRegistryLogin(ecr, undefined)).rejects.toThrow(
      'ECR returned no authorization token'
    )
  })

  test('a denial names ecr:GetAuthorizationToken on Resource "*"', async () => {
    ecrMock
      .on(GetAuthorizationTokenCommand)
      .rejects(accessDenied('ecr:GetAuthorizationToken', '*'))

    let caught: unknown
    try {
      await getRegistryLogin(ecr, '210987654321')
    } catch (error) {
      caught = error
    }

    expect(caught).toBeInstanceOf(ActionError)
    const message = (caught as Error).message
    expect(message).toContain('ecr:GetAuthorizationToken was denied on *')
    expect(message).toContain(
      '{"Effect":"Allow","Action":"ecr:GetAuthorizationToken","Resource":"*"}'
    )
    expect(message).toContain('not authorized to perform')
  })

  test('other errors pass through unchanged', async () => {
    const offline = Object.assign(new Error('getaddrinfo ENOTFOUND'), {
      name: 'Error'
    })
    ecrMock.on(GetAuthorizationTokenCommand).rejects(offline)

    await expect(getRegistryLogin(ecr, undefined)).rejects.toBe(offline)
  })
})
