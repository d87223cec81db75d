import { afterEach, describe, expect, test } from '@jest/globals'
import net from 'node:net'

import {
  bypassesProxy,
  openTunnel,
  parseProxyUrl,
  proxyFor,
  redact
} from '../../src/proxy.js'
import {
  closer,
  listen,
  refusingPort,
  startForwardProxy,
  type Running
} from '../fixtures/servers.js'

const running: Running[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map(server => server.close()))
})

describe('bypassesProxy (NO_PROXY)', () => {
  test.each([
    // host, port, NO_PROXY, bypassed
    ['api.ecr.us-east-1.amazonaws.com', 443, '', false],
    ['api.ecr.us-east-1.amazonaws.com', 443, '*', true],
    ['api.ecr.us-east-1.amazonaws.com', 443, ' * ', true],
    ['api.ecr.us-east-1.amazonaws.com', 443, 'amazonaws.com', true],
    ['api.ecr.us-east-1.amazonaws.com', 443, '.amazonaws.com', true],
    ['api.ecr.us-east-1.amazonaws.com', 443, '*.amazonaws.com', true],
    ['amazonaws.com', 443, '.amazonaws.com', true],
    ['api.ecr.us-east-1.amazonaws.com', 443, 'AmazonAWS.com', true],
    ['API.ECR.US-EAST-1.AMAZONAWS.COM', 443, 'amazonaws.com', true],
    ['api.ecr.us-east-1.amazonaws.com.', 443, 'amazonaws.com', true],
    ['notamazonaws.com', 443, 'amazonaws.com', false],
    ['amazonaws.com.evil.io', 443, 'amazonaws.com', false],
    ['api.ecr.us-east-1.amazonaws.com', 443, 'amazonaws.com:443', true],
    ['api.ecr.us-east-1.amazonaws.com', 443, 'amazonaws.com:8443', false],
    ['example.com', 443, 'other.org, example.com', true],
    ['example.com', 443, 'other.org example.com', true],
    ['example.com', 443, 'other.org,,example.com,', true],
    ['127.0.0.1', 5000, '127.0.0.1', true],
    ['127.0.0.1', 5000, '127.0.0.1:5000', true],
    ['127.0.0.1', 5000, '127.0.0.1:5001', false],
    ['127.0.0.1', 5000, '127.0.0.2', false],
    ['127.0.0.1', 5000, '127.0.0.0/8', true],
    ['10.1.2.3', 443, '10.0.0.0/8', true],
    ['11.1.2.3', 443, '10.0.0.0/8', false],
    ['10.1.2.3', 443, '10.0.0.0/40', false],
    // Names are never resolved to compare them with addresses.
    ['localhost', 80, '127.0.0.1', false],
    ['localhost', 80, 'localhost', true],
    ['127.0.0.1', 80, 'localhost', false],
    // Loopback is not exempt by itself.
    ['127.0.0.1', 80, '', false],
    ['::1', 443, '::1', true],
    ['[::1]', 443, '::1', true],
    ['::1', 443, '[::1]:443', true],
    ['::1', 443, '[::1]:8443', false],
    ['fd00::5', 443, 'fd00::/8', true],
    ['fe80::5', 443, 'fd00::/8', false],
    // An address does not match a name suffix, or the reverse.
    ['10.0.0.1', 443, '.0.0.1', false]
  ])('%s:%i with NO_PROXY %j: %s', (host, port, noProxy, bypassed) => {
    expect(bypassesProxy(host, port, noProxy)).toBe(bypassed)
  })
})

