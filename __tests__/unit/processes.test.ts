import { afterEach, describe, expect, test } from '@jest/globals'
import { spawn, type ChildProcess } from 'node:child_process'

import {
  descendants,
  descendantsOf,
  dockerCallProcesses,
  parsePs,
  stopProcesses
} from '../../src/processes.js'

const started: ChildProcess[] = []
afterEach(() => {
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
    }
  }
})

/** A child that runs until it is stopped; argv0 names it as given. */
function child(args: string[], argv0?: string): ChildProcess {
  const process_ = spawn(args[0] ?? '', args.slice(1), {
    stdio: 'ignore',
    ...(argv0 ? { argv0 } : {})
  })
  started.push(process_)
  return process_
}

function exited(process_: ChildProcess): Promise<NodeJS.Signals | null> {
  if (process_.exitCode !== null || process_.signalCode !== null) {
    return Promise.resolve(process_.signalCode)
  }
  return new Promise(resolve =>
    process_.once('exit', (_, signal) => resolve(signal))
  )
}

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let waited = 0; waited < 5000; waited += 20) {
    if (await check()) return
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  throw new Error('timed out waiting')
}

describe('parsePs and descendantsOf', () => {
  const table = parsePs(
    [
      '    1     0 /sbin/init',
      '  100     1 node dist/index.js',
      '  200   100 /usr/bin/docker push reg/app:v1',
      '  300   200 /usr/libexec/docker/cli-plugins/docker-buildx buildx',
      '  400     1 /usr/bin/docker version',
      '  500   300 sleep 5',
      'garbage line',
      ''
    ].join('\n')
  )

  test('pid, ppid and the whole command line', () => {
    expect(table[1]).toEqual({
      pid: 100,
      ppid: 1,
      command: 'node dist/index.js'
    })
    expect(table).toHaveLength(6)
  })

  test('every process below a root, parents first, nothing beside it', () => {
    expect(descendantsOf(table, 100).map(entry => entry.pid)).toEqual([
      200, 300, 500
    ])
    expect(descendantsOf(table, 500)).toEqual([])
  })

  test('a cycle of reused pids ends', () => {
    const cycle = [
      { pid: 2, ppid: 3, command: 'a' },
      { pid: 3, ppid: 2, command: 'b' }
    ]
    expect(descendantsOf(cycle, 2).map(entry => entry.pid)).toEqual([3])
  })
})

describe('on this system', () => {
  test('descendants finds a child, and its child', async () => {
    const shell = child(['sh', '-c', 'sleep 30 & wait'])

    await until(async () => (await descendants()).length >= 2)
    const found = await descendants()

    expect(found.map(entry => entry.pid)).toContain(shell.pid)
    expect(found.some(entry => entry.command === 'sleep 30')).toBe(true)
  })

  test('dockerCallProcesses picks the call with those arguments', async () => {
    const push = child(['sleep', '31'], 'docker')
    child(['sleep', '32'], 'docker')

    await until(async () => (await descendants()).length >= 2)

    expect((await dockerCallProcesses(['31'])).map(entry => entry.pid)).toEqual(
      [push.pid]
    )
  })

  test('with no match, every process below this one', async () => {
    const other = child(['sleep', '33'])
    await until(async () => (await descendants()).length >= 1)

    expect(
      (await dockerCallProcesses(['push', 'x'])).map(entry => entry.pid)
    ).toContain(other.pid)
  })

  test('stopProcesses: SIGTERM first, SIGKILL for one that ignores it', async () => {
    const polite = child(['sleep', '30'])
    const stubborn = child([
      'sh',
      '-c',
      'trap "" TERM; while :; do sleep 0.1; done'
    ])
    await until(async () => (await descendants()).length >= 2)
    const entries = (await descendants()).filter(entry =>
      [polite.pid, stubborn.pid].includes(entry.pid)
    )
    const started = Date.now()

    await stopProcesses(entries, 300)

    expect(await exited(polite)).toBe('SIGTERM')
    expect(await exited(stubborn)).toBe('SIGKILL')
    expect(Date.now() - started).toBeGreaterThanOrEqual(300)
  })

  test('stopProcesses with nothing to stop returns at once', async () => {
    const started = Date.now()
    await stopProcesses([], 5000)
    expect(Date.now() - started).toBeLessThan(100)
  })
})
