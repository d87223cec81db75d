import { ECRClient } from '@aws-sdk/client-ecr'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import http from 'node:http'

import { ActionError } from './errors.js'
import {
  forwardProxyRoute,
  ProxyTunnelAgent,
  proxyFor,
  redact
} from './proxy.js'
import { USER_AGENT } from './user-agent.js'

export { USER_AGENT }

/** What every AWS client of a run shares: how often and how long it tries. */
export interface NetworkSettings {
  /** Attempts for each call, the first one included (max-attempts). */
  maxAttempts: number
  /** Seconds one request may take, connecting included (network-timeout). */
  networkTimeout: number
}

/**
 * The configuration every AWS client of the run is made with (ECR, and
 * STS and IAM for the permission check):
 * - the SDK's standard retry strategy retries throttling, 5xx answers,
 *   timeouts and dropped connections with jittered backoff, up to
 *   maxAttempts attempts in all;
 * - each attempt may take networkTimeout seconds to connect and as long
 *   again to be answered, then fails as a timeout (which is retried);
 * - HTTPS_PROXY, HTTP_PROXY and NO_PROXY apply, which the SDK does not do
 *   by itself.
 * Credentials come from the SDK's default chain (the environment that
 * configure-aws-credentials sets, web identity, a profile, an instance
 * role), and AWS_ENDPOINT_URL is honoured by the SDK itself, which is how
 * tests point it at a local ECR.
 */
export function awsClientConfig(
  region: string,
  network: NetworkSettings,
  env: NodeJS.ProcessEnv = process.env
) {
  return {
    region,
    maxAttempts: network.maxAttempts,
    retryMode: 'standard',
    requestHandler: new AwsRequestHandler(network, env),
    customUserAgent: USER_AGENT
  }
}

/** The ECR API client. */
export function createEcrClient(
  region: string,
  network: NetworkSettings
): ECRClient {
  return new ECRClient(awsClientConfig(region, network))
}

type HttpRequest = Parameters<NodeHttpHandler['handle']>[0]
type HandlerOptions = Parameters<NodeHttpHandler['handle']>[1]

/**
 * The SDK's own Node handler, with two things added around each attempt:
 * plain-http requests go to a proxy in absolute-URI form when one
 * applies (https ones are tunnelled by the agent), and a failure to reach
 * the API says which endpoint, through which proxy, and what to check.
 */
export class AwsRequestHandler {
  // The SDK sets the Host header only for HTTP/1.1 handlers.
  readonly metadata = { handlerProtocol: 'http/1.1' }
  private readonly inner: NodeHttpHandler

  constructor(
    private readonly network: NetworkSettings,
    private readonly env: NodeJS.ProcessEnv
  ) {
    const timeoutMs = network.networkTimeout * 1000
    this.inner = new NodeHttpHandler({
      connectionTimeout: timeoutMs,
      requestTimeout: timeoutMs,
      // Without it the SDK only logs that the request took too long.
      throwOnRequestTimeout: true,
      httpsAgent: new ProxyTunnelAgent(env, timeoutMs),
      httpAgent: new http.Agent({ keepAlive: true, maxSockets: 50 })
    })
  }

  async handle(request: HttpRequest, options?: HandlerOptions) {
    const target = endpointOf(request)
    const route = forwardProxyRoute(target, this.env)
    let sent = request
    if (route) {
      if (route.proxy.protocol !== 'http:') {
        throw new ActionError(
          `HTTP_PROXY ${redact(route.proxy)} is an https proxy; for the ` +
            `plain-http endpoint ${target.origin} only http:// proxies work`
        )
      }
      sent = request.clone()
      sent.hostname = route.proxy.hostname
      sent.port = Number(route.proxy.port || 80)
      sent.path = `${target.origin}${request.path}`
      sent.headers = {
        ...request.headers,
        ...route.headers,
        host: request.headers.host ?? target.host
      }
    }
    try {
      return await this.inner.handle(sent, options)
    } catch (error) {
      throw explainNetworkFailure(error, target, this.network, this.env)
    }
  }

  updateHttpClientConfig(
    ...args: Parameters<NodeHttpHandler['updateHttpClientConfig']>
  ): void {
    this.inner.updateHttpClientConfig(...args)
  }

  httpHandlerConfigs() {
    return this.inner.httpHandlerConfigs()
  }

  destroy(): void {
    this.inner.destroy()
  }
}

function endpointOf(request: HttpRequest): URL {
  const port = request.port ? `:${request.port}` : ''
  return new URL(`${request.protocol}//${request.hostname}${port}/`)
}

/**
 * A failed attempt, told so the log says what could not be reached and
 * what to check. The name and code of the original stay on it, because
 * the SDK's retry strategy decides by them whether another attempt is
 * worth making; the original is its cause.
 */
export function explainNetworkFailure(
  error: unknown,
  target: URL,
  network: NetworkSettings,
  env: NodeJS.ProcessEnv
): unknown {
  // Not `instanceof Error`: errors of node's own modules may come from
  // another realm (as under jest), and the SDK would wrap them blindly.
  if (typeof error !== 'object' || error === null) return error
  const { name, code, message } = error as {
    name?: unknown
    code?: unknown
    message?: unknown
  }
  if (name === 'AbortError') return error

  // An AggregateError (every address of a name refused) has no message.
  const what =
    (typeof message === 'string' && message) ||
    (typeof code === 'string' && code) ||
    String(name)
  const via = proxyNote(target, env)
  const attempts =
    network.maxAttempts > 1
      ? ` Each call is tried up to ${network.maxAttempts} times ` +
        '(max-attempts).'
      : ''
  const check =
    ' Check the network, HTTPS_PROXY and NO_PROXY, and AWS_ENDPOINT_URL ' +
    'if it is set.'
  const explained = new Error(
    name === 'TimeoutError'
      ? `The AWS API at ${target.origin}${via} did not answer within ` +
          `${network.networkTimeout} s (network-timeout): ${what}.` +
          attempts +
          check
      : `Could not reach the AWS API at ${target.origin}${via}: ` +
          `${what}.${attempts}${check}`,
    { cause: error }
  )
  if (typeof name === 'string') explained.name = name
  if (typeof code === 'string') Object.assign(explained, { code })
  return explained
}

function proxyNote(target: URL, env: NodeJS.ProcessEnv): string {
  try {
    const proxy = proxyFor(target, env)
    return proxy ? ` through the proxy ${redact(proxy.url.origin)}` : ''
  } catch {
    // A malformed proxy variable has failed the request with its own words.
    return ''
  }
}
