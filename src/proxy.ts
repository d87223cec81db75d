/**
 * Proxies from HTTPS_PROXY, HTTP_PROXY and NO_PROXY, for the calls this
 * action makes itself (the AWS API, the registry API). Docker follows its
 * own settings.
 *
 * Node's http modules and the AWS SDK read none of these variables, so
 * this module does: a tunnel through the proxy (CONNECT) for https, the
 * proxy's absolute-URI form for plain http. It is written here on
 * node:http and node:tls rather than taken from a package because it is
 * small, and the packages that do it bring a debug logger and a base
 * agent along.
 */
import http from 'node:http'
import https from 'node:https'
import { BlockList, isIP, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import tls from 'node:tls'

import { ActionError } from './errors.js'

/** The variables that choose a proxy, by the name the user knows. */
export interface ProxySetting {
  url: URL
  /** The variable it came from (https_proxy, HTTP_PROXY...). */
  variable: string
}

function firstSet(
  env: NodeJS.ProcessEnv,
  names: string[]
): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = env[name]?.trim()
    if (value) return { name, value }
  }
  return undefined
}

/**
 * The proxy for a URL, or undefined for a direct connection. The lower-
 * case variable wins when both are set, as with curl; an empty one counts
 * as unset.
 */
export function proxyFor(
  target: URL,
  env: NodeJS.ProcessEnv
): ProxySetting | undefined {
  const secure = target.protocol === 'https:'
  const names = secure
    ? ['https_proxy', 'HTTPS_PROXY']
    : ['http_proxy', 'HTTP_PROXY']
  const found = firstSet(env, names)
  if (!found) return undefined

  const noProxy = firstSet(env, ['no_proxy', 'NO_PROXY'])?.value ?? ''
  const port = Number(target.port || (secure ? 443 : 80))
  if (bypassesProxy(target.hostname, port, noProxy)) return undefined
  return { url: parseProxyUrl(found.name, found.value), variable: found.name }
}

/** A proxy address; `host:port` alone means an http:// proxy. */
export function parseProxyUrl(variable: string, value: string): URL {
  let url: URL
  try {
    url = new URL(
      /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`
    )
  } catch {
    throw new ActionError(
      `Environment variable ${variable} is not a proxy URL like ` +
        `http://proxy.example.com:3128 (it is ${JSON.stringify(redact(value))})`
    )
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ActionError(
      `Environment variable ${variable} names a ${url.protocol.slice(0, -1)} ` +
        'proxy; only http:// and https:// proxies are supported'
    )
  }
  return url
}

/** A proxy URL without its password, fit for the log. */
export function redact(value: string | URL): string {
  const text = String(value)
  return text.replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@')
}

/**
 * Whether NO_PROXY exempts a host. Entries are separated by commas or
 * spaces and compared without case:
 * - `*` exempts every host;
 * - a name (`example.com` or `.example.com`) exempts that host and every
 *   host below it (`api.example.com`), never `badexample.com`;
 * - an IP address exempts that address, a CIDR block (`10.0.0.0/8`) every
 *   address in it; names are not resolved to compare them with addresses;
 * - `:port` after any of these (`[::1]:443` for IPv6) limits it to that
 *   port.
 * Loopback is not exempt by itself: like curl, only what NO_PROXY says.
 */
export function bypassesProxy(
  hostname: string,
  port: number,
  noProxy: string
): boolean {
  const host = bare(hostname)
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = parseEntry(raw.trim().toLowerCase())
    if (!entry) continue
    if (entry.port !== undefined && entry.port !== port) continue
    if (matchesEntry(host, entry.host)) return true
  }
  return false
}

/** Lower case, no brackets around IPv6, no trailing dot of a FQDN. */
function bare(hostname: string): string {
  return hostname
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '')
}

function parseEntry(
  entry: string
): { host: string; port: number | undefined } | undefined {
  if (entry === '') return undefined
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry)
  if (bracketed) {
    return { host: bracketed[1] ?? '', port: portOf(bracketed[2]) }
  }
  // One colon is a port; more is a bare IPv6 address (or CIDR block).
  const withPort = /^([^:]+):(\d+)$/.exec(entry)
  if (withPort)
    return { host: bare(withPort[1] ?? ''), port: portOf(withPort[2]) }
  return { host: bare(entry), port: undefined }
}

function portOf(text: string | undefined): number | undefined {
  return text === undefined ? undefined : Number(text)
}

function matchesEntry(host: string, entry: string): boolean {
  if (entry === '*') return true
  const cidr = /^(.+)\/(\d{1,3})$/.exec(entry)
  if (cidr) return inBlock(host, cidr[1] ?? '', Number(cidr[2]))
  if (isIP(entry) || isIP(host)) return host === entry
  const domain = entry.replace(/^\*?\./, '')
  return host === domain || host.endsWith(`.${domain}`)
}