describe('proxyFor', () => {
  const secure = new URL('https://api.ecr.us-east-1.amazonaws.com/')
  const plain = new URL('http://127.0.0.1:5000/')

  test.each([
    ['nothing set', {}, secure, undefined],
    ['HTTPS_PROXY', { HTTPS_PROXY: 'http://p:3128' }, secure, 'HTTPS_PROXY'],
    ['https_proxy', { https_proxy: 'http://p:3128' }, secure, 'https_proxy'],
    [
      'both cases: the lower case wins',
      { https_proxy: 'http://low:1', HTTPS_PROXY: 'http://up:2' },
      secure,
      'https_proxy'
    ],
    [
      'an empty lower case counts as unset',
      { https_proxy: ' ', HTTPS_PROXY: 'http://up:2' },
      secure,
      'HTTPS_PROXY'
    ],
    [
      'HTTP_PROXY is not for https',
      { HTTP_PROXY: 'http://p:1' },
      secure,
      undefined
    ],
    ['HTTP_PROXY for http', { HTTP_PROXY: 'http://p:1' }, plain, 'HTTP_PROXY'],
    [
      'HTTPS_PROXY is not for http',
      { HTTPS_PROXY: 'http://p:1' },
      plain,
      undefined
    ],
    [
      'NO_PROXY exempts',
      { HTTPS_PROXY: 'http://p:1', NO_PROXY: '.amazonaws.com' },
      secure,
      undefined
    ],
    [
      'no_proxy wins over NO_PROXY',
      { HTTPS_PROXY: 'http://p:1', no_proxy: 'other.org', NO_PROXY: '*' },
      secure,
      'HTTPS_PROXY'
    ]
  ])('%s', (_name, env, target, variable) => {
    expect(proxyFor(target, env)?.variable).toBe(variable)
  })

  test('a bare host:port is an http proxy', () => {
    expect(proxyFor(secure, { HTTPS_PROXY: 'proxy.corp:3128' })?.url.href).toBe(
      'http://proxy.corp:3128/'
    )
  })
})

describe('parseProxyUrl', () => {
  test('https proxies are accepted', () => {
    expect(parseProxyUrl('HTTPS_PROXY', 'https://p:443').protocol).toBe(
      'https:'
    )
  })

  test('another scheme is refused by name', () => {
    expect(() => parseProxyUrl('HTTPS_PROXY', 'socks5://p:1080')).toThrow(
      'Environment variable HTTPS_PROXY names a socks5 proxy; only http:// and https:// proxies are supported'
    )
  })

  test('nonsense is refused without the password', () => {
    expect(() =>
      parseProxyUrl('HTTPS_PROXY', 'http://user:hunter2@[bad')
    ).toThrow(/HTTPS_PROXY is not a proxy URL .*user:\*\*\*@/)
  })
})

test.each([
  ['http://user:hunter2@proxy:3128', 'http://user:***@proxy:3128'],
  ['http://proxy:3128', 'http://proxy:3128'],
  ['http://user@proxy:3128', 'http://user@proxy:3128']
])('redact(%s)', (value, redacted) => {
  expect(redact(value)).toBe(redacted)
})

describe('openTunnel', () => {
  async function echoServer(): Promise<Running> {
    const server = net.createServer(socket => socket.pipe(socket))
    const close = closer(server)
    const port = await listen(server)
    return { port, url: `tcp://127.0.0.1:${port}`, close }
  }

  test('CONNECT through the proxy carries bytes both ways', async () => {
    const echo = await echoServer()
    const proxy = await startForwardProxy()
    running.push(echo, proxy)

    const socket = await openTunnel(
      new URL('http://ci:s3cret@127.0.0.1:' + proxy.port),
      '127.0.0.1',
      echo.port,
      5000
    )
    const echoed = await new Promise<string>(resolve => {
      socket.once('data', data => resolve(data.toString()))
      socket.write('ping')
    })
    socket.destroy()

    expect(echoed).toBe('ping')
    expect(proxy.requests).toEqual([
      {
        method: 'CONNECT',
        target: `127.0.0.1:${echo.port}`,
        proxyAuthorization: `Basic ${Buffer.from('ci:s3cret').toString('base64')}`
      }
    ])
  })

  test('a refused CONNECT names the proxy and its answer', async () => {
    const proxy = await startForwardProxy()
    running.push(proxy)
    const closed = await refusingPort()

    await expect(
      openTunnel(new URL(proxy.url), '127.0.0.1', closed, 5000)
    ).rejects.toThrow(
      `the proxy ${proxy.url} answered 502 Bad Gateway to CONNECT 127.0.0.1:${closed}`
    )
  })

  test('a proxy that never answers fails at the timeout', async () => {
    const silent = net.createServer(() => undefined)
    const close = closer(silent)
    const port = await listen(silent)
    running.push({ port, url: '', close })

    await expect(
      openTunnel(new URL(`http://127.0.0.1:${port}`), 'example.com', 443, 300)
    ).rejects.toThrow(
      `the proxy http://127.0.0.1:${port} did not open a tunnel to example.com:443 within 0.3 s`
    )
  })
})
