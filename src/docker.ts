import * as core from '@actions/core'
import { getExecOutput } from '@actions/exec'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Writable } from 'node:stream'

import { isCancelled, removedOnCancel } from './cancel.js'
import {
  DeadlineExceeded,
  STOP_GRACE_MS,
  withinDeadline,
  type Deadline
} from './deadline.js'
import { ActionError } from './errors.js'
import { describeDuration, minutes, seconds, type Limits } from './limits.js'
import { explainDeniedText, registryRepositoryArn } from './policy.js'
import { dockerCallProcesses, stopProcesses } from './processes.js'
import {
  retryPolicy,
  transientDockerLine,
  withRetries,
  type RetryPolicy
} from './retry.js'

/** How every docker call of one run is made: which config, which env. */
export interface DockerSession {
  /** DOCKER_CONFIG for every call; undefined uses the job's own. */
  configDir: string | undefined
  /** Bounds and retries; without them (the post step) calls are made once. */
  limits?: DockerLimits
}

/** How long docker calls may take, and how often login and push are tried. */
export interface DockerLimits {
  /** Each docker login, tag, inspect and logout (network-timeout). */
  network: Deadline
  build: Deadline
  /** Each docker push attempt. */
  push: Deadline
  /** Login and push attempts that failed for a reason that may pass. */
  retry: RetryPolicy
}

export function dockerLimits(limits: Limits): DockerLimits {
  return {
    network: { ms: seconds(limits.networkTimeout), input: 'network-timeout' },
    build: { ms: minutes(limits.buildTimeout), input: 'build-timeout' },
    push: { ms: minutes(limits.pushTimeout), input: 'push-timeout' },
    retry: retryPolicy(limits.maxAttempts)
  }
}

interface DockerCall {
  /** Bytes for stdin; the only way a secret reaches docker. */
  input?: Buffer
  /** Keep docker's output out of the log (it is still captured). */
  silent?: boolean
  /** Stop docker when it runs longer; undefined waits as long as it takes. */
  deadline?: Deadline | undefined
  /** Why docker may have run out of time, for the message. */
  stuck?: string
  /** Where docker's output goes instead of the step's stdout. */
  log?: Writable
  /** Called as docker is spawned, before any of its output. */
  onSpawn?: () => void
  /** Stops docker when aborted (the run failed elsewhere meanwhile). */
  stop?: AbortSignal
}

/** docker ran and failed: the message quotes it, `output` is its error. */
export class DockerError extends ActionError {
  constructor(
    message: string,
    readonly output: string
  ) {
    super(message)
    this.name = 'DockerError'
  }
}

/** docker ran past its deadline and was stopped. */
export class DockerTimeoutError extends ActionError {
  constructor(message: string) {
    super(message)
    this.name = 'DockerTimeoutError'
  }
}

// How many of docker's last error lines a failure message quotes.
const QUOTED_LINES = 20

/**
 * Runs docker with an argument array, never through a shell. Output
 * streams to the log as docker writes it, and a failure quotes docker's
 * own words.
 */
export async function docker(
  session: DockerSession,
  args: string[],
  call: DockerCall = {}
): Promise<string> {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined) env[name] = value
  }
  if (session.configDir) env.DOCKER_CONFIG = session.configDir

  // The same processes a deadline would stop, and as a deadline does.
  const stopCall = (): void =>
    void dockerCallProcesses(args)
      .then(running => stopProcesses(running, STOP_GRACE_MS))
      .catch(() => undefined)
  call.stop?.addEventListener('abort', stopCall, { once: true })

  let result
  try {
    result = await withinDeadline(
      getExecOutput('docker', args, {
        env,
        ignoreReturnCode: true,
        silent: call.silent ?? false,
        ...(call.input ? { input: call.input } : {}),
        ...(call.log ? { outStream: call.log } : {}),
        // @actions/exec says nothing when it spawns, but it reports the
        // command to its debug listener in the same tick, just before.
        ...(call.onSpawn ? { listeners: { debug: call.onSpawn } } : {})
      }),
      call.deadline,
      () => dockerCallProcesses(args)
    )
  } catch (error) {
    if (error instanceof DeadlineExceeded) {
      throw new DockerTimeoutError(
        `docker ${args[0] ?? ''} did not finish within ` +
          `${describeDuration(error.deadline.ms)} (${error.deadline.input}) ` +
          `and was stopped${call.stuck ? `: ${call.stuck}` : ''}`
      )
    }
    throw new ActionError(
      `Could not run docker: ${(error as Error).message}. ` +
        'Is Docker installed and on PATH?'
    )
  } finally {
    call.stop?.removeEventListener('abort', stopCall)
  }
  // docker was stopped by a cancellation, which ends the step itself:
  // the run must not go on to the next phase, nor fail a second time.
  if (isCancelled()) return new Promise<never>(() => undefined)
  if (result.exitCode !== 0) {
    throw new DockerError(
      `docker ${args[0] ?? ''} failed (exit code ${result.exitCode}):\n` +
        lastLines(result.stderr || result.stdout),
      // Not stdout too: the progress lines there name the image, and a
      // repository called "denied-api" must not read as a denial.
      result.stderr || result.stdout
    )
  }
  return result.stdout
}

