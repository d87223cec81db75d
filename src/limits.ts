import { InputError } from './errors.js'

/**
 * How persistent and how patient a run is: the bounds that keep a flaky
 * or stuck registry or API from failing a job at the first hiccup, or
 * from holding it forever.
 */
export interface Limits {
  /**
   * Attempts for each AWS call, registry request, docker login and docker
   * push that fails for a reason that may pass (max-attempts).
   */
  maxAttempts: number
  /**
   * Seconds one network request may take: each AWS call and registry
   * request, each docker login, tag or inspect, and the post step's
   * logout (network-timeout).
   */
  networkTimeout: number
  /** Minutes docker build may take (build-timeout). */
  buildTimeout: number
  /** Minutes one docker push attempt may take (push-timeout). */
  pushTimeout: number
  /** Minutes to wait for the pushed image's scan (scan-timeout). */
  scanTimeout: number
}

interface IntegerInput {
  name: string
  fallback: number
  min: number
  max: number
  unit: string
}

// Ranges that stop a typo (600 minutes meant as seconds, 0 meant as
// "none") before it turns into a job that hangs or never retries.
const MAX_ATTEMPTS: IntegerInput = {
  name: 'max-attempts',
  fallback: 3,
  min: 1,
  max: 10,
  unit: 'attempts'
}
const NETWORK_TIMEOUT: IntegerInput = {
  name: 'network-timeout',
  fallback: 60,
  min: 1,
  max: 3600,
  unit: 'seconds'
}
const BUILD_TIMEOUT: IntegerInput = {
  name: 'build-timeout',
  fallback: 60,
  min: 1,
  max: 1440,
  unit: 'minutes'
}
const PUSH_TIMEOUT: IntegerInput = {
  name: 'push-timeout',
  fallback: 30,
  min: 1,
  max: 1440,
  unit: 'minutes'
}
// Basic scans finish in a minute or two, enhanced ones in a few; an hour
// means the scan is stuck, not slow.
const SCAN_TIMEOUT: IntegerInput = {
  name: 'scan-timeout',
  fallback: 10,
  min: 1,
  max: 60,
  unit: 'minutes'
}

/** network-timeout's default, in seconds. */
export const DEFAULT_NETWORK_TIMEOUT = NETWORK_TIMEOUT.fallback

/** Reads the limits; an empty input takes its default. */
export function readLimits(input: (name: string) => string): Limits {
  return {
    maxAttempts: readInteger(MAX_ATTEMPTS, input(MAX_ATTEMPTS.name)),
    networkTimeout: readInteger(NETWORK_TIMEOUT, input(NETWORK_TIMEOUT.name)),
    buildTimeout: readInteger(BUILD_TIMEOUT, input(BUILD_TIMEOUT.name)),
    pushTimeout: readInteger(PUSH_TIMEOUT, input(PUSH_TIMEOUT.name)),
    scanTimeout: readInteger(SCAN_TIMEOUT, input(SCAN_TIMEOUT.name))
  }
}

function readInteger(spec: IntegerInput, value: string): number {
  const word = value.trim()
  if (word === '') return spec.fallback
  const range = `${spec.min} to ${spec.max} ${spec.unit}`
  if (!/^\d+$/.test(word)) {
    throw new InputError(
      spec.name,
      value,
      `is not a whole number: give ${range}`
    )
  }
  const number = Number(word)
  if (number < spec.min || number > spec.max) {
    const none =
      number === 0 && spec.unit !== 'attempts'
        ? ' (there is no "no limit": a stuck registry would hold the job)'
        : ''
    throw new InputError(
      spec.name,
      value,
      `is out of range: give ${range}${none}`
    )
  }
  return number
}

/** Milliseconds, for timers. */
export const seconds = (count: number): number => count * 1000
export const minutes = (count: number): number => count * 60_000

/** "90 s" or "30 minutes", as a person would write the bound. */
export function describeDuration(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) {
    const count = ms / 60_000
    return `${count} minute${count === 1 ? '' : 's'}`
  }
  return `${Math.round(ms / 100) / 10} s`
}