function inBlock(host: string, network: string, prefix: number): boolean {
  const family = isIP(network)
  if (family === 0 || isIP(host) !== family) return false
  const type = family === 4 ? 'ipv4' : 'ipv6'
  if (prefix > (family === 4 ? 32 : 128)) return false
  const block = new BlockList()
  block.addSubnet(network, prefix, type)
  return block.check(host, type)
}

/** `Basic ...` for a proxy URL that carries user:password, else none. */
function proxyAuthorization(proxy: URL): Record<string, string> {
  if (proxy.username === '' && proxy.password === '') return {}
  const user = decodeURIComponent(proxy.username)
  const pair = `${user}:${decodeURIComponent(proxy.password)}`
  return {
    'proxy-authorization': `Basic ${Buffer.from(pair).toString('base64')}`
  }
}

/** `host:port` as CONNECT and Host headers spell it (IPv6 in brackets). */
function authority(host: string, port: number): string {
  return `${isIP(host) === 6 ? `[${host}]` : host}:${port}`
}

/**
 * Opens a tunnel to host:port through an http(s) proxy: the socket it
 * resolves to carries bytes straight to the target.
 */
export function openTunnel(
  proxy: URL,
  host: string,
  port: number,
  timeoutMs: number
): Promise<Socket> {
  const target = authority(bare(host), port)
  const client = proxy.protocol === 'https:' ? https : http
  return new Promise((resolve, reject) => {
    const request = client.request({
      host: bare(proxy.hostname),
      port: Number(proxy.port || (proxy.protocol === 'https:' ? 443 : 80)),
      method: 'CONNECT',
      path: target,
      headers: { host: target, ...proxyAuthorization(proxy) },
      agent: false,
      timeout: timeoutMs
    })
    request.once('connect', (response, socket, head) => {
      socket.setTimeout(0)
      if (response.statusCode !== 200) {
        socket.destroy()
        const answer = [response.statusCode, response.statusMessage]
          .filter(part => part !== undefined && part !== '')
          .join(' ')
        reject(
          new Error(
            `the proxy ${redact(proxy.origin)} answered ${answer} to ` +
              `CONNECT ${target}`
          )
        )
        return
      }
      if (head.length > 0) socket.unshift(head)
      resolve(socket)
    })
    request.once('timeout', () => {
      request.destroy(
        Object.assign(
          new Error(
            `the proxy ${redact(proxy.origin)} did not open a tunnel to ` +
              `${target} within ${timeoutMs / 1000} s`
          ),
          { code: 'ETIMEDOUT' }
        )
      )
    })
    request.once('error', reject)
    request.end()
  })
}

/**
 * An https agent that tunnels through the proxy the environment names
 * for each host, and connects directly to the hosts NO_PROXY exempts.
 * Its sockets are pooled like any agent's: one tunnel serves many
 * requests.
 */
export class ProxyTunnelAgent extends https.Agent {
  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly connectTimeoutMs: number,
    options: https.AgentOptions = {}
  ) {
    super({ keepAlive: true, maxSockets: 50, ...options })
  }

  override createConnection(
    options: https.RequestOptions,
    callback?: (error: Error | null, stream: Duplex) => void
  ): Duplex | null | undefined {
    const host = options.host ?? options.hostname ?? 'localhost'
    const port = Number(options.port ?? 443)
    const proxy = proxyFor(
      new URL(`https://${authority(bare(host), port)}`),
      this.env
    )
    if (!proxy || !callback) return super.createConnection(options, callback)

    openTunnel(proxy.url, host, port, this.connectTimeoutMs).then(
      socket => {
        // The agent has put the SNI name and the CA options in `options`.
        callback(
          null,
          tls.connect({ ...options, socket } as tls.ConnectionOptions)
        )
      },
      // Node's agent reads no stream when there is an error.
      (error: Error) => callback(error, undefined as unknown as Duplex)
    )
    return undefined
  }
}

/**
 * For a plain-http target behind a proxy: where to send the request (the
 * proxy) and the absolute URI to ask it for. Undefined for https targets
 * (tunnelled by the agent) and for exempt hosts.
 */
export function forwardProxyRoute(
  target: URL,
  env: NodeJS.ProcessEnv
): { proxy: URL; headers: Record<string, string> } | undefined {
  if (target.protocol !== 'http:') return undefined
  const proxy = proxyFor(target, env)
  if (!proxy) return undefined
  return { proxy: proxy.url, headers: proxyAuthorization(proxy.url) }
}
