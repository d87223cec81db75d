// A test-side client of the local registry's HTTP API v2, to check what the
// action pushed without going through docker.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { request } from 'node:https'
import { join } from 'node:path'

export interface LocalEcr {
  registry: string // host: 123456789012.dkr.ecr.us-east-1.amazonaws.com
  account: string
  region: string
  password: string // the registry's password for user AWS
  endpoint: string // AWS_ENDPOINT_URL of moto
}

export interface Manifest {
  digest: string
  mediaType: string
  body: string
}

export const manifestMediaTypes = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json'
]

function required(name: string): string {
  const value = process.env[name]
  if (!value) {
    throw new Error(
      `${name} is not set: call ensureLocalEcr() first, ` +
        'or eval "$(bash .ci/local-ecr.sh env)"'
    )
  }
  return value
}

export function localEcr(): LocalEcr {
  return {
    registry: required('LOCAL_ECR_REGISTRY'),
    account: required('LOCAL_ECR_ACCOUNT'),
    region: required('AWS_REGION'),
    password: required('LOCAL_ECR_PASSWORD'),
    endpoint: required('AWS_ENDPOINT_URL')
  }
}

// NODE_EXTRA_CA_CERTS is read once when node starts, and jest has started
// long before ensureLocalEcr() sets it, so the CA is passed explicitly.
let trustedCa: { file: string; pem: string } | undefined
function registryCa(): string {
  const file =
    process.env.NODE_EXTRA_CA_CERTS ??
    join(required('LOCAL_ECR_DIR'), 'tls', 'ca.crt')
  if (trustedCa?.file !== file) {
    trustedCa = { file, pem: readFileSync(file, 'utf8') }
  }
  return trustedCa.pem
}

interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

function call(
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: Buffer } = {}
): Promise<Reply> {
  const { registry, password } = localEcr()
  const url = new URL(path, `https://${registry}`)
  return new Promise((resolveReply, rejectReply) => {
    const req = request(
      url,
      {
        method,
        ca: registryCa(),
        auth: `AWS:${password}`,
        headers: {
          ...options.headers,
          ...(options.body
            ? { 'Content-Length': String(options.body.length) }
            : {})
        },
        timeout: 30_000
      },
      res => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('error', rejectReply)
        res.on('end', () =>
          resolveReply({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks)
          })
        )
      }
    )
    req.on('timeout', () =>
      req.destroy(new Error(`${method} ${url} timed out`))
    )
    req.on('error', rejectReply)
    req.end(options.body)
  })
}

function header(reply: Reply, name: string): string | undefined {
  const value = reply.headers[name.toLowerCase()]
  return Array.isArray(value) ? value[0] : value
}

function failure(what: string, reply: Reply): Error {
  return new Error(
    `${what}: HTTP ${reply.status} ${reply.body.toString('utf8').slice(0, 500)}`
  )
}

function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`
}

export async function getManifest(
  repo: string,
  ref: string
): Promise<Manifest | undefined> {
  const reply = await call('GET', `/v2/${repo}/manifests/${ref}`, {
    headers: { Accept: manifestMediaTypes.join(', ') }
  })
  if (reply.status === 404) return undefined
  if (reply.status !== 200) throw failure(`manifest ${repo}:${ref}`, reply)
  return {
    digest: header(reply, 'Docker-Content-Digest') ?? sha256Digest(reply.body),
    mediaType: (header(reply, 'Content-Type') ?? '').split(';')[0] ?? '',
    body: reply.body.toString('utf8')
  }
}

// An unknown repository has no tags rather than being an error.
export async function listTags(repo: string): Promise<string[]> {
  const tags: string[] = []
  let next: string | undefined = `/v2/${repo}/tags/list`
  while (next) {
    const reply = await call('GET', next)
    if (reply.status === 404) return []
    if (reply.status !== 200) throw failure(`tags of ${repo}`, reply)
    const page = JSON.parse(reply.body.toString('utf8')) as {
      tags?: string[] | null
    }
    tags.push(...(page.tags ?? []))
    // Pagination: Link: </v2/...?last=x&n=y>; rel="next"
    next = /<([^>]+)>;\s*rel="next"/.exec(header(reply, 'Link') ?? '')?.[1]
  }
  return tags.sort()
}

export async function getBlob(repo: string, digest: string): Promise<Buffer> {
  let reply = await call('GET', `/v2/${repo}/blobs/${digest}`)
  const location = header(reply, 'Location')
  if ([301, 302, 307].includes(reply.status) && location) {
    reply = await call('GET', location)
  }
  if (reply.status !== 200) throw failure(`blob ${repo}@${digest}`, reply)
  if (sha256Digest(reply.body) !== digest) {
    throw new Error(`blob ${repo}@${digest} arrived with another digest`)
  }
  return reply.body
}

export async function putManifest(
  repo: string,
  ref: string,
  body: string,
  mediaType: string
): Promise<string> {
  const reply = await call('PUT', `/v2/${repo}/manifests/${ref}`, {
    headers: { 'Content-Type': mediaType },
    body: Buffer.from(body, 'utf8')
  })
  if (reply.status !== 201) throw failure(`put manifest ${repo}:${ref}`, reply)
  return header(reply, 'Docker-Content-Digest') ?? sha256Digest(body)
}

// Monolithic upload: open an upload session, then PUT all bytes with the
// digest that closes it.
export async function putBlob(repo: string, data: Buffer): Promise<string> {
  const digest = sha256Digest(data)
  const opened = await call('POST', `/v2/${repo}/blobs/uploads/`)
  const location = header(opened, 'Location')
  if (opened.status !== 202 || !location) {
    throw failure(`start upload to ${repo}`, opened)
  }
  const target = new URL(location, `https://${localEcr().registry}`)
  target.searchParams.set('digest', digest)
  const closed = await call('PUT', `${target.pathname}${target.search}`, {
    headers: { 'Content-Type': 'application/octet-stream' },
    body: data
  })
  if (closed.status !== 201) throw failure(`upload to ${repo}`, closed)
  return digest
}

// Not in ECR's docker API, but handy to reset a repository between tests;
// the registry runs with deletes enabled. false when it was not there.
export async function deleteManifest(
  repo: string,
  digest: string
): Promise<boolean> {
  const reply = await call('DELETE', `/v2/${repo}/manifests/${digest}`)
  if (reply.status === 404) return false
  if (reply.status !== 202) throw failure(`delete ${repo}@${digest}`, reply)
  return true
}
