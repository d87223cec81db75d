import * as core from '@actions/core'
import { getExecOutput } from '@actions/exec'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { ActionError } from './errors.js'

/** How every docker call of one run is made: which config, which env. */
export interface DockerSession {
  /** DOCKER_CONFIG for every call; undefined uses the job's own. */
  configDir: string | undefined
}

interface DockerCall {
  /** Bytes for stdin; the only way a secret reaches docker. */
  input?: Buffer
  /** Keep docker's output out of the log (it is still captured). */
  silent?: boolean
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

  let result
  try {
    result = await getExecOutput('docker', args, {
      env,
      ignoreReturnCode: true,
      silent: call.silent ?? false,
      ...(call.input ? { input: call.input } : {})
    })
  } catch (error) {
    throw new ActionError(
      `Could not run docker: ${(error as Error).message}. ` +
        'Is Docker installed and on PATH?'
    )
  }
  if (result.exitCode !== 0) {
    throw new ActionError(
      `docker ${args[0] ?? ''} failed (exit code ${result.exitCode}):\n` +
        lastLines(result.stderr || result.stdout)
    )
  }
  return result.stdout
}

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
  await docker(
    session,
    ['login', '--username', username, '--password-stdin', registry],
    { input: Buffer.from(password), silent: true }
  )
}

export async function logout(
  session: DockerSession,
  registry: string
): Promise<void> {
  await docker(session, ['logout', registry], { silent: true })
}

export interface BuildRequest {
  context: string
  dockerfile: string
  buildArgs: string[]
  labels: string[]
  target: string | undefined
  /** Full references the image is tagged with (`<uri>:<tag>`). */
  references: string[]
}

/** The `docker build` arguments for a request; the image ID goes to idFile. */
export function buildArguments(request: BuildRequest, idFile: string) {
  const args = ['build', '--file', request.dockerfile, '--iidfile', idFile]
  for (const reference of request.references) args.push('--tag', reference)
  for (const buildArg of request.buildArgs) args.push('--build-arg', buildArg)
  for (const label of request.labels) args.push('--label', label)
  if (request.target) args.push('--target', request.target)
  args.push(request.context)
  return args
}

/** Builds and tags the image; returns its ID (`sha256:…`). */
export async function build(
  session: DockerSession,
  request: BuildRequest
): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ecr-push-build-'))
  const idFile = path.join(dir, 'image-id')
  try {
    await docker(session, buildArguments(request, idFile))
    return readFileSync(idFile, 'utf8').trim()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
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
      { silent: true }
    )
    return output.trim()
  } catch (error) {
    throw new ActionError(
      `Input "image": there is no local image ${JSON.stringify(image)}. ` +
        'Build or pull it in an earlier step.\n' +
        (error as Error).message
    )
  }
}

export async function tag(
  session: DockerSession,
  source: string,
  reference: string
): Promise<void> {
  await docker(session, ['tag', source, reference], { silent: true })
}

/** Pushes one reference; returns the manifest digest the registry gave. */
export async function push(
  session: DockerSession,
  reference: string
): Promise<string> {
  const output = await docker(session, ['push', reference])
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

/**
 * The digest in docker push's closing line, `<tag>: digest: sha256:… size:
 * N`: the Docker-Content-Digest the registry answered to the manifest PUT.
 */
export function pushedDigest(output: string): string | undefined {
  const matches = [...output.matchAll(/digest: (sha256:[a-f0-9]{64})/g)]
  return matches.at(-1)?.[1]
}
