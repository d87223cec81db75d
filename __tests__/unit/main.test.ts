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
  DescribeImageScanFindingsCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
  type Repository
} from '@aws-sdk/client-ecr'
import {
  CreateRepositoryCommand as CreatePublicRepositoryCommand,
  DescribeRepositoriesCommand as DescribePublicRepositoriesCommand,
  ECRPUBLICClient,
  GetAuthorizationTokenCommand as GetPublicTokenCommand,
  RepositoryNotFoundException as PublicRepositoryNotFoundException
} from '@aws-sdk/client-ecr-public'
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
  ACCOUNT,
  ARN,
  REGISTRY,
  ROLE,
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
import { http } from '../fixtures/http.js'
import { IMAGE_ID, pushOutput } from '../fixtures/docker-output.js'
import { exec, failed, ok } from '../fixtures/exec.js'
import { FakeRegistry, manifestFor, sha256 } from '../fixtures/registry.js'
import { removeTempDirs, tempDir } from '../fixtures/tmp.js'

jest.unstable_mockModule('@actions/core', () => core)
jest.unstable_mockModule('../../src/http.js', () => http)
jest.unstable_mockModule('@actions/exec', () => exec)

const { run } = await import('../../src/main.js')
const { pullPolicy, pushPolicy } = await import('../../src/policy.js')

const ecrMock = mockClient(ECRClient)
const publicMock = mockClient(ECRPUBLICClient)

const URI = `${REGISTRY}/shop/api`
const PASSWORD = 'eyJwYXlsb2FkIjoiZmFrZSJ9:c2VjcmV0'
const TOKEN = Buffer.from(`AWS:${PASSWORD}`).toString('base64')
/** The digest of the manifest docker pushes for IMAGE_ID. */
const PUSHED_DIGEST = sha256(manifestFor(IMAGE_ID).body)
/** Set on every run once the repository's account is known. */
const POLICY_OUTPUTS = {
  'push-policy': pushPolicy(ARN),
  'pull-policy': pullPolicy(ARN)
}
const OTHER_IMAGE =
  'sha256:0000000000000000000000000000000000000000000000000000000000000001'
const MANIFEST_LIST =
  'application/vnd.docker.distribution.manifest.list.v2+json'
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'

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
/** What `docker image inspect` says a built image is for. */
let enginePlatform: string

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
        return list.includes('{{.Os}}/{{.Architecture}}')
          ? ok(`${enginePlatform}\n`)
          : ok(`${IMAGE_ID}\n`)
      case 'buildx':
        return list[1] === 'build' ? fakeBuildx(list) : ok('buildx v0.30.1')
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

/**
 * docker buildx build: with push, stores the image (an index over one
 * manifest per platform when there are several) in the registry by
 * digest, untagged, and names it in the metadata file.
 */
function fakeBuildx(args: string[]) {
  const output = args[args.indexOf('--output') + 1] ?? ''
  const metadataFile = args[args.indexOf('--metadata-file') + 1] ?? ''
  const platforms = (args[args.indexOf('--platform') + 1] ?? '').split(',')
  const pushed = output.includes('push=true')
  const image =
    platforms.length > 1 ? indexOver(platforms) : manifestFor(IMAGE_ID)
  const digest = sha256(image.body)
  if (pushed) registry.manifests.set(`shop/api:${digest}`, image)
  writeFileSync(
    metadataFile,
    JSON.stringify({
      'containerimage.digest': digest,
      ...(platforms.length > 1
        ? {}
        : { 'containerimage.config.digest': IMAGE_ID })
    })
  )
  return ok('')
}

function indexOver(platforms: string[]) {
  const manifests = platforms.map((platform, index) => {
    const child = manifestFor(index ? OTHER_IMAGE : IMAGE_ID, 'abc'[index])
    const digest = registry.store('shop/api', `child-${index}`, child)
    const [os = '', architecture = ''] = platform.split('/')
    return {
      mediaType: child.mediaType,
      digest,
      size: child.body.length,
      platform: { architecture, os }
    }
  })
  return {
    mediaType: MANIFEST_LIST,
    body: Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST_LIST, manifests })
    )
  }
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
  enginePlatform = 'linux/amd64'
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
      ...POLICY_OUTPUTS,
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

