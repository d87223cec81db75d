// The bundled action under faults: a registry that fails, resets or stalls
// (a proxy in front of the local registry injects it), an AWS API that is
// down, slow or goes away mid-run, proxies in the environment, and a
// cancellation mid-build and mid-push.
import { afterEach, describe, expect, it } from '@jest/globals'
import { readdirSync } from 'node:fs'
import http from 'node:http'

import {
  closer,
  listen,
  refusingPort,
  relayTo,
  startForwardProxy,
  type Running
} from '../fixtures/servers.js'
import {
  startFaultProxy,
  type FaultProxy,
  type FaultRule
} from './fault-proxy.js'
import type { ActionRun } from './harness.js'
import { actionRuns, expectExit } from './runs.js'
import { getManifest, listTags, localEcr } from './registry-client.js'
import { actionPid, makeApp, processesMentioning, unique } from './tools.js'

const act = actionRuns()
const servers: Running[] = []
let proxy: FaultProxy | undefined

afterEach(async () => {
  await proxy?.close()
  proxy = undefined
  await Promise.all(servers.splice(0).map(server => server.close()))
})

async function faultProxy(rules: FaultRule[]): Promise<FaultProxy> {
  proxy = await startFaultProxy(rules)
  return proxy
}

function retryWarnings(result: ActionRun, what: string): string[] {
  return result.stdout
    .split('\n')
    .filter(line => line.startsWith('::warning::') && line.includes(what))
}

function privateConfigsLeft(result: ActionRun): string[] {
  return readdirSync(result.runnerTemp).filter(name =>
    name.startsWith('ecr-push-')
  )
}

const isDockerManifestPut = (request: {
  method: string
  path: string
  fromDocker: boolean
}) =>
  request.fromDocker &&
  request.method === 'PUT' &&
  request.path.includes('/manifests/')

describe('a registry with transient faults', () => {
  it('503s on the pushed manifest: docker push is retried, then succeeds', async () => {
    const faults = await faultProxy([
      { match: isDockerManifestPut, times: 2, fault: '503' }
    ])
    const repository = `e2e/fault-503-${unique()}`

    const result = await act({
      inputs: {
        repository,
        tags: 'one,two',
        'registry-id': faults.account
      },
      cwd: await makeApp()
    })

    expectExit(result, 0)
    const warnings = retryWarnings(result, 'docker push failed')
    expect(warnings).toHaveLength(2)
    expect(warnings[0]).toContain('(attempt 1 of 3)')
    expect(warnings[1]).toContain('(attempt 2 of 3)')
    expect(warnings[0]).toContain(
      'received unexpected HTTP status: 503 Service Unavailable'
    )

    // The fault host stores into the local registry under the same path.
    const digest = result.outputs.digest
    expect(result.outputs['image-uri']).toBe(
      `${faults.registry}/${repository}@${digest}`
    )
    expect(await listTags(repository)).toEqual(['one', 'two'])
    expect((await getManifest(repository, 'one'))?.digest).toBe(digest)
    expect((await getManifest(repository, 'two'))?.digest).toBe(digest)
    expect(
      faults.requests.filter(request => request.fault === '503')
    ).toHaveLength(2)
  }, 120_000)

  it('reset connections: the login and the registry API are retried', async () => {
    const faults = await faultProxy([
      // docker's first contact with the registry, at login.
      { match: request => request.fromDocker, times: 1, fault: 'reset' },
      // The action's own reads of the tags.
      {
        match: request => !request.fromDocker && request.method === 'GET',
        times: 2,
        fault: 'reset'
      }
    ])
    const repository = `e2e/fault-reset-${unique()}`

    const result = await act({
      inputs: { repository, 'registry-id': faults.account },
      cwd: await makeApp()
    })

    expectExit(result, 0)
    expect(retryWarnings(result, 'docker login failed')).toHaveLength(1)
    expect(
      retryWarnings(result, `GET https://${faults.registry}/v2/`)
    ).toHaveLength(2)
    expect((await getManifest(repository, 'latest'))?.digest).toBe(
      result.outputs.digest
    )
  }, 120_000)

  it('a denial is final: docker push fails once, with its own words', async () => {
    const faults = await faultProxy([
      {
        match: request =>
          request.fromDocker && request.path.includes('/blobs/uploads/'),
        times: Infinity,
        fault: '403'
      }
    ])
    const repository = `e2e/fault-403-${unique()}`

    const result = await act({
      inputs: { repository, 'registry-id': faults.account },
      cwd: await makeApp()
    })

    expectExit(result, 1)
    expect(result.stdout).toContain('::error::docker push failed (exit code 1)')
    expect(result.stdout).toContain('denied: denied by the fault proxy')
    expect(retryWarnings(result, 'docker push failed')).toEqual([])
    expect(
      faults.requests.filter(request => request.fault === '403')
    ).toHaveLength(1)
  }, 120_000)

  it('a registry that stops answering: docker login ends at network-timeout', async () => {
    const faults = await faultProxy([
      { match: request => request.fromDocker, times: Infinity, fault: 'stall' }
    ])
    const repository = `e2e/fault-stall-${unique()}`
    const started = Date.now()

    const result = await act({
      inputs: {
        repository,
        'registry-id': faults.account,
        'network-timeout': '3',
        'max-attempts': '2'
      },
      cwd: await makeApp(),
      runPost: false
    })

    const elapsed = Date.now() - started
    expectExit(result, 1)
    expect(result.stdout).toContain(
      '::error::docker login did not finish within 3 s (network-timeout) ' +
        'and was stopped: the registry may be unreachable or too slow'
    )
    expect(retryWarnings(result, 'docker login failed')).toHaveLength(1)
    // Two attempts of 3 s, a retry's wait and docker's shutdown.
    expect(elapsed).toBeLessThan(25_000)
    expect(privateConfigsLeft(result)).toEqual([])
    expect(processesMentioning(faults.registry)).toEqual([])
  }, 120_000)
})

