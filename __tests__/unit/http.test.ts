// The registry's transport against a real TLS server on 127.0.0.1: what
// comes back is what the server sent, byte for byte, and redirects are
// answers, never followed.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import https from 'node:https'
import path from 'node:path'
import { gzipSync } from 'node:zlib'

import { registryFetch, type FetchInit } from '../../src/http.js'
import { transientNetworkError } from '../../src/retry.js'
import { closer, listen, refusingPort } from '../fixtures/servers.js'
import { removeTempDirs, tempDir } from '../fixtures/tmp.js'

interface Seen {
  method: string
  url: string
  headers: Record<string, string | string[] | undefined>
  body: string
  /** The client's end of the connection. */
  port: number | undefined
}

const MANIFEST = Buffer.from('{"schemaVersion":2,  "mediaType":"x"}\n')
const seen: Seen[] = []
let cert: Buffer
let origin: string
let close: () => Promise<void>

beforeAll(async () => {
  const dir = tempDir()
  const [key, crt] = [path.join(dir, 'key.pem'), path.join(dir, 'crt.pem')]
  execFileSync('openssl', [
    ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
    ...['-nodes', '-keyout', key, '-out', crt, '-days', '1'],
    ...['-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']
  ])
  cert = readFileSync(crt)
  const server = https.createServer(
    { key: readFileSync(key), cert },
    (request, response) => {
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      request.on('end', () => {
        seen.push({
          method: request.method ?? '',
          url: request.url ?? '',
          headers: request.headers,
          body: Buffer.concat(chunks).toString(),
          port: request.socket.remotePort
        })
        switch (request.url) {
          case '/v2/app/manifests/v1': {
            // A server that compresses when asked: nothing asks.
            const gzip = /gzip/.test(request.headers['accept-encoding'] ?? '')
            response.writeHead(200, {
              'content-type':
                'application/vnd.docker.distribution.manifest.v2+json',
              'docker-content-digest': digest(MANIFEST),
              ...(gzip ? { 'content-encoding': 'gzip' } : {})
            })
            response.end(gzip ? gzipSync(MANIFEST) : MANIFEST)
            return
          }
          case '/v2/app/blobs/sha256:abc':
            response.writeHead(307, { location: 'https://download.example/x' })
            response.end()
            return
          case '/v2/app/manifests/v2':
            response.writeHead(201, { 'docker-content-digest': 'sha256:def' })
            response.end()
            return
          case '/v2/':
            response.writeHead(204).end()
            return
          case '/v2/app/tags/list':
            response.setHeader('set-cookie', ['a=1', 'b=2'])
            response.setHeader('link', '</v2/app/tags/list?n=1>')
            response.writeHead(200).end('{"tags":["v1"]}')
            return
          case '/half':
            // Headers and part of the body; the rest never comes.
            response.writeHead(200, { 'content-length': '100' })
            response.write('{"part":')
            return
          case '/hang':
            return
          default:
            response.writeHead(404).end('{"errors":[]}')
        }
      })
    }
  )
  close = closer(server)
  origin = `https://127.0.0.1:${await listen(server)}`
})

afterAll(async () => {
  await close()
  removeTempDirs()
})

function digest(body: Buffer): string {
  return `sha256:${createHash('sha256').update(body).digest('hex')}`
}

function init(extra: Partial<FetchInit> = {}): FetchInit {
  return {
    method: 'GET',
    headers: {},
    redirect: 'manual',
    signal: AbortSignal.timeout(5000),
    ...extra
  }
}

const trusted = () => registryFetch({}, 5000, { ca: cert })

