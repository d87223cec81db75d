import * as core from '@actions/core'
import { rmSync } from 'node:fs'
import { constants } from 'node:os'
import path from 'node:path'

import { errorMessage } from './errors.js'
import { descendants, stopProcesses, type ProcessEntry } from './processes.js'

/**
 * What a cancelled run (the runner sends SIGINT, then SIGTERM) must still
 * do before it exits: stop docker, which would otherwise go on pushing
 * after the job is gone, remove the private docker config, and say what
 * was interrupted. The post step runs after a cancellation too, and
 * removes a config this could not.
 */

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM']

// The runner waits 7.5 s after SIGINT before it sends SIGTERM, and 2.5 s
// after that before it kills: docker gets 3 s to cancel its request.
const DOCKER_GRACE_MS = 3000

/**
 * The phase and the signal, shared by both bundles of the action: the
 * entry (dist/index.js, whose docker build may be running) and the main
 * bundle it loads each have their own copy of this module, and must
 * agree that the step is being cancelled.
 */
interface Cancellation {
  phase: string | undefined
  signal: NodeJS.Signals | undefined
  /** Directories in use that the step would remove when done. */
  scratch?: Set<string>
}
const SHARED = Symbol.for('ecr-push-action.cancellation')
const shared = globalThis as { [SHARED]?: Cancellation }
const state: Cancellation = (shared[SHARED] ??= {
  phase: undefined,
  signal: undefined
})

/**
 * Notes a directory the step removes itself when done, so that a
 * cancellation, which ends the step before that, removes it too. The
 * returned function forgets it again.
 */
export function removedOnCancel(dir: string): () => void {
  const scratch = (state.scratch ??= new Set())
  scratch.add(dir)
  return () => void scratch.delete(dir)
}

/** True once a signal came: the step is on its way out. */
export function isCancelled(): boolean {
  return state.signal !== undefined
}

/**
 * core.group, remembering the phase, so that a cancellation can say what
 * it interrupted.
 */
export function phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
  state.phase = name
  return core.group(name, fn)
}

/**
 * Names the phase without a group of its own: waiting for the build the
 * entry started, whose group is already in the log.
 */
export function markPhase(name: string): void {
  state.phase = name
}

const PHASES: Record<string, string> = {
  Inputs: 'reading the inputs',
  Permissions: 'checking permissions',
  Repository: 'looking up the repository',
  Login: 'logging in to the registry',
  Build: 'building the image',
  Tag: 'tagging the image',
  Push: 'pushing the image',
  Scan: 'waiting for the image scan',
  Promote: 'promoting the tag',
  Merge: 'merging the images into an index',
  Reuse: 'reusing the image already in the registry'
}

function describePhase(name: string | undefined): string {
  if (name === undefined) return 'starting'
  return PHASES[name] ?? `in the ${name} phase`
}

/** What a cancellation does besides stopping docker; replaceable in tests. */
export interface CancelEffects {
  /** The processes to stop: this step's children and theirs. */
  running: () => Promise<ProcessEntry[]>
  stop: (entries: ProcessEntry[], graceMs: number) => Promise<void>
  exit: (code: number) => void
}

const realEffects: CancelEffects = {
  running: () => descendants(),
  stop: stopProcesses,
  exit: code => process.exit(code)
}

/**
 * Until the returned function is called, SIGINT and SIGTERM cancel the
 * step. `cleanup` removes what must not outlive it and says what it
 * removed, if anything.
 */
export function watchForCancellation(
  cleanup: () => string | undefined,
  effects: CancelEffects = realEffects
): () => void {
  const listeners = SIGNALS.map(signal => {
    const listener = (): void => void cancel(signal, cleanup, effects)
    process.on(signal, listener)
    return { signal, listener }
  })
  return () => {
    for (const { signal, listener } of listeners) {
      process.off(signal, listener)
    }
  }
}

/** The cancellation itself; a second signal while it runs changes nothing. */
export async function cancel(
  signal: NodeJS.Signals,
  cleanup: () => string | undefined,
  effects: CancelEffects
): Promise<void> {
  if (state.signal !== undefined) return
  state.signal = signal
  // What was interrupted is what ran when the signal came, not what the
  // run got to while docker was being stopped.
  const interrupted = describePhase(state.phase)

  const running = await effects.running().catch(() => [])
  // SIGTERM goes out first, so docker cancels while the config goes.
  const stopping = effects.stop(running, DOCKER_GRACE_MS)
  const done: string[] = []
  try {
    const removed = cleanup()
    if (removed) done.push(removed)
  } catch (error) {
    core.warning(
      `Cleanup after the cancellation failed: ${errorMessage(error)}`
    )
  }
  await stopping.catch(() => undefined)
  // Once docker is stopped, nothing writes there any more.
  for (const dir of state.scratch ?? []) {
    try {
      rmSync(dir, { recursive: true, force: true })
    } catch (error) {
      core.warning(`Could not remove ${dir}: ${errorMessage(error)}`)
    }
  }

  const stopped = dockerCommands(running)
  done.unshift(
    stopped.length > 0
      ? `stopped ${stopped.join(', ')}`
      : 'no docker command was running'
  )
  core.setFailed(
    `Cancelled by ${signal} while ${interrupted}: ` + `${done.join(', and ')}.`
  )
  effects.exit(128 + (constants.signals[signal] ?? 0))
}

/** `docker push`, `docker build`: what docker was doing, without the rest. */
function dockerCommands(running: ProcessEntry[]): string[] {
  const names = running.flatMap(entry => {
    const [program = '', command] = entry.command.split(' ')
    return path.basename(program) === 'docker' && command
      ? [`docker ${command}`]
      : []
  })
  return [...new Set(names)]
}

/** Forgets a cancellation and the phase, for tests. */
export function resetCancellation(): void {
  state.signal = undefined
  state.phase = undefined
  state.scratch?.clear()
}
