import https from 'node:https'
import type { IncomingMessage } from 'node:http'

import { ProxyTunnelAgent } from './proxy.js'

/** The part of fetch the registry client uses. */
export type Fetch = (url: string, init: FetchInit) => Promise<HttpAnswer>

/**
 * The part of fetch's Response the registry client reads. A Response is
 * one; registryFetch answers with a lighter object of its own, because the
 * first Response a process makes loads Node's fetch client (undici), about
 * 20 ms of a run that is otherwise waiting on nothing but the network.
 */
export interface HttpAnswer {
  readonly status: number
  readonly headers: { get(name: string): string | null }
  /** null when the status has no body; cancel() drops it unread. */
  readonly body: { cancel(): Promise<void> } | null
  text(): Promise<string>
  arrayBuffer(): Promise<ArrayBuffer>
}

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

// Statuses that come without a body, by the fetch standard.
const NULL_BODY = new Set([101, 204, 205, 304])

function requestThrough(
  agent: https.Agent,
  url: string,
  init: FetchInit
): Promise<HttpAnswer> {
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
      message => resolve(answerOf(message))
    )
    request.once('error', reject)
    request.end(init.body)
  })
}

function answerOf(message: IncomingMessage): HttpAnswer {
  const status = message.statusCode ?? 0
  // Read at once, whether or not the caller reads it: a body left unread
  // would keep its connection from the next request.
  const bytes = new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = []
    message.on('data', (chunk: Buffer) => chunks.push(chunk))
    message.once('end', () => resolve(Buffer.concat(chunks)))
    message.once('error', reject)
    message.once('close', () => {
      if (!message.complete) {
        reject(new Error('the connection closed before the whole answer'))
      }
    })
  })
  bytes.catch(() => undefined)
  return {
    status,
    headers: {
      // Node joins repeated headers with ', ', as Headers.get does.
      get: name => {
        const value = message.headers[name.toLowerCase()]
        if (value === undefined) return null
        return Array.isArray(value) ? value.join(', ') : value
      }
    },
    body: NULL_BODY.has(status)
      ? null
      : {
          cancel: async () => {
            if (!message.complete) message.destroy()
          }
        },
    text: async () => (await bytes).toString('utf8'),
    arrayBuffer: async () => {
      const buffer = await bytes
      return buffer.buffer.slice(
        buffer.byteOffset,
        buffer.byteOffset + buffer.byteLength
      ) as ArrayBuffer
    }
  }
}
