import * as core from '@actions/core'
import { readFileSync } from 'node:fs'

import { buildxOnly } from './buildx.js'
import * as dockerCli from './docker.js'
import { holdOutput, type HeldOutput } from './held-output.js'
import { readInputs, type Settings } from './inputs.js'
import { provenanceLabels, withProvenance } from './provenance.js'

/**
 * A build that starts as soon as the inputs are read, before the AWS SDK
 * is even loaded: the repository check, the token, the registry lookups
 * and the login all happen while docker builds. It is only done when the
 * build needs nothing those steps bring (see settingsBlocker and
 * dockerfileBlocker).
 *
 * This module is part of the small entry bundle (dist/index.js); the
 * rest of the main step is a second bundle it loads afterwards.
 */
export interface EarlyBuild {
  /** The built image's ID; rejects with docker's own error. */
  imageId: Promise<string>
  /**
   * The references docker tagged it with as it built (`<uri>:<tag>`), when
   * the registry's host came in time; empty when it did not.
   */
  references: string[]
  /** Stops docker, when the run failed elsewhere, and waits for its end. */
  stop: () => Promise<void>
  /** Lets held output through now (a cancellation on its way out). */
  release: () => void
}

/** Everything the early build needs from the outside; replaceable in tests. */
export interface EarlyBuildEffects {
  readDockerfile: (file: string) => string
  holdOutput: () => HeldOutput
}

const realEffects: EarlyBuildEffects = {
  readDockerfile: file => readFileSync(file, 'utf8'),
  holdOutput: () => holdOutput()
}

// Ends the running build's group and lets held output through; set from
// the moment output is held, before startEarlyBuild has returned.
let closeRunning: (() => void) | undefined

/** For a cancellation: whatever is held is let through now, once. */
export function releaseEarlyBuildOutput(): void {
  closeRunning?.()
}

/**
 * How long the build waits for the registry's host (the token's answer,
 * src/direct-ecr.ts) so that docker can tag the image as it builds it.
 * Tagging afterwards takes one `docker tag` per tag, about 15 to 30 ms
 * here: a build waits no longer than that would cost, and a host that
 * comes later is used after the build, as without it.
 */
export const REGISTRY_WAIT_MS = 30

/**
 * Starts the build when this run may build first, and resolves once
 * docker is spawned. Undefined when it may not, and also when the inputs
 * are bad: the main step reads them again and says what is wrong,
 * before any call, as it always does. `registry` is the registry's host
 * as the token names it, when the entry asked for the token itself.
 */
export async function startEarlyBuild(
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
  effects: EarlyBuildEffects = realEffects,
  registry?: Promise<string | undefined>
): Promise<EarlyBuild | undefined> {
  let settings: Settings
  let dockerfile: string
  try {
    settings = readInputs(name => core.getInput(name), env, cwd)
    if (settingsBlocker(settings) !== undefined) return undefined
    dockerfile = effects.readDockerfile(settings.dockerfile)
  } catch {
    return undefined
  }
  const blocker = dockerfileBlocker(dockerfile)
  if (blocker !== undefined) {
    core.debug(`Building after the login: ${blocker}`)
    return undefined
  }

  const host = registry && (await arrivedWithin(registry, REGISTRY_WAIT_MS))
  const references = host
    ? settings.tags.map(tag => `${host}/${settings.repository}:${tag}`)
    : []
  const request: dockerCli.BuildRequest = {
    context: settings.context,
    dockerfile: settings.dockerfile,
    buildArgs: settings.buildArgs,
    labels: withProvenance(
      settings.labels,
      provenanceLabels(env, settings.version)
    ),
    target: settings.target,
    // The registry's host comes with the token: without it, the tags are
    // added after the build.
    references
  }
  // The job's own docker config: this build logs in nowhere, and base
  // images from other registries pull with the job's logins as usual.
  const session: dockerCli.DockerSession = {
    configDir: undefined,
    limits: dockerCli.dockerLimits(settings)
  }

  core.startGroup('Build')
  core.info(
    'Building now; the repository, token and login are prepared meanwhile ' +
      'and reported after the build output'
  )
  const output = effects.holdOutput()
  let spawned: () => void = () => undefined
  const started = new Promise<void>(resolve => {
    spawned = resolve
  })
  const stopping = new AbortController()
  const imageId = dockerCli.build(session, request, {
    log: output.log,
    onSpawn: () => spawned(),
    stop: stopping.signal
  })
  // The build's group ends before anything held is let through: when
  // docker is done, or earlier when a cancellation is on its way out.
  let closed = false
  const close = (line = ''): void => {
    if (closed) return
    closed = true
    output.log.write(`${line}::endgroup::\n`)
    output.release()
  }
  closeRunning = () => close()
  const finished = imageId.then(id => {
    close(`Built ${id}\n`)
    return id
  })
  const ended = finished.then(
    () => undefined,
    () => close()
  )
  // The main step awaits it later, or not at all when it failed first.
  finished.catch(() => undefined)

  await Promise.race([started, ended])
  return {
    imageId: finished,
    references,
    async stop() {
      stopping.abort()
      await ended
    },
    release: () => close()
  }
}

