// Release workflows on the local ECR, run through the bundle as the runner
// runs it. The local registry does not enforce tag immutability itself, so
// every test checks what the registry holds afterwards (tags, manifest
// digests, and the write requests in its access log), not only what the
// action said.
import { beforeAll, describe, expect, it } from '@jest/globals'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import type { ActionRun } from './harness.js'
import { actionRuns, expectExit } from './runs.js'
import {
  getBlob,
  getManifest,
  listTags,
  putManifest,
  type Manifest
} from './registry-client.js'
import { describeRepository, makeApp, registryWrites } from './tools.js'

// The commit the harness runs for (its GITHUB_SHA).
const HARNESS_SHA = '0123456789abcdef0123456789abcdef01234567'
const INDEX_TYPE = 'application/vnd.oci.image.index.v1+json'
const DOCKER_COMMAND = /\[command\]\S*docker (login|build|push|tag|pull)\b/

// The registry keeps its data across runs: a name of its own per test.
const uniqueName = (what: string): string =>
  `e2e/release-${what}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`

const runAction = actionRuns()

function act(
  inputs: Record<string, string>,
  options: { cwd: string; env?: Record<string, string> }
): Promise<ActionRun> {
  return runAction({ inputs, ...options })
}

/** Every tag in the repository, with the manifest digest it resolves to. */
async function tagDigests(repository: string): Promise<Record<string, string>> {
  const tags = await listTags(repository)
  const digests: Record<string, string> = {}
  for (const tag of tags) {
    digests[tag] = (await getManifest(repository, tag))?.digest ?? 'missing'
  }
  return digests
}

/** Runs the action and returns the registry writes it made. */
async function actAndCountWrites(
  repository: string,
  inputs: Record<string, string>,
  options: { cwd: string; env?: Record<string, string> }
): Promise<{ result: ActionRun; writes: string[] }> {
  const before = registryWrites(repository).length
  const result = await act(inputs, options)
  return { result, writes: registryWrites(repository).slice(before) }
}

async function labelsOf(
  repository: string,
  tag: string
): Promise<Record<string, string>> {
  const manifest = await getManifest(repository, tag)
  const configDigest = (
    JSON.parse(manifest?.body ?? '{}') as { config: { digest: string } }
  ).config.digest
  const config = JSON.parse(
    (await getBlob(repository, configDigest)).toString('utf8')
  ) as { config: { Labels?: Record<string, string> | null } }
  return config.config.Labels ?? {}
}

/** An event payload of a push, as the runner writes GITHUB_EVENT_PATH. */
async function pushEvent(ref: string, timestamp: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ecr-push-e2e-event-'))
  const file = join(dir, 'event.json')
  await writeFile(
    file,
    JSON.stringify({
      ref,
      after: HARNESS_SHA,
      head_commit: { id: HARNESS_SHA, timestamp, message: 'Release' },
      repository: { pushed_at: Math.floor(Date.now() / 1000) }
    })
  )
  return file
}

