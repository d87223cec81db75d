import {
  afterEach,
  beforeEach,
  describe,
  expect,
  jest,
  test
} from '@jest/globals'
import {
  CreateRepositoryCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
  type Repository
} from '@aws-sdk/client-ecr'
import { mockClient } from 'aws-sdk-client-mock'
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync
} from 'node:fs'
import path from 'node:path'

import {
  REGISTRY,
  accessDenied,
  repository,
  repositoryNotFound
} from '../fixtures/aws.js'
import {
  core,
  inputs,
  logged,
  outputs,
  resetCore,
  savedState
} from '../fixtures/core.js'
import { IMAGE_ID, pushOutput } from '../fixtures/docker-output.js'
import { exec, failed, ok } from '../fixtures/exec.js'
import { FakeRegistry, manifestFor, sha256 } from '../fixtures/registry.js'
import { removeTempDirs, tempDir } from '../fixtures/tmp.js'

jest.unstable_mockModule('@actions/core', () => core)
jest.unstable_mockModule('@actions/exec', () => exec)

const { run } = await import('../../src/main.js')

const ecrMock = mockClient(ECRClient)

const URI = `${REGISTRY}/shop/api`
const PASSWORD = 'eyJwYXlsb2FkIjoiZmFrZSJ9:c2VjcmV0'
const TOKEN = Buffer.from(`AWS:${PASSWORD}`).toString('base64')
/** The digest of the manifest docker pushes for IMAGE_ID. */
const PUSHED_DIGEST = sha256(manifestFor(IMAGE_ID).body)
const OTHER_IMAGE =
  'sha256:0000000000000000000000000000000000000000000000000000000000000001'

interface DockerRun {
  args: string[]
  configDir: string | undefined
  configExisted: boolean
  input: string | undefined
}

const ENV_NAMES = [
  'RUNNER_TEMP',
  'GITHUB_STEP_SUMMARY',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'DOCKER_CONFIG'
] as const
const savedEnv = Object.fromEntries(
  ENV_NAMES.map(name => [name, process.env[name]])
)

let runnerTemp: string
let summaryFile: string
let userDockerDir: string
let workspace: string
let registry: FakeRegistry
let dockerRuns: DockerRun[]
/** Exit code and stderr for docker calls by their first argument. */
let dockerFailures: Record<string, { exitCode: number; stderr: string }>
let fetchSpy: ReturnType<typeof jest.spyOn>

function fakeDocker(): void {
  exec.getExecOutput.mockImplementation(async (_command, args, options) => {
    const list = args ?? []
    const configDir = options?.env?.DOCKER_CONFIG
    dockerRuns.push({
      args: list,
      configDir,
      configExisted: configDir !== undefined && existsSync(configDir),
      input: options?.input?.toString('utf8')
    })
    const command = list[0] ?? ''
    const failure = dockerFailures[command]
    if (failure) return failed(failure.exitCode, failure.stderr)

    switch (command) {
      case 'build': {
        const idFile = list[list.indexOf('--iidfile') + 1] ?? ''
        writeFileSync(idFile, `${IMAGE_ID}\n`)
        return ok('')
      }
      case 'image':
        return ok(`${IMAGE_ID}\n`)
      case 'push': {
        const reference = list[1] ?? ''
        const colon = reference.lastIndexOf(':')
        const repo = reference.slice(reference.indexOf('/') + 1, colon)
        const tag = reference.slice(colon + 1)
        const digest = registry.store(repo, tag, manifestFor(IMAGE_ID))
        return ok(pushOutput(tag, digest))
      }
      default:
        return ok('')
    }
  })
}

function answerLogin(): void {
  ecrMock.on(GetAuthorizationTokenCommand).resolves({
    authorizationData: [
      {
        authorizationToken: TOKEN,
        proxyEndpoint: `https://${REGISTRY}`,
        expiresAt: new Date('2030-01-01T00:00:00Z')
      }
    ]
  })
}

function existingRepository(overrides: Partial<Repository> = {}): void {
  ecrMock
    .on(DescribeRepositoriesCommand)
    .resolves({ repositories: [repository(overrides)] })
}