/**
 * The line that makes a failed login or push worth another attempt (a
 * 503, a reset connection, a timeout), or undefined when it failed for
 * good (a denial, a bad name).
 */
export function transientDockerFailure(error: unknown): string | undefined {
  if (error instanceof DockerTimeoutError) return error.message
  if (error instanceof DockerError) return transientDockerLine(error.output)
  return undefined
}

/** A login or push, tried again while it fails for a reason that may pass. */
function retried<T>(
  session: DockerSession,
  what: string,
  operation: () => Promise<T>
): Promise<T> {
  if (!session.limits) return operation()
  return withRetries(
    session.limits.retry,
    { what, transientError: transientDockerFailure },
    operation
  )
}

const UNREACHABLE = 'the registry may be unreachable or too slow'

function lastLines(text: string): string {
  const lines = text.trimEnd().split('\n')
  return lines.slice(-QUOTED_LINES).join('\n')
}

/** Logs in with the password on stdin, never as an argument. */
export async function login(
  session: DockerSession,
  registry: string,
  username: string,
  password: string
): Promise<void> {
  await retried(session, 'docker login', () =>
    docker(
      session,
      ['login', '--username', username, '--password-stdin', registry],
      {
        input: Buffer.from(password),
        silent: true,
        deadline: session.limits?.network,
        stuck: UNREACHABLE
      }
    )
  )
}

export async function logout(
  session: DockerSession,
  registry: string,
  deadline: Deadline | undefined = session.limits?.network
): Promise<void> {
  await docker(session, ['logout', registry], { silent: true, deadline })
}

export interface BuildRequest {
  context: string
  dockerfile: string
  buildArgs: string[]
  labels: string[]
  target: string | undefined
  /** Full references the image is tagged with (`<uri>:<tag>`). */
  references: string[]
  /**
   * The one platform asked for, when buildx is not there to build it.
   * The legacy builder may build for the engine's own platform anyway.
   */
  platform?: string
}

/** The `docker build` arguments for a request; the image ID goes to idFile. */
export function buildArguments(request: BuildRequest, idFile: string) {
  const args = ['build', '--file', request.dockerfile, '--iidfile', idFile]
  if (request.platform) args.push('--platform', request.platform)
  for (const reference of request.references) args.push('--tag', reference)
  args.push(...sourceArguments(request))
  args.push(request.context)
  return args
}

/** Build args, labels and target: both builders take them alike. */
export function sourceArguments(
  request: Pick<BuildRequest, 'buildArgs' | 'labels' | 'target'>
): string[] {
  const args: string[] = []
  for (const buildArg of request.buildArgs) args.push('--build-arg', buildArg)
  for (const label of request.labels) args.push('--label', label)
  if (request.target) args.push('--target', request.target)
  return args
}

/**
 * Runs `use` with the path of a file in a directory of its own, for a
 * result docker writes there (an image ID, buildx metadata), and removes
 * the directory afterwards, whatever happened: a cancellation removes it
 * too. It is under RUNNER_TEMP, which the runner empties after the job,
 * so that not even a step killed outright leaves it behind.
 */
