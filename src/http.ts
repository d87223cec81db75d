import https from 'node:https'
import type { IncomingHttpHeaders } from 'node:http'
import { Readable } from 'node:stream'

import { ProxyTunnelAgent } from './proxy.js'

/** The part of fetch the registry client uses. */
export type Fetch = (url: string, init: FetchInit) => Promise<Response>

export interface FetchInit {
  method: string
  headers: Record<string, string>
  body?: Buffer
  /**
   * 'manual': a redirect comes back as the answer, so the caller decides
   * what to send where. registryFetch never follows one.
   */
  redirect?: 'manual'
  signal: AbortSignal
}

/**
 * fetch for the registry API, on node:https rather than the global fetch:
 * it honours HTTPS_PROXY and NO_PROXY, which Node's fetch does not (before
 * NODE_USE_ENV_PROXY, which a runner does not set), sends no
 * Accept-Encoding (a manifest's digest is that of the bytes as stored),
 * and leaves nothing behind that keeps the step's process alive: Node's
 * fetch loads a client of its own and holds the process for tens of
 * milliseconds after its last request. Redirects always come back as the
 * answer. Idle connections are kept for the next request, never for the
 * process.
 */
export function registryFetch(
  env: NodeJS.ProcessEnv,
  connectTimeoutMs: number,
  agentOptions: https.AgentOptions = {}
): Fetch {
  let agent: ProxyTunnelAgent | undefined
  return (url, init) => {
    agent ??= new ProxyTunnelAgent(env, connectTimeoutMs, agentOptions)
    return requestThrough(agent, url, init)
  }
}

// Statuses whose Response may not have a body, by the fetch standard.
const NULL_BODY = new Set([101, 204, 205, 304])

function requestThrough(
  agent: https.Agent,
  url: string,
  init: FetchInit
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      url,
      {
        method: init.method,
        headers: {
          ...init.headers,
          ...(init.body ? { 'content-length': String(init.body.length) } : {})
        },
        agent,
        signal: init.signal
      },
      message => {
        const status = message.statusCode ?? 0
        const body = NULL_BODY.has(status)
          ? null
          : (Readable.toWeb(message) as ReadableStream<Uint8Array>)
        if (body === null) message.resume()
        resolve(
          new Response(body, {
            status,
            statusText: message.statusMessage ?? '',
            headers: headersOf(message.headers)
          })
        )
      }
    )
    request.once('error', reject)
    request.end(init.body)
  })
}

function headersOf(incoming: IncomingHttpHeaders): Headers {
  const headers = new Headers()
  for (const [name, value] of Object.entries(incoming)) {
    for (const one of Array.isArray(value) ? value : [value]) {
      if (one !== undefined) headers.append(name, one)
    }
  }
  return headers
}
