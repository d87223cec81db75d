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

import { REGISTRY } from '../fixtures/aws.js'
import { core, resetCore } from '../fixtures/core.js'
import {
  DIGEST,
  IMAGE_ID,
  OTHER_DIGEST,
  pushOutput,
  pushOutputAllExisting
} from '../fixtures/docker-output.js'
import { dockerCalls, exec, failed, ok } from '../fixtures/exec.js'
import { rejection } from '../fixtures/rejection.js'
import { removeTempDirs, tempDir } from '../fixtures/tmp.js'

jest.unstable_mockModule('@actions/core', () => core)
jest.unstable_mockModule('@actions/exec', () => exec)

const { ActionError } = await import('../../src/errors.js')
const dockerCli = await import('../../src/docker.js')

const URI = `${REGISTRY}/shop/api`
const PRIVATE = { configDir: '/runner/temp/ecr-push-1234' }
const JOB = { configDir: undefined }
const savedDockerConfig = process.env.DOCKER_CONFIG
const savedRunnerTemp = process.env.RUNNER_TEMP

beforeEach(() => {
  resetCore()
  exec.getExecOutput.mockReset()
  exec.getExecOutput.mockResolvedValue(ok(''))
  process.env.DOCKER_CONFIG = '/home/runner/.docker-job'
})

afterEach(() => {
  if (savedDockerConfig === undefined) delete process.env.DOCKER_CONFIG
  else process.env.DOCKER_CONFIG = savedDockerConfig
  if (savedRunnerTemp === undefined) delete process.env.RUNNER_TEMP
  else process.env.RUNNER_TEMP = savedRunnerTemp
  removeTempDirs()
})

function options(index = 0) {
  const call = exec.getExecOutput.mock.calls[index]
  if (!call) throw new Error(`no docker call ${index}`)
  expect(call[0]).toBe('docker')
  return call[2] ?? {}
}

describe('buildArguments', () => {
  test('every flag, in order, the context last', () => {
    expect(
      dockerCli.buildArguments(
        {
          context: '/work/app',
          dockerfile: '/work/docker/prod.Dockerfile',
          buildArgs: ['NODE_ENV=production', 'URLS=a=1,b=2'],
          labels: ['org.opencontainers.image.source=https://x/y'],
          target: 'runtime',
          references: [`${URI}:v1`, `${URI}:latest`]
        },
        '/tmp/build/image-id'
      )
    ).toEqual([
      'build',
      '--file',
      '/work/docker/prod.Dockerfile',
      '--iidfile',
      '/tmp/build/image-id',
      '--tag',
      `${URI}:v1`,
      '--tag',
      `${URI}:latest`,
      '--build-arg',
      'NODE_ENV=production',
      '--build-arg',
      'URLS=a=1,b=2',
      '--label',
      'org.opencontainers.image.source=https://x/y',
      '--target',
      'runtime',
      '/work/app'
    ])
  })

  test('only what is set', () => {
    expect(
      dockerCli.buildArguments(
        {
          context: '/work',
          dockerfile: '/work/Dockerfile',
          buildArgs: [],
          labels: [],
          target: undefined,
          references: [`${URI}:latest`]
        },
        '/tmp/id'
      )
    ).toEqual([
      'build',
      '--file',
      '/work/Dockerfile',
      '--iidfile',
      '/tmp/id',
      '--tag',
      `${URI}:latest`,
      '/work'
    ])
  })

  test('one platform, for the legacy builder', () => {
    const args = dockerCli.buildArguments(
      {
        context: '/work',
        dockerfile: '/work/Dockerfile',
        buildArgs: [],
        labels: [],
        target: undefined,
        references: [`${URI}:latest`],
        platform: 'linux/arm64'
      },
      '/tmp/id'
    )
    expect(args.slice(0, 7)).toEqual([
      'build',
      '--file',
      '/work/Dockerfile',
      '--iidfile',
      '/tmp/id',
      '--platform',
      'linux/arm64'
    ])
  })

  test('a value that looks like a flag stays one argument', () => {
    const args = dockerCli.buildArguments(
      {
        context: '/work',
        dockerfile: '/work/Dockerfile',
        buildArgs: ['X=--push; rm -rf /'],
        labels: [],
        target: undefined,
        references: [`${URI}:latest`]
      },
      '/tmp/id'
    )
    expect(args).toContain('X=--push; rm -rf /')
    expect(args.at(-1)).toBe('/work')
  })
})