describe('an AWS API that fails', () => {
  it('refuses connections: a clear error naming the endpoint, soon', async () => {
    const port = await refusingPort()
    const started = Date.now()

    const result = await act({
      inputs: { repository: `e2e/api-down-${unique()}` },
      cwd: await makeApp(),
      env: { AWS_ENDPOINT_URL: `http://127.0.0.1:${port}` }
    })

    expectExit(result, 1)
    expect(result.stdout).toContain(
      `::error::Could not reach the AWS API at http://127.0.0.1:${port}: ` +
        `connect ECONNREFUSED 127.0.0.1:${port}.`
    )
    expect(result.stdout).toContain('tried up to 3 times (max-attempts)')
    expect(Date.now() - started).toBeLessThan(20_000)
  }, 60_000)

  it('accepts and never answers: fails at network-timeout per attempt', async () => {
    const silent = http.createServer(request => request.resume())
    const close = closer(silent)
    const port = await listen(silent)
    servers.push({ port, url: '', close })
    const started = Date.now()

    const result = await act({
      inputs: {
        repository: `e2e/api-silent-${unique()}`,
        'network-timeout': '2',
        'max-attempts': '2'
      },
      cwd: await makeApp(),
      env: { AWS_ENDPOINT_URL: `http://127.0.0.1:${port}` }
    })

    const elapsed = Date.now() - started
    expectExit(result, 1)
    expect(result.stdout).toContain(
      `::error::The AWS API at http://127.0.0.1:${port} did not answer ` +
        'within 2 s (network-timeout)'
    )
    expect(elapsed).toBeGreaterThanOrEqual(4000)
    expect(elapsed).toBeLessThan(20_000)
  }, 60_000)

  it('goes away mid-run (moto stopped): a clear error, no hang', async () => {
    const { endpoint } = localEcr()
    const moto = new URL(endpoint)
    const served: string[] = []
    // Relays the calls that start the run to moto; at the first write
    // (CreateRepository) it stops listening and drops its connections,
    // as a stopped moto_server would.
    const relay = http.createServer((request, response) => {
      const target = String(request.headers['x-amz-target'] ?? '')
      if (!/DescribeRepositories|GetAuthorizationToken/.test(target)) {
        void stop()
        return
      }
      served.push(target)
      relayTo(moto, request, response)
    })
    const stop = closer(relay)
    const port = await listen(relay)
    servers.push({
      port,
      url: '',
      close: async () => (relay.listening ? stop() : undefined)
    })
    const started = Date.now()

    const result = await act({
      inputs: { repository: `e2e/api-gone-${unique()}` },
      cwd: await makeApp(),
      env: { AWS_ENDPOINT_URL: `http://127.0.0.1:${port}` }
    })

    expect(served.length).toBeGreaterThanOrEqual(2)
    expectExit(result, 1)
    expect(result.stdout).toContain(
      `::error::Could not reach the AWS API at http://127.0.0.1:${port}`
    )
    expect(Date.now() - started).toBeLessThan(30_000)
  }, 60_000)
})

