import * as core from '@actions/core'
import { createHash } from 'node:crypto'

import { ActionError, errorMessage } from './errors.js'
import { registryFetch, type Fetch, type HttpAnswer } from './http.js'
import { describeDuration } from './limits.js'
import {
  explainDeniedText,
  registryAction,
  registryRepositoryArn
} from './policy.js'
import {
  isTransientStatus,
  retryPolicy,
  transientNetworkError,
  withRetries,
  type RetryPolicy
} from './retry.js'

const DIGEST = /^sha256:[a-f0-9]{64}$/
// Where a registry sends a client to fetch a blob from elsewhere.
const REDIRECTS = new Set([301, 302, 303, 307, 308])

// Every manifest kind ECR stores; the registry answers with the one it has.
export const MANIFEST_TYPES = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json'
]

/** A manifest exactly as the registry stores it. */
export interface StoredManifest {
  /** sha256 of the exact bytes: the digest every reference resolves to. */
  digest: string
  mediaType: string
  body: Buffer
  /** The image config digest (the local image ID) for single images. */
  configDigest: string | undefined
}

export interface RegistryCredentials {
  registry: string
  username: string
  password: string
}

/**
 * The registry's own HTTP API (the OCI distribution API that ECR serves
 * at the same host docker pushes to, with the same token). It answers
 * what the ECR API cannot: which manifest a tag points at, byte for byte.
 *
 * Private ECR takes the login as Basic auth on every request. ECR Public
 * answers 401 with a Bearer challenge instead: the login buys a token at
 * the challenge's realm, and requests carry that token from then on.
 */
export class RegistryClient {
  private readonly basic: string
  /** What requests carry: the Basic login, or the last Bearer token. */
  private authorization: string
  /** Bearer tokens by challenge (realm, service and scope). */
  private readonly tokens = new Map<string, Promise<string>>()
  private readonly fetch: Fetch

  /**
   * Each request may take timeoutMs (network-timeout), and is tried again
   * by `retry` when the connection fails or the registry answers 5xx or
   * 429 (max-attempts). HTTPS_PROXY and NO_PROXY in `env` apply.
   */
  constructor(
    private readonly credentials: RegistryCredentials,
    private readonly timeoutMs = 30_000,
    private readonly retry: RetryPolicy = retryPolicy(1),
    env: NodeJS.ProcessEnv = process.env
  ) {
    const pair = `${credentials.username}:${credentials.password}`
    this.basic = `Basic ${Buffer.from(pair).toString('base64')}`
    this.authorization = this.basic
    this.fetch = registryFetch(env, timeoutMs)
  }

  /** The manifest at a tag or digest, or undefined when there is none. */
  async getManifest(
    repository: string,
    reference: string
  ): Promise<StoredManifest | undefined> {
    const response = await this.request(
      'GET',
      this.url(`${repository}/manifests/${reference}`),
      { Accept: MANIFEST_TYPES.join(', ') }
    )
    if (response.status === 404) return undefined
    await this.expectStatus(response, 200, {
      what: `read ${repository}:${reference}`,
      action: 'ecr:BatchGetImage',
      repository
    })

    const body = Buffer.from(await response.arrayBuffer())
    const mediaType =
      response.headers.get('content-type')?.split(';')[0]?.trim() ??
      mediaTypeOf(body)
    return {
      digest: sha256(body),
      mediaType,
      body,
      configDigest: configDigestOf(body)
    }
  }

  /**
   * A blob (an image config) by its digest, checked against that digest.
   * ECR answers with a redirect to a short-lived, pre-signed download URL
   * on another host; the registry's credentials are not sent there.
   */
  async getBlob(repository: string, digest: string): Promise<Buffer> {
    if (!DIGEST.test(digest)) {
      throw new ActionError(`Cannot read blob ${digest}: not a sha256 digest`)
    }
    const what = `read blob ${digest} of ${repository}`
    let response = await this.request(
      'GET',
      this.url(`${repository}/blobs/${digest}`),
      {}
    )
    const location = REDIRECTS.has(response.status)
      ? response.headers.get('location')
      : null
    if (location) {
      void response.body?.cancel().catch(() => {})
      const target = new URL(location, this.url(`${repository}/blobs/`))
      response = await this.request('GET', target.href, {}, undefined, {
        authorize: target.host === this.credentials.registry
      })
      if (target.host !== this.credentials.registry) {
        await this.expectDownload(response, what, target.host)
      }
    }
    if (response.status === 404) {
      throw new ActionError(
        `Could not ${what}: the registry has no such blob (404).`
      )
    }
    await this.expectStatus(response, 200, {
      what,
      action: 'ecr:GetDownloadUrlForLayer',
      repository
    })

    const body = Buffer.from(await response.arrayBuffer())
    if (sha256(body) !== digest) {
      throw new ActionError(
        `Could not ${what}: the bytes that arrived have the digest ` +
          `${sha256(body)}, so they are not that blob`
      )
    }
    return body
  }

