/**
 * A failure whose message is already written for the person reading the
 * log: what failed, why, and what to do. The one failure path in main.ts
 * prints it as it is, without a stack trace.
 */
export class ActionError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ActionError'
  }
}

/** A bad input value: names the input and quotes the value. */
export class InputError extends ActionError {
  constructor(
    readonly input: string,
    readonly value: string,
    reason: string
  ) {
    super(`Input "${input}": ${quote(value)} ${reason}`)
    this.name = 'InputError'
  }
}

/** Quotes a value for an error message, with newlines made visible. */
export function quote(value: string): string {
  return JSON.stringify(value)
}

/** The message of anything thrown, for people rather than for debuggers. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name
  if (typeof error === 'string') return error
  return String(error)
}

/** The error code AWS SDK v3 gives a service exception, if it is one. */
export function awsErrorName(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const name = (error as { name?: unknown }).name
  return typeof name === 'string' ? name : undefined
}

/**
 * AWS refused an action. The message already says which action, on which
 * resource, and what to add; the fields let the permission check count it
 * as a definite denial.
 */
export class AccessDeniedError extends ActionError {
  constructor(
    message: string,
    readonly action: string,
    readonly resource: string,
    readonly explicit: boolean
  ) {
    super(message)
    this.name = 'AccessDeniedError'
  }
}
