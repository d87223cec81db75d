import * as core from '@actions/core'

import { errorMessage } from './errors.js'

/** How many times, and how patiently, a failure that may pass is retried. */
export interface RetryPolicy {
  /** Attempts in all, the first one included (the max-attempts input). */
  attempts: number
  /** The wait before the second attempt; each later wait doubles. */
  baseDelayMs: number
  /** No wait is longer than this, however many attempts came before. */
  maxDelayMs: number
  /** Waits between attempts; tests give one that returns at once. */
  sleep: (ms: number) => Promise<void>
  /** A number in [0, 1) for the jitter; tests make it fixed. */
  random: () => number
}

export const sleep = (ms: number): Promise<void> =>
  new Promise(resolve => setTimeout(resolve, ms))

/**
 * One second, then two, four...: long enough for a registry that answered
 * 503 under load to recover, short enough that three attempts stay well
 * inside any job's patience.
 */
export function retryPolicy(attempts: number): RetryPolicy {
  return {
    attempts,
    baseDelayMs: 1000,
    maxDelayMs: 20_000,
    sleep,
    random: Math.random
  }
}

/**
 * The wait before attempt `attempt + 1`. Half of it is fixed and half is
 * random, so parallel jobs that failed together do not retry in step,
 * yet no retry comes right on the heels of the failure.
 */
export function backoffDelay(attempt: number, policy: RetryPolicy): number {
  const exponential = policy.baseDelayMs * 2 ** Math.max(0, attempt - 1)
  const ceiling = Math.min(policy.maxDelayMs, exponential)
  return Math.round(ceiling / 2 + (ceiling / 2) * policy.random())
}

export interface Retried<T> {
  /** Names the operation in warnings: "docker push". */
  what: string
  /**
   * Why an error may pass on another attempt (a line to quote), or
   * undefined when it will not: that error is thrown at once.
   */
  transientError: (error: unknown) => string | undefined
  /**
   * The same for a result that is a failure in disguise (an HTTP 503
   * answer). When the attempts run out, the last such result is returned.
   */
  transientResult?: (result: T) => string | undefined
  /** Frees a result that is retried (an unread response body). */
  discard?: (result: T) => void
}

/**
 * Runs an operation until it succeeds, fails for a reason that will not
 * pass, or has had every attempt. Each retry is a warning that names the
 * attempt and quotes the failure, so a flaky registry shows in the log
 * even when the step ends green.
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  retried: Retried<T>,
  operation: (attempt: number) => Promise<T>
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const last = attempt >= policy.attempts
    let reason: string | undefined
    try {
      const result = await operation(attempt)
      reason = retried.transientResult?.(result)
      if (reason === undefined || last) return result
      retried.discard?.(result)
    } catch (error) {
      reason = retried.transientError(error)
      if (reason === undefined || last) throw error
    }

    const delay = backoffDelay(attempt, policy)
    core.warning(
      `${retried.what} failed (attempt ${attempt} of ${policy.attempts}); ` +
        `retrying in ${(delay / 1000).toFixed(1)} s: ${reason}`
    )
    await policy.sleep(delay)
  }
}

// Failures a registry, a proxy or the network may get over: server errors,
// throttling, connections dropped or timed out. Written as docker prints
// them (Go's net/http and the distribution client).
const TRANSIENT_DOCKER = [
  /received unexpected HTTP status: 5\d\d/i,
  /\bInternal Server Error\b|\bBad Gateway\b/i,
  /\bService Unavailable\b|\bGateway Time-?out\b/i,
  /too many requests|toomanyrequests|\b429\b/i,
  /connection reset by peer/i,
  /connection refused/i,
  /broken pipe/i,
  /TLS handshake timeout/i,
  /i\/o timeout/i,
  /context deadline exceeded/i,
  /net\/http: request canceled/i,
  /server misbehaving|temporary failure in name resolution/i,
  /\bunexpected EOF\b|\bEOF$/
]

// Failures another attempt cannot change: the credentials, the permission,
// the repository or the image. They win over the transient patterns, so a
// "denied" answer that mentions a 503 elsewhere is still not retried.
const HARD_DOCKER = [
  /\b40[13]\b/,
  /unauthorized|authentication required|incorrect username or password/i,
  /no basic auth credentials/i,
  /denied|forbidden/i,
  /name unknown|repository .* not found|name invalid/i,
  /manifest invalid|manifest unknown|tag invalid|blob unknown/i,
  /no such host/i
]

/**
 * The line of docker's output that makes a failed push or login worth
 * another attempt, or undefined when it failed for good.
 */
export function transientDockerLine(output: string): string | undefined {
  const lines = output
    .split(/\r?\n/)
    .map(line => line.trim())
    .filter(line => line !== '')
  if (lines.some(line => HARD_DOCKER.some(pattern => pattern.test(line)))) {
    return undefined
  }
  return lines.find(line =>
    TRANSIENT_DOCKER.some(pattern => pattern.test(line))
  )
}

// Node's and undici's codes for a connection that failed, dropped or went
// quiet; a certificate or DNS name error is not among them: it stays.
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT'
])

/**
 * Why a failed HTTP request may pass on another attempt (it timed out, or
 * its connection was refused or dropped), or undefined. Looks through
 * `cause`, where fetch keeps the socket's error.
 */
export function transientNetworkError(error: unknown): string | undefined {
  for (let depth = 0, current = error; depth < 5; depth++) {
    if (typeof current !== 'object' || current === null) return undefined
    const { name, code, cause } = current as {
      name?: unknown
      code?: unknown
      cause?: unknown
    }
    if (
      name === 'TimeoutError' ||
      (typeof code === 'string' && TRANSIENT_CODES.has(code))
    ) {
      return oneLine(error)
    }
    if (/socket hang up|other side closed/i.test(errorMessage(current))) {
      return oneLine(error)
    }
    current = cause
  }
  return undefined
}

/** HTTP answers worth another attempt: server errors and throttling. */
export function isTransientStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status <= 599)
}

/** For logs: an error's message on one line. */
export function oneLine(error: unknown): string {
  return errorMessage(error).replace(/\s*\n\s*/g, ' ')
}