  /**
   * Points a tag at a manifest by uploading the same bytes with the same
   * media type, so the digest cannot change. Returns that digest.
   */
  async putManifest(
    repository: string,
    tag: string,
    manifest: Pick<StoredManifest, 'body' | 'mediaType' | 'digest'>
  ): Promise<string> {
    const response = await this.request(
      'PUT',
      this.url(`${repository}/manifests/${tag}`),
      { 'Content-Type': manifest.mediaType },
      manifest.body
    )
    await this.expectStatus(response, 201, {
      what: `tag ${repository}:${tag}`,
      action: 'ecr:PutImage',
      repository
    })
    const answered = response.headers.get('docker-content-digest')
    if (answered && answered !== manifest.digest) {
      throw new ActionError(
        `The registry stored ${repository}:${tag} at ${answered}, not at ` +
          `${manifest.digest}: it changed the manifest it was given`
      )
    }
    return manifest.digest
  }

  private url(path: string): string {
    return `https://${this.credentials.registry}/v2/${path}`
  }

  /**
   * One request, retried while it fails for a reason that may pass.
   * Redirects come back as they are: only the registry gets its
   * credentials, never the host a redirect names.
   */
  private async request(
    method: string,
    url: string,
    headers: Record<string, string>,
    body?: Buffer,
    options: { authorize: boolean } = { authorize: true }
  ): Promise<HttpAnswer> {
    const authorized = () =>
      options.authorize
        ? { ...headers, Authorization: this.authorization }
        : headers
    const sent = authorized()
    const response = await this.attempt(method, url, sent, body)
    const challenge =
      options.authorize && response.status === 401
        ? bearerChallenge(response.headers.get('www-authenticate'))
        : undefined
    if (!challenge) return response

    // A token for another scope (pull, where a write needs pull,push) is
    // refused the same way: each scope gets a token of its own, bought
    // once for requests challenged together, and again only when the
    // registry refuses the one it was sent.
    void response.body?.cancel().catch(() => {})
    const scope = `${challenge.realm} ${challenge.service} ${challenge.scope}`
    let pending = this.tokens.get(scope)
    if (!pending || (await pending.catch(() => '')) === sent.Authorization) {
      pending = this.bearerToken(challenge)
      this.tokens.set(scope, pending)
      pending.catch(() => this.tokens.delete(scope))
    }
    this.authorization = await pending
    return this.attempt(method, url, authorized(), body)
  }

  /**
   * Buys a token at the realm a Bearer challenge names, with the login as
   * Basic auth. The login only goes to the registry's own host over
   * https: a challenge naming another realm is refused.
   */
  private async bearerToken(challenge: BearerChallenge): Promise<string> {
    const realm = URL.canParse(challenge.realm)
      ? new URL(challenge.realm)
      : undefined
    if (
      realm?.protocol !== 'https:' ||
      realm.host !== this.credentials.registry
    ) {
      throw new ActionError(
        `The registry ${this.credentials.registry} asks for a token from ` +
          `${JSON.stringify(challenge.realm)}, which is not https on its ` +
          'own host: the login is not sent there.'
      )
    }
    if (challenge.service) realm.searchParams.set('service', challenge.service)
    for (const scope of challenge.scope?.split(' ') ?? []) {
      if (scope) realm.searchParams.append('scope', scope)
    }

    const response = await this.attempt(
      'GET',
      realm.href,
      { Authorization: this.basic },
      undefined
    )
    const text = await response.text().catch(() => '')
    if (response.status !== 200) {
      const expired =
        response.status === 401
          ? ' The login was refused: if it expired, run the step again.'
          : ''
      throw new ActionError(
        `Could not get a registry token from ${withoutQuery(realm.href)}: ` +
          `it answered ${response.status}.${expired}` +
          (text ? `\n${text.slice(0, 500)}` : '')
      )
    }
    const token = tokenOf(text)
    if (!token) {
      throw new ActionError(
        `The registry's token service ${withoutQuery(realm.href)} ` +
          'answered without a token'
      )
    }
    core.setSecret(token)
    return `Bearer ${token}`
  }

  /** One request, retried while it fails for a reason that may pass. */
  private attempt(
    method: string,
    url: string,
    sent: Record<string, string>,
    body: Buffer | undefined
  ): Promise<HttpAnswer> {
    return withRetries(
      this.retry,
      {
        what: `${method} ${withoutQuery(url)}`,
        transientError: transientNetworkError,
        transientResult: response =>
          isTransientStatus(response.status)
            ? `the registry answered ${response.status}`
            : undefined,
        discard: response => void response.body?.cancel().catch(() => {})
      },
      () => this.send(method, url, sent, body)
    )
  }

