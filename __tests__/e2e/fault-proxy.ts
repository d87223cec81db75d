// A TLS proxy in front of the local registry that injects faults: it
// serves the second registry host that .ci/local-ecr.sh prepares
// (LOCAL_ECR_FAULT_REGISTRY on LOCAL_ECR_FAULT_ADDRESS:443, nothing listens
// there otherwise), fails the requests its rules pick, and forwards the
// rest to the real registry as that registry's own user.
import { readFileSync } from 'node:fs'
import https from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join } from 'node:path'

import { closer, listen } from '../fixtures/servers.js'
import { localEcr } from './registry-client.js'

export type Fault = '503' | '403' | 'reset' | 'stall'

export interface SeenRequest {
  method: string
  path: string
  /** docker's daemon, or the action's own registry client. */
  fromDocker: boolean
  /** The fault this request got, if any. */
  fault: Fault | undefined
}

export interface FaultRule {
  /** Requests the rule may fail; every request when left out. */
  match?: (request: SeenRequest) => boolean
  /** How many of them fail; the rest pass. Infinity fails them all. */
  times: number
  fault: Fault
}

export interface FaultProxy {
  /** The registry host the action should push to. */
  registry: string
  /** The account of that host, for the registry-id input. */
  account: string
  requests: SeenRequest[]
  /** Resolves at the first request a 'stall' rule holds. */
  stalled: Promise<SeenRequest>
  close(): Promise<void>
}

export function faultRegistry(): { host: string; address: string } {
  const host = process.env.LOCAL_ECR_FAULT_REGISTRY
  const address = process.env.LOCAL_ECR_FAULT_ADDRESS
  if (!host || !address) {
    throw new Error(
      'LOCAL_ECR_FAULT_REGISTRY is not set: run bash .ci/local-ecr.sh start'
    )
  }
  return { host, address }
}

const DENIED = JSON.stringify({
  errors: [{ code: 'DENIED', message: 'denied by the fault proxy' }]
})
const UNAVAILABLE = JSON.stringify({
  errors: [{ code: 'UNAVAILABLE', message: 'injected by the fault proxy' }]
})

export async function startFaultProxy(rules: FaultRule[]): Promise<FaultProxy> {
  const ecr = localEcr()
  const { host, address } = faultRegistry()
  const tls = join(process.env.LOCAL_ECR_DIR ?? '.local-ecr', 'tls')
  const ca = readFileSync(join(tls, 'ca.crt'))
  const upstreamAgent = new https.Agent({ keepAlive: true, ca })
  // The real registry's password: the action logs in to the fault host
  // with another account's token, which only this proxy knows to swap.
  const realPair = Buffer.from(`AWS:${ecr.password}`).toString('base64')
  const realAuthorization = `Basic ${realPair}`
  const left = rules.map(rule => rule.times)
  const requests: SeenRequest[] = []
  let onStall: (request: SeenRequest) => void = () => undefined
  const stalled = new Promise<SeenRequest>(resolve => {
    onStall = resolve
  })

  function forward(request: IncomingMessage, response: ServerResponse): void {
    const headers = { ...request.headers, host: ecr.registry }
    if (headers.authorization?.startsWith('Basic ')) {
      headers.authorization = realAuthorization
    }
    const upstream = https.request(
      {
        host: '127.0.0.1',
        port: 443,
        servername: ecr.registry,
        method: request.method,
        path: request.url,
        headers,
        agent: upstreamAgent
      },
      answer => {
        const answerHeaders = { ...answer.headers }
        // The registry names itself in upload locations; docker must keep
        // talking to this host.
        if (typeof answerHeaders.location === 'string') {
          answerHeaders.location = answerHeaders.location.replace(
            `//${ecr.registry}`,
            `//${host}`
          )
        }
        response.writeHead(answer.statusCode ?? 502, answerHeaders)
        answer.pipe(response)
      }
    )
    upstream.on('error', () => response.destroy())
    request.pipe(upstream)
  }

  const server = https.createServer(
    {
      cert: readFileSync(join(tls, 'fault.crt')),
      key: readFileSync(join(tls, 'fault.key'))
    },
    (request, response) => {
      const seen: SeenRequest = {
        method: request.method ?? '',
        path: request.url ?? '',
        fromDocker: /docker/i.test(request.headers['user-agent'] ?? ''),
        fault: undefined
      }
      requests.push(seen)
      const index = rules.findIndex(
        (rule, at) => (left[at] ?? 0) > 0 && (rule.match?.(seen) ?? true)
      )
      const rule = rules[index]
      if (!rule) {
        forward(request, response)
        return
      }
      left[index] = (left[index] ?? 0) - 1
      seen.fault = rule.fault
      request.resume()
      switch (rule.fault) {
        case '503':
          response
            .writeHead(503, { 'content-type': 'application/json' })
            .end(UNAVAILABLE)
          return
        case '403':
          response
            .writeHead(403, { 'content-type': 'application/json' })
            .end(DENIED)
          return
        case 'reset':
          request.socket.destroy()
          return
        case 'stall':
          onStall(seen)
          return
      }
    }
  )
  const closeServer = closer(server)
  await listen(server, address, 443)
  return {
    registry: host,
    account: host.split('.')[0] ?? '',
    requests,
    stalled,
    close: async () => {
      await closeServer()
      upstreamAgent.destroy()
    }
  }
}
