// The bundled action against the local ECR, run as the runner runs it, with
// every result checked where it lives: the registry, the ECR API, the
// output and summary files, and the docker configs afterwards.
import { beforeAll, describe, expect, it } from '@jest/globals'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import type { ActionRun } from './harness.js'
import { actionRuns, expectExit } from './runs.js'
import { getBlob, getManifest, listTags, localEcr } from './registry-client.js'
import {
  describeRepository,
  loggedInDockerConfig,
  makeApp,
  run,
  unique,
  withoutMasks
} from './tools.js'

const runAction = actionRuns()

function act(
  inputs: Record<string, string>,
  options: { cwd?: string; env?: Record<string, string>; runPost?: boolean }
): Promise<ActionRun> {
  return runAction({ inputs, ...options })
}

/** The job's docker config: a directory of its own per test. */
async function jobDockerConfig(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'ecr-push-e2e-job-docker-'))
}

function auths(dockerConfig: string): string[] {
  const file = join(dockerConfig, 'config.json')
  if (!existsSync(file)) return []
  const config = JSON.parse(readFileSync(file, 'utf8')) as {
    auths?: Record<string, unknown>
  }
  return Object.keys(config.auths ?? {})
}

function privateConfigsLeft(result: ActionRun): string[] {
  return readdirSync(result.runnerTemp).filter(name =>
    name.startsWith('ecr-push-')
  )
}

describe('a first push of three tags, then a rerun', () => {
  const repository = `e2e/shop-${unique()}/api`
  let workspace: string
  let dockerConfig: string
  let first: ActionRun

  beforeAll(async () => {
    workspace = await makeApp()
    dockerConfig = await jobDockerConfig()
    first = await act(
      { repository, tags: 'one\ntwo, three' },
      { cwd: workspace, env: { DOCKER_CONFIG: dockerConfig } }
    )
  }, 120_000)

  it('succeeds and reports the pushed image', () => {
    expectExit(first, 0)
    const { registry } = localEcr()
    const uri = `${registry}/${repository}`
    expect(first.outputs).toMatchObject({
      registry,
      'repository-uri': uri,
      'repository-created': 'true',
      pushed: 'true',
      tags: 'one\ntwo\nthree',
      'image-uris': `${uri}:one\n${uri}:two\n${uri}:three`
    })
    expect(first.outputs.digest).toMatch(/^sha256:[a-f0-9]{64}$/)
    expect(first.outputs['image-uri']).toBe(`${uri}@${first.outputs.digest}`)
    expect(first.outputs['image-id']).toMatch(/^sha256:[a-f0-9]{64}$/)
  })

  it('leaves every tag at the reported digest in the registry', async () => {
    expect(await listTags(repository)).toEqual(['one', 'three', 'two'])
    for (const tag of ['one', 'two', 'three']) {
      const manifest = await getManifest(repository, tag)
      expect(manifest?.digest).toBe(first.outputs.digest)
    }
    const manifest = await getManifest(repository, 'one')
    const config = JSON.parse(manifest?.body ?? '{}') as {
      config: { digest: string }
    }
    expect(config.config.digest).toBe(first.outputs['image-id'])
  })

  it('pushes with docker once and tags the rest by manifest', () => {
    const pushes = first.stdout.match(/\[command\]\S*docker push /g) ?? []
    expect(pushes).toHaveLength(1)
    expect(first.stdout).toContain(`Tagged ${first.outputs['repository-uri']}`)
  })

  it('creates the repository with the default settings', async () => {
    const described = await describeRepository(repository)
    expect(described?.imageTagMutability).toBe('MUTABLE')
    expect(described?.imageScanningConfiguration?.scanOnPush).toBe(true)
    expect(described?.encryptionConfiguration?.encryptionType).toBe('AES256')
  })

  it('writes a summary with the digest and the pull line', () => {
    expect(first.summary).toContain(first.outputs['image-uri'])
    expect(first.summary).toContain(`docker pull ${first.outputs['image-uri']}`)
    expect(first.summary).toContain('<code>three</code>')
  })

  it('logs in privately: no password printed, nothing left behind', () => {
    const { password } = localEcr()
    expect(first.stdout).toContain(`::add-mask::${password}`)
    expect(withoutMasks(first.stdout)).not.toContain(password)
    expect(privateConfigsLeft(first)).toEqual([])
    expect(auths(dockerConfig)).toEqual([])
    expect(first.post?.exitCode).toBe(0)
  })

  it('uploads nothing on a rerun of the identical image', async () => {
    const rerun = await act(
      { repository, tags: 'one\ntwo, three' },
      { cwd: workspace, env: { DOCKER_CONFIG: dockerConfig } }
    )
    expectExit(rerun, 0)
    expect(rerun.outputs).toMatchObject({
      'repository-created': 'false',
      pushed: 'false',
      digest: first.outputs.digest,
      'image-uri': first.outputs['image-uri']
    })
    expect(rerun.stdout).not.toMatch(/\[command\]\S*docker push /)
    expect(await listTags(repository)).toEqual(['one', 'three', 'two'])
  })
})