describe('pushedDigest', () => {
  test.each([
    { name: 'a new push', output: pushOutput('latest'), digest: DIGEST },
    {
      name: 'layers already there',
      output: pushOutputAllExisting('v1.2.3'),
      digest: DIGEST
    },
    {
      name: 'CRLF line ends',
      output: pushOutput('latest').replace(/\n/g, '\r\n'),
      digest: DIGEST
    },
    {
      name: 'two digest lines: the last wins',
      output: pushOutput('a', OTHER_DIGEST) + pushOutput('b', DIGEST),
      digest: DIGEST
    },
    {
      name: 'no digest line',
      output: 'The push refers to repository [x]\n5f70bf18a086: Pushed\n',
      digest: undefined
    },
    {
      name: 'a short digest',
      output: 'latest: digest: sha256:abc123 size: 528',
      digest: undefined
    },
    { name: 'nothing', output: '', digest: undefined }
  ])('$name', ({ output, digest }) => {
    expect(dockerCli.pushedDigest(output)).toBe(digest)
  })
})

describe('docker()', () => {
  test('runs docker with an argument array, not a shell', async () => {
    exec.getExecOutput.mockResolvedValue(ok('out\n'))

    await expect(dockerCli.docker(JOB, ['image', 'ls', '$(id)'])).resolves.toBe(
      'out\n'
    )

    expect(exec.getExecOutput).toHaveBeenCalledTimes(1)
    expect(exec.getExecOutput.mock.calls[0]?.[0]).toBe('docker')
    expect(dockerCalls()).toEqual([['image', 'ls', '$(id)']])
    expect(options()).toMatchObject({ ignoreReturnCode: true, silent: false })
  })

  test('sets DOCKER_CONFIG when the session has its own', async () => {
    await dockerCli.docker(PRIVATE, ['version'])

    expect(options().env?.DOCKER_CONFIG).toBe(PRIVATE.configDir)
  })

  test("keeps the job's DOCKER_CONFIG otherwise, with the rest of the env", async () => {
    process.env.ECR_PUSH_TEST_MARKER = 'kept'
    try {
      await dockerCli.docker(JOB, ['version'])
    } finally {
      delete process.env.ECR_PUSH_TEST_MARKER
    }

    expect(options().env?.DOCKER_CONFIG).toBe('/home/runner/.docker-job')
    expect(options().env?.ECR_PUSH_TEST_MARKER).toBe('kept')
  })

  test("a failure quotes docker's last 20 stderr lines and the exit code", async () => {
    const stderr = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`)
    exec.getExecOutput.mockResolvedValue(
      failed(125, `${stderr.join('\n')}\n\n`)
    )

    const error = await rejection(dockerCli.docker(JOB, ['build', '.']))

    expect(error).toBeInstanceOf(ActionError)
    expect(error.message).toBe(
      `docker build failed (exit code 125):\n${stderr.slice(10).join('\n')}`
    )
  })

  test('quotes stdout when stderr is empty', async () => {
    exec.getExecOutput.mockResolvedValue({
      exitCode: 1,
      stdout: 'denied: not authorized',
      stderr: ''
    })

    const error = await rejection(dockerCli.docker(JOB, ['push', URI]))

    expect(error.message).toContain('docker push failed (exit code 1)')
    expect(error.message).toContain('denied: not authorized')
  })

  test('docker that cannot start: asks whether it is installed', async () => {
    exec.getExecOutput.mockRejectedValue(
      new Error('Unable to locate executable file: docker')
    )

    const error = await rejection(dockerCli.docker(JOB, ['version']))

    expect(error).toBeInstanceOf(ActionError)
    expect(error.message).toContain('Unable to locate executable file')
    expect(error.message).toContain('Is Docker installed and on PATH?')
  })
})

describe('login and logout', () => {
  const PASSWORD = 'eyJwYXlsb2FkIjoi:c2VjcmV0'

  test('the password goes only to stdin, and nothing is echoed', async () => {
    await dockerCli.login(PRIVATE, REGISTRY, 'AWS', PASSWORD)

    expect(dockerCalls()).toEqual([
      ['login', '--username', 'AWS', '--password-stdin', REGISTRY]
    ])
    for (const arg of dockerCalls()[0] ?? []) {
      expect(arg).not.toContain(PASSWORD)
    }
    const call = options()
    expect(call.silent).toBe(true)
    expect(call.input?.toString('utf8')).toBe(PASSWORD)
    expect(call.env?.DOCKER_CONFIG).toBe(PRIVATE.configDir)
    expect(JSON.stringify(call.env)).not.toContain(PASSWORD)
  })

  test('a failed login does not quote the password', async () => {
    exec.getExecOutput.mockResolvedValue(
      failed(1, 'Error response from daemon: login attempt failed')
    )

    const error = await rejection(
      dockerCli.login(PRIVATE, REGISTRY, 'AWS', PASSWORD)
    )

    expect(error.message).toContain('docker login failed (exit code 1)')
    expect(error.message).not.toContain(PASSWORD)
  })

  test('logout names the registry, silently', async () => {
    await dockerCli.logout(JOB, REGISTRY)

    expect(dockerCalls()).toEqual([['logout', REGISTRY]])
    expect(options().silent).toBe(true)
  })
})

describe('build', () => {
  function writeIdFile(id: string): void {
    exec.getExecOutput.mockImplementation(async (_command, args) => {
      const list = args ?? []
      const file = list[list.indexOf('--iidfile') + 1]
      if (!file) throw new Error('no --iidfile')
      writeFileSync(file, `${id}\n`)
      return ok('')
    })
  }

  const request = {
    context: '/work',
    dockerfile: '/work/Dockerfile',
    buildArgs: [],
    labels: [],
    target: undefined,
    references: [`${URI}:latest`]
  }

  test('returns the image ID docker wrote, and removes its file', async () => {
    writeIdFile(IMAGE_ID)
    const runnerTemp = tempDir('ecr-push-runner-temp-')
    process.env.RUNNER_TEMP = runnerTemp

    await expect(dockerCli.build(PRIVATE, request)).resolves.toBe(IMAGE_ID)

    const args = dockerCalls()[0] ?? []
    const idFile = args[args.indexOf('--iidfile') + 1] ?? ''
    // Under RUNNER_TEMP, which the runner empties even after a killed step.
    expect(path.dirname(path.dirname(idFile))).toBe(runnerTemp)
    expect(existsSync(path.dirname(idFile))).toBe(false)
    expect(options().env?.DOCKER_CONFIG).toBe(PRIVATE.configDir)
    expect(options().silent).toBe(false)
  })

  test('a failed build removes the ID file directory too', async () => {
    exec.getExecOutput.mockResolvedValue(
      failed(1, 'ERROR: failed to solve: dockerfile parse error')
    )

    const error = await rejection(dockerCli.build(PRIVATE, request))

    expect(error.message).toContain('failed to solve')
    const args = dockerCalls()[0] ?? []
    const idFile = args[args.indexOf('--iidfile') + 1] ?? ''
    expect(existsSync(path.dirname(idFile))).toBe(false)
  })
})

describe('imageId and tag', () => {
  test('imageId inspects the image', async () => {
    exec.getExecOutput.mockResolvedValue(ok(`${IMAGE_ID}\n`))

    await expect(dockerCli.imageId(JOB, 'my-app:1.0')).resolves.toBe(IMAGE_ID)

    expect(dockerCalls()).toEqual([
      ['image', 'inspect', '--format', '{{.Id}}', 'my-app:1.0']
    ])
  })

  test('a missing image is an error about the image input', async () => {
    exec.getExecOutput.mockResolvedValue(
      failed(1, 'Error: No such image: my-app:1.0')
    )

    const error = await rejection(dockerCli.imageId(JOB, 'my-app:1.0'))

    expect(error).toBeInstanceOf(ActionError)
    expect(error.message).toContain(
      'Input "image": there is no local image "my-app:1.0"'
    )
    expect(error.message).toContain('No such image: my-app:1.0')
  })

  test('tag names the source and the reference', async () => {
    await dockerCli.tag(JOB, 'my-app:1.0', `${URI}:v1`)

    expect(dockerCalls()).toEqual([['tag', 'my-app:1.0', `${URI}:v1`]])
  })
})

describe('push', () => {
  test('returns the digest docker printed', async () => {
    exec.getExecOutput.mockResolvedValue(ok(pushOutput('v1')))

    await expect(dockerCli.push(PRIVATE, `${URI}:v1`)).resolves.toBe(DIGEST)

    expect(dockerCalls()).toEqual([['push', `${URI}:v1`]])
    expect(options().env?.DOCKER_CONFIG).toBe(PRIVATE.configDir)
  })

  test('throws when docker printed no digest', async () => {
    exec.getExecOutput.mockResolvedValue(
      ok('The push refers to repository [x]\n5f70bf18a086: Pushed\n')
    )

    const error = await rejection(dockerCli.push(PRIVATE, `${URI}:v1`))

    expect(error).toBeInstanceOf(ActionError)
    expect(error.message).toContain(`docker push ${URI}:v1 succeeded`)
    expect(error.message).toContain('printed no digest')
  })

  test('a refused push quotes docker', async () => {
    exec.getExecOutput.mockResolvedValue(
      failed(
        1,
        "tag invalid: The image tag 'v1' already exists in the 'shop/api' repository and cannot be overwritten because the repository is immutable."
      )
    )

    const error = await rejection(dockerCli.push(PRIVATE, `${URI}:v1`))

    expect(error.message).toContain('docker push failed (exit code 1)')
    expect(error.message).toContain('cannot be overwritten')
  })
})
