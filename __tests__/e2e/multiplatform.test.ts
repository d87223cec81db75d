// merge-sources on the local ECR, run through the bundle as the runner runs
// it. Neither buildx nor an engine that builds for another platform is at
// hand here, so the second platform is an image uploaded through the
// registry API: a config that says linux/arm64, a layer and a manifest,
// just what a build job on an arm64 runner would have pushed. What the
// merge wrote is read back from the registry, never taken from the log.
import { beforeAll, describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'

import type { ActionRun } from './harness.js'
import { actionRuns, expectExit } from './runs.js'
import {
  getBlob,
  getManifest,
  listTags,
  localEcr,
  putBlob,
  putManifest
} from './registry-client.js'
import { makeApp, registryWrites } from './tools.js'

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const MANIFEST_V2 = 'application/vnd.docker.distribution.manifest.v2+json'
const DOCKER_COMMAND = /\[command\]\S*docker /

interface IndexBody {
  mediaType: string
  manifests: {
    mediaType: string
    digest: string
    size: number
    platform: { os: string; architecture: string; variant?: string }
  }[]
}

// The registry keeps its data across runs: a name of its own per test.
const uniqueName = (what: string): string =>
  `e2e/multi-${what}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`

const runAction = actionRuns()

function act(inputs: Record<string, string>, cwd: string): Promise<ActionRun> {
  return runAction({ inputs, cwd })
}

const sha256 = (data: Buffer): string =>
  `sha256:${createHash('sha256').update(data).digest('hex')}`

/**
 * A single-platform image uploaded through the registry API: one layer
 * (an empty tar, gzipped) and a config that names the platform.
 */
async function uploadImage(
  repository: string,
  tag: string,
  platform: { os: string; architecture: string }
): Promise<string> {
  const tar = Buffer.alloc(1024)
  const layer = gzipSync(tar)
  const config = Buffer.from(
    JSON.stringify({
      ...platform,
      config: {},
      rootfs: { type: 'layers', diff_ids: [sha256(tar)] }
    })
  )
  await putBlob(repository, layer)
  await putBlob(repository, config)
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST_V2,
    config: {
      mediaType: 'application/vnd.docker.container.image.v1+json',
      size: config.length,
      digest: sha256(config)
    },
    layers: [
      {
        mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
        size: layer.length,
        digest: sha256(layer)
      }
    ]
  })
  return putManifest(repository, tag, manifest, MANIFEST_V2)
}

/** The platform an image's config names, read from the registry. */
async function platformOf(repository: string, tag: string): Promise<string> {
  const manifest = await getManifest(repository, tag)
  const { config } = JSON.parse(manifest?.body ?? '{}') as {
    config: { digest: string }
  }
  const image = JSON.parse(
    (await getBlob(repository, config.digest)).toString('utf8')
  ) as { os: string; architecture: string }
  return `${image.os}/${image.architecture}`
}

/** Every tag in the repository, with the manifest digest it resolves to. */
async function tagDigests(repository: string): Promise<Record<string, string>> {
  const digests: Record<string, string> = {}
  for (const tag of await listTags(repository)) {
    digests[tag] = (await getManifest(repository, tag))?.digest ?? 'missing'
  }
  return digests
}

/**
 * Two per-platform images, as two build jobs would leave them: amd64
 * pushed by the action from this (amd64) machine, arm64 uploaded.
 */
async function pushBothPlatforms(
  repository: string,
  inputs: Record<string, string> = {}
): Promise<{ amd64: ActionRun; arm64: string }> {
  const amd64 = await act(
    { repository, tags: 'amd64', ...inputs },
    await makeApp()
  )
  expectExit(amd64, 0)
  // The expectations below name amd64: this machine must build it.
  expect(await platformOf(repository, 'amd64')).toBe('linux/amd64')
  const arm64 = await uploadImage(repository, 'arm64', {
    os: 'linux',
    architecture: 'arm64'
  })
  return { amd64, arm64 }
}

