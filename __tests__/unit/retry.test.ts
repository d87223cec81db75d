import { beforeEach, describe, expect, jest, test } from '@jest/globals'

import { core, logged, resetCore } from '../fixtures/core.js'

jest.unstable_mockModule('@actions/core', () => core)

const {
  backoffDelay,
  isTransientStatus,
  retryPolicy,
  transientDockerLine,
  transientNetworkError,
  withRetries
} = await import('../../src/retry.js')

type Policy = ReturnType<typeof retryPolicy>

/** A policy whose sleeps return at once and are recorded. */
function instantPolicy(attempts: number, random = 0.5) {
  const waits: number[] = []
  const policy: Policy = {
    ...retryPolicy(attempts),
    random: () => random,
    sleep: async ms => {
      waits.push(ms)
    }
  }
  return { policy, waits }
}

const transientWhenMarked = (error: unknown): string | undefined =>
  error instanceof Error && error.message.startsWith('transient')
    ? error.message
    : undefined

beforeEach(resetCore)

describe('backoffDelay', () => {
  const policy = retryPolicy(10)

  test.each([
    { attempt: 1, random: 0, delay: 500 },
    { attempt: 1, random: 0.999999, delay: 1000 },
    { attempt: 2, random: 0, delay: 1000 },
    { attempt: 3, random: 0.5, delay: 3000 },
    { attempt: 5, random: 0, delay: 8000 },
    // 2^9 s would be minutes: the ceiling holds, jitter included.
    { attempt: 10, random: 0, delay: 10_000 },
    { attempt: 10, random: 0.999999, delay: 20_000 }
  ])(
    'attempt $attempt, random $random: $delay ms',
    ({ attempt, random, delay }) => {
      expect(backoffDelay(attempt, { ...policy, random: () => random })).toBe(
        delay
      )
    }
  )
})

describe('withRetries', () => {
  test('a transient failure is retried until it passes', async () => {
    const { policy, waits } = instantPolicy(3)
    const operation = jest
      .fn<(attempt: number) => Promise<string>>()
      .mockRejectedValueOnce(new Error('transient 503'))
      .mockRejectedValueOnce(new Error('transient reset'))
      .mockResolvedValue('pushed')

    await expect(
      withRetries(
        policy,
        { what: 'docker push', transientError: transientWhenMarked },
        operation
      )
    ).resolves.toBe('pushed')

    expect(operation.mock.calls.map(call => call[0])).toEqual([1, 2, 3])
    expect(waits).toEqual([750, 1500])
    expect(logged(core.warning)).toBe(
      'docker push failed (attempt 1 of 3); retrying in 0.8 s: transient 503\n' +
        'docker push failed (attempt 2 of 3); retrying in 1.5 s: transient reset'
    )
  })

  test('a hard failure is thrown at once', async () => {
    const { policy, waits } = instantPolicy(5)
    const denied = new Error('denied: not authorized')
    const operation = jest.fn<() => Promise<string>>().mockRejectedValue(denied)

    await expect(
      withRetries(
        policy,
        { what: 'docker push', transientError: transientWhenMarked },
        operation
      )
    ).rejects.toBe(denied)

    expect(operation).toHaveBeenCalledTimes(1)
    expect(waits).toEqual([])
    expect(core.warning).not.toHaveBeenCalled()
  })

  test('the last failure is thrown when every attempt failed', async () => {
    const { policy, waits } = instantPolicy(3)
    const operation = jest
      .fn<(attempt: number) => Promise<string>>()
      .mockImplementation(async attempt => {
        throw new Error(`transient failure ${attempt}`)
      })

    await expect(
      withRetries(
        policy,
        { what: 'docker login', transientError: transientWhenMarked },
        operation
      )
    ).rejects.toThrow('transient failure 3')

    expect(operation).toHaveBeenCalledTimes(3)
    expect(waits).toHaveLength(2)
  })

  test('one attempt means no retry at all', async () => {
    const { policy } = instantPolicy(1)
    const operation = jest
      .fn<() => Promise<string>>()
      .mockRejectedValue(new Error('transient 503'))

    await expect(
      withRetries(
        policy,
        { what: 'x', transientError: transientWhenMarked },
        operation
      )
    ).rejects.toThrow('transient 503')
    expect(operation).toHaveBeenCalledTimes(1)
  })

  test('a failing result is retried, then returned as it is', async () => {
    const { policy } = instantPolicy(3)
    const discarded: number[] = []
    const statuses = [503, 502, 500]
    const operation = jest
      .fn<() => Promise<number>>()
      .mockImplementation(async () => statuses.shift() ?? 0)

    const status = await withRetries(
      policy,
      {
        what: 'GET /v2/',
        transientError: () => undefined,
        transientResult: result =>
          isTransientStatus(result) ? `answered ${result}` : undefined,
        discard: result => discarded.push(result)
      },
      operation
    )

    expect(status).toBe(500)
    expect(discarded).toEqual([503, 502])
    expect(logged(core.warning)).toContain('answered 502')
  })
})

