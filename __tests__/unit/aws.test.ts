// The AWS client configuration against real local servers: the SDK's own
// retry strategy (which aws-sdk-client-mock would bypass), timeouts,
// refused connections and the proxy variables.
import { afterEach, describe, expect, test } from '@jest/globals'
import {
  DescribeRepositoriesCommand,
  ECRClient,
  type ECRClientConfig
} from '@aws-sdk/client-ecr'

import {
  AwsRequestHandler,
  USER_AGENT,
  awsClientConfig,
  type NetworkSettings
} from '../../src/aws.js'
import { errorMessage } from '../../src/errors.js'
import {
  refusingPort,
  startForwardProxy,
  startScriptedApi,
  type Answer,
  type Running
} from '../fixtures/servers.js'

const FOUND = {
  status: 200,
  body: {
    repositories: [
      {
        repositoryName: 'shop/api',
        repositoryUri: '123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/api'
      }
    ]
  }
}
const SERVER_ERROR: Answer = {
  status: 500,
  body: { __type: 'ServerException', message: 'Internal failure' }
}
const THROTTLED: Answer = {
  status: 400,
  body: { __type: 'ThrottlingException', message: 'Rate exceeded' }
}
const NOT_FOUND: Answer = {
  status: 400,
  body: {
    __type: 'RepositoryNotFoundException',
    message: "The repository with name 'shop/api' does not exist"
  }
}

const running: Running[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map(server => server.close()))
})

function client(
  endpoint: string,
  network: NetworkSettings,
  env: NodeJS.ProcessEnv = {}
): ECRClient {
  const config: ECRClientConfig = {
    ...awsClientConfig('us-east-1', network, env),
    endpoint,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }
  }
  return new ECRClient(config)
}

const describe_ = () =>
  new DescribeRepositoriesCommand({ repositoryNames: ['shop/api'] })

async function api(script: Answer[]) {
  const server = await startScriptedApi(script)
  running.push(server)
  return server
}

async function failure(call: Promise<unknown>): Promise<Error> {
  const error = await call.then(
    () => undefined,
    (thrown: unknown) => thrown
  )
  if (!(error instanceof Error)) throw new Error('expected a failure')
  return error
}

describe('awsClientConfig', () => {
  test('standard retries, the attempts, the user agent and our handler', () => {
    const config = awsClientConfig('eu-west-1', {
      maxAttempts: 5,
      networkTimeout: 30
    })

    expect(config).toMatchObject({
      region: 'eu-west-1',
      maxAttempts: 5,
      retryMode: 'standard',
      customUserAgent: USER_AGENT
    })
    expect(config.requestHandler).toBeInstanceOf(AwsRequestHandler)
  })
})

describe('the SDK retry strategy, as configured', () => {
  test('two 500s, then an answer: three requests, success', async () => {
    const server = await api([SERVER_ERROR, SERVER_ERROR, FOUND])

    const answer = await client(server.url, {
      maxAttempts: 3,
      networkTimeout: 5
    }).send(describe_())

    expect(answer.repositories?.[0]?.repositoryName).toBe('shop/api')
    expect(server.requests()).toBe(3)
  })

  test('throttling twice, then an answer', async () => {
    const server = await api([THROTTLED, THROTTLED, FOUND])

    await client(server.url, { maxAttempts: 3, networkTimeout: 5 }).send(
      describe_()
    )

    expect(server.requests()).toBe(3)
  })

  test('max-attempts bounds the attempts: 500s for ever fail after two', async () => {
    const server = await api([SERVER_ERROR])

    const error = await failure(
      client(server.url, { maxAttempts: 2, networkTimeout: 5 }).send(
        describe_()
      )
    )

    expect(error.name).toBe('ServerException')
    expect(server.requests()).toBe(2)
  })

  test('an answer that is final is not retried', async () => {
    const server = await api([NOT_FOUND])

    const error = await failure(
      client(server.url, { maxAttempts: 3, networkTimeout: 5 }).send(
        describe_()
      )
    )

    expect(error.name).toBe('RepositoryNotFoundException')
    expect(server.requests()).toBe(1)
  })
})