describe('an IMMUTABLE repository', () => {
  const repository = uniqueName('immutable')
  let workspace: string
  let first: ActionRun
  let released: Record<string, string>

  beforeAll(async () => {
    workspace = await makeApp()
    first = await act(
      { repository, tags: 'v1, stable', 'image-tag-mutability': 'IMMUTABLE' },
      { cwd: workspace }
    )
    released = await tagDigests(repository)
  }, 180_000)

  it('is created IMMUTABLE, with both tags at the pushed digest', async () => {
    expectExit(first, 0)
    expect(first.outputs.pushed).toBe('true')
    expect((await describeRepository(repository))?.imageTagMutability).toBe(
      'IMMUTABLE'
    )
    expect(released).toEqual({
      stable: first.outputs.digest,
      v1: first.outputs.digest
    })
  })

  it('an identical rerun succeeds and uploads nothing', async () => {
    // No mutability input: what counts is what ECR says the repository is.
    const { result, writes } = await actAndCountWrites(
      repository,
      { repository, tags: 'v1, stable' },
      { cwd: workspace }
    )

    expectExit(result, 0)
    expect(result.outputs).toMatchObject({
      pushed: 'false',
      digest: first.outputs.digest,
      'image-id': first.outputs['image-id']
    })
    expect(result.stdout).not.toMatch(/\[command\]\S*docker push /)
    expect(writes).toEqual([])
    expect(await tagDigests(repository)).toEqual(released)
  }, 180_000)

  it('a changed image under a taken tag is refused; the registry is unchanged', async () => {
    await writeFile(join(workspace, 'hello.txt'), 'a changed release\n')

    const { result, writes } = await actAndCountWrites(
      repository,
      { repository, tags: 'candidate, v1' },
      { cwd: workspace }
    )

    expect(result.exitCode).not.toBe(0)
    const changedImage = result.outputs['image-id'] ?? ''
    expect(changedImage).toMatch(/^sha256:/)
    expect(changedImage).not.toBe(first.outputs['image-id'])
    expect(result.stdout).toContain('tag mutability is IMMUTABLE')
    expect(result.stdout).toContain(`v1: at ${first.outputs.digest}`)
    expect(result.stdout).toContain(`this build (image ${changedImage})`)
    expect(result.stdout).toContain('Nothing was pushed')
    expect(result.outputs.digest).toBeUndefined()
    // Not even the free tag: a release is never half-pushed.
    expect(writes).toEqual([])
    expect(await tagDigests(repository)).toEqual(released)
  }, 180_000)
})

describe('skip-existing', () => {
  it('reuses the image at an existing tag and adds the missing tag', async () => {
    const repository = uniqueName('skip')
    const workspace = await makeApp()
    const first = await act(
      { repository, tags: 'sha-1234567' },
      { cwd: workspace }
    )
    expectExit(first, 0)
    // A build would now make another image: it must not happen.
    await writeFile(join(workspace, 'hello.txt'), 'not the released image\n')

    const reuse = await act(
      { repository, tags: 'sha-1234567, staging', 'skip-existing': 'true' },
      { cwd: workspace }
    )

    expectExit(reuse, 0)
    expect(reuse.stdout).not.toMatch(DOCKER_COMMAND)
    expect(reuse.outputs).toMatchObject({
      pushed: 'true',
      digest: first.outputs.digest,
      'image-id': first.outputs['image-id'],
      tags: 'sha-1234567\nstaging'
    })
    expect(await tagDigests(repository)).toEqual({
      'sha-1234567': first.outputs.digest,
      staging: first.outputs.digest
    })

    const again = await actAndCountWrites(
      repository,
      { repository, tags: 'sha-1234567, staging', 'skip-existing': 'true' },
      { cwd: workspace }
    )
    expectExit(again.result, 0)
    expect(again.result.outputs.pushed).toBe('false')
    expect(again.writes).toEqual([])
  }, 240_000)
})

