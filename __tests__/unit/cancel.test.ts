import {
  afterEach,
  beforeEach,
  describe,
  expect,
  jest,
  test
} from '@jest/globals'

import { existsSync, writeFileSync } from 'node:fs'
import path from 'node:path'

import { core, logged, resetCore } from '../fixtures/core.js'
import { removeTempDirs, tempDir } from '../fixtures/tmp.js'

jest.unstable_mockModule('@actions/core', () => core)

const {
  cancel,
  isCancelled,
  markPhase,
  phase,
  removedOnCancel,
  resetCancellation,
  watchForCancellation
} = await import('../../src/cancel.js')

type Effects = Parameters<typeof cancel>[2]

const DOCKER_PUSH = {
  pid: 200,
  ppid: 100,
  command: '/usr/bin/docker push 123.dkr.ecr.us-east-1.amazonaws.com/a:v1'
}
const BUILDX = {
  pid: 300,
  ppid: 200,
  command: '/usr/libexec/docker/cli-plugins/docker-buildx buildx build .'
}

function effects(running = [DOCKER_PUSH, BUILDX]) {
  const calls: string[] = []
  const fake = {
    running: jest.fn(async () => running),
    stop: jest.fn(async (entries: typeof running, graceMs: number) => {
      calls.push(`stop ${entries.map(entry => entry.pid).join(',')} ${graceMs}`)
    }),
    exit: jest.fn((code: number) => {
      calls.push(`exit ${code}`)
    })
  } satisfies Effects
  return { fake, calls }
}

beforeEach(() => {
  resetCore()
  resetCancellation()
})
afterEach(() => {
  resetCancellation()
  removeTempDirs()
})

describe('cancel', () => {
  test('SIGTERM mid-push: docker stopped, config removed, failed, exit 143', async () => {
    const { fake, calls } = effects()
    const cleanup = jest.fn(() => {
      calls.push('cleanup')
      return 'removed the private docker config'
    })
    await phase('Push', async () => undefined)

    await cancel('SIGTERM', cleanup, fake)

    expect(calls).toEqual(['stop 200,300 3000', 'cleanup', 'exit 143'])
    expect(core.setFailed).toHaveBeenCalledWith(
      'Cancelled by SIGTERM while pushing the image: stopped docker push, ' +
        'and removed the private docker config.'
    )
    expect(isCancelled()).toBe(true)
  })

  test('directories in use go once docker is stopped; forgotten ones stay', async () => {
    const { fake, calls } = effects()
    const inUse = tempDir('ecr-push-result-')
    writeFileSync(path.join(inUse, 'image-id'), '')
    const done = tempDir('ecr-push-result-')
    removedOnCancel(inUse)
    removedOnCancel(done)()
    fake.stop.mockImplementation(async () => {
      calls.push(`stop, ${existsSync(inUse) ? 'still there' : 'gone'}`)
    })

    await cancel('SIGINT', () => undefined, fake)

    expect(calls).toEqual(['stop, still there', 'exit 130'])
    expect(existsSync(inUse)).toBe(false)
    expect(existsSync(done)).toBe(true)
  })

  test('SIGINT before any docker call: exit 130', async () => {
    const { fake } = effects([])
    await phase('Repository', async () => undefined)

    await cancel('SIGINT', () => undefined, fake)

    expect(core.setFailed).toHaveBeenCalledWith(
      'Cancelled by SIGINT while looking up the repository: no docker ' +
        'command was running.'
    )
    expect(fake.exit).toHaveBeenCalledWith(130)
  })

  test('both bundles of the action see one cancellation and one phase', async () => {
    // The entry and the main bundle each have a copy of the module; what
    // they share is this global record.
    const shared = (globalThis as Record<symbol, unknown>)[
      Symbol.for('ecr-push-action.cancellation')
    ] as { phase?: string; signal?: string }
    markPhase('Build')
    expect(shared.phase).toBe('Build')

    shared.signal = 'SIGTERM'
    expect(isCancelled()).toBe(true)
    const { fake } = effects([])
    await cancel('SIGINT', () => undefined, fake)
    // Already being cancelled by the other copy: nothing twice.
    expect(core.setFailed).not.toHaveBeenCalled()
    expect(fake.exit).not.toHaveBeenCalled()
  })

  test('markPhase names the phase for the message, without a group', async () => {
    const { fake } = effects([])
    markPhase('Build')

    await cancel('SIGINT', () => undefined, fake)

    expect(core.group).not.toHaveBeenCalled()
    expect(logged(core.setFailed)).toContain('while building the image:')
  })

  test('a phase it does not know, and none at all', async () => {
    const { fake } = effects([])
    await cancel('SIGTERM', () => undefined, fake)
    expect(logged(core.setFailed)).toContain('while starting:')

    resetCancellation()
    resetCore()
    await phase('Sign', async () => undefined)
    await cancel('SIGTERM', () => undefined, fake)
    expect(logged(core.setFailed)).toContain('while in the Sign phase:')
  })

  test('a second signal while the first is handled changes nothing', async () => {
    const { fake } = effects()

    await Promise.all([
      cancel('SIGINT', () => undefined, fake),
      cancel('SIGTERM', () => undefined, fake)
    ])

    expect(fake.exit).toHaveBeenCalledTimes(1)
    expect(fake.exit).toHaveBeenCalledWith(130)
    expect(core.setFailed).toHaveBeenCalledTimes(1)
  })

  test('a cleanup that throws is a warning; docker is still stopped', async () => {
    const { fake } = effects()

    await cancel(
      'SIGTERM',
      () => {
        throw new Error('EBUSY')
      },
      fake
    )

    expect(logged(core.warning)).toBe(
      'Cleanup after the cancellation failed: EBUSY'
    )
    expect(fake.stop).toHaveBeenCalled()
    expect(fake.exit).toHaveBeenCalledWith(143)
  })
})

describe('watchForCancellation', () => {
  test('listens to SIGINT and SIGTERM until told to stop', () => {
    const before = {
      SIGINT: process.listenerCount('SIGINT'),
      SIGTERM: process.listenerCount('SIGTERM')
    }

    const stop = watchForCancellation(() => undefined, effects().fake)
    expect(process.listenerCount('SIGINT')).toBe(before.SIGINT + 1)
    expect(process.listenerCount('SIGTERM')).toBe(before.SIGTERM + 1)

    stop()
    expect(process.listenerCount('SIGINT')).toBe(before.SIGINT)
    expect(process.listenerCount('SIGTERM')).toBe(before.SIGTERM)
  })

  test('a signal runs the cancellation', async () => {
    const { fake } = effects([])
    const stop = watchForCancellation(() => 'removed it', fake)
    try {
      process.emit('SIGTERM', 'SIGTERM')
      await new Promise(resolve => setTimeout(resolve, 10))
    } finally {
      stop()
    }
    expect(fake.exit).toHaveBeenCalledWith(143)
    expect(logged(core.setFailed)).toContain('removed it')
  })
})

test('phase groups the log under its name', async () => {
  await expect(phase('Build', async () => 'built')).resolves.toBe('built')
  expect(core.group).toHaveBeenCalledWith('Build', expect.any(Function))
})
