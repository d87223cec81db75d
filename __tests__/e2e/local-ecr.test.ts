// The local ECR itself, before any test of the action relies on it: moto
// hands out the registry's host and password, docker pushes there, and the
// test-side registry client reads back what arrived.
import { beforeAll, describe, expect, it } from '@jest/globals'
import {
  CreateRepositoryCommand,
  DeleteRepositoryCommand,
  ECRClient,
  GetAuthorizationTokenCommand
} from '@aws-sdk/client-ecr'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { ensureLocalEcr } from './local-ecr.js'
import {
  deleteManifest,
  getBlob,
  getManifest,
  listTags,
  localEcr,
  putBlob,
  putManifest
} from './registry-client.js'

// Registry contents outlive moto restarts, so every run uses new names.
const unique = () => randomBytes(4).toString('hex')

function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {}
): Promise<string> {
  return new Promise((resolveRun, rejectRun) => {
    const child = execFile(
      command,
      args,
      { env: options.env, cwd: options.cwd, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        if (error) {
          rejectRun(new Error(`${command} ${args.join(' ')}: ${stderr}`))
        } else {
          resolveRun(`${stdout}${stderr}`)
        }
      }
    )
    // A command that exits before reading stdin would fail the write with
    // EPIPE; its exit status is what tells whether it worked.
    child.stdin?.on('error', () => {})
    child.stdin?.end(options.input)
  })
}

beforeAll(ensureLocalEcr, 15 * 60_000)

describe('local ECR', () => {
  it('stores and serves blobs and manifests', async () => {
    const repo = `e2e-infra/client-${unique()}`
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: {} })
    )
    const layer = randomBytes(64)
    const configDigest = await putBlob(repo, config)
    const layerDigest = await putBlob(repo, layer)
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: {
        mediaType: 'application/vnd.docker.container.image.v1+json',
        size: config.length,
        digest: configDigest
      },
      layers: [
        {
          mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
          size: layer.length,
          digest: layerDigest
        }
      ]
    })
    const digest = await putManifest(
      repo,
      'v1',
      manifest,
      'application/vnd.docker.distribution.manifest.v2+json'
    )

    expect(await getManifest(repo, 'v1')).toEqual({
      digest,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      body: manifest
    })
    expect((await getManifest(repo, digest))?.digest).toBe(digest)
    expect(await listTags(repo)).toEqual(['v1'])
    expect(await getBlob(repo, layerDigest)).toEqual(layer)
    expect(await getManifest(repo, 'missing')).toBeUndefined()
    expect(await listTags(`e2e-infra/none-${unique()}`)).toEqual([])

    expect(await deleteManifest(repo, digest)).toBe(true)
    expect(await getManifest(repo, 'v1')).toBeUndefined()
  })

  it('takes a docker push with the password moto hands out', async () => {
    const { registry, password } = localEcr()
    const ecr = new ECRClient({})
    const repositoryName = `e2e-infra/docker-${unique()}`
    const created = await ecr.send(
      new CreateRepositoryCommand({ repositoryName })
    )
    expect(created.repository?.repositoryUri).toBe(
      `${registry}/${repositoryName}`
    )
    const auth = await ecr.send(new GetAuthorizationTokenCommand({}))
    const data = auth.authorizationData?.[0]
    expect(data?.proxyEndpoint).toBe(`https://${registry}`)
    const [user, token] = Buffer.from(data?.authorizationToken ?? '', 'base64')
      .toString('utf8')
      .split(':')
    expect(user).toBe('AWS')
    expect(token).toBe(password)

    const work = await mkdtemp(join(tmpdir(), 'local-ecr-test-'))
    try {
      const env = { ...process.env, DOCKER_CONFIG: join(work, 'docker') }
      await run(
        'docker',
        ['login', '--username', 'AWS', '--password-stdin', registry],
        { env, input: token ?? '' }
      )
      const context = join(work, 'context')
      await mkdir(context)
      await writeFile(join(context, 'stamp.txt'), unique())
      await writeFile(
        join(context, 'Dockerfile'),
        'FROM scratch\nCOPY stamp.txt /stamp.txt\n'
      )
      const image = `${registry}/${repositoryName}:t1`
      await run('docker', ['build', '--tag', image, context], { env })
      const pushed = await run('docker', ['push', image], { env })
      const pushedDigest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed)?.[1]

      expect(pushedDigest).toBeDefined()
      expect((await getManifest(repositoryName, 't1'))?.digest).toBe(
        pushedDigest
      )
      await run('docker', ['rmi', image], { env })
    } finally {
      await rm(work, { recursive: true, force: true })
      await ecr.send(
        new DeleteRepositoryCommand({ repositoryName, force: true })
      )
    }
  }, 120_000)
})
