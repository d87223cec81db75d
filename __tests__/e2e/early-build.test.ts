// A plain build starts before the AWS SDK is loaded; the repository,
// token and login are prepared meanwhile and reported after the build's
// output. The bundled action, run as the runner runs it.
import { afterEach, describe, expect, it } from '@jest/globals'

import { startFaultProxy, type FaultProxy } from './fault-proxy.js'
import { actionRuns, expectExit } from './runs.js'
import { listTags, localEcr } from './registry-client.js'
import {
  actionPid,
  localTags,
  makeApp,
  processesMentioning,
  unique,
  withoutMasks
} from './tools.js'

const act = actionRuns()
let proxy: FaultProxy | undefined

afterEach(async () => {
  await proxy?.close()
  proxy = undefined
})

describe('a plain build', () => {
  it('starts first and its output is never mixed with the rest', async () => {
    const repository = `e2e/early-${unique()}`
    const cwd = await makeApp()

    const result = await act({ inputs: { repository, tags: 'a\nb' }, cwd })

    expectExit(result, 0)
    const log = withoutMasks(result.stdout)
    const build = log.indexOf('::group::Build')
    const command = log.search(/\[command\]\S*docker build /)
    const built = log.indexOf('Built sha256:')
    const end = log.indexOf('::endgroup::', built)
    expect(build).toBeGreaterThanOrEqual(0)
    expect(command).toBeGreaterThan(build)
    expect(built).toBeGreaterThan(command)
    // Everything the run reported while docker built comes after it.
    for (const group of ['Inputs', 'Repository', 'Push']) {
      expect(log.indexOf(`::group::${group}`)).toBeGreaterThan(end)
    }
    // docker logged in while it built; the push, which needed it, says so.
    const push = log.indexOf('::group::Push')
    const loggedIn = log.indexOf('Logged in to ')
    expect(loggedIn).toBeGreaterThan(push)
    expect(log.indexOf('[command]', loggedIn)).toBe(
      log.search(/\[command\]\S*docker push /)
    )
    const buildOutput = log.slice(build + '::group::Build'.length, end)
    expect(buildOutput).not.toContain('::group::')
    expect(buildOutput).not.toMatch(/(?:Created|Found) repository/)
    // The registry host comes with the token: docker tags the image as it
    // builds when the token came within a few milliseconds, and the tags
    // are added after the build otherwise. Either way, all or none.
    const buildLine = log.slice(command, log.indexOf('\n', command))
    const { registry } = localEcr()
    const references = [
      `${registry}/${repository}:a`,
      `${registry}/${repository}:b`
    ]
    const tagged = references.filter(reference =>
      buildLine.includes(`--tag ${reference}`)
    )
    expect([0, 2]).toContain(tagged.length)
    expect(log).toContain(
      `Tagged ${result.outputs['image-id']} here as ${references.join(', ')}`
    )
    expect(await localTags(result.outputs['image-id'] ?? '')).toEqual(
      expect.arrayContaining(references)
    )
    expect((await listTags(repository)).sort()).toEqual(['a', 'b'])

    // The rerun: every tag is there at this image, so docker neither
    // pushes nor logs in.
    const rerun = await act({ inputs: { repository, tags: 'a\nb' }, cwd })
    expectExit(rerun, 0)
    expect(rerun.outputs).toMatchObject({
      pushed: 'false',
      'image-id': result.outputs['image-id'],
      digest: result.outputs.digest
    })
    expect(rerun.stdout).not.toContain('Logged in')
    expect(rerun.stdout).not.toMatch(/\[command\]\S*docker push /)
  }, 120_000)

  it('is stopped when the repository cannot be used', async () => {
    const repository = `e2e/early-missing-${unique()}`
    const cwd = await makeApp()

    const result = await act({
      inputs: { repository, 'create-repository': 'false' },
      cwd
    })

    expectExit(result, 1)
    const log = withoutMasks(result.stdout)
    const error = log.indexOf('::error::')
    expect(log.slice(error)).toContain(repository)
    // The build's group is closed before the failure is told.
    expect(log.lastIndexOf('::endgroup::', error)).toBeGreaterThan(
      log.indexOf('::group::Build')
    )
    expect(processesMentioning(cwd)).toEqual([])
    expect(await listTags(repository).catch(() => [])).toEqual([])
  }, 120_000)

  it('SIGINT while it pulls: docker stops, the log is whole, exit 130', async () => {
    // A base image on a registry that never answers, named by address:
    // no ECR host, so the build starts before the AWS calls.
    proxy = await startFaultProxy([
      {
        // Its first request already: with no login for this address,
        // docker would give up at the registry's challenge.
        match: request => request.fromDocker,
        times: Infinity,
        fault: 'stall'
      }
    ])
    const address = process.env.LOCAL_ECR_FAULT_ADDRESS ?? '127.0.0.2'
    const base = `${address}/e2e/base-${unique()}:1`
    const cwd = await makeApp({
      Dockerfile: `FROM ${base}\nCOPY hello.txt /\n`
    })

    const running = act({
      inputs: { repository: `e2e/early-cancel-${unique()}` },
      cwd,
      runPost: false
    })
    await proxy.stalled
    process.kill(actionPid(cwd), 'SIGINT')
    const result = await running

    expectExit(result, 130)
    const log = withoutMasks(result.stdout)
    expect(log).toMatch(
      /::error::Cancelled by SIGINT while .*: stopped docker build/
    )
    // What the run said while docker pulled is in the log, not lost, and
    // after the build's own group.
    const end = log.indexOf('::endgroup::', log.indexOf('::group::Build'))
    expect(log.indexOf('::group::Inputs')).toBeGreaterThan(end)
    expect(log.indexOf('::group::Repository')).toBeGreaterThan(end)
    expect(processesMentioning(base)).toEqual([])
  }, 120_000)
})
