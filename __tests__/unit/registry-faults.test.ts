// The registry client under faults: 5xx, 429 and dropped connections are
// retried up to max-attempts; refusals and bad certificates are not.
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
import { MANIFEST_V2, manifestFor, sha256 } from '../fixtures/registry.js'
import { IMAGE_ID } from '../fixtures/docker-output.js'

jest.unstable_mockModule('@actions/core', () => core)
jest.unstable_mockModule('../../src/http.js', () => http)

const { RegistryClient } = await import('../../src/registry.js')
const { retryPolicy } = await import('../../src/retry.js')

const stored = manifestFor(IMAGE_ID)
const waits: number[] = []
let fetchSpy: ReturnType<typeof jest.spyOn>

function client(timeoutMs = 30_000) {
  return new RegistryClient(
    { registry: REGISTRY, username: 'AWS', password: 'secret' },
    timeoutMs,
    {
      ...retryPolicy(3),
      random: () => 0,
      sleep: async ms => {
        waits.push(ms)
      }
    },
    {}
  )
}

const found = () =>
  new Response(stored.body, {
    status: 200,
    headers: { 'content-type': MANIFEST_V2 }
  })
const status = (code: number) => () =>
  new Response(`{"errors":[{"code":"X","message":"${code}"}]}`, {
    status: code
  })
const dropped = () =>
  Promise.reject(
    Object.assign(new TypeError('fetch failed'), {
      cause: Object.assign(new Error('other side closed'), {
        code: 'UND_ERR_SOCKET'
      })
    })
  )

function answers(...replies: (() => Response | Promise<Response>)[]): void {
  for (const reply of replies) {
    fetchSpy.mockImplementationOnce(async () => reply())
  }
}

beforeEach(() => {
  resetCore()
  waits.length = 0
  fetchSpy = jest.spyOn(globalThis, 'fetch')
})
afterEach(() => fetchSpy.mockRestore())

describe('transient faults are retried', () => {
  test.each([
    ['503 then 502', [status(503), status(502)]],
    ['429', [status(429)]],
    ['a dropped connection twice', [dropped, dropped]]
  ])('%s, then the manifest', async (_name, faults) => {
    answers(...faults, found)

    const manifest = await client().getManifest('shop/api', 'v1')

    expect(manifest?.digest).toBe(sha256(stored.body))
    expect(fetchSpy).toHaveBeenCalledTimes(faults.length + 1)
    expect(waits).toHaveLength(faults.length)
    expect(logged(core.warning)).toContain(
      `GET https://${REGISTRY}/v2/shop/api/manifests/v1 failed (attempt 1 of 3)`
    )
  })

  test('the same body is sent again when a PUT is retried', async () => {
    const bodies: string[] = []
    fetchSpy.mockImplementation(async (_url: unknown, init?: RequestInit) => {
      bodies.push(String(init?.body))
      return bodies.length === 1
        ? status(500)()
        : new Response(null, { status: 201 })
    })

    await client().putManifest('shop/api', 'v2', {
      body: stored.body,
      mediaType: MANIFEST_V2,
      digest: sha256(stored.body)
    })

    expect(bodies).toEqual([stored.body.toString(), stored.body.toString()])
  })

  test('503 on every attempt: the last answer is the error', async () => {
    fetchSpy.mockImplementation(async () => status(503)())

    await expect(client().getManifest('shop/api', 'v1')).rejects.toThrow(
      'Could not read shop/api:v1: the registry answered 503.'
    )
    expect(fetchSpy).toHaveBeenCalledTimes(3)
  })

  test('a timeout on every attempt says which input bounds it', async () => {
    fetchSpy.mockImplementation(async () => {
      throw Object.assign(
        new Error('The operation was aborted due to timeout'),
        {
          name: 'TimeoutError'
        }
      )
    })

    await expect(client(1500).getManifest('shop/api', 'v1')).rejects.toThrow(
      `GET https://${REGISTRY}/v2/shop/api/manifests/v1 failed: no answer ` +
        'within 1.5 s (network-timeout)'
    )
    expect(fetchSpy).toHaveBeenCalledTimes(3)
  })
})

describe('final answers are not retried', () => {
  test.each([403, 401, 400])('%i', async code => {
    fetchSpy.mockImplementation(async () => status(code)())

    await expect(client().getManifest('shop/api', 'v1')).rejects.toThrow(
      `the registry answered ${code}`
    )
    expect(fetchSpy).toHaveBeenCalledTimes(1)
  })

  test('404 is an answer: no manifest', async () => {
    fetchSpy.mockImplementation(async () => status(404)())

    await expect(
      client().getManifest('shop/api', 'v1')
    ).resolves.toBeUndefined()
    expect(fetchSpy).toHaveBeenCalledTimes(1)
  })

  test('an untrusted certificate', async () => {
    fetchSpy.mockImplementation(async () => {
      throw Object.assign(new TypeError('fetch failed'), {
        cause: Object.assign(new Error('self-signed certificate'), {
          code: 'DEPTH_ZERO_SELF_SIGNED_CERT'
        })
      })
    })

    await expect(client().getManifest('shop/api', 'v1')).rejects.toThrow(
      'fetch failed: self-signed certificate'
    )
    expect(fetchSpy).toHaveBeenCalledTimes(1)
  })
})

describe('blob downloads under faults', () => {
  test('a 503 at the download host is retried; its signature is not logged', async () => {
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}')
    const signed = 'https://layers.example.com/blob?X-Amz-Signature=secret'
    const redirect = () =>
      new Response(null, { status: 307, headers: { location: signed } })
    answers(redirect, status(503), () => new Response(config))

    const blob = await client().getBlob('shop/api', sha256(config))

    expect(blob.equals(config)).toBe(true)
    expect(logged(core.warning)).toContain(
      'GET https://layers.example.com/blob failed (attempt 1 of 3)'
    )
    expect(logged(core.warning)).not.toContain('secret')
  })
})