export async function withResultFile<T>(
  name: string,
  use: (file: string) => Promise<T>
): Promise<T> {
  const dir = mkdtempSync(
    path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'ecr-push-result-')
  )
  const forget = removedOnCancel(dir)
  try {
    return await use(path.join(dir, name))
  } finally {
    forget()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Builds and tags the image; returns its ID (`sha256:…`). */
export async function build(
  session: DockerSession,
  request: BuildRequest,
  output: Pick<DockerCall, 'log' | 'onSpawn' | 'stop'> = {}
): Promise<string> {
  return withResultFile('image-id', async idFile => {
    await docker(session, buildArguments(request, idFile), {
      ...output,
      deadline: session.limits?.build,
      stuck: 'raise build-timeout if the build needs longer'
    })
    return readFileSync(idFile, 'utf8').trim()
  })
}

/** The ID of a local image, or a clear error when there is none. */
export async function imageId(
  session: DockerSession,
  image: string
): Promise<string> {
  try {
    const output = await docker(
      session,
      ['image', 'inspect', '--format', '{{.Id}}', image],
      { silent: true, deadline: session.limits?.network }
    )
    return output.trim()
  } catch (error) {
    if (error instanceof DockerTimeoutError) throw error
    throw new ActionError(
      `Input "image": there is no local image ${JSON.stringify(image)}. ` +
        'Build or pull it in an earlier step.\n' +
        (error as Error).message
    )
  }
}

/**
 * `os/architecture` of a local image, as its config says. The legacy
 * builder may build for the engine's own platform whatever --platform
 * asked, and only the result tells.
 */
export async function imagePlatform(
  session: DockerSession,
  image: string
): Promise<string> {
  const output = await docker(
    session,
    ['image', 'inspect', '--format', '{{.Os}}/{{.Architecture}}', image],
    { silent: true, deadline: session.limits?.network }
  )
  return output.trim()
}

/**
 * Fails when a local image is not for `platform` (os/arch; a variant is
 * not compared): pushed under tags meant for that platform, it would
 * run nowhere it should.
 */
export async function expectPlatform(
  session: DockerSession,
  image: string,
  platform: string
): Promise<void> {
  const built = await imagePlatform(session, image)
  const wanted = platform.split('/').slice(0, 2).join('/')
  if (built === wanted) return
  throw new ActionError(
    `Input "platforms" asks for ${platform}, but docker build made a ` +
      `${built} image (${image}): without buildx, the engine's builder ` +
      'may ignore --platform. Add docker/setup-buildx-action (and ' +
      'docker/setup-qemu-action to emulate another platform) before this ' +
      `step, or build on a ${wanted} runner. Nothing was pushed.`
  )
}

export async function tag(
  session: DockerSession,
  source: string,
  reference: string
): Promise<void> {
  await docker(session, ['tag', source, reference], {
    silent: true,
    deadline: session.limits?.network
  })
}

/** Pushes one reference; returns the manifest digest the registry gave. */
export async function push(
  session: DockerSession,
  reference: string
): Promise<string> {
  const output = await retried(session, 'docker push', () =>
    docker(session, ['push', reference], {
      deadline: session.limits?.push,
      stuck: UNREACHABLE
    })
  ).catch((error: unknown) => {
    // docker quotes ECR's denial; the statement to add is ours to give.
    throw explainDeniedText(error, pushedRepositoryArn(reference))
  })
  const digest = pushedDigest(output)
  if (!digest) {
    throw new ActionError(
      `docker push ${reference} succeeded but printed no digest, so the ` +
        'pushed image cannot be identified'
    )
  }
  core.debug(`${reference} is at ${digest}`)
  return digest
}

/** `<registry>/<repository>:<tag>` → the repository's ARN, if ECR's. */
function pushedRepositoryArn(reference: string): string {
  const slash = reference.indexOf('/')
  const colon = reference.lastIndexOf(':')
  const repository = reference.slice(
    slash + 1,
    colon > slash ? colon : undefined
  )
  return (
    registryRepositoryArn(reference.slice(0, slash), repository) ?? reference
  )
}

/**
 * The digest in docker push's closing line, `<tag>: digest: sha256:… size:
 * N`: the Docker-Content-Digest the registry answered to the manifest PUT.
 */
export function pushedDigest(output: string): string | undefined {
  const matches = [...output.matchAll(/digest: (sha256:[a-f0-9]{64})/g)]
  return matches.at(-1)?.[1]
}