function missingRepository(): void {
  ecrMock.on(DescribeRepositoriesCommand).rejects(repositoryNotFound())
  ecrMock.on(CreateRepositoryCommand).resolves({ repository: repository() })
}

function dockerCommands(): string[] {
  return dockerRuns.map(call => call.args[0] ?? '')
}

function privateConfigsLeft(): string[] {
  return readdirSync(runnerTemp).filter(name => name.startsWith('ecr-push-'))
}

function failureMessage(): string {
  expect(core.setFailed).toHaveBeenCalledTimes(1)
  return String(core.setFailed.mock.calls[0]?.[0])
}

beforeEach(() => {
  resetCore()
  ecrMock.reset()
  exec.getExecOutput.mockReset()
  runnerTemp = tempDir('ecr-push-runner-temp-')
  summaryFile = path.join(tempDir(), 'step-summary.md')
  writeFileSync(summaryFile, '')
  userDockerDir = path.join(tempDir(), '.docker')
  mkdirSync(path.join(userDockerDir, 'cli-plugins'), { recursive: true })
  writeFileSync(
    path.join(userDockerDir, 'config.json'),
    JSON.stringify({ auths: { 'ghcr.io': { auth: 'eDp5' } } })
  )
  workspace = tempDir('ecr-push-workspace-')
  writeFileSync(path.join(workspace, 'Dockerfile'), 'FROM alpine:3.20\n')

  process.env.RUNNER_TEMP = runnerTemp
  process.env.GITHUB_STEP_SUMMARY = summaryFile
  process.env.AWS_REGION = 'us-east-1'
  delete process.env.AWS_DEFAULT_REGION
  process.env.DOCKER_CONFIG = userDockerDir

  registry = new FakeRegistry(REGISTRY)
  fetchSpy = jest.spyOn(globalThis, 'fetch').mockImplementation(registry.fetch)
  dockerRuns = []
  dockerFailures = {}
  fakeDocker()
  answerLogin()

  Object.assign(inputs, {
    repository: 'shop/api',
    tags: 'v1.2.3\nlatest',
    context: workspace
  })
})