describe('pushing an existing local image', () => {
  it('tags and pushes it without building', async () => {
    const repository = `e2e/existing-${unique()}`
    const workspace = await makeApp()
    const localTag = `e2e-local-${unique()}:ci`
    await run('docker', ['build', '--quiet', '--tag', localTag, workspace])
    const localId = (
      await run('docker', ['image', 'inspect', '--format', '{{.Id}}', localTag])
    ).trim()

    const result = await act(
      { repository, image: localTag, tags: 'ci' },
      { cwd: workspace }
    )

    expectExit(result, 0)
    expect(result.stdout).not.toMatch(/\[command\]\S*docker build /)
    expect(result.outputs['image-id']).toBe(localId)
    const manifest = await getManifest(repository, 'ci')
    expect(manifest?.digest).toBe(result.outputs.digest)
  }, 120_000)
})

describe('build args and labels', () => {
  it('reach the image the registry holds, and a pull gets them', async () => {
    const repository = `e2e/args-${unique()}`
    const workspace = await makeApp({
      Dockerfile:
        'FROM scratch\nARG GREETING\nLABEL greeting=$GREETING\n' +
        'COPY hello.txt /\n'
    })
    const result = await act(
      {
        repository,
        tags: 'labelled',
        'build-args': 'GREETING=hello, world',
        labels: 'team=shop\norg.example.release=42'
      },
      { cwd: workspace }
    )
    expectExit(result, 0)

    const manifest = await getManifest(repository, 'labelled')
    const configDigest = (
      JSON.parse(manifest?.body ?? '{}') as { config: { digest: string } }
    ).config.digest
    const config = JSON.parse(
      (await getBlob(repository, configDigest)).toString('utf8')
    ) as { config: { Labels: Record<string, string> } }
    // With the provenance labels of the run (the harness event has no
    // commit time, so no created label).
    expect(config.config.Labels).toEqual({
      greeting: 'hello, world',
      team: 'shop',
      'org.example.release': '42',
      'org.opencontainers.image.source':
        'https://github.com/octo-org/ecr-push-e2e',
      'org.opencontainers.image.revision':
        '0123456789abcdef0123456789abcdef01234567'
    })

    // A host that pulls by the image URI gets the same labels.
    const { registry, password } = localEcr()
    const pullConfig = await loggedInDockerConfig(registry, password)
    const pullEnv = { ...process.env, DOCKER_CONFIG: pullConfig }
    const imageUri = result.outputs['image-uri'] ?? ''
    await run('docker', ['pull', '--quiet', imageUri], { env: pullEnv })
    const labels = await run(
      'docker',
      ['image', 'inspect', '--format', '{{json .Config.Labels}}', imageUri],
      { env: pullEnv }
    )
    expect(JSON.parse(labels)).toMatchObject({ greeting: 'hello, world' })
  }, 120_000)
})