/** The value, if it comes within `ms`; undefined otherwise. */
async function arrivedWithin<T>(
  value: Promise<T | undefined>,
  ms: number
): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<undefined>(resolve => {
    timer = setTimeout(() => resolve(undefined), ms)
  })
  try {
    return await Promise.race([value.catch(() => undefined), late])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Why these inputs must not build before the AWS calls, or undefined:
 * the permission check promises to fail before anything is built;
 * source-tag, skip-existing and merge-sources may not build at all; an
 * image input is not built; and buildx (several platforms, a registry
 * cache) is found only by asking docker.
 */
export function settingsBlocker(settings: Settings): string | undefined {
  if (settings.validatePermissions) return 'validate-permissions is on'
  if (settings.image) return 'the image input names a local image'
  if (settings.sourceTag !== undefined) return 'source-tag promotes a tag'
  if (settings.skipExisting) return 'skip-existing may reuse an image'
  if (settings.mergeSources.length) return 'merge-sources builds nothing'
  if (settings.platforms.length) return 'platforms may need buildx'
  const buildx = buildxOnly(settings)
  if (buildx !== undefined) return `${buildx} needs buildx`
  return undefined
}

// An ECR registry host, private (<account>.dkr.ecr.<region>...) or in
// any partition; a FIPS host has dkr-ecr-fips in it.
const ECR_HOST = /\.dkr[.-]ecr(?:-fips)?[.-]/i

/**
 * Why this Dockerfile may need this run's login to build, or undefined.
 * A base image (FROM, COPY --from, RUN --mount from=) in an ECR registry
 * needs the token; one named by a build argument might be anywhere.
 * Both build after the login, as they always did.
 */
export function dockerfileBlocker(dockerfile: string): string | undefined {
  for (const line of instructions(dockerfile)) {
    for (const image of imagesOf(line)) {
      if (image.includes('$')) {
        return `the image ${image} comes from a build argument`
      }
      if (ECR_HOST.test(image)) return `the image ${image} is in ECR`
    }
  }
  return undefined
}

/** Instructions with their continuation lines joined; comments dropped. */
function instructions(dockerfile: string): string[] {
  const joined: string[] = []
  let current = ''
  for (const raw of dockerfile.split(/\r?\n/)) {
    const line = raw.trim()
    if (current === '' && line.startsWith('#')) continue
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `
      continue
    }
    joined.push(current + line)
    current = ''
  }
  if (current) joined.push(current)
  return joined
}

/** The images an instruction reads from another registry, if any. */
function imagesOf(line: string): string[] {
  const words = line.split(/\s+/).filter(Boolean)
  const instruction = words[0]?.toUpperCase()
  const images: string[] = []
  if (instruction === 'FROM') {
    const image = words.slice(1).find(word => !word.startsWith('--'))
    if (image) images.push(image)
  }
  for (const match of line.matchAll(/(?:--from=|[\s,]from=)([^\s,]+)/gi)) {
    if (match[1]) images.push(match[1])
  }
  return images
}