afterEach(() => {
  fetchSpy.mockRestore()
  for (const name of ENV_NAMES) {
    const value = savedEnv[name]
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
  removeTempDirs()
})

describe('a run that pushes', () => {
  test('sets every output', async () => {
    missingRepository()

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(outputs).toEqual({
      'repository-created': 'true',
      registry: REGISTRY,
      'repository-uri': URI,
      'image-id': IMAGE_ID,
      pushed: 'true',
      digest: PUSHED_DIGEST,
      'image-uri': `${URI}@${PUSHED_DIGEST}`,
      tags: 'v1.2.3\nlatest',
      'image-uris': `${URI}:v1.2.3\n${URI}:latest`
    })
  })

  test('builds once, pushes once, and every tag ends at that digest', async () => {
    missingRepository()

    await run()

    expect(dockerCommands()).toEqual(['login', 'build', 'push'])
    expect(dockerRuns[2]?.args).toEqual(['push', `${URI}:v1.2.3`])
    expect(registry.digestAt('shop/api', 'v1.2.3')).toBe(PUSHED_DIGEST)
    expect(registry.digestAt('shop/api', 'latest')).toBe(PUSHED_DIGEST)
    const build = dockerRuns[1]?.args ?? []
    expect(build).toContain(`${URI}:v1.2.3`)
    expect(build).toContain(`${URI}:latest`)
    expect(build.at(-1)).toBe(workspace)
  })

  test('logs in with the password on stdin, in a private config', async () => {
    missingRepository()

    await run()

    const login = dockerRuns[0]
    expect(login?.args).toEqual([
      'login',
      '--username',
      'AWS',
      '--password-stdin',
      REGISTRY
    ])
    expect(login?.input).toBe(PASSWORD)
    expect(login?.configDir?.startsWith(`${runnerTemp}${path.sep}`)).toBe(true)
    expect(login?.configExisted).toBe(true)
    for (const call of dockerRuns) expect(call.configDir).toBe(login?.configDir)
    expect(core.setSecret).toHaveBeenCalledWith(PASSWORD)
  })

  test('the private docker config is removed after success', async () => {
    missingRepository()

    await run()

    const configDir = dockerRuns[0]?.configDir ?? ''
    expect(existsSync(configDir)).toBe(false)
    expect(privateConfigsLeft()).toEqual([])
    expect(core.saveState).toHaveBeenCalledWith(
      'private-docker-config',
      configDir
    )
    expect(savedState['private-docker-config']).toBe('')
    expect(existsSync(path.join(userDockerDir, 'cli-plugins'))).toBe(true)
  })

  test('an existing repository: created is false, nothing is created', async () => {
    existingRepository()

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(outputs['repository-created']).toBe('false')
    expect(ecrMock.commandCalls(CreateRepositoryCommand)).toHaveLength(0)
  })

  test('tags already at this image: nothing is pushed again', async () => {
    existingRepository()
    const digest = registry.store('shop/api', 'v1.2.3', manifestFor(IMAGE_ID))
    registry.store('shop/api', 'latest', manifestFor(IMAGE_ID))

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(dockerCommands()).toEqual(['login', 'build'])
    expect(outputs.pushed).toBe('false')
    expect(outputs.digest).toBe(digest)
    expect(outputs['image-uri']).toBe(`${URI}@${digest}`)
  })

  test('the summary names the digest and how to pull it', async () => {
    missingRepository()

    await run()

    const summary = readFileSync(summaryFile, 'utf8')
    expect(summary).toContain(`<h2>Pushed shop/api to ECR</h2>`)
    expect(summary).toContain(`${URI}@${PUSHED_DIGEST}`)
    expect(summary).toContain(`docker pull ${URI}@${PUSHED_DIGEST}`)
    expect(summary).toContain('(created by this run)')
  })

  test('the password is never logged', async () => {
    missingRepository()

    await run()

    for (const fn of [core.info, core.debug, core.warning]) {
      expect(logged(fn)).not.toContain(PASSWORD)
      expect(logged(fn)).not.toContain(TOKEN)
    }
    expect(readFileSync(summaryFile, 'utf8')).not.toContain(PASSWORD)
  })
})

describe('a run that fails', () => {
  test('a failed push: earlier outputs stay, one message, no stack', async () => {
    missingRepository()
    dockerFailures.push = {
      exitCode: 1,
      stderr:
        'denied: User is not authorized to perform: ecr:InitiateLayerUpload'
    }

    await run()

    const message = failureMessage()
    expect(message).toContain('docker push failed (exit code 1)')
    expect(message).toContain('ecr:InitiateLayerUpload')
    expect(message).not.toMatch(/\n\s+at /)
    expect(outputs).toEqual({
      'repository-created': 'true',
      registry: REGISTRY,
      'repository-uri': URI,
      'image-id': IMAGE_ID
    })
  })

  test('the private docker config is removed after a failure', async () => {
    missingRepository()
    dockerFailures.build = { exitCode: 1, stderr: 'ERROR: failed to solve' }

    await run()

    expect(failureMessage()).toContain('failed to solve')
    expect(dockerRuns[0]?.configExisted).toBe(true)
    expect(existsSync(dockerRuns[0]?.configDir ?? '')).toBe(false)
    expect(privateConfigsLeft()).toEqual([])
    expect(savedState['private-docker-config']).toBe('')
  })

  test('a failure is in the summary', async () => {
    missingRepository()
    dockerFailures.build = { exitCode: 1, stderr: 'ERROR: failed to solve' }

    await run()

    const summary = readFileSync(summaryFile, 'utf8')
    expect(summary).toContain('<h2>ECR push failed: shop/api</h2>')
    expect(summary).toContain('ERROR: failed to solve')
    expect(summary).not.toContain('docker pull')
  })

  test('immutable tags at another image: fails naming both, pushes nothing', async () => {
    existingRepository({ imageTagMutability: 'IMMUTABLE' })
    const first = registry.store(
      'shop/api',
      'v1.2.3',
      manifestFor(OTHER_IMAGE, 'b')
    )
    const second = registry.store(
      'shop/api',
      'latest',
      manifestFor(OTHER_IMAGE, 'c')
    )

    await run()

    const message = failureMessage()
    expect(message).toContain(`v1.2.3: at ${first}`)
    expect(message).toContain(`latest: at ${second}`)
    expect(message).toContain('Nothing was pushed')
    expect(dockerCommands()).not.toContain('push')
    expect(outputs.digest).toBeUndefined()
    expect(registry.requests.filter(r => r.method === 'PUT')).toEqual([])
  })

  test('a tag the registry stores at another digest fails, naming both', async () => {
    missingRepository()
    const other =
      'sha256:1111111111111111111111111111111111111111111111111111111111111111'
    registry.answerDigest = other

    await run()

    const message = failureMessage()
    expect(message).toContain(other)
    expect(message).toContain(PUSHED_DIGEST)
    expect(outputs.digest).toBeUndefined()
  })

  test('a bad input fails before any ECR or docker call', async () => {
    inputs.repository = 'Shop/API'

    await run()

    const message = failureMessage()
    expect(message).toContain('Input "repository": "Shop/API"')
    expect(ecrMock.calls()).toHaveLength(0)
    expect(exec.getExecOutput).not.toHaveBeenCalled()
    expect(fetchSpy).not.toHaveBeenCalled()
    expect(outputs).toEqual({})
    expect(readFileSync(summaryFile, 'utf8')).toContain(
      'ECR push failed: Shop/API'
    )
  })

  test('a denied login token: named, after repository-created was set', async () => {
    existingRepository()
    ecrMock
      .on(GetAuthorizationTokenCommand)
      .rejects(accessDenied('ecr:GetAuthorizationToken', '*'))

    await run()

    expect(failureMessage()).toContain(
      'ecr:GetAuthorizationToken was denied on *'
    )
    expect(outputs).toEqual({ 'repository-created': 'false' })
    expect(exec.getExecOutput).not.toHaveBeenCalled()
    expect(privateConfigsLeft()).toEqual([])
  })

  test('a denied DescribeRepositories creates nothing', async () => {
    ecrMock
      .on(DescribeRepositoriesCommand)
      .rejects(accessDenied('ecr:DescribeRepositories'))

    await run()

    expect(failureMessage()).toContain('ecr:DescribeRepositories was denied')
    expect(ecrMock.commandCalls(CreateRepositoryCommand)).toHaveLength(0)
    expect(exec.getExecOutput).not.toHaveBeenCalled()
  })
})

describe('push false', () => {
  test('creates nothing, pushes nothing, sets no digest', async () => {
    ecrMock.on(DescribeRepositoriesCommand).rejects(repositoryNotFound())
    inputs.push = 'false'

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(ecrMock.commandCalls(CreateRepositoryCommand)).toHaveLength(0)
    expect(dockerCommands()).not.toContain('push')
    expect(registry.requests).toEqual([])
    expect(outputs).toEqual({
      'repository-created': 'false',
      registry: REGISTRY,
      'repository-uri': URI,
      'image-id': IMAGE_ID
    })
    expect(logged(core.info)).toContain('push is false')
    expect(readFileSync(summaryFile, 'utf8')).toContain(
      'Built shop/api; nothing pushed'
    )
  })
})

describe('keep-login', () => {
  test("logs in to the job's config and leaves it for the post step", async () => {
    missingRepository()
    inputs['keep-login'] = 'true'

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(privateConfigsLeft()).toEqual([])
    for (const call of dockerRuns) expect(call.configDir).toBe(userDockerDir)
    expect(savedState['logged-in-registry']).toBe(REGISTRY)
    expect(savedState['logged-in-docker-config']).toBe(userDockerDir)
    expect(core.saveState).not.toHaveBeenCalledWith(
      'private-docker-config',
      expect.anything()
    )
    expect(dockerCommands()).not.toContain('logout')
  })
})

describe('image', () => {
  test('tags and pushes an existing local image without building', async () => {
    missingRepository()
    Object.assign(inputs, { image: 'my-app:1.0', tags: 'v1' })

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(dockerCommands()).toEqual(['login', 'image', 'tag', 'push'])
    expect(dockerRuns[2]?.args).toEqual(['tag', 'my-app:1.0', `${URI}:v1`])
    expect(outputs['image-id']).toBe(IMAGE_ID)
    expect(outputs.digest).toBe(PUSHED_DIGEST)
  })
})
