// The token, the repository lookup and a missing repository's creation
// are asked for by the action itself, signed, without the AWS SDK; the
// SDK is loaded only for other calls, and makes them again when they
// fail. The bundled action, run as the runner runs it, against moto
// behind a relay that sees every call.
import { afterEach, describe, expect, it } from '@jest/globals'
import http from 'node:http'

import { closer, listen, relayTo } from '../fixtures/servers.js'
import { actionRuns, expectExit } from './runs.js'
import { listTags, localEcr } from './registry-client.js'
import { localTags, makeApp, unique, withoutMasks } from './tools.js'

const act = actionRuns()
const relays: (() => Promise<void>)[] = []

afterEach(async () => {
  await Promise.all(relays.splice(0).map(close => close()))
})

interface SeenCall {
  operation: string
  /** Made by the action itself; the SDK's user agent names the SDK. */
  direct: boolean
  status: number
}

/**
 * A relay in front of moto: it notes each call, and answers the first
 * `failures[operation]` calls of an operation with a 500 of its own.
 */
async function startRelay(
  failures: Record<string, number> = {},
  delays: Record<string, number> = {}
) {
  const moto = new URL(localEcr().endpoint)
  const calls: SeenCall[] = []
  const left = { ...failures }
  const server = http.createServer((request, response) => {
    const operation =
      String(request.headers['x-amz-target'] ?? '')
        .split('.')
        .pop() ?? ''
    const direct = request.headers['user-agent'] === 'ecr-push-action'
    if ((left[operation] ?? 0) > 0) {
      left[operation] = (left[operation] ?? 0) - 1
      calls.push({ operation, direct, status: 500 })
      request.resume()
      response.writeHead(500, { 'content-type': 'application/x-amz-json-1.1' })
      response.end(JSON.stringify({ __type: 'InternalFailure' }))
      return
    }
    const forward = () => relay(request, response, operation, direct)
    const delay = delays[operation]
    if (delay) setTimeout(forward, delay)
    else forward()
  })
  function relay(
    request: http.IncomingMessage,
    response: http.ServerResponse,
    operation: string,
    direct: boolean
  ): void {
    relayTo(moto, request, response, status =>
      calls.push({ operation, direct, status })
    )
  }
  relays.push(closer(server))
  const port = await listen(server)
  return { endpoint: `http://127.0.0.1:${port}`, calls }
}

const SDK_LOADED = '::debug::Loading the AWS SDK'

describe('the first two ECR calls', () => {
  it('come from the entry with the create; no plain push loads the SDK', async () => {
    const relay = await startRelay()
    const repository = `e2e/direct-${unique()}`
    const cwd = await makeApp()
    const env = { AWS_ENDPOINT_URL: relay.endpoint, RUNNER_DEBUG: '1' }

    const first = await act({ inputs: { repository, tags: 'a\nb' }, cwd, env })

    expectExit(first, 0)
    expect(first.outputs['repository-created']).toBe('true')
    expect(relay.calls).toEqual([
      expect.objectContaining({ operation: expect.any(String) }),
      expect.objectContaining({ operation: expect.any(String) }),
      { operation: 'CreateRepository', direct: true, status: 200 }
    ])
    expect(relay.calls.slice(0, 2)).toEqual(
      expect.arrayContaining([
        { operation: 'GetAuthorizationToken', direct: true, status: 200 },
        { operation: 'DescribeRepositories', direct: true, status: 400 }
      ])
    )
    expect(first.stdout).not.toContain(SDK_LOADED)
    expect((await listTags(repository)).sort()).toEqual(['a', 'b'])

    relay.calls.length = 0
    const rerun = await act({ inputs: { repository, tags: 'a\nb' }, cwd, env })

    expectExit(rerun, 0)
    expect(rerun.outputs).toMatchObject({
      pushed: 'false',
      digest: first.outputs.digest,
      registry: localEcr().registry
    })
    expect(relay.calls).toEqual(
      expect.arrayContaining([
        { operation: 'GetAuthorizationToken', direct: true, status: 200 },
        { operation: 'DescribeRepositories', direct: true, status: 200 }
      ])
    )
    expect(relay.calls).toHaveLength(2)
    expect(rerun.stdout).not.toContain(SDK_LOADED)
    expect(rerun.stdout).toContain(
      `Found repository ${localEcr().registry}/${repository}`
    )
  }, 120_000)

  it('a token that comes late: the build starts untagged, tags follow', async () => {
    const relay = await startRelay({}, { GetAuthorizationToken: 1000 })
    const repository = `e2e/direct-late-${unique()}`

    const result = await act({
      inputs: { repository, tags: 'a\nb' },
      cwd: await makeApp(),
      env: { AWS_ENDPOINT_URL: relay.endpoint }
    })

    expectExit(result, 0)
    const log = withoutMasks(result.stdout)
    const buildLine = /\[command\]\S*docker build .*/.exec(log)?.[0]
    expect(buildLine).toBeDefined()
    expect(buildLine).not.toContain('--tag')
    const references = ['a', 'b'].map(
      tag => `${localEcr().registry}/${repository}:${tag}`
    )
    expect(await localTags(result.outputs['image-id'] ?? '')).toEqual(
      expect.arrayContaining(references)
    )
    expect((await listTags(repository)).sort()).toEqual(['a', 'b'])
  }, 120_000)

  it('are made again through the SDK when they fail', async () => {
    const relay = await startRelay({
      GetAuthorizationToken: 1,
      DescribeRepositories: 1
    })
    const repository = `e2e/direct-retry-${unique()}`

    const result = await act({
      inputs: { repository },
      cwd: await makeApp(),
      env: { AWS_ENDPOINT_URL: relay.endpoint, RUNNER_DEBUG: '1' }
    })

    expectExit(result, 0)
    for (const operation of ['GetAuthorizationToken', 'DescribeRepositories']) {
      expect(relay.calls.filter(call => call.operation === operation)).toEqual([
        { operation, direct: true, status: 500 },
        {
          operation,
          direct: false,
          status: operation === 'DescribeRepositories' ? 400 : 200
        }
      ])
      expect(result.stdout).toContain(
        `::debug::${operation} answered 500 InternalFailure: asking ` +
          'through the AWS SDK'
      )
    }
    expect(result.stdout).toContain(SDK_LOADED)
    expect(result.outputs['repository-created']).toBe('true')
    expect(await listTags(repository)).toEqual(['latest'])
  }, 120_000)
})