describe('proxies for the AWS API and the registry API', () => {
  it('HTTP_PROXY and HTTPS_PROXY carry the calls', async () => {
    const forward = await startForwardProxy()
    servers.push(forward)
    const repository = `e2e/proxied-${unique()}`
    const { endpoint, registry } = localEcr()

    const result = await act({
      inputs: { repository },
      cwd: await makeApp(),
      env: { HTTP_PROXY: forward.url, HTTPS_PROXY: forward.url }
    })

    expectExit(result, 0)
    const apiCalls = forward.requests.filter(
      request => request.method === 'POST' && request.target === `${endpoint}/`
    )
    // DescribeRepositories, GetAuthorizationToken, CreateRepository.
    expect(apiCalls.length).toBeGreaterThanOrEqual(3)
    expect(forward.requests).toContainEqual({
      method: 'CONNECT',
      target: `${registry}:443`,
      proxyAuthorization: undefined
    })
    expect((await getManifest(repository, 'latest'))?.digest).toBe(
      result.outputs.digest
    )
  }, 120_000)

  it('NO_PROXY exempts them', async () => {
    const forward = await startForwardProxy()
    servers.push(forward)

    const result = await act({
      inputs: { repository: `e2e/unproxied-${unique()}` },
      cwd: await makeApp(),
      env: {
        HTTP_PROXY: forward.url,
        HTTPS_PROXY: forward.url,
        NO_PROXY: '127.0.0.1,.amazonaws.com'
      }
    })

    expectExit(result, 0)
    expect(forward.requests).toEqual([])
  }, 120_000)
})

describe('cancellation', () => {
  it('SIGTERM mid-push: docker stopped, config removed, exit 143', async () => {
    const faults = await faultProxy([
      { match: isDockerManifestPut, times: Infinity, fault: 'stall' }
    ])
    const repository = `e2e/cancel-push-${unique()}`
    const cwd = await makeApp()

    const running = act({
      inputs: { repository, 'registry-id': faults.account },
      cwd,
      runPost: false
    })
    await faults.stalled
    process.kill(actionPid(cwd), 'SIGTERM')
    const result = await running

    expectExit(result, 143)
    expect(result.stdout).toContain(
      '::error::Cancelled by SIGTERM while pushing the image: stopped ' +
        'docker push, and removed the private docker config.'
    )
    expect(privateConfigsLeft(result)).toEqual([])
    expect(result.state['private-docker-config']).toBe('')
    expect(processesMentioning(repository)).toEqual([])
  }, 120_000)

  it('SIGINT mid-build: the build stops, exit 130', async () => {
    const faults = await faultProxy([
      {
        match: request =>
          request.fromDocker && request.path.includes('/manifests/'),
        times: Infinity,
        fault: 'stall'
      }
    ])
    const base = `${faults.registry}/e2e/base-${unique()}:1`
    const cwd = await makeApp({
      Dockerfile: `FROM ${base}\nCOPY hello.txt /\n`
    })

    const running = act({
      inputs: {
        repository: `e2e/cancel-build-${unique()}`,
        'registry-id': faults.account
      },
      cwd,
      runPost: false
    })
    await faults.stalled
    process.kill(actionPid(cwd), 'SIGINT')
    const result = await running

    expectExit(result, 130)
    expect(result.stdout).toContain(
      '::error::Cancelled by SIGINT while building the image: stopped ' +
        'docker build, and removed the private docker config.'
    )
    expect(privateConfigsLeft(result)).toEqual([])
    expect(processesMentioning(base)).toEqual([])
  }, 120_000)
})
