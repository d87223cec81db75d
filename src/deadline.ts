import { stopProcesses, type ProcessEntry } from './processes.js'

/** The bound of a call and the input that set it, for the message. */
export interface Deadline {
  ms: number
  /** The input a user changes to move the bound: "push-timeout". */
  input: string
}

/** A call ran past its deadline; its processes have been stopped. */
export class DeadlineExceeded extends Error {
  constructor(readonly deadline: Deadline) {
    super(`did not finish within ${deadline.ms} ms (${deadline.input})`)
    this.name = 'DeadlineExceeded'
  }
}

// How long processes get to stop on SIGTERM (docker push and build cancel
// at once; docker login ignores it and needs the SIGKILL that follows),
// and then how long the call gets to notice they are gone.
export const STOP_GRACE_MS = 3000
const SETTLE_MS = 15_000

/**
 * Waits for a call that runs processes, or, when the deadline passes
 * first, stops the processes `find` names, lets the call settle, and
 * throws DeadlineExceeded. Nothing in @actions/exec bounds a call, and
 * a stuck connection inside docker can wait forever.
 */
export async function withinDeadline<T>(
  running: Promise<T>,
  deadline: Deadline | undefined,
  find: () => Promise<ProcessEntry[]>
): Promise<T> {
  if (deadline === undefined) return running

  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<'expired'>(resolve => {
    timer = setTimeout(() => resolve('expired'), deadline.ms)
  })
  try {
    const first = await Promise.race([
      running.then(value => ({ value })),
      expired
    ])
    if (first !== 'expired') return first.value
  } finally {
    clearTimeout(timer)
  }

  await stopProcesses(await find().catch(() => []), STOP_GRACE_MS)
  let settleTimer: NodeJS.Timeout | undefined
  await Promise.race([
    running.catch(() => undefined),
    new Promise(resolve => {
      settleTimer = setTimeout(resolve, SETTLE_MS)
    })
  ])
  clearTimeout(settleTimer)
  throw new DeadlineExceeded(deadline)
}