describe('transientDockerLine', () => {
  test.each([
    [
      'a 503 from the registry',
      'received unexpected HTTP status: 503 Service Unavailable',
      'received unexpected HTTP status: 503 Service Unavailable'
    ],
    [
      'a 502 from a proxy, after other lines',
      'The push refers to repository [x]\nerror parsing HTTP 502 response body: invalid character \'<\': "<html>502 Bad Gateway</html>"',
      'error parsing HTTP 502 response body: invalid character \'<\': "<html>502 Bad Gateway</html>"'
    ],
    [
      'a reset connection',
      'Put "https://x/v2/a/blobs/uploads/1": write tcp 10.0.0.2:51234->52.1.2.3:443: write: connection reset by peer',
      'Put "https://x/v2/a/blobs/uploads/1": write tcp 10.0.0.2:51234->52.1.2.3:443: write: connection reset by peer'
    ],
    [
      'a TLS handshake timeout',
      'Error response from daemon: Get "https://x/v2/": net/http: TLS handshake timeout',
      'Error response from daemon: Get "https://x/v2/": net/http: TLS handshake timeout'
    ],
    [
      'an i/o timeout',
      'dial tcp 52.1.2.3:443: i/o timeout',
      'dial tcp 52.1.2.3:443: i/o timeout'
    ],
    ['an EOF', 'Get "https://x/v2/": EOF', 'Get "https://x/v2/": EOF'],
    [
      'throttling',
      'toomanyrequests: Rate exceeded',
      'toomanyrequests: Rate exceeded'
    ],
    [
      'a refused connection',
      'dial tcp 127.0.0.2:443: connect: connection refused',
      'dial tcp 127.0.0.2:443: connect: connection refused'
    ]
  ])('transient: %s', (_name, output, line) => {
    expect(transientDockerLine(output)).toBe(line)
  })

  test.each([
    [
      'a denial',
      'denied: User: arn:aws:sts::1:assumed-role/x is not authorized'
    ],
    ['no login', 'no basic auth credentials'],
    [
      'a bad password',
      'Error response from daemon: login attempt to https://x/v2/ failed with status: 401 Unauthorized'
    ],
    ['a 403', 'unexpected status from HEAD request: 403 Forbidden'],
    [
      'an unknown repository',
      'name unknown: The repository with name "a" does not exist'
    ],
    ['an immutable tag', "tag invalid: The image tag 'v1' already exists"],
    ['a bad manifest', 'manifest invalid: manifest invalid'],
    [
      'a denial that mentions a 503 too',
      'received unexpected HTTP status: 503 Service Unavailable\ndenied: requested access to the resource is denied'
    ],
    ['an unknown host', 'dial tcp: lookup x.example: no such host'],
    ['nothing docker said', ''],
    ['a build error', 'failed to solve: dockerfile parse error line 1']
  ])('hard: %s', (_name, output) => {
    expect(transientDockerLine(output)).toBeUndefined()
  })
})

describe('transientNetworkError', () => {
  const withCause = (cause: object): Error =>
    Object.assign(new TypeError('fetch failed'), { cause })

  test.each([
    ['a reset', withCause({ code: 'ECONNRESET', message: 'read ECONNRESET' })],
    [
      'a refused connection',
      withCause({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' })
    ],
    [
      'a socket closed by the other side',
      withCause({ code: 'UND_ERR_SOCKET', message: 'other side closed' })
    ],
    [
      'a timeout',
      Object.assign(new Error('The operation was aborted due to timeout'), {
        name: 'TimeoutError'
      })
    ],
    [
      'a wrapped timeout',
      Object.assign(new Error('GET x failed'), {
        cause: Object.assign(new Error('aborted'), { name: 'TimeoutError' })
      })
    ],
    ['a hang-up', new Error('socket hang up')]
  ])('transient: %s', (_name, error) => {
    expect(transientNetworkError(error)).toEqual(expect.any(String))
  })

  test.each([
    [
      'an untrusted certificate',
      withCause({
        code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
        message: 'unable to verify the first certificate'
      })
    ],
    [
      'an unknown host',
      withCause({ code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND x' })
    ],
    ['not an error', 'text'],
    ['nothing', undefined]
  ])('hard: %s', (_name, error) => {
    expect(transientNetworkError(error)).toBeUndefined()
  })
})

test.each([
  [200, false],
  [404, false],
  [403, false],
  [429, true],
  [500, true],
  [503, true],
  [599, true]
])('isTransientStatus(%i) is %s', (status, transient) => {
  expect(isTransientStatus(status)).toBe(transient)
})