describe('merging two single-platform images', () => {
  const repository = uniqueName('merge')
  let noBuildContext: string
  let amd64: ActionRun
  let arm64: string
  let merged: ActionRun
  let index: IndexBody

  beforeAll(async () => {
    ;({ amd64, arm64 } = await pushBothPlatforms(repository))
    // A merge needs neither a context nor a Dockerfile.
    noBuildContext = await mkdtemp(join(tmpdir(), 'ecr-push-e2e-empty-'))
    merged = await act(
      { repository, 'merge-sources': 'amd64,arm64', tags: 'v1, latest' },
      noBuildContext
    )
    const stored = await getManifest(repository, 'v1')
    index = JSON.parse(stored?.body ?? '{}') as IndexBody
  }, 240_000)

  it('succeeds without docker, reporting the index', () => {
    expectExit(merged, 0)
    expect(merged.stdout).not.toMatch(DOCKER_COMMAND)
    const uri = `${localEcr().registry}/${repository}`
    const digest = merged.outputs.digest ?? ''
    expect(digest).toMatch(/^sha256:[a-f0-9]{64}$/)
    expect(merged.outputs).toMatchObject({
      pushed: 'true',
      'image-id': '',
      'image-uri': `${uri}@${digest}`,
      tags: 'v1\nlatest',
      'image-uris': `${uri}:v1\n${uri}:latest`
    })
    expect(merged.summary).toContain(
      '<code>linux/amd64</code> <code>linux/arm64</code>'
    )
  })

  it('the registry holds one OCI index over both images, at both tags', async () => {
    const stored = await getManifest(repository, 'v1')
    expect(stored?.mediaType).toBe(OCI_INDEX)
    expect(stored?.digest).toBe(merged.outputs.digest)
    expect(index.mediaType).toBe(OCI_INDEX)
    expect(index.manifests.map(entry => entry.digest)).toEqual([
      amd64.outputs.digest,
      arm64
    ])
    expect(index.manifests.map(entry => entry.platform)).toEqual([
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' }
    ])
    for (const entry of index.manifests) {
      const child = await getManifest(repository, entry.digest)
      expect(entry.mediaType).toBe(child?.mediaType)
      expect(entry.size).toBe(Buffer.byteLength(child?.body ?? ''))
    }
    expect(await tagDigests(repository)).toEqual({
      amd64: amd64.outputs.digest,
      arm64,
      latest: merged.outputs.digest,
      v1: merged.outputs.digest
    })
  })

  it('a rerun finds both tags in place and writes nothing', async () => {
    const before = registryWrites(repository).length

    const rerun = await act(
      { repository, 'merge-sources': 'amd64,arm64', tags: 'v1, latest' },
      noBuildContext
    )

    expectExit(rerun, 0)
    expect(rerun.outputs).toMatchObject({
      pushed: 'false',
      digest: merged.outputs.digest
    })
    expect(registryWrites(repository).slice(before)).toEqual([])
  }, 120_000)

  it("takes the build job's image-uri output as a source: the same index", async () => {
    const uri = `${localEcr().registry}/${repository}`

    const result = await act(
      {
        repository,
        'merge-sources': `${amd64.outputs['image-uri']}\n${uri}:arm64`,
        tags: 'v2'
      },
      noBuildContext
    )

    expectExit(result, 0)
    expect(result.outputs.digest).toBe(merged.outputs.digest)
    expect((await getManifest(repository, 'v2'))?.digest).toBe(
      merged.outputs.digest
    )
  }, 120_000)

  it('two sources of one platform are refused; nothing is written', async () => {
    const amd64Manifest = await getManifest(repository, 'amd64')
    await putManifest(
      repository,
      'amd64-again',
      amd64Manifest?.body ?? '',
      amd64Manifest?.mediaType ?? MANIFEST_V2
    )
    const before = registryWrites(repository).length

    const result = await act(
      { repository, 'merge-sources': 'amd64, amd64-again', tags: 'twice' },
      noBuildContext
    )

    expect(result.exitCode).not.toBe(0)
    expect(result.stdout).toContain(
      'Merge sources "amd64" and "amd64-again" are both linux/amd64'
    )
    expect(registryWrites(repository).slice(before)).toEqual([])
    expect(await getManifest(repository, 'twice')).toBeUndefined()
  }, 120_000)

  it('a missing source is refused; nothing is written', async () => {
    const before = registryWrites(repository).length

    const result = await act(
      { repository, 'merge-sources': 'amd64, s390x', tags: 'missing' },
      noBuildContext
    )

    expect(result.exitCode).not.toBe(0)
    expect(result.stdout).toContain('Merge source "s390x" does not exist in')
    expect(registryWrites(repository).slice(before)).toEqual([])
  }, 120_000)
})

describe('merging into an IMMUTABLE repository', () => {
  it('refuses a tag already at another manifest; the registry is unchanged', async () => {
    const repository = uniqueName('immutable')
    const { arm64 } = await pushBothPlatforms(repository, {
      'image-tag-mutability': 'IMMUTABLE'
    })
    // v1 already holds the arm64 image alone, as an earlier release might.
    const taken = await putManifest(
      repository,
      'v1',
      (await getManifest(repository, arm64))?.body ?? '',
      MANIFEST_V2
    )
    const released = await tagDigests(repository)
    const before = registryWrites(repository).length

    const result = await act(
      { repository, 'merge-sources': 'amd64,arm64', tags: 'v1, latest' },
      await mkdtemp(join(tmpdir(), 'ecr-push-e2e-empty-'))
    )

    expect(result.exitCode).not.toBe(0)
    expect(result.stdout).toContain('tag mutability is IMMUTABLE')
    expect(result.stdout).toContain(`v1: at ${taken}`)
    expect(result.stdout).toContain('Nothing was written')
    expect(result.outputs.digest).toBeUndefined()
    // Not even the free tag: a release is never half-tagged.
    expect(registryWrites(repository).slice(before)).toEqual([])
    expect(await tagDigests(repository)).toEqual(released)
  }, 240_000)
})
