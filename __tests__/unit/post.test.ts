import {
  afterEach,
  beforeEach,
  describe,
  expect,
  jest,
  test
} from '@jest/globals'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'

import { REGISTRY } from '../fixtures/aws.js'
import { core, logged, resetCore } from '../fixtures/core.js'
import { dockerCalls, exec, failed, ok } from '../fixtures/exec.js'
import { removeTempDirs, tempDir } from '../fixtures/tmp.js'

jest.unstable_mockModule('@actions/core', () => core)
jest.unstable_mockModule('@actions/exec', () => exec)

const { post } = await import('../../src/post.js')
const { createPrivateDockerConfig } = await import('../../src/docker-config.js')

// The runner hands the main step's saveState values to the post step as
// STATE_<name> variables.
const STATE = {
  privateConfig: 'STATE_private-docker-config',
  registry: 'STATE_logged-in-registry',
  dockerConfig: 'STATE_logged-in-docker-config',
  logoutTimeoutMs: 'STATE_logout-timeout-ms'
}
const savedDockerConfig = process.env.DOCKER_CONFIG

beforeEach(() => {
  resetCore()
  exec.getExecOutput.mockReset()
  exec.getExecOutput.mockResolvedValue(ok(''))
  process.env.DOCKER_CONFIG = '/home/runner/.docker-job'
})

afterEach(() => {
  for (const name of Object.values(STATE)) delete process.env[name]
  if (savedDockerConfig === undefined) delete process.env.DOCKER_CONFIG
  else process.env.DOCKER_CONFIG = savedDockerConfig
  removeTempDirs()
})

describe('post', () => {
  test('removes a private config the main step left behind', async () => {
    const userDir = tempDir('ecr-push-user-')
    mkdirSync(path.join(userDir, 'cli-plugins'))
    writeFileSync(path.join(userDir, 'cli-plugins', 'docker-buildx'), '')
    const dir = createPrivateDockerConfig(userDir, tempDir(), REGISTRY)
    process.env[STATE.privateConfig] = dir

    await post()

    expect(existsSync(dir)).toBe(false)
    expect(existsSync(path.join(userDir, 'cli-plugins', 'docker-buildx'))).toBe(
      true
    )
    expect(logged(core.info)).toContain('Removed the docker config')
    expect(exec.getExecOutput).not.toHaveBeenCalled()
    expect(core.warning).not.toHaveBeenCalled()
  })

  test('a private config already removed: nothing to do', async () => {
    process.env[STATE.privateConfig] = path.join(tempDir(), 'ecr-push-gone')

    await post()

    expect(core.info).not.toHaveBeenCalled()
    expect(core.warning).not.toHaveBeenCalled()
  })

  test('nothing in the state: no docker call, no warning', async () => {
    await post()

    expect(exec.getExecOutput).not.toHaveBeenCalled()
    expect(core.warning).not.toHaveBeenCalled()
    expect(core.setFailed).not.toHaveBeenCalled()
  })

  test('logs out of a registry keep-login left logged in', async () => {
    process.env[STATE.registry] = REGISTRY
    process.env[STATE.dockerConfig] = '/home/runner/custom-docker'

    await post()

    expect(dockerCalls()).toEqual([['logout', REGISTRY]])
    expect(exec.getExecOutput.mock.calls[0]?.[2]?.env?.DOCKER_CONFIG).toBe(
      '/home/runner/custom-docker'
    )
    expect(logged(core.info)).toContain(`Logged out of ${REGISTRY}`)
  })

  test("logs out in the job's docker config when none was saved", async () => {
    process.env[STATE.registry] = REGISTRY

    await post()

    expect(exec.getExecOutput.mock.calls[0]?.[2]?.env?.DOCKER_CONFIG).toBe(
      '/home/runner/.docker-job'
    )
  })

  test('a logout that hangs ends at network-timeout, with a warning', async () => {
    process.env[STATE.registry] = REGISTRY
    process.env[STATE.logoutTimeoutMs] = '100'
    // A credential helper waiting for a prompt; it ends when docker is
    // stopped, here a little after the deadline.
    exec.getExecOutput.mockImplementation(
      () =>
        new Promise(resolve =>
          setTimeout(
            () => resolve({ exitCode: 143, stdout: '', stderr: '' }),
            400
          )
        )
    )

    await expect(post()).resolves.toBeUndefined()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(logged(core.warning)).toBe(
      `Could not log out of ${REGISTRY}: docker logout did not finish ` +
        'within 0.1 s (network-timeout) and was stopped'
    )
    expect(logged(core.info)).not.toContain('Logged out')
  })

  test('a failed logout is only a warning', async () => {
    process.env[STATE.registry] = REGISTRY
    exec.getExecOutput.mockResolvedValue(
      failed(1, 'Cannot connect to the Docker daemon')
    )

    await expect(post()).resolves.toBeUndefined()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(core.warning).toHaveBeenCalledTimes(1)
    expect(logged(core.warning)).toContain(`Could not log out of ${REGISTRY}`)
    expect(logged(core.warning)).toContain(
      'Cannot connect to the Docker daemon'
    )
  })

  test('docker missing at logout is only a warning', async () => {
    process.env[STATE.registry] = REGISTRY
    exec.getExecOutput.mockRejectedValue(new Error('docker: not found'))

    await expect(post()).resolves.toBeUndefined()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(logged(core.warning)).toContain('docker: not found')
  })

  test('removes the private config and logs out in one run', async () => {
    const dir = tempDir('ecr-push-private-')
    process.env[STATE.privateConfig] = dir
    process.env[STATE.registry] = REGISTRY

    await post()

    expect(existsSync(dir)).toBe(false)
    expect(dockerCalls()).toEqual([['logout', REGISTRY]])
  })
})