describe('an API that cannot be reached', () => {
  test('a refused connection names the endpoint and what to check', async () => {
    const port = await refusingPort()
    const started = Date.now()

    const error = await failure(
      client(`http://127.0.0.1:${port}`, {
        maxAttempts: 2,
        networkTimeout: 5
      }).send(describe_())
    )

    expect(errorMessage(error)).toContain(
      `Could not reach the AWS API at http://127.0.0.1:${port}: `
    )
    expect(errorMessage(error)).toContain('ECONNREFUSED')
    expect(errorMessage(error)).toContain('tried up to 2 times (max-attempts)')
    expect(errorMessage(error)).toContain('AWS_ENDPOINT_URL')
    expect(Date.now() - started).toBeLessThan(5000)
  })

  test('an API that never answers fails within network-timeout per attempt', async () => {
    const server = await api(['hang'])
    const started = Date.now()

    const error = await failure(
      client(server.url, { maxAttempts: 2, networkTimeout: 1 }).send(
        describe_()
      )
    )

    const elapsed = Date.now() - started
    expect(errorMessage(error)).toContain(
      `The AWS API at ${server.url} did not answer within 1 s (network-timeout)`
    )
    // Both attempts were made, each cut at about a second.
    expect(server.requests()).toBe(2)
    expect(elapsed).toBeGreaterThanOrEqual(2000)
    expect(elapsed).toBeLessThan(6000)
  }, 15_000)
})

describe('proxies', () => {
  const network = { maxAttempts: 1, networkTimeout: 5 }

  test('HTTP_PROXY carries a plain-http endpoint in absolute-URI form', async () => {
    const server = await api([FOUND])
    const proxy = await startForwardProxy()
    running.push(proxy)
    const auth = new URL(proxy.url)
    auth.username = 'ci'
    auth.password = 'p@ss'

    await client(server.url, network, { HTTP_PROXY: auth.href }).send(
      describe_()
    )

    expect(proxy.requests).toEqual([
      {
        method: 'POST',
        target: `${server.url}/`,
        proxyAuthorization: `Basic ${Buffer.from('ci:p@ss').toString('base64')}`
      }
    ])
    expect(server.requests()).toBe(1)
  })

  test('the lower-case variable works as well', async () => {
    const server = await api([FOUND])
    const proxy = await startForwardProxy()
    running.push(proxy)

    await client(server.url, network, { http_proxy: proxy.url }).send(
      describe_()
    )

    expect(proxy.requests.map(request => request.target)).toEqual([
      `${server.url}/`
    ])
  })

  test.each([
    ['the address', '127.0.0.1'],
    ['the address and port', 'example.com, 127.0.0.1:PORT'],
    ['everything', '*'],
    ['a block', '127.0.0.0/8']
  ])('NO_PROXY with %s goes direct', async (_name, noProxy) => {
    const server = await api([FOUND])
    const proxy = await startForwardProxy()
    running.push(proxy)

    await client(server.url, network, {
      HTTP_PROXY: proxy.url,
      NO_PROXY: noProxy.replace('PORT', String(server.port))
    }).send(describe_())

    expect(proxy.requests).toEqual([])
    expect(server.requests()).toBe(1)
  })

  test('HTTPS_PROXY alone does not touch a plain-http endpoint', async () => {
    const server = await api([FOUND])
    const proxy = await startForwardProxy()
    running.push(proxy)

    await client(server.url, network, { HTTPS_PROXY: proxy.url }).send(
      describe_()
    )

    expect(proxy.requests).toEqual([])
  })

  test('a proxy that is down: the error names it', async () => {
    const server = await api([FOUND])
    const port = await refusingPort()

    const error = await failure(
      client(server.url, network, {
        HTTP_PROXY: `http://user:secret@127.0.0.1:${port}`
      }).send(describe_())
    )

    expect(errorMessage(error)).toContain(
      `Could not reach the AWS API at ${server.url} through the proxy ` +
        `http://127.0.0.1:${port}`
    )
    expect(errorMessage(error)).not.toContain('secret')
  })

  test('an unsupported proxy scheme is a clear error', async () => {
    const server = await api([FOUND])

    const error = await failure(
      client(server.url, network, {
        HTTP_PROXY: 'socks5://127.0.0.1:1080'
      }).send(describe_())
    )

    expect(errorMessage(error)).toContain(
      'Environment variable HTTP_PROXY names a socks5 proxy'
    )
  })
})
