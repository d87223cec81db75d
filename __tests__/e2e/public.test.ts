// registry-type public through the bundle, against the local ECR Public:
// the fake API (.ci/fake-ecr-public.mjs), since moto has none, and the
// registry local-ecr.sh serves as public.ecr.aws. That registry takes the
// login as Basic auth, so the Bearer exchange of the real one is covered
// by the unit tests; here it is everything else, end to end.
import {
  ECRPUBLICClient,
  GetRepositoryCatalogDataCommand
} from '@aws-sdk/client-ecr-public'
import { beforeAll, describe, expect, it } from '@jest/globals'
import { existsSync, readFileSync } from 'node:fs'
import { request } from 'node:https'
import { join } from 'node:path'

import type { ActionRun } from './harness.js'
import { actionRuns, expectExit } from './runs.js'
import {
  loggedInDockerConfig,
  makeApp,
  run,
  unique,
  withoutMasks
} from './tools.js'

const runAction = actionRuns()

async function act(
  inputs: Record<string, string>,
  cwd?: string
): Promise<ActionRun> {
  return runAction({ inputs, cwd: cwd ?? (await makeApp()) })
}

function env(name: string): string {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set: ensureLocalEcr() first`)
  return value
}

/** The digest a tag of the public registry points at, or undefined. */
function digestAt(path: string, tag: string): Promise<string | undefined> {
  const login = Buffer.from(`AWS:${env('LOCAL_ECR_PASSWORD')}`)
  return new Promise((resolve, reject) => {
    const call = request(
      `https://${env('LOCAL_ECR_PUBLIC_REGISTRY')}/v2/${path}/manifests/${tag}`,
      {
        method: 'HEAD',
        ca: readFileSync(env('NODE_EXTRA_CA_CERTS'), 'utf8'),
        headers: {
          Authorization: `Basic ${login.toString('base64')}`,
          Accept: [
            'application/vnd.docker.distribution.manifest.v2+json',
            'application/vnd.oci.image.manifest.v1+json'
          ].join(', ')
        }
      },
      response => {
        response.resume()
        const digest = response.headers['docker-content-digest']
        resolve(
          response.statusCode === 200 && typeof digest === 'string'
            ? digest
            : undefined
        )
      }
    )
    call.on('error', reject)
    call.end()
  })
}

/** The lines of the fake API's log that name this repository. */
function apiCalls(repository: string): string[] {
  const log = join(env('LOCAL_ECR_DIR'), 'logs', 'public-api.log')
  if (!existsSync(log)) return []
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter(line => line.endsWith(` ${repository}`))
}