describe('promotion with source-tag', () => {
  const repository = uniqueName('promote')
  let built: ActionRun
  let source: Manifest | undefined
  let noBuildContext: string

  beforeAll(async () => {
    built = await act({ repository, tags: 'build-7' }, { cwd: await makeApp() })
    source = await getManifest(repository, 'build-7')
    // Promotion needs neither a context nor a Dockerfile.
    noBuildContext = await mkdtemp(join(tmpdir(), 'ecr-push-e2e-empty-'))
  }, 180_000)

  it('adds two tags to the image, digest unchanged, without docker', async () => {
    expectExit(built, 0)

    const { result, writes } = await actAndCountWrites(
      repository,
      { repository, 'source-tag': 'build-7', tags: 'staging, prod' },
      { cwd: noBuildContext }
    )

    expectExit(result, 0)
    expect(result.stdout).not.toMatch(DOCKER_COMMAND)
    expect(result.outputs).toMatchObject({
      pushed: 'true',
      digest: built.outputs.digest,
      'image-id': built.outputs['image-id']
    })
    // Two manifest writes and no blob upload: no layer moved.
    expect(writes).toHaveLength(2)
    expect(writes.join('\n')).not.toContain('/blobs/')
    for (const tag of ['staging', 'prod']) {
      expect(await getManifest(repository, tag)).toEqual(source)
    }
    expect(await tagDigests(repository)).toEqual({
      'build-7': built.outputs.digest,
      prod: built.outputs.digest,
      staging: built.outputs.digest
    })
  }, 180_000)

  it('promotes an image index as it is', async () => {
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: INDEX_TYPE,
      manifests: [
        {
          mediaType: source?.mediaType,
          digest: source?.digest,
          size: Buffer.byteLength(source?.body ?? ''),
          platform: { architecture: 'amd64', os: 'linux' }
        }
      ]
    })
    const indexDigest = await putManifest(
      repository,
      'multi',
      index,
      INDEX_TYPE
    )

    const result = await act(
      { repository, 'source-tag': 'multi', tags: 'multi-prod' },
      { cwd: noBuildContext }
    )

    expectExit(result, 0)
    expect(result.outputs).toMatchObject({
      digest: indexDigest,
      'image-id': ''
    })
    expect(await getManifest(repository, 'multi-prod')).toEqual({
      digest: indexDigest,
      mediaType: INDEX_TYPE,
      body: index
    })
  }, 180_000)

  it('a source tag that is not there fails and tags nothing', async () => {
    const before = await tagDigests(repository)

    const result = await act(
      { repository, 'source-tag': 'build-8', tags: 'canary' },
      { cwd: noBuildContext }
    )

    expect(result.exitCode).not.toBe(0)
    expect(result.stdout).toContain(`has no image tagged "build-8"`)
    expect(await tagDigests(repository)).toEqual(before)
  }, 180_000)
})

describe('version-tags', () => {
  it('a release tag gets 1.2.3, 1.2, 1 and latest, and provenance labels', async () => {
    const repository = uniqueName('semver')
    const workspace = await makeApp()
    const env = {
      GITHUB_REF: 'refs/tags/v1.2.3',
      GITHUB_EVENT_PATH: await pushEvent(
        'refs/tags/v1.2.3',
        '2024-05-01T12:30:00+02:00'
      )
    }

    const result = await act(
      { repository, 'version-tags': 'true' },
      { cwd: workspace, env }
    )

    expectExit(result, 0)
    expect(result.stdout).toContain(
      'version-tags: refs/tags/v1.2.3 adds 1.2.3, 1.2, 1, latest'
    )
    const digest = result.outputs.digest
    expect(await tagDigests(repository)).toEqual({
      '1': digest,
      '1.2': digest,
      '1.2.3': digest,
      latest: digest
    })
    expect(await labelsOf(repository, '1.2.3')).toEqual({
      'org.opencontainers.image.source':
        'https://github.com/octo-org/ecr-push-e2e',
      'org.opencontainers.image.revision': HARNESS_SHA,
      'org.opencontainers.image.created': '2024-05-01T10:30:00Z',
      'org.opencontainers.image.version': '1.2.3'
    })

    // The labels come from the commit, not the clock: a rerun is identical.
    const rerun = await actAndCountWrites(
      repository,
      { repository, 'version-tags': 'true' },
      { cwd: workspace, env }
    )
    expect(rerun.result.outputs).toMatchObject({ pushed: 'false', digest })
    expect(rerun.writes).toEqual([])
  }, 240_000)

  it('a pre-release gets only its full version, never latest', async () => {
    const repository = uniqueName('prerelease')
    const env = {
      GITHUB_REF: 'refs/tags/v1.2.3-rc.1',
      GITHUB_EVENT_PATH: await pushEvent(
        'refs/tags/v1.2.3-rc.1',
        '2024-04-20T08:00:00Z'
      )
    }

    const result = await act(
      { repository, 'version-tags': 'true' },
      { cwd: await makeApp(), env }
    )

    expectExit(result, 0)
    expect(await tagDigests(repository)).toEqual({
      '1.2.3-rc.1': result.outputs.digest
    })
    expect(await labelsOf(repository, '1.2.3-rc.1')).toMatchObject({
      'org.opencontainers.image.version': '1.2.3-rc.1',
      'org.opencontainers.image.created': '2024-04-20T08:00:00Z'
    })
  }, 180_000)
})