describe('keep-login', () => {
  it('leaves one login in the job config, and the post step removes it', async () => {
    const repository = `e2e/keep-${unique()}`
    const workspace = await makeApp()
    const dockerConfig = await jobDockerConfig()
    const { registry } = localEcr()

    const kept = await act(
      { repository, 'keep-login': 'true' },
      { cwd: workspace, env: { DOCKER_CONFIG: dockerConfig }, runPost: false }
    )
    expectExit(kept, 0)
    expect(auths(dockerConfig)).toEqual([registry])
    expect(privateConfigsLeft(kept)).toEqual([])

    const withPost = await act(
      { repository, 'keep-login': 'true' },
      { cwd: workspace, env: { DOCKER_CONFIG: dockerConfig } }
    )
    expectExit(withPost, 0)
    expect(withPost.post?.exitCode).toBe(0)
    expect(withPost.post?.stdout).toContain(`Logged out of ${registry}`)
    expect(auths(dockerConfig)).toEqual([])
  }, 120_000)
})

describe('a Dockerfile that fails to build', () => {
  it("shows docker's error, pushes nothing and leaves no credentials", async () => {
    const repository = `e2e/broken-${unique()}`
    const workspace = await makeApp({
      Dockerfile: 'FROM scratch\nCOPY missing-file.txt /\n'
    })
    const dockerConfig = await jobDockerConfig()

    const result = await act(
      { repository, tags: 'broken' },
      { cwd: workspace, env: { DOCKER_CONFIG: dockerConfig } }
    )

    expectExit(result, 1)
    const error = result.stdout
      .split('\n')
      .find(line => line.startsWith('::error::'))
    expect(error).toContain('docker build failed')
    expect(error).toContain('missing-file.txt')
    expect(result.stdout).not.toMatch(/\[command\]\S*docker push /)
    expect(await listTags(repository)).toEqual([])
    expect(result.outputs.digest).toBeUndefined()
    expect(result.summary).toContain('ECR push failed')
    expect(privateConfigsLeft(result)).toEqual([])
    expect(auths(dockerConfig)).toEqual([])
  }, 120_000)
})

describe('push: false', () => {
  it('builds, but creates nothing remotely and pushes nothing', async () => {
    const repository = `e2e/dry-${unique()}`
    const result = await act(
      { repository, tags: 'pr-1', push: 'false' },
      { cwd: await makeApp() }
    )

    expectExit(result, 0)
    expect(result.stdout).toMatch(/\[command\]\S*docker build /)
    expect(result.outputs['image-id']).toMatch(/^sha256:/)
    expect(result.outputs.digest).toBeUndefined()
    expect(result.outputs['repository-created']).toBe('false')
    expect(await describeRepository(repository)).toBeUndefined()
    expect(await listTags(repository)).toEqual([])
    expect(result.summary).toContain('nothing pushed')
  }, 120_000)
})

describe('bad input through the bundle', () => {
  it.each([
    ['repository', 'Shop/API'],
    ['tags', 'v1 beta'],
    ['push', 'yes'],
    ['image-tag-mutability', 'immutable'],
    ['lifecycle-policy', '{"rules": [}']
  ])('%s: %j fails before any AWS or docker call', async (input, value) => {
    const repository = `e2e/bad-${unique()}`
    const inputs: Record<string, string> = { repository, [input]: value }
    const result = await act(inputs, { cwd: await makeApp() })

    expectExit(result, 1)
    const errors = result.stdout
      .split('\n')
      .filter(line => line.startsWith('::error::'))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toContain(`Input "${input}"`)
    expect(errors[0]).toContain(JSON.stringify(value))
    expect(result.stdout).not.toMatch(/\[command\]/)
    expect(result.stdout).not.toMatch(/^\s+at /m)
    expect(await describeRepository(repository)).toBeUndefined()
  })
})
