// docker login and push under faults: retries of what may pass, none of
// what will not, and deadlines that stop a docker that hangs.
import { beforeEach, describe, expect, jest, test } from '@jest/globals'
import type { ExecOutput } from '@actions/exec'

import { REGISTRY } from '../fixtures/aws.js'
import { core, logged, resetCore } from '../fixtures/core.js'
import { DIGEST, pushOutput } from '../fixtures/docker-output.js'
import { dockerCalls, exec, failed, ok } from '../fixtures/exec.js'
import { rejection } from '../fixtures/rejection.js'

/** Settles the docker call that hangs, as stopping its process would. */
let stopHanging: (() => void) | undefined
const processes = {
  dockerCallProcesses: jest.fn(async (_args: string[]) => [
    { pid: 4242, ppid: 1, command: 'docker push x' }
  ]),
  stopProcesses: jest.fn(async () => {
    stopHanging?.()
  }),
  descendants: jest.fn(async () => [])
}

jest.unstable_mockModule('@actions/core', () => core)
jest.unstable_mockModule('@actions/exec', () => exec)
jest.unstable_mockModule('../../src/processes.js', () => processes)

const dockerCli = await import('../../src/docker.js')
const { retryPolicy } = await import('../../src/retry.js')

const URI = `${REGISTRY}/shop/api`
const waits: number[] = []

function session(): import('../../src/docker.js').DockerSession {
  return {
    configDir: '/runner/temp/ecr-push-1',
    limits: {
      network: { ms: 50, input: 'network-timeout' },
      build: { ms: 50, input: 'build-timeout' },
      push: { ms: 60_000, input: 'push-timeout' },
      retry: {
        ...retryPolicy(3),
        random: () => 0,
        sleep: async ms => {
          waits.push(ms)
        }
      }
    }
  }
}

/** A docker call that runs until its process is stopped. */
function hangs(): Promise<ExecOutput> {
  return new Promise(resolve => {
    stopHanging = () => resolve({ exitCode: 143, stdout: '', stderr: '' })
  })
}

beforeEach(() => {
  resetCore()
  exec.getExecOutput.mockReset()
  processes.dockerCallProcesses.mockClear()
  processes.stopProcesses.mockClear()
  stopHanging = undefined
  waits.length = 0
})

describe('docker push', () => {
  test('a 503 twice, then pushed: three attempts, two warnings', async () => {
    const unavailable = failed(
      1,
      'received unexpected HTTP status: 503 Service Unavailable'
    )
    exec.getExecOutput
      .mockResolvedValueOnce(unavailable)
      .mockResolvedValueOnce(unavailable)
      .mockResolvedValueOnce(ok(pushOutput('v1')))

    await expect(dockerCli.push(session(), `${URI}:v1`)).resolves.toBe(DIGEST)

    expect(dockerCalls()).toEqual([
      ['push', `${URI}:v1`],
      ['push', `${URI}:v1`],
      ['push', `${URI}:v1`]
    ])
    expect(waits).toEqual([500, 1000])
    expect(logged(core.warning)).toBe(
      'docker push failed (attempt 1 of 3); retrying in 0.5 s: received unexpected HTTP status: 503 Service Unavailable\n' +
        'docker push failed (attempt 2 of 3); retrying in 1.0 s: received unexpected HTTP status: 503 Service Unavailable'
    )
  })

  test('a reset every time: fails after three attempts, quoting docker', async () => {
    exec.getExecOutput.mockResolvedValue(
      failed(1, 'Put "https://x/v2/shop/api/manifests/v1": EOF')
    )

    const error = await rejection(dockerCli.push(session(), `${URI}:v1`))

    expect(exec.getExecOutput).toHaveBeenCalledTimes(3)
    expect(error.message).toBe(
      'docker push failed (exit code 1):\nPut "https://x/v2/shop/api/manifests/v1": EOF'
    )
  })

  test('a denial: one attempt, no warning, the statement to add', async () => {
    exec.getExecOutput.mockResolvedValue(
      failed(
        1,
        'denied: User: arn:aws:sts::123456789012:assumed-role/ci/x is not authorized to perform: ecr:InitiateLayerUpload on resource: arn:aws:ecr:us-east-1:123456789012:repository/shop/api'
      )
    )

    const error = await rejection(dockerCli.push(session(), `${URI}:v1`))

    expect(exec.getExecOutput).toHaveBeenCalledTimes(1)
    expect(core.warning).not.toHaveBeenCalled()
    expect(error.message).toContain('ecr:InitiateLayerUpload was denied')
  })

  test('a push past push-timeout is stopped, and tried again', async () => {
    const limits = session()
    limits.limits!.push = { ms: 30, input: 'push-timeout' }
    exec.getExecOutput
      .mockImplementationOnce(hangs)
      .mockResolvedValueOnce(ok(pushOutput('v1')))

    await expect(dockerCli.push(limits, `${URI}:v1`)).resolves.toBe(DIGEST)

    expect(processes.dockerCallProcesses).toHaveBeenCalledWith([
      'push',
      `${URI}:v1`
    ])
    expect(processes.stopProcesses).toHaveBeenCalledTimes(1)
    expect(logged(core.warning)).toContain(
      'docker push failed (attempt 1 of 3); retrying in 0.5 s: docker push ' +
        'did not finish within 0 s (push-timeout) and was stopped: the ' +
        'registry may be unreachable or too slow'
    )
  })
})

