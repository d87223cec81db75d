import { describe, expect, test } from '@jest/globals'
import { spawn } from 'node:child_process'

import { DeadlineExceeded, withinDeadline } from '../../src/deadline.js'
import { descendants } from '../../src/processes.js'

const DEADLINE = { ms: 200, input: 'network-timeout' }

describe('withinDeadline', () => {
  test('a call that ends in time is its own result', async () => {
    await expect(
      withinDeadline(Promise.resolve('done'), DEADLINE, async () => [])
    ).resolves.toBe('done')
  })

  test('its failure too', async () => {
    await expect(
      withinDeadline(Promise.reject(new Error('no')), DEADLINE, async () => [])
    ).rejects.toThrow('no')
  })

  test('no deadline waits as long as it takes', async () => {
    const slow = new Promise(resolve => setTimeout(() => resolve('late'), 300))
    await expect(withinDeadline(slow, undefined, async () => [])).resolves.toBe(
      'late'
    )
  })

  test('past the deadline: its processes are stopped, then the error', async () => {
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' })
    const running = new Promise<string>(resolve =>
      sleeper.once('exit', (_code, signal) => resolve(`exited on ${signal}`))
    )
    const started = Date.now()

    const error = await withinDeadline(running, DEADLINE, async () =>
      (await descendants()).filter(entry => entry.pid === sleeper.pid)
    ).catch((thrown: unknown) => thrown)

    expect(error).toBeInstanceOf(DeadlineExceeded)
    expect((error as DeadlineExceeded).deadline).toBe(DEADLINE)
    expect(sleeper.signalCode).toBe('SIGTERM')
    expect(Date.now() - started).toBeLessThan(2000)
  })
})