describe('a first push of three tags to a new public repository, then a rerun', () => {
  const repository = `e2e/public-${unique()}/app`
  const gallery = {
    'public-description': 'An image the end-to-end tests push',
    'public-about': '# About\n\nPushed by ecr-push-action.',
    'public-usage': 'docker run public.ecr.aws/<alias>/app',
    'public-architectures': 'x86-64, ARM 64'
  }
  let uri: string
  let first: ActionRun
  let rerun: ActionRun

  beforeAll(async () => {
    uri = `public.ecr.aws/${env('LOCAL_ECR_PUBLIC_ALIAS')}/${repository}`
    const workspace = await makeApp()
    const inputs = {
      repository,
      'registry-type': 'public',
      tags: 'one\ntwo, three',
      ...gallery
    }
    first = await act(inputs, workspace)
    rerun = await act(inputs, workspace)
  }, 180_000)

  it('succeeds, and the outputs name public.ecr.aws/<alias>', () => {
    expectExit(first, 0)
    expect(first.outputs).toMatchObject({
      registry: 'public.ecr.aws',
      'repository-uri': uri,
      'repository-created': 'true',
      pushed: 'true',
      tags: 'one\ntwo\nthree',
      'image-uris': `${uri}:one\n${uri}:two\n${uri}:three`
    })
    expect(first.outputs.digest).toMatch(/^sha256:[a-f0-9]{64}$/)
    expect(first.outputs['image-uri']).toBe(`${uri}@${first.outputs.digest}`)
  })

  it('gives the ECR Public policies, whose ARN has no region', () => {
    const arn = `arn:aws:ecr-public::${env('LOCAL_ECR_ACCOUNT')}:repository/${repository}`
    const push = JSON.parse(first.outputs['push-policy'] ?? '{}') as {
      Statement: { Action: string[]; Resource: string }[]
    }
    expect(push.Statement[0]?.Action).toEqual([
      'ecr-public:GetAuthorizationToken',
      'sts:GetServiceBearerToken'
    ])
    expect(push.Statement[1]?.Resource).toBe(arn)
    expect(first.outputs['pull-policy']).not.toContain(arn)
  })

  it('created the repository with the gallery data, as the API shows it', async () => {
    const client = new ECRPUBLICClient({ region: 'us-east-1' })
    const answer = await client.send(
      new GetRepositoryCatalogDataCommand({ repositoryName: repository })
    )
    expect(answer.catalogData).toMatchObject({
      description: gallery['public-description'],
      aboutText: gallery['public-about'],
      usageText: gallery['public-usage'],
      architectures: ['x86-64', 'ARM 64']
    })
  })

  it('leaves every tag at the reported digest, under <alias>/<name>', async () => {
    const path = `${env('LOCAL_ECR_PUBLIC_ALIAS')}/${repository}`
    for (const tag of ['one', 'two', 'three']) {
      expect(await digestAt(path, tag)).toBe(first.outputs.digest)
    }
    const pushes = first.stdout.match(/\[command\]\S*docker push /g) ?? []
    expect(pushes).toHaveLength(1)
  })

  it('the image pulls back by its digest from public.ecr.aws', async () => {
    const config = await loggedInDockerConfig(
      'public.ecr.aws',
      env('LOCAL_ECR_PASSWORD')
    )
    const dockerEnv = { ...process.env, DOCKER_CONFIG: config }
    const reference = first.outputs['image-uri'] ?? ''
    await run('docker', ['rmi', '--force', reference], {
      env: dockerEnv
    }).catch(() => undefined)
    await run('docker', ['pull', reference], { env: dockerEnv })
    const id = await run(
      'docker',
      ['image', 'inspect', '--format', '{{.Id}}', reference],
      { env: dockerEnv }
    )
    expect(id.trim()).toBe(first.outputs['image-id'])
  })

  it('a rerun pushes nothing and rewrites no gallery data', () => {
    expectExit(rerun, 0)
    expect(rerun.outputs).toMatchObject({
      'repository-created': 'false',
      pushed: 'false',
      digest: first.outputs.digest
    })
    expect(rerun.stdout).not.toMatch(/\[command\]\S*docker push /)
    expect(rerun.stdout).toContain('Gallery data is already as given')
  })

  it('never shows the registry password', () => {
    const password = env('LOCAL_ECR_PASSWORD')
    for (const result of [first, rerun]) {
      expect(withoutMasks(result.stdout)).not.toContain(password)
      expect(JSON.stringify(result.outputs)).not.toContain(password)
      expect(result.summary).not.toContain(password)
    }
  })
})

describe('bad input with registry-type public', () => {
  it('fails naming both inputs, before any AWS or docker call', async () => {
    const repository = `e2e/public-bad-${unique()}/app`

    const result = await act({
      repository,
      'registry-type': 'public',
      'fail-on-severity': 'HIGH'
    })

    expectExit(result, 1)
    expect(result.stdout).toContain(
      '::error::Input "fail-on-severity": "HIGH" cannot be used with ' +
        'registry-type public'
    )
    expect(result.stdout).not.toContain('[command]')
    expect(apiCalls(repository)).toEqual([])
  })
})