describe('docker login', () => {
  test('a TLS handshake timeout, then logged in', async () => {
    exec.getExecOutput
      .mockResolvedValueOnce(
        failed(
          1,
          'Error response from daemon: Get "https://x/v2/": net/http: TLS handshake timeout'
        )
      )
      .mockResolvedValueOnce(ok('Login Succeeded'))

    await dockerCli.login(session(), REGISTRY, 'AWS', 'secret')

    expect(exec.getExecOutput).toHaveBeenCalledTimes(2)
    // The password goes on stdin every time.
    for (const call of exec.getExecOutput.mock.calls) {
      expect(call[2]?.input?.toString()).toBe('secret')
    }
    expect(logged(core.warning)).toContain(
      'docker login failed (attempt 1 of 3)'
    )
  })

  test('a wrong password is not retried', async () => {
    exec.getExecOutput.mockResolvedValue(
      failed(
        1,
        'Error response from daemon: login attempt to https://x/v2/ failed with status: 401 Unauthorized'
      )
    )

    await rejection(dockerCli.login(session(), REGISTRY, 'AWS', 'secret'))

    expect(exec.getExecOutput).toHaveBeenCalledTimes(1)
  })

  test('a login that hangs every time ends at network-timeout', async () => {
    exec.getExecOutput.mockImplementation(hangs)

    const error = await rejection(
      dockerCli.login(session(), REGISTRY, 'AWS', 'secret')
    )

    expect(error).toBeInstanceOf(dockerCli.DockerTimeoutError)
    expect(error.message).toBe(
      'docker login did not finish within 0.1 s (network-timeout) and was ' +
        'stopped: the registry may be unreachable or too slow'
    )
    expect(exec.getExecOutput).toHaveBeenCalledTimes(3)
  })
})

describe('deadlines of other calls', () => {
  test('a build past build-timeout fails and is not retried', async () => {
    exec.getExecOutput.mockImplementation(hangs)

    const error = await rejection(
      dockerCli.build(session(), {
        context: '/work',
        dockerfile: '/work/Dockerfile',
        buildArgs: [],
        labels: [],
        target: undefined,
        references: [`${URI}:v1`]
      })
    )

    expect(error.message).toBe(
      'docker build did not finish within 0.1 s (build-timeout) and was ' +
        'stopped: raise build-timeout if the build needs longer'
    )
    expect(exec.getExecOutput).toHaveBeenCalledTimes(1)
  })

  test('a build whose stop signal is aborted is stopped like a late one', async () => {
    exec.getExecOutput.mockImplementation(hangs)
    const stopping = new AbortController()
    const request = {
      context: '/work',
      dockerfile: '/work/Dockerfile',
      buildArgs: [],
      labels: [],
      target: undefined,
      references: []
    }

    const building = rejection(
      dockerCli.build(session(), request, { stop: stopping.signal })
    )
    await new Promise(resolve => setImmediate(resolve))
    expect(processes.stopProcesses).not.toHaveBeenCalled()
    stopping.abort()
    const error = await building

    // docker's own processes, found by its arguments, with the grace a
    // deadline gives them; the failure is docker's exit.
    const [args] = processes.dockerCallProcesses.mock.calls[0] ?? []
    expect(args?.slice(0, 2)).toEqual(['build', '--file'])
    expect((processes.stopProcesses.mock.calls as unknown[][])[0]).toEqual([
      [{ pid: 4242, ppid: 1, command: 'docker push x' }],
      3000
    ])
    expect(error.message).toContain('docker build failed (exit code 143)')
  })

  test('a session without limits (the post step) waits and tries once', async () => {
    exec.getExecOutput.mockResolvedValue(
      failed(1, 'received unexpected HTTP status: 503 Service Unavailable')
    )

    await rejection(dockerCli.logout({ configDir: undefined }, REGISTRY))

    expect(exec.getExecOutput).toHaveBeenCalledTimes(1)
    expect(processes.dockerCallProcesses).not.toHaveBeenCalled()
  })
})

test('dockerLimits turns the inputs into deadlines and attempts', () => {
  const limits = dockerCli.dockerLimits({
    maxAttempts: 4,
    networkTimeout: 20,
    buildTimeout: 90,
    pushTimeout: 15,
    scanTimeout: 10
  })

  expect(limits).toMatchObject({
    network: { ms: 20_000, input: 'network-timeout' },
    build: { ms: 5_400_000, input: 'build-timeout' },
    push: { ms: 900_000, input: 'push-timeout' },
    retry: { attempts: 4 }
  })
})