describe("the entry's direct calls", () => {
  // Nothing listens there: a direct CreateRepository falls back to the SDK.
  const unanswered = {
    route: {
      endpoint: new URL('http://127.0.0.1:9/'),
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKID', secretAccessKey: 'secret' }
    },
    timeoutMs: 1000
  }
  const login = {
    registry: REGISTRY,
    username: 'AWS',
    password: PASSWORD,
    expiresAt: undefined
  }

  test('answered: the SDK asks ECR nothing, and the run pushes', async () => {
    await run(undefined, {
      ...unanswered,
      login: Promise.resolve(login),
      repository: Promise.resolve({ repository: repository() })
    })

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(ecrMock.calls()).toHaveLength(0)
    expect(outputs['repository-created']).toBe('false')
    expect(outputs.registry).toBe(REGISTRY)
    expect(outputs.pushed).toBe('true')
  })

  test('a missing repository the entry cannot create: the SDK does', async () => {
    missingRepository()

    await run(undefined, {
      ...unanswered,
      login: Promise.resolve(login),
      repository: Promise.resolve({ repository: undefined })
    })

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(ecrMock.commandCalls(CreateRepositoryCommand)).toHaveLength(1)
    expect(ecrMock.commandCalls(DescribeRepositoriesCommand)).toHaveLength(0)
    expect(ecrMock.commandCalls(GetAuthorizationTokenCommand)).toHaveLength(0)
    expect(outputs['repository-created']).toBe('true')
  })

  test('unanswered: the SDK makes both calls', async () => {
    existingRepository()

    await run(undefined, {
      ...unanswered,
      login: Promise.resolve(undefined),
      repository: Promise.resolve(undefined)
    })

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(ecrMock.commandCalls(GetAuthorizationTokenCommand)).toHaveLength(1)
    expect(ecrMock.commandCalls(DescribeRepositoriesCommand)).toHaveLength(1)
    expect(outputs.pushed).toBe('true')
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
      ...POLICY_OUTPUTS,
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
    expect(outputs).toEqual({
      'repository-created': 'false',
      ...POLICY_OUTPUTS
    })
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

describe('a denial across accounts', () => {
  const TARGET_ACCOUNT = '210987654321'
  const TARGET_ARN = `arn:aws:ecr:us-east-1:${TARGET_ACCOUNT}:repository/shop/api`

  beforeEach(() => {
    inputs['registry-id'] = TARGET_ACCOUNT
    ecrMock
      .on(DescribeRepositoriesCommand)
      .rejects(accessDenied('ecr:DescribeRepositories', TARGET_ARN))
  })

  test('the message gives both policies, for the caller AWS named', async () => {
    await run()

    const message = failureMessage()
    expect(message).toContain(
      `ecr:DescribeRepositories was denied on ${TARGET_ARN}`
    )
    expect(message).toContain(
      `The registry belongs to account ${TARGET_ACCOUNT} and this job runs ` +
        `as ${ROLE} (account ${ACCOUNT}): both sides must allow the push.`
    )
    expect(message).toContain(pushPolicy(TARGET_ARN))
    expect(message).toContain(
      '"Principal":{"AWS":"arn:aws:iam::123456789012:role/gha-deploy"}'
    )
  })

  test('the summary shows both, formatted', async () => {
    await run()

    const summary = readFileSync(summaryFile, 'utf8')
    expect(summary).toContain(
      `The repository policy, in account <code>${TARGET_ACCOUNT}</code>:`
    )
    expect(summary).toContain(
      '"AWS": "arn:aws:iam::123456789012:role/gha-deploy"'
    )
    expect(summary).toContain(`"Resource": "${TARGET_ARN}"`)
  })

  test("a registry-id of the caller's own account adds nothing", async () => {
    inputs['registry-id'] = ACCOUNT
    ecrMock
      .on(DescribeRepositoriesCommand)
      .rejects(accessDenied('ecr:DescribeRepositories', ARN))

    await run()

    expect(failureMessage()).not.toContain('both sides')
    expect(readFileSync(summaryFile, 'utf8')).not.toContain(
      'The repository policy'
    )
  })

  test('a failure that is no denial adds nothing', async () => {
    ecrMock.on(DescribeRepositoriesCommand).rejects(repositoryNotFound())
    inputs['create-repository'] = 'false'

    await run()

    expect(failureMessage()).not.toContain('both sides')
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
      ...POLICY_OUTPUTS,
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

describe('fail-on-severity', () => {
  const COUNTS = {
    CRITICAL: 0,
    HIGH: 1,
    MEDIUM: 2,
    LOW: 0,
    INFORMATIONAL: 0,
    UNDEFINED: 0
  }

  beforeEach(() => {
    existingRepository()
    ecrMock.on(DescribeImageScanFindingsCommand).resolves({
      imageScanStatus: { status: 'COMPLETE' },
      imageScanFindings: {
        findingSeverityCounts: { HIGH: 1, MEDIUM: 2 },
        findings: [
          { name: 'CVE-2024-0002', severity: 'MEDIUM' },
          { name: 'CVE-2024-0001', severity: 'HIGH' },
          { name: 'CVE-2024-0003', severity: 'MEDIUM' }
        ]
      }
    })
  })

  test('below the threshold: passes, counts in the output and summary', async () => {
    inputs['fail-on-severity'] = 'CRITICAL'

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    const input = ecrMock.commandCalls(DescribeImageScanFindingsCommand)[0]
      ?.args[0].input
    expect(input?.imageId).toEqual({ imageDigest: PUSHED_DIGEST })
    expect(JSON.parse(outputs['scan-findings'] ?? '')).toEqual(COUNTS)
    const summary = readFileSync(summaryFile, 'utf8')
    expect(summary).toContain('Vulnerability scan (basic; fails at CRITICAL')
    expect(summary).toContain('CVE-2024-0001')
  })

  test('at the threshold: fails after every output is set', async () => {
    inputs['fail-on-severity'] = 'HIGH'

    await run()

    expect(failureMessage()).toBe(
      `1 finding at or above HIGH in ${URI}@${PUSHED_DIGEST}: CVE-2024-0001`
    )
    expect(outputs).toMatchObject({
      pushed: 'true',
      digest: PUSHED_DIGEST,
      'image-uri': `${URI}@${PUSHED_DIGEST}`
    })
    expect(JSON.parse(outputs['scan-findings'] ?? '')).toEqual(COUNTS)
    expect(readFileSync(summaryFile, 'utf8')).toContain(
      'ECR push failed: shop/api'
    )
  })

  test('push false: no scan is asked for, and the step passes', async () => {
    inputs['fail-on-severity'] = 'LOW'
    inputs.push = 'false'

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(ecrMock.commandCalls(DescribeImageScanFindingsCommand)).toEqual([])
    expect(outputs['scan-findings']).toBeUndefined()
    expect(logged(core.info)).toContain('no scan to check')
  })

  test('no threshold: the scan is not read at all', async () => {
    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(ecrMock.commandCalls(DescribeImageScanFindingsCommand)).toEqual([])
    expect(outputs['scan-findings']).toBeUndefined()
  })
})

describe('keep-login', () => {
  test("logs in to the job's config and leaves it for the post step", async () => {
    missingRepository()
    inputs['keep-login'] = 'true'
    inputs['network-timeout'] = '20'

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(privateConfigsLeft()).toEqual([])
    for (const call of dockerRuns) expect(call.configDir).toBe(userDockerDir)
    expect(savedState['logged-in-registry']).toBe(REGISTRY)
    expect(savedState['logged-in-docker-config']).toBe(userDockerDir)
    // The post step's logout is bounded by the same network-timeout.
    expect(savedState['logout-timeout-ms']).toBe('20000')
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

describe('know before pushing', () => {
  test('one tag already at this image: the others get its manifest, no push', async () => {
    existingRepository({ imageTagMutability: 'IMMUTABLE' })
    const digest = registry.store('shop/api', 'v1.2.3', manifestFor(IMAGE_ID))

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(dockerCommands()).toEqual(['login', 'build'])
    expect(registry.digestAt('shop/api', 'latest')).toBe(digest)
    expect(outputs).toMatchObject({ pushed: 'true', digest })
  })

  test('the refusal names the mutability, the build and both digests', async () => {
    existingRepository({ imageTagMutability: 'IMMUTABLE' })
    const taken = registry.store(
      'shop/api',
      'v1.2.3',
      manifestFor(OTHER_IMAGE, 'b')
    )

    await run()

    const message = failureMessage()
    expect(message).toContain("The repository's tag mutability is IMMUTABLE")
    expect(message).toContain(`this build (image ${IMAGE_ID})`)
    expect(message).toContain(`v1.2.3: at ${taken} (image ${OTHER_IMAGE})`)
    // latest was free, but nothing at all is written: never half a release.
    expect(registry.digestAt('shop/api', 'latest')).toBeUndefined()
    expect(dockerCommands()).not.toContain('push')
  })

  test('IMMUTABLE_WITH_EXCLUSION: an excluded tag moves, the others are refused', async () => {
    existingRepository({
      imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION',
      imageTagMutabilityExclusionFilters: [
        { filterType: 'WILDCARD', filter: 'lat*' }
      ]
    })
    registry.store('shop/api', 'latest', manifestFor(OTHER_IMAGE, 'b'))
    inputs.tags = 'latest'

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(registry.digestAt('shop/api', 'latest')).toBe(PUSHED_DIGEST)

    resetCore()
    Object.assign(inputs, {
      repository: 'shop/api',
      tags: 'v1.2.3\nlatest',
      context: workspace
    })
    const taken = registry.store(
      'shop/api',
      'v1.2.3',
      manifestFor(OTHER_IMAGE, 'c')
    )
    registry.store('shop/api', 'latest', manifestFor(OTHER_IMAGE, 'b'))
    dockerRuns = []

    await run()

    const message = failureMessage()
    expect(message).toContain('IMMUTABLE_WITH_EXCLUSION (mutable: lat*)')
    expect(message).toContain(`v1.2.3: at ${taken}`)
    expect(message).not.toContain('latest: at')
    expect(dockerCommands()).not.toContain('push')
  })

  test('MUTABLE: a tag at another image is moved', async () => {
    existingRepository()
    registry.store('shop/api', 'latest', manifestFor(OTHER_IMAGE, 'b'))

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(registry.digestAt('shop/api', 'latest')).toBe(PUSHED_DIGEST)
    expect(outputs.pushed).toBe('true')
  })

  test('push false: a conflict is a warning, and nothing is written', async () => {
    existingRepository({ imageTagMutability: 'IMMUTABLE' })
    registry.store('shop/api', 'v1.2.3', manifestFor(OTHER_IMAGE, 'b'))
    inputs.push = 'false'

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(logged(core.warning)).toContain('v1.2.3: at')
    expect(registry.requests.filter(r => r.method === 'PUT')).toEqual([])
  })
})

describe('skip-existing', () => {
  beforeEach(() => {
    inputs['skip-existing'] = 'true'
    inputs.tags = 'sha-0a1b2c3\nstaging'
  })

  test('an existing tag: no docker at all; the missing tag is added', async () => {
    existingRepository()
    const digest = registry.store(
      'shop/api',
      'sha-0a1b2c3',
      manifestFor(OTHER_IMAGE)
    )

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(exec.getExecOutput).not.toHaveBeenCalled()
    expect(privateConfigsLeft()).toEqual([])
    expect(registry.digestAt('shop/api', 'staging')).toBe(digest)
    expect(outputs).toMatchObject({
      'image-id': OTHER_IMAGE,
      pushed: 'true',
      digest,
      'image-uri': `${URI}@${digest}`,
      tags: 'sha-0a1b2c3\nstaging',
      'image-uris': `${URI}:sha-0a1b2c3\n${URI}:staging`
    })
    expect(readFileSync(summaryFile, 'utf8')).toContain(`${URI}@${digest}`)
  })

  test('every tag there: pushed is false, nothing written', async () => {
    existingRepository()
    const digest = registry.store(
      'shop/api',
      'sha-0a1b2c3',
      manifestFor(OTHER_IMAGE)
    )
    registry.store('shop/api', 'staging', manifestFor(OTHER_IMAGE))

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(registry.requests.filter(r => r.method === 'PUT')).toEqual([])
    expect(outputs).toMatchObject({ pushed: 'false', digest })
  })

  test('no tag there yet: builds and pushes as usual', async () => {
    existingRepository()

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(dockerCommands()).toEqual(['login', 'build', 'push'])
    expect(registry.digestAt('shop/api', 'staging')).toBe(PUSHED_DIGEST)
    expect(outputs).toMatchObject({ pushed: 'true', 'image-id': IMAGE_ID })
  })

  test('a repository this run creates: builds', async () => {
    missingRepository()

    await run()

    expect(dockerCommands()).toEqual(['login', 'build', 'push'])
  })

  test('existing tags at different images: fails naming them, no docker', async () => {
    existingRepository()
    const first = registry.store(
      'shop/api',
      'sha-0a1b2c3',
      manifestFor(OTHER_IMAGE)
    )
    const second = registry.store('shop/api', 'staging', manifestFor(IMAGE_ID))

    await run()

    const message = failureMessage()
    expect(message).toContain(`sha-0a1b2c3: at ${first}`)
    expect(message).toContain(`staging: at ${second}`)
    expect(exec.getExecOutput).not.toHaveBeenCalled()
    expect(registry.requests.filter(r => r.method === 'PUT')).toEqual([])
    expect(outputs.digest).toBeUndefined()
  })

  test('keep-login still logs docker in for later steps', async () => {
    existingRepository()
    registry.store('shop/api', 'sha-0a1b2c3', manifestFor(OTHER_IMAGE))
    inputs['keep-login'] = 'true'

    await run()

    expect(dockerCommands()).toEqual(['login'])
    expect(savedState['logged-in-registry']).toBe(REGISTRY)
  })
})

describe('source-tag', () => {
  beforeEach(() => {
    Object.assign(inputs, {
      'source-tag': 'sha-0a1b2c3',
      tags: 'staging, prod',
      context: ''
    })
  })

  test('promotes without docker: same manifest at every tag', async () => {
    existingRepository()
    const source = manifestFor(OTHER_IMAGE)
    const digest = registry.store('shop/api', 'sha-0a1b2c3', source)

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(exec.getExecOutput).not.toHaveBeenCalled()
    expect(core.saveState).not.toHaveBeenCalledWith(
      'private-docker-config',
      expect.anything()
    )
    for (const tag of ['staging', 'prod']) {
      const copied = registry.manifests.get(`shop/api:${tag}`)
      expect(copied?.body.equals(source.body)).toBe(true)
      expect(copied?.mediaType).toBe(source.mediaType)
    }
    expect(outputs).toMatchObject({
      'repository-created': 'false',
      'image-id': OTHER_IMAGE,
      pushed: 'true',
      digest,
      'image-uri': `${URI}@${digest}`,
      tags: 'staging\nprod'
    })
    expect(logged(core.info)).toContain(`sha-0a1b2c3 is at ${digest}`)
  })

  test('a missing source tag fails, naming it and the repository', async () => {
    existingRepository()

    await run()

    const message = failureMessage()
    expect(message).toContain('"sha-0a1b2c3"')
    expect(message).toContain('shop/api')
    expect(registry.requests.filter(r => r.method === 'PUT')).toEqual([])
  })

  test('an immutable target tag at another image: nothing is tagged', async () => {
    existingRepository({ imageTagMutability: 'IMMUTABLE' })
    registry.store('shop/api', 'sha-0a1b2c3', manifestFor(IMAGE_ID))
    const taken = registry.store('shop/api', 'prod', manifestFor(OTHER_IMAGE))

    await run()

    const message = failureMessage()
    expect(message).toContain(`prod: at ${taken}`)
    expect(message).toContain('IMMUTABLE')
    expect(registry.digestAt('shop/api', 'staging')).toBeUndefined()
  })

  test('a missing repository is not created for a promotion', async () => {
    missingRepository()

    await run()

    expect(failureMessage()).toContain(
      'so there is no image at source-tag sha-0a1b2c3 to promote'
    )
    expect(ecrMock.commandCalls(CreateRepositoryCommand)).toHaveLength(0)
    expect(exec.getExecOutput).not.toHaveBeenCalled()
  })

  test('push false: reads, writes nothing, sets no digest', async () => {
    existingRepository()
    registry.store('shop/api', 'sha-0a1b2c3', manifestFor(OTHER_IMAGE))
    inputs.push = 'false'

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(registry.requests.filter(r => r.method === 'PUT')).toEqual([])
    expect(outputs.digest).toBeUndefined()
    expect(outputs['image-id']).toBe(OTHER_IMAGE)
  })
})

describe('merge-sources', () => {
  let amd64: string
  let arm64: string

  beforeEach(() => {
    Object.assign(inputs, {
      'merge-sources': `build-amd64\n${URI}:build-arm64`,
      tags: 'v1, latest',
      context: ''
    })
    amd64 = registry.storeImage('shop/api', 'build-amd64', {
      architecture: 'amd64',
      os: 'linux'
    })
    arm64 = registry.storeImage(
      'shop/api',
      'build-arm64',
      { architecture: 'arm64', os: 'linux' },
      'b'
    )
  })

  function indexAt(tag: string) {
    const stored = registry.manifests.get(`shop/api:${tag}`)
    return {
      mediaType: stored?.mediaType,
      digest: stored && sha256(stored.body),
      body: JSON.parse(stored?.body.toString('utf8') ?? '{}') as {
        manifests: { digest: string; platform: unknown }[]
      }
    }
  }

  test('writes one index at both tags, without docker', async () => {
    existingRepository()

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(exec.getExecOutput).not.toHaveBeenCalled()
    const index = indexAt('v1')
    expect(index.mediaType).toBe(OCI_INDEX)
    expect(index.body.manifests.map(entry => entry.digest)).toEqual([
      amd64,
      arm64
    ])
    expect(index.body.manifests.map(entry => entry.platform)).toEqual([
      { architecture: 'amd64', os: 'linux' },
      { architecture: 'arm64', os: 'linux' }
    ])
    expect(registry.digestAt('shop/api', 'latest')).toBe(index.digest)
    expect(outputs).toMatchObject({
      'image-id': '',
      pushed: 'true',
      digest: index.digest,
      'image-uri': `${URI}@${index.digest}`,
      tags: 'v1\nlatest',
      'image-uris': `${URI}:v1\n${URI}:latest`
    })
    expect(readFileSync(summaryFile, 'utf8')).toContain(
      '<code>linux/amd64</code> <code>linux/arm64</code>'
    )
  })

  test('a rerun writes nothing: pushed is false', async () => {
    existingRepository()
    await run()
    const digest = outputs.digest
    resetCore()
    Object.assign(inputs, {
      repository: 'shop/api',
      'merge-sources': `build-amd64\n${URI}:build-arm64`,
      tags: 'v1, latest'
    })
    registry.requests.length = 0

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(registry.requests.filter(r => r.method === 'PUT')).toEqual([])
    expect(outputs).toMatchObject({ pushed: 'false', digest })
  })

  test('an immutable tag at another image: nothing is written', async () => {
    existingRepository({ imageTagMutability: 'IMMUTABLE' })
    const taken = registry.store('shop/api', 'v1', manifestFor(OTHER_IMAGE))

    await run()

    const message = failureMessage()
    expect(message).toContain(`v1: at ${taken}`)
    expect(message).toContain('Nothing was written')
    expect(registry.requests.filter(r => r.method === 'PUT')).toEqual([])
    expect(outputs.digest).toBeUndefined()
  })

  test('a missing source fails, naming it', async () => {
    existingRepository()
    inputs['merge-sources'] = 'build-amd64, build-s390x'

    await run()

    expect(failureMessage()).toContain(
      `Merge source "build-s390x" does not exist in ${URI}`
    )
    expect(registry.requests.filter(r => r.method === 'PUT')).toEqual([])
  })

  test('a missing repository is not created for a merge', async () => {
    missingRepository()

    await run()

    expect(failureMessage()).toContain('so there are no images to merge')
    expect(ecrMock.commandCalls(CreateRepositoryCommand)).toHaveLength(0)
  })

  test('keep-login still logs docker in for later steps', async () => {
    existingRepository()
    inputs['keep-login'] = 'true'

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(dockerCommands()).toEqual(['login'])
  })
})

describe('platforms with buildx', () => {
  beforeEach(() => {
    inputs.platforms = 'linux/amd64,linux/arm64'
  })

  function buildxArgs(): string[] {
    return (
      dockerRuns.find(
        call => call.args[0] === 'buildx' && call.args[1] === 'build'
      )?.args ?? []
    )
  }

  test('pushes by digest, then writes each tag once at that index', async () => {
    missingRepository()

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(dockerRuns.map(call => call.args.slice(0, 2))).toEqual([
      ['buildx', 'version'],
      ['login', '--username'],
      ['buildx', 'build']
    ])
    const args = buildxArgs()
    expect(args).toContain('linux/amd64,linux/arm64')
    expect(args).toContain('--provenance=false')
    expect(args.join(' ')).not.toContain('--tag')
    const digest = outputs.digest ?? ''
    expect(registry.digestAt('shop/api', 'v1.2.3')).toBe(digest)
    expect(registry.digestAt('shop/api', 'latest')).toBe(digest)
    expect(
      registry.requests.filter(r => r.method === 'PUT').map(r => r.reference)
    ).toEqual(['v1.2.3', 'latest'])
    expect(outputs).toMatchObject({
      'image-id': '',
      pushed: 'true',
      'image-uri': `${URI}@${digest}`
    })
    // The same private config for every docker call, buildx included.
    for (const call of dockerRuns.slice(1)) {
      expect(call.configDir).toBe(dockerRuns[1]?.configDir)
    }
  })

  test('one platform: the image ID is its config digest', async () => {
    missingRepository()
    inputs.platforms = 'linux/arm64'

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(buildxArgs()).toContain('linux/arm64')
    expect(outputs).toMatchObject({
      'image-id': IMAGE_ID,
      digest: PUSHED_DIGEST
    })
  })

  test('an immutable tag at another image: nothing tagged, the build stays untagged', async () => {
    existingRepository({ imageTagMutability: 'IMMUTABLE' })
    const taken = registry.store('shop/api', 'v1.2.3', manifestFor(OTHER_IMAGE))

    await run()

    const message = failureMessage()
    expect(message).toContain(`v1.2.3: at ${taken}`)
    expect(message).toContain('stays in the repository untagged')
    expect(registry.requests.filter(r => r.method === 'PUT')).toEqual([])
    expect(outputs.digest).toBeUndefined()
  })

  test('a rerun of the same build writes no tag', async () => {
    existingRepository()
    await run()
    const digest = outputs.digest
    resetCore()
    Object.assign(inputs, {
      repository: 'shop/api',
      tags: 'v1.2.3\nlatest',
      context: workspace,
      platforms: 'linux/amd64,linux/arm64'
    })
    registry.requests.length = 0

    await run()

    expect(registry.requests.filter(r => r.method === 'PUT')).toEqual([])
    expect(outputs).toMatchObject({ pushed: 'false', digest })
  })

  test('push false: builds, logs in, pushes and writes nothing', async () => {
    existingRepository()
    inputs.push = 'false'

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(dockerCommands()).toEqual(['buildx', 'login', 'buildx'])
    expect(buildxArgs()).toContain('type=image,push=false')
    expect(registry.requests.filter(r => r.method === 'PUT')).toEqual([])
    expect(outputs['image-id']).toBe('')
    expect(outputs.digest).toBeUndefined()
  })

  test('a cache tag: read and written in the repository', async () => {
    existingRepository()
    inputs['cache-tag'] = 'buildcache'

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(buildxArgs()).toEqual(
      expect.arrayContaining([
        '--cache-from',
        `type=registry,ref=${URI}:buildcache`,
        '--cache-to',
        `type=registry,ref=${URI}:buildcache,mode=max,image-manifest=true,oci-mediatypes=true`
      ])
    )
  })

  test('a cache tag the repository keeps immutable: refused before building', async () => {
    existingRepository({ imageTagMutability: 'IMMUTABLE' })
    inputs['cache-tag'] = 'buildcache'

    await run()

    expect(failureMessage()).toContain(
      'Input "cache-tag": "buildcache" is immutable in this repository'
    )
    expect(buildxArgs()).toEqual([])
  })

  test('no buildx: fails before the repository is created', async () => {
    missingRepository()
    dockerFailures.buildx = {
      exitCode: 1,
      stderr: 'docker: unknown command: docker buildx'
    }

    await run()

    expect(failureMessage()).toBe(
      'platforms linux/amd64,linux/arm64 needs docker buildx, which this ' +
        'runner does not have: add docker/setup-buildx-action before this step'
    )
    expect(ecrMock.commandCalls(CreateRepositoryCommand)).toHaveLength(0)
    expect(dockerCommands()).toEqual(['buildx'])
  })
})

describe('one platform without buildx', () => {
  beforeEach(() => {
    inputs.platforms = 'linux/amd64'
    dockerFailures.buildx = {
      exitCode: 1,
      stderr: 'docker: unknown command: docker buildx'
    }
  })

  test('docker build --platform, then the usual push', async () => {
    missingRepository()

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(dockerCommands()).toEqual([
      'buildx',
      'login',
      'build',
      'image',
      'push'
    ])
    const build = dockerRuns[2]?.args ?? []
    expect(build[build.indexOf('--platform') + 1]).toBe('linux/amd64')
    expect(outputs.digest).toBe(PUSHED_DIGEST)
  })

  test('an engine that built for another platform: nothing is pushed', async () => {
    missingRepository()
    inputs.platforms = 'linux/arm64'

    await run()

    expect(failureMessage()).toContain(
      'Input "platforms" asks for linux/arm64, but docker build made a ' +
        'linux/amd64 image'
    )
    expect(dockerCommands()).not.toContain('push')
  })
})

describe('version tags and provenance labels', () => {
  const RUN_ENV = [
    'GITHUB_REF',
    'GITHUB_SHA',
    'GITHUB_SERVER_URL',
    'GITHUB_REPOSITORY',
    'GITHUB_EVENT_NAME',
    'GITHUB_EVENT_PATH'
  ] as const
  const SHA = '0123456789abcdef0123456789abcdef01234567'
  const before = Object.fromEntries(
    RUN_ENV.map(name => [name, process.env[name]])
  )

  function onRef(ref: string, payload: unknown): void {
    const eventPath = path.join(tempDir(), 'event.json')
    writeFileSync(eventPath, JSON.stringify(payload))
    Object.assign(process.env, {
      GITHUB_REF: ref,
      GITHUB_SHA: SHA,
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_REPOSITORY: 'acme/shop',
      GITHUB_EVENT_NAME: 'push',
      GITHUB_EVENT_PATH: eventPath
    })
  }

  function buildArgs(flag: string): string[] {
    const args = dockerRuns.find(call => call.args[0] === 'build')?.args ?? []
    return args.flatMap((arg, index) => (args[index - 1] === flag ? [arg] : []))
  }

  afterEach(() => {
    for (const name of RUN_ENV) {
      const value = before[name]
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  })

  test('a release tag: every version tag, and the OCI labels', async () => {
    missingRepository()
    onRef('refs/tags/v1.2.3', {
      head_commit: { id: SHA, timestamp: '2024-05-01T12:30:00+02:00' }
    })
    Object.assign(inputs, { tags: '', 'version-tags': 'true' })

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(logged(core.info)).toContain(
      'version-tags: refs/tags/v1.2.3 adds 1.2.3, 1.2, 1, latest'
    )
    expect(buildArgs('--tag')).toEqual(
      ['latest', '1.2.3', '1.2', '1'].map(tag => `${URI}:${tag}`)
    )
    expect(buildArgs('--label')).toEqual([
      'org.opencontainers.image.source=https://github.com/acme/shop',
      `org.opencontainers.image.revision=${SHA}`,
      'org.opencontainers.image.created=2024-05-01T10:30:00Z',
      'org.opencontainers.image.version=1.2.3'
    ])
    for (const tag of ['1.2.3', '1.2', '1', 'latest']) {
      expect(registry.digestAt('shop/api', tag)).toBe(PUSHED_DIGEST)
    }
    expect(outputs.tags).toBe('latest\n1.2.3\n1.2\n1')
  })

  test('a pre-release: its version only, never latest', async () => {
    missingRepository()
    onRef('refs/tags/v1.2.3-rc.1', {})
    Object.assign(inputs, { tags: '', 'version-tags': 'true' })

    await run()

    expect(buildArgs('--tag')).toEqual([`${URI}:1.2.3-rc.1`])
    expect(buildArgs('--label')).toContain(
      'org.opencontainers.image.version=1.2.3-rc.1'
    )
    expect(registry.digestAt('shop/api', 'latest')).toBeUndefined()
  })

  test('a branch: says so, adds nothing, and has no version label', async () => {
    missingRepository()
    onRef('refs/heads/main', {})
    Object.assign(inputs, { tags: 'sha-0a1b2c3', 'version-tags': 'true' })

    await run()

    expect(logged(core.info)).toContain(
      'version-tags: refs/heads/main is not a semantic version tag; no tags added'
    )
    expect(outputs.tags).toBe('sha-0a1b2c3')
    expect(buildArgs('--label').join('\n')).not.toContain('.version=')
    // No commit time in the payload: no created label, never the clock.
    expect(buildArgs('--label').join('\n')).not.toContain('.created=')
  })

  test('a label the user set wins', async () => {
    missingRepository()
    onRef('refs/heads/main', {})
    inputs.labels = 'org.opencontainers.image.source=https://example.com/x'

    await run()

    expect(buildArgs('--label')).toEqual([
      'org.opencontainers.image.source=https://example.com/x',
      `org.opencontainers.image.revision=${SHA}`
    ])
  })

  test('an image that is not built gets no labels', async () => {
    missingRepository()
    onRef('refs/tags/v1.2.3', {})
    Object.assign(inputs, { image: 'my-app:1.0', 'version-tags': 'true' })

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(dockerCommands()).not.toContain('build')
    expect(outputs.tags).toBe('v1.2.3\nlatest\n1.2.3\n1.2\n1')
  })
})

describe('limits and cancellation', () => {
  test('a push that fails with a 503 is tried max-attempts times', async () => {
    missingRepository()
    inputs['max-attempts'] = '2'
    dockerFailures.push = {
      exitCode: 1,
      stderr: 'received unexpected HTTP status: 503 Service Unavailable'
    }

    await run()

    expect(dockerCommands().filter(command => command === 'push')).toHaveLength(
      2
    )
    expect(logged(core.warning)).toContain(
      'docker push failed (attempt 1 of 2)'
    )
    expect(failureMessage()).toContain('503 Service Unavailable')
    expect(privateConfigsLeft()).toEqual([])
  })

  test('a run leaves no signal handler behind', async () => {
    const before = ['SIGINT', 'SIGTERM'].map(name =>
      process.listenerCount(name)
    )
    missingRepository()

    await run()

    expect(
      ['SIGINT', 'SIGTERM'].map(name => process.listenerCount(name))
    ).toEqual(before)
  })
})

/**
 * docker where each tag takes 20 ms and notes its start and end in the
 * events returned; other commands answer through `other`.
 */
function timedTags(
  other: (args: string[]) => ReturnType<typeof ok> = () => ok('')
): string[] {
  const events: string[] = []
  exec.getExecOutput.mockImplementation(async (_command, args) => {
    const list = args ?? []
    if (list[0] !== 'tag') return other(list)
    events.push(`start tag ${list[2] ?? ''}`)
    await new Promise(resolve => setTimeout(resolve, 20))
    events.push(`end tag ${list[2] ?? ''}`)
    return ok('')
  })
  return events
}

describe('a build the entry started before the AWS calls', () => {
  /** An early build as src/early-build.ts hands it over. */
  function earlyBuild(
    imageId: Promise<string> = Promise.resolve(IMAGE_ID),
    references: string[] = []
  ) {
    imageId.catch(() => undefined)
    const early = {
      imageId,
      references,
      stop: jest.fn(async () => undefined),
      release: jest.fn()
    }
    return early
  }

  test('tagged by docker as it built: no docker tag, one push', async () => {
    missingRepository()

    await run(
      earlyBuild(Promise.resolve(IMAGE_ID), [`${URI}:v1.2.3`, `${URI}:latest`])
    )

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(dockerCommands()).not.toContain('tag')
    expect(dockerCommands().filter(name => name === 'push')).toHaveLength(1)
    expect(registry.digestAt('shop/api', 'latest')).toBe(PUSHED_DIGEST)
    expect(logged(core.info)).toContain(
      `Tagged ${IMAGE_ID} here as ${URI}:v1.2.3, ${URI}:latest`
    )
  })

  test('tagged by docker for other references: tagged again here', async () => {
    existingRepository()

    await run(
      earlyBuild(Promise.resolve(IMAGE_ID), [
        `210987654321.dkr.ecr.us-east-1.amazonaws.com/shop/api:v1.2.3`,
        `210987654321.dkr.ecr.us-east-1.amazonaws.com/shop/api:latest`
      ])
    )

    expect(core.setFailed).not.toHaveBeenCalled()
    const tags = dockerRuns.filter(call => call.args[0] === 'tag')
    expect(tags.map(call => call.args[2])).toEqual([
      `${URI}:v1.2.3`,
      `${URI}:latest`
    ])
  })

  test('is tagged locally and pushed once; no second build', async () => {
    missingRepository()
    const early = earlyBuild()

    await run(early)

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(dockerCommands()).not.toContain('build')
    expect(dockerCommands().filter(name => name === 'push')).toHaveLength(1)
    const tags = dockerRuns.filter(call => call.args[0] === 'tag')
    expect(tags.map(call => call.args)).toEqual([
      ['tag', IMAGE_ID, `${URI}:v1.2.3`],
      ['tag', IMAGE_ID, `${URI}:latest`]
    ])
    expect(registry.digestAt('shop/api', 'v1.2.3')).toBe(PUSHED_DIGEST)
    expect(registry.digestAt('shop/api', 'latest')).toBe(PUSHED_DIGEST)
    expect(outputs['image-id']).toBe(IMAGE_ID)
    expect(outputs.digest).toBe(PUSHED_DIGEST)
    expect(early.stop).not.toHaveBeenCalled()
    expect(early.release).toHaveBeenCalled()
  })

  test('tags the pushed reference first; push waits only for it', async () => {
    missingRepository()
    const events = timedTags(list => {
      if (list[0] !== 'push') return ok('')
      events.push(`push ${list[1] ?? ''}`)
      const digest = registry.store('shop/api', 'v1.2.3', manifestFor(IMAGE_ID))
      return ok(pushOutput('v1.2.3', digest))
    })

    await run(earlyBuild())

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(events.slice(0, 3)).toEqual([
      `start tag ${URI}:v1.2.3`,
      `end tag ${URI}:v1.2.3`,
      `start tag ${URI}:latest`
    ])
    // docker pushes while the other tag is being made.
    expect(events.indexOf(`push ${URI}:v1.2.3`)).toBeLessThan(
      events.indexOf(`end tag ${URI}:latest`)
    )
  })

  test('a rerun pushes nothing and still tags the image here', async () => {
    existingRepository()
    registry.store('shop/api', 'v1.2.3', manifestFor(IMAGE_ID))
    registry.store('shop/api', 'latest', manifestFor(IMAGE_ID))

    await run(earlyBuild())

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(dockerCommands()).not.toContain('push')
    expect(dockerRuns.filter(call => call.args[0] === 'tag')).toHaveLength(2)
    expect(outputs.pushed).toBe('false')
    // Nothing to push: docker never needed the login.
    expect(dockerCommands()).not.toContain('login')
    expect(privateConfigsLeft()).toEqual([])
  })

  test('every tag there at another image: logs in just before the push', async () => {
    existingRepository()
    registry.store('shop/api', 'v1.2.3', manifestFor(OTHER_IMAGE))
    registry.store('shop/api', 'latest', manifestFor(OTHER_IMAGE))

    await run(earlyBuild())

    expect(core.setFailed).not.toHaveBeenCalled()
    const commands = dockerCommands()
    expect(commands.filter(name => name === 'login')).toHaveLength(1)
    expect(commands.indexOf('login')).toBeLessThan(commands.indexOf('push'))
    const login = dockerRuns.find(call => call.args[0] === 'login')
    expect(login?.input).toBe(PASSWORD)
    expect(registry.digestAt('shop/api', 'latest')).toBe(PUSHED_DIGEST)
    expect(outputs.pushed).toBe('true')
  })

  test('a tag missing: logs in while docker builds, before the build is done', async () => {
    existingRepository()
    registry.store('shop/api', 'latest', manifestFor(OTHER_IMAGE))
    let built: (id: string) => void = () => undefined
    const early = earlyBuild(
      new Promise<string>(resolve => {
        built = resolve
      })
    )

    const running = run(early)
    await new Promise(resolve => setTimeout(resolve, 50))
    expect(dockerCommands()).toEqual(['login'])
    built(IMAGE_ID)
    await running

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(dockerCommands().filter(name => name === 'login')).toHaveLength(1)
  })

  test('a rerun tags the image here before the lookup answers, all tags at once', async () => {
    existingRepository()
    registry.store('shop/api', 'v1.2.3', manifestFor(IMAGE_ID))
    registry.store('shop/api', 'latest', manifestFor(IMAGE_ID))
    let answer: () => void = () => undefined
    const answered = new Promise<void>(resolve => {
      answer = resolve
    })
    fetchSpy.mockImplementation(async (...args: Parameters<typeof fetch>) => {
      await answered
      return registry.fetch(...args)
    })
    const events = timedTags()

    const running = run(earlyBuild())
    await new Promise(resolve => setTimeout(resolve, 50))
    expect(events).toContain(`start tag ${URI}:v1.2.3`)
    answer()
    await running

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(outputs.pushed).toBe('false')
    // Nothing to push: the second tag did not wait for the first.
    expect(events.indexOf(`start tag ${URI}:latest`)).toBeLessThan(
      events.indexOf(`end tag ${URI}:latest`)
    )
    expect(events).toHaveLength(4)
  })

  test('the login made while docker builds is said once', async () => {
    existingRepository()
    registry.store('shop/api', 'latest', manifestFor(OTHER_IMAGE))

    await run(earlyBuild())

    expect(core.setFailed).not.toHaveBeenCalled()
    const said = core.info.mock.calls
      .map(call => String(call[0]))
      .filter(line => line.startsWith('Logged in to'))
    expect(said).toEqual([
      `Logged in to ${REGISTRY} in a docker config private to this step`
    ])
  })

  test('a login that fails while docker builds fails the push, naming docker login', async () => {
    existingRepository()
    dockerFailures.login = {
      exitCode: 1,
      stderr: 'Error response from daemon: login attempt failed'
    }

    await run(earlyBuild())

    expect(failureMessage()).toContain('docker login')
    expect(dockerCommands()).not.toContain('push')
    expect(privateConfigsLeft()).toEqual([])
  })

  test('push false: no login at all', async () => {
    missingRepository()
    inputs.push = 'false'

    await run(earlyBuild())

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(dockerCommands()).not.toContain('login')
    expect(dockerCommands()).not.toContain('push')
  })

  test('keep-login logs in even when nothing is pushed', async () => {
    existingRepository()
    inputs['keep-login'] = 'true'
    registry.store('shop/api', 'v1.2.3', manifestFor(IMAGE_ID))
    registry.store('shop/api', 'latest', manifestFor(IMAGE_ID))

    await run(earlyBuild())

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(dockerCommands()).toContain('login')
    expect(dockerCommands()).not.toContain('push')
  })

  test('a failure elsewhere stops the build before the step fails', async () => {
    ecrMock.on(DescribeRepositoriesCommand).rejects(accessDenied(ROLE))
    const early = earlyBuild(new Promise<string>(() => undefined))
    early.stop.mockImplementation(async () => {
      expect(core.setFailed).not.toHaveBeenCalled()
    })

    await run(early)

    expect(early.stop).toHaveBeenCalledTimes(1)
    expect(failureMessage()).toContain('ecr:DescribeRepositories')
    expect(dockerCommands()).not.toContain('push')
  })

  test("a failed build fails the step with docker's words", async () => {
    missingRepository()
    const early = earlyBuild(
      Promise.reject(
        new Error('docker build failed (exit code 1):\nCOPY failed')
      )
    )

    await run(early)

    expect(failureMessage()).toContain('COPY failed')
    expect(dockerCommands()).not.toContain('push')
    expect(dockerCommands()).not.toContain('tag')
  })
})

describe('registry-type public', () => {
  const ALIAS = 'a1b2c3d4'
  const PUBLIC_URI = `public.ecr.aws/${ALIAS}/shop/api`
  const PUBLIC_ARN = `arn:aws:ecr-public::${ACCOUNT}:repository/shop/api`

  beforeEach(() => {
    publicMock.reset()
    registry = new FakeRegistry('public.ecr.aws')
    registry.bearerLogin = `Basic ${TOKEN}`
    fetchSpy.mockImplementation(registry.fetch)
    inputs['registry-type'] = 'public'
    inputs['public-description'] = 'The shop API'
    publicMock
      .on(GetPublicTokenCommand)
      .resolves({ authorizationData: { authorizationToken: TOKEN } })
    publicMock.on(DescribePublicRepositoriesCommand).rejects(
      new PublicRepositoryNotFoundException({
        message: 'The repository with name shop/api does not exist',
        $metadata: { httpStatusCode: 400 }
      })
    )
    publicMock.on(CreatePublicRepositoryCommand).resolves({
      repository: {
        repositoryArn: PUBLIC_ARN,
        registryId: ACCOUNT,
        repositoryName: 'shop/api',
        repositoryUri: PUBLIC_URI
      }
    })
  })

  test('creates, logs in to public.ecr.aws, pushes; outputs name the alias', async () => {
    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(outputs).toEqual({
      'push-policy': pushPolicy(PUBLIC_ARN),
      'pull-policy': pullPolicy(PUBLIC_ARN),
      'repository-created': 'true',
      registry: 'public.ecr.aws',
      'repository-uri': PUBLIC_URI,
      'image-id': IMAGE_ID,
      pushed: 'true',
      digest: PUSHED_DIGEST,
      'image-uri': `${PUBLIC_URI}@${PUSHED_DIGEST}`,
      tags: 'v1.2.3\nlatest',
      'image-uris': `${PUBLIC_URI}:v1.2.3\n${PUBLIC_URI}:latest`
    })
    expect(
      publicMock.commandCalls(CreatePublicRepositoryCommand)[0]?.args[0].input
    ).toEqual({
      repositoryName: 'shop/api',
      catalogData: { description: 'The shop API' }
    })
    expect(ecrMock.calls()).toHaveLength(0)
  })

  test('docker gets the login on stdin and the public reference', async () => {
    await run()

    expect(dockerRuns[0]?.args).toEqual([
      'login',
      '--username',
      'AWS',
      '--password-stdin',
      'public.ecr.aws'
    ])
    expect(dockerRuns[0]?.input).toBe(PASSWORD)
    expect(dockerRuns[2]?.args).toEqual(['push', `${PUBLIC_URI}:v1.2.3`])
  })

  test('the other tag is written through the registry API at <alias>/<name>', async () => {
    await run()

    expect(registry.digestAt(`${ALIAS}/shop/api`, 'latest')).toBe(PUSHED_DIGEST)
    // The reads after the push share one token; the write needs another.
    expect(registry.tokenRequests.map(r => r.scopes)).toEqual([
      [`repository:${ALIAS}/shop/api:pull`],
      [`repository:${ALIAS}/shop/api:pull,push`]
    ])
  })

  test('a rerun of the same image writes nothing', async () => {
    publicMock.on(DescribePublicRepositoriesCommand).resolves({
      repositories: [
        {
          repositoryArn: PUBLIC_ARN,
          registryId: ACCOUNT,
          repositoryName: 'shop/api',
          repositoryUri: PUBLIC_URI
        }
      ]
    })
    delete inputs['public-description']
    for (const tag of ['v1.2.3', 'latest']) {
      registry.store(`${ALIAS}/shop/api`, tag, manifestFor(IMAGE_ID))
    }

    await run()

    expect(core.setFailed).not.toHaveBeenCalled()
    expect(outputs.pushed).toBe('false')
    expect(outputs['repository-created']).toBe('false')
    expect(dockerCommands()).not.toContain('push')
  })

  test('fail-on-severity is an input error before any AWS or docker call', async () => {
    inputs['fail-on-severity'] = 'HIGH'

    await run()

    expect(failureMessage()).toBe(
      'Input "fail-on-severity": "HIGH" cannot be used with registry-type ' +
        'public: ECR Public does not scan images, so there is no scan to ' +
        'gate on'
    )
    expect(publicMock.calls()).toHaveLength(0)
    expect(ecrMock.calls()).toHaveLength(0)
    expect(dockerRuns).toHaveLength(0)
  })
})