  private async send(
    method: string,
    url: string,
    headers: Record<string, string>,
    body: Buffer | undefined
  ): Promise<HttpAnswer> {
    const signal = AbortSignal.timeout(this.timeoutMs)
    try {
      return await this.fetch(url, {
        method,
        headers,
        ...(body ? { body } : {}),
        redirect: 'manual',
        signal
      })
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause
      const timedOut =
        signal.aborted || (error as { name?: unknown }).name === 'TimeoutError'
      const detail = timedOut
        ? `no answer within ${describeDuration(this.timeoutMs)} ` +
          '(network-timeout)'
        : cause
          ? `${errorMessage(error)}: ${errorMessage(cause)}`
          : errorMessage(error)
      // The cause stays, for the retry to tell a dropped connection from
      // a certificate the runner does not trust.
      throw Object.assign(
        new ActionError(`${method} ${withoutQuery(url)} failed: ${detail}`),
        { cause: error }
      )
    }
  }

  /**
   * The answer of the download host a blob redirect named: it knows
   * nothing of IAM (the URL carries its own signature), so a refusal
   * there is no denial of an ECR action.
   */
  private async expectDownload(
    response: HttpAnswer,
    what: string,
    host: string
  ): Promise<void> {
    if (response.status === 200) return
    const text = (await response.text().catch(() => '')).slice(0, 500)
    throw new ActionError(
      `Could not ${what}: the download host ${host} answered ` +
        `${response.status}` +
        (text ? `\n${text}` : '')
    )
  }

  /**
   * A refusal (401, 403) becomes a denial of the ECR action behind the
   * request: reading a manifest is ecr:BatchGetImage, writing one is
   * ecr:PutImage, on the repository.
   */
  private async expectStatus(
    response: HttpAnswer,
    expected: number,
    request: { what: string; action: string; repository: string }
  ): Promise<void> {
    if (response.status === expected) return
    const text = (await response.text().catch(() => '')).slice(0, 500)
    const expired =
      response.status === 401
        ? ' The login token was refused: if it expired, run the step again.'
        : ''
    const failure = new ActionError(
      `Could not ${request.what}: the registry answered ` +
        `${response.status}.${expired}` +
        (text ? `\n${text}` : '')
    )
    if (response.status !== 401 && response.status !== 403) throw failure

    const resource =
      registryRepositoryArn(this.credentials.registry, request.repository) ??
      `${this.credentials.registry}/${request.repository}`
    throw explainDeniedText(
      failure,
      resource,
      registryAction(this.credentials.registry, request.action)
    )
  }
}

interface BearerChallenge {
  realm: string
  service: string | undefined
  scope: string | undefined
}

/**
 * `Bearer realm="…",service="…",scope="…"`, as the distribution spec's
 * token authentication writes it; undefined for any other scheme.
 */
export function bearerChallenge(
  header: string | null
): BearerChallenge | undefined {
  const match = /^\s*Bearer\s+(.*)$/i.exec(header ?? '')
  if (!match?.[1]) return undefined
  const parameters = new Map<string, string>()
  for (const [, name, quoted, bare] of match[1].matchAll(
    /([A-Za-z]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g
  )) {
    if (!name) continue
    const value = quoted?.replace(/\\(.)/g, '$1') ?? bare ?? ''
    parameters.set(name.toLowerCase(), value)
  }
  const realm = parameters.get('realm')
  if (!realm) return undefined
  return {
    realm,
    service: parameters.get('service'),
    scope: parameters.get('scope')
  }
}

/** The token of a token service's JSON answer (`token`, or OAuth's name). */
function tokenOf(text: string): string | undefined {
  try {
    const answer = JSON.parse(text) as Record<string, unknown>
    const token = answer.token ?? answer.access_token
    return typeof token === 'string' && token !== '' ? token : undefined
  } catch {
    return undefined
  }
}

/** A URL for the log: a pre-signed download URL's query is its password. */
function withoutQuery(url: string): string {
  return url.split('?')[0] ?? url
}

export function sha256(body: Buffer): string {
  return `sha256:${createHash('sha256').update(body).digest('hex')}`
}

function parse(body: Buffer): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'))
    return parsed && typeof parsed === 'object'
      ? (parsed as Record<string, unknown>)
      : {}
  } catch {
    return {}
  }
}

function mediaTypeOf(body: Buffer): string {
  const mediaType = parse(body).mediaType
  return typeof mediaType === 'string' ? mediaType : MANIFEST_TYPES[2]!
}

/** The config digest of a single-image manifest; undefined for an index. */
export function configDigestOf(body: Buffer): string | undefined {
  const config = parse(body).config
  if (!config || typeof config !== 'object') return undefined
  const digest = (config as Record<string, unknown>).digest
  return typeof digest === 'string' ? digest : undefined
}