describe('registryFetch', () => {
  test('a manifest arrives as the bytes the server sent, with its headers', async () => {
    const response = await trusted()(
      `${origin}/v2/app/manifests/v1`,
      init({ headers: { Authorization: 'Basic QVdTOng=' } })
    )

    const body = Buffer.from(await response.arrayBuffer())
    expect(response.status).toBe(200)
    expect(body.equals(MANIFEST)).toBe(true)
    expect(response.headers.get('docker-content-digest')).toBe(digest(body))
    const request = seen.at(-1)
    expect(request?.headers.authorization).toBe('Basic QVdTOng=')
    expect(request?.headers['accept-encoding']).toBeUndefined()
  })

  test('a redirect is the answer: its location is read, not followed', async () => {
    const before = seen.length

    const response = await trusted()(
      `${origin}/v2/app/blobs/sha256:abc`,
      init()
    )

    expect(response.status).toBe(307)
    expect(response.headers.get('location')).toBe('https://download.example/x')
    expect(seen.length).toBe(before + 1)
  })

  test('a PUT sends its body with its length', async () => {
    const response = await trusted()(
      `${origin}/v2/app/manifests/v2`,
      init({
        method: 'PUT',
        headers: { 'Content-Type': 'application/json' },
        body: MANIFEST
      })
    )

    expect(response.status).toBe(201)
    const request = seen.at(-1)
    expect(request?.method).toBe('PUT')
    expect(request?.body).toBe(MANIFEST.toString())
    expect(request?.headers['content-length']).toBe(String(MANIFEST.length))
  })

  test('a body is read as text, and headers as fetch reads them', async () => {
    const response = await trusted()(`${origin}/v2/app/tags/list`, init())

    expect(await response.text()).toBe('{"tags":["v1"]}')
    expect(response.headers.get('Link')).toBe('</v2/app/tags/list?n=1>')
    expect(response.headers.get('set-cookie')).toBe('a=1, b=2')
    expect(response.headers.get('location')).toBeNull()
  })

  test('a body nobody reads does not keep its connection from the next request', async () => {
    const fetch = trusted()
    const notFound = await fetch(`${origin}/v2/app/manifests/gone`, init())
    expect(notFound.status).toBe(404)
    const first = seen.at(-1)?.port

    await new Promise(resolve => setTimeout(resolve, 20))
    const next = await fetch(`${origin}/v2/app/manifests/v1`, init())

    expect(next.status).toBe(200)
    expect(seen.at(-1)?.port).toBe(first)
  })

  test('cancelling a body still arriving drops its connection', async () => {
    const fetch = trusted()
    const answer = await fetch(`${origin}/half`, init())
    const first = seen.at(-1)?.port
    expect(answer.status).toBe(200)

    await answer.body?.cancel()

    await expect(answer.text()).rejects.toThrow(/closed before the whole/)
    const next = await fetch(`${origin}/v2/`, init())
    expect(next.status).toBe(204)
    expect(seen.at(-1)?.port).not.toBe(first)
  })

  test('204 has no body, and one connection serves the next request', async () => {
    const fetch = trusted()
    const sockets = new Set<string>()
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${origin}/v2/`, init())
      expect(response.status).toBe(204)
      expect(response.body).toBeNull()
      sockets.add(String(seen.at(-1)?.headers.connection))
    }
    expect([...sockets]).toEqual(['keep-alive'])
  })

  test('a certificate nobody trusts fails, and is not worth retrying', async () => {
    const error = await registryFetch({}, 5000)(`${origin}/v2/`, init()).then(
      () => undefined,
      (thrown: unknown) => thrown
    )

    expect((error as { code?: string }).code).toBe(
      'DEPTH_ZERO_SELF_SIGNED_CERT'
    )
    expect(transientNetworkError(error)).toBeUndefined()
  })

  test('a refused connection is worth retrying', async () => {
    const port = await refusingPort()

    const error = await trusted()(`https://127.0.0.1:${port}/v2/`, init()).then(
      () => undefined,
      (thrown: unknown) => thrown
    )

    expect((error as { code?: string }).code).toBe('ECONNREFUSED')
    expect(transientNetworkError(error)).toContain('ECONNREFUSED')
  })

  test('the signal ends a request that gets no answer', async () => {
    const error = await trusted()(
      `${origin}/hang`,
      init({ signal: AbortSignal.timeout(200) })
    ).then(
      () => undefined,
      (thrown: unknown) => thrown
    )

    // Node's own AbortError, from another realm than jest's Error.
    expect((error as { name?: string }).name).toBe('AbortError')
  })
})
