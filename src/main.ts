import * as core from '@actions/core'
import os from 'node:os'

import type { RegistryLogin } from './auth.js'
import { buildx, immutableCacheTag, useBuildx } from './buildx.js'
import {
  isCancelled,
  markPhase,
  phase,
  watchForCancellation
} from './cancel.js'
import * as dockerCli from './docker.js'
import {
  createPrivateDockerConfig,
  removePrivateDockerConfig,
  userDockerConfigDir
} from './docker-config.js'
import type { DirectCalls } from './direct-ecr.js'
import type { EarlyBuild } from './early-build.js'
import { AccessDeniedError, errorMessage } from './errors.js'
import {
  tagPushedImage,
  useExistingImage,
  type ExistingImage,
  type ExistingImageRequest
} from './existing-image.js'
import { getInputs, type Settings } from './inputs.js'
import { minutes, seconds } from './limits.js'
import { mergeImages } from './merge.js'
import {
  checkPermissions,
  getCallerIdentity,
  permissionFailure,
  type StartedCalls
} from './permissions.js'
import {
  crossAccountAdvice,
  crossAccountPolicies,
  deniedPrincipal,
  pullPolicy,
  pushPolicy,
  registryRepositoryArn,
  repositoryArn,
  type CrossAccountPolicies
} from './policy.js'
import { provenanceLabels, withProvenance } from './provenance.js'
import { lookupTags, pushImage, type PushRequest } from './push.js'
import {
  buildWanted,
  conflictError,
  planPush,
  type TagLookup
} from './push-plan.js'
import { RegistryClient } from './registry.js'
import { openRegistry } from './registry-type.js'
import { retryPolicy, sleep } from './retry.js'
import { gateFailure, waitForScan } from './scan.js'
import { lazyEcrClient, loadSdk } from './sdk-loader.js'
import { State } from './state.js'
import { writeSummary, type RunReport } from './summary.js'

/**
 * The main step: inputs, repository, login, build, push, report. This is
 * the one place that fails the step; every phase throws errors already
 * written for the log. `early` is the build the entry started before
 * loading this (src/early-build.ts), when it could; `direct` the token
 * and repository lookup it asked ECR for (src/direct-ecr.ts).
 */
export async function run(
  early?: EarlyBuild,
  direct?: DirectCalls
): Promise<void> {
  const report: RunReport = { repository: core.getInput('repository') }
  const session: dockerCli.DockerSession = { configDir: undefined }
  // A cancellation ends the step from the signal handler, so it removes
  // the private config itself: nothing below runs after it.
  const stopWatching = watchForCancellation(() => {
    early?.release()
    return removeConfig(session)
  })
  let registryId: string | undefined

  try {
    const settings = await phase('Inputs', async () => getInputs())
    registryId = settings.registryId
    report.region = settings.region
    session.limits = dockerCli.dockerLimits(settings)
    await publish(settings, session, report, early, direct)
    await checkVulnerabilities(settings, report)
  } catch (error) {
    // A cancellation fails the step from its signal handler, which ends
    // the process: a docker call it stopped is not a second failure.
    if (isCancelled()) await new Promise<never>(() => undefined)
    // A build still running for a run that failed is stopped, and its
    // output ends before the failure is told.
    await early?.stop()
    report.failure = errorMessage(error)
    const crossAccount = crossAccountDenial(error, registryId, report)
    if (crossAccount) {
      report.crossAccount = crossAccount
      report.failure += `\n${crossAccountAdvice(crossAccount)}`
    }
    core.setFailed(report.failure)
  } finally {
    stopWatching()
    early?.release()
    removeConfig(session)
    await writeSummary(report)
  }
}

/**
 * With registry-id naming another account than the caller's, a denial
 * may be on either side: the caller's identity policy or the target
 * repository's policy. Both are given. The caller comes from the
 * permission check (STS), else from the ARN AWS quotes in the denial.
 */
function crossAccountDenial(
  error: unknown,
  registryId: string | undefined,
  report: RunReport
): CrossAccountPolicies | undefined {
  const denied =
    error instanceof AccessDeniedError || report.neededPolicy !== undefined
  if (!denied || !registryId || !report.repositoryArn) return undefined
  const caller = report.callerArn ?? deniedPrincipal(errorMessage(error))
  if (caller === undefined) return undefined
  return crossAccountPolicies(report.repositoryArn, caller, registryId)
}

/** Removes the step's private docker config, if it has one; says so. */
function removeConfig(session: dockerCli.DockerSession): string | undefined {
  if (!session.configDir) return undefined
  removePrivateDockerConfig(session.configDir)
  core.saveState(State.privateDockerConfig, '')
  session.configDir = undefined
  return 'removed the private docker config'
}

async function publish(
  settings: Settings,
  session: dockerCli.DockerSession,
  report: RunReport,
  early: EarlyBuild | undefined,
  direct: DirectCalls | undefined
): Promise<void> {
  const destination = await prepareDestination(
    settings,
    session,
    report,
    direct
  )
  const { registry, pendingLookup, target } = destination

  // Promotion, reuse and merging only write manifests through the
  // registry API, with the token alone: they decide before any build, and
  // docker needs no login unless the user keeps one for later steps.
  const existing = await tagExistingImage(settings, registry, pendingLookup, {
    ...target,
    push: settings.push
  })
  // Logged in once, by whichever needs it first; said in the log by the
  // phase that waits for it.
  const dockerLogin = once(() => logIn(settings, session, destination.login))
  const logInToDocker = once(async () => core.info(await dockerLogin()))
  const timing = loginTiming(settings, early, existing)
  if (timing === 'now') await phase('Login', logInToDocker)
  // While docker builds, once the lookup shows a tag to write.
  const loggingIn =
    timing === 'when-a-tag-is-missing'
      ? pendingLookup
          .then(async lookup => {
            if (settings.tags.every(tag => lookup.get(tag))) return false
            await dockerLogin()
            return true
          })
          .catch(() => false)
      : Promise.resolve(false)
  try {
    await publishImage(settings, session, destination, report, {
      early,
      existing,
      logInToDocker
    })
  } finally {
    // Nothing outlives the step: a login still under way ends first, and
    // one no push needed is said too.
    if (await loggingIn) await logInToDocker()
  }
}

async function publishImage(
  settings: Settings,
  session: dockerCli.DockerSession,
  destination: Destination,
  report: RunReport,
  {
    early,
    existing,
    logInToDocker
  }: {
    early: EarlyBuild | undefined
    existing: ExistingImage | undefined
    logInToDocker: () => Promise<void>
  }
): Promise<void> {
  const { registry, pendingLookup, target } = destination
  if (existing) {
    reportExistingImage(existing, settings, target.repositoryUri, report)
    return
  }
  if (destination.withBuildx) {
    await buildWithBuildx(
      settings,
      session,
      registry,
      pendingLookup,
      target,
      report
    )
    return
  }
  await buildAndPush(settings, session, destination, {
    early,
    logInToDocker,
    report
  })
}

/**
 * Where this run pushes: the repository found or created, its registry
 * reached through the API with the token, and what its tags point at
 * now, being read while the image builds.
 */
interface Destination {
  login: RegistryLogin
  registry: RegistryClient
  target: Omit<ExistingImageRequest, 'push'>
  pendingLookup: Promise<TagLookup>
  /** Whether the image is built with buildx. */
  withBuildx: boolean
}

async function prepareDestination(
  settings: Settings,
  session: dockerCli.DockerSession,
  report: RunReport,
  direct: DirectCalls | undefined
): Promise<Destination> {
  // The token does not depend on the repository: ask for both at once,
  // so that both are there one round trip after the inputs are read.
  const registryWay = openRegistry(settings, direct)
  const pendingLogin = registryWay.login
  pendingLogin.catch(() => undefined)
  const pendingRepository = registryWay.lookup
  pendingRepository.catch(() => undefined)
  // Asked now too: a build that needs buildx on a runner without it
  // fails before anything is created.
  const pendingBuildx = useBuildx(session, settings)
  pendingBuildx.catch(() => undefined)
  if (settings.registryId) {
    setPolicyOutputs(
      repositoryArn(
        settings.partition,
        settings.region,
        settings.registryId,
        settings.repository
      ),
      report
    )
  }

  if (settings.validatePermissions) {
    await phase('Permissions', () =>
      checkPermissionsFirst(settings, report, {
        login: pendingLogin,
        repository: pendingRepository
      })
    )
  }

  const withBuildx = await pendingBuildx
  const repository = await phase('Repository', () => registryWay.ensure())
  setPolicyOutputs(repository.arn, report)
  report.repositoryCreated = repository.created
  core.setOutput('repository-created', String(repository.created))

  const login = await pendingLogin
  setPolicyOutputs(
    registryRepositoryArn(login.registry, settings.repository),
    report
  )
  const { repositoryUri, registryPath } = registryWay.locate(login, repository)
  report.repositoryUri = repositoryUri
  core.setOutput('registry', login.registry)
  core.setOutput('repository-uri', repositoryUri)

  const registry = new RegistryClient(
    login,
    seconds(settings.networkTimeout),
    retryPolicy(settings.maxAttempts)
  )
  const pendingLookup = repository.exists
    ? lookupTags(registry, registryPath, settings.tags)
    : Promise.resolve<TagLookup>(new Map())
  pendingLookup.catch(() => undefined)

  return {
    login,
    registry,
    pendingLookup,
    withBuildx,
    target: {
      repository: registryPath,
      repositoryUri,
      tags: settings.tags,
      mutability: repository.imageTagMutability,
      mutabilityExclusionFilters: repository.mutabilityExclusionFilters
    }
  }
}

/**
 * When docker logs in. docker needs the login to push, and to build only
 * when the build did not start at once. An early build's run logs in
 * while docker builds when the lookup shows a tag missing, and otherwise
 * (every tag there, a rerun usually) only once a push turns out to be
 * needed, so the login does not compete with the build for nothing. The
 * run goes on meanwhile: tagging the image here does not wait for it.
 * keep-login logs in for later steps either way.
 */
function loginTiming(
  settings: Settings,
  early: EarlyBuild | undefined,
  existing: ExistingImage | undefined
): 'now' | 'when-a-tag-is-missing' | 'on-push' {
  if (settings.keepLogin) return 'now'
  // An image already in the registry is tagged through its API: docker
  // pushes nothing.
  if (existing) return 'on-push'
  if (early === undefined) return 'now'
  return settings.push ? 'when-a-tag-is-missing' : 'on-push'
}

/** Builds (or tags the image given, or the early build's) and pushes. */
async function buildAndPush(
  settings: Settings,
  session: dockerCli.DockerSession,
  { registry, pendingLookup, target }: Destination,
  {
    early,
    logInToDocker,
    report
  }: {
    early: EarlyBuild | undefined
    logInToDocker: () => Promise<void>
    report: RunReport
  }
): Promise<void> {
  const { repositoryUri } = target
  const { imageId, localTags } = early
    ? await tagEarlyBuild(session, repositoryUri, settings.tags, early, {
        pendingLookup
      })
    : {
        imageId: await phase(settings.image ? 'Tag' : 'Build', () =>
          prepareImage(
            settings,
            session,
            settings.tags.map(tag => `${repositoryUri}:${tag}`)
          )
        ),
        localTags: undefined
      }
  report.imageId = imageId
  core.setOutput('image-id', imageId)

  const request: PushRequest = {
    ...target,
    imageId,
    beforeDockerPush: async (tag: string) => {
      await logInToDocker()
      await localTags?.get(tag)
    }
  }
  if (!settings.push) {
    report.dryRunTags = settings.tags
    checkWithoutPushing(await pendingLookup, request)
  } else {
    const result = await phase('Push', async () =>
      pushImage(session, registry, await pendingLookup, request)
    )
    core.setOutput('pushed', String(result.pushed))
    setPushedOutputs(repositoryUri, result.digest, settings.tags, report)
  }
  if (localTags) {
    await Promise.all(localTags.values())
    core.info(
      `Tagged ${imageId} here as ${settings.tags
        .map(tag => `${repositoryUri}:${tag}`)
        .join(', ')}`
    )
  }
}

/**
 * The image the entry built, under every reference. docker tagged it as
 * it built when the token named the registry in time; otherwise it is
 * tagged now. docker push waits only for the tag it pushes, which goes
 * first: the others follow while docker pushes. When a tag is at this
 * image already, docker pushes nothing, and all go at once.
 */
async function tagEarlyBuild(
  session: dockerCli.DockerSession,
  repositoryUri: string,
  tags: string[],
  early: EarlyBuild,
  { pendingLookup }: { pendingLookup: Promise<TagLookup> }
): Promise<{ imageId: string; localTags: Map<string, Promise<void>> }> {
  markPhase('Build')
  const imageId = await early.imageId
  const tagHere = (tag: string): Promise<void> =>
    dockerCli.tag(session, imageId, `${repositoryUri}:${tag}`)
  // docker tagged it as it built, when the registry was known in time.
  const wanted = tags.map(tag => `${repositoryUri}:${tag}`)
  if (early.references.join('\n') === wanted.join('\n')) {
    return {
      imageId,
      localTags: new Map(tags.map(tag => [tag, Promise.resolve()]))
    }
  }

  // The first tag is the one docker pushes, if it pushes: tagged at once,
  // while the lookup is still out. The others follow it when docker
  // pushes, so as not to slow it down, and go at once when it does not
  // (a tag is at this image already: a rerun).
  const first = tags[0] === undefined ? Promise.resolve() : tagHere(tags[0])
  const rest = pendingLookup
    .catch(() => new Map() as TagLookup)
    .then(lookup =>
      tags.some(tag => lookup.get(tag)?.configDigest === imageId)
        ? undefined
        : first
    )
  const localTags = new Map(
    tags.map((tag, index) => [
      tag,
      index === 0 ? first : rest.then(() => tagHere(tag))
    ])
  )
  // Each is awaited: by the push that needs it, and all at the end.
  for (const pending of localTags.values()) pending.catch(() => undefined)
  return { imageId, localTags }
}

/** Runs `fn` the first time it is called; later calls share its result. */
function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let result: Promise<T> | undefined
  return () => (result ??= fn())
}

/** With push off, says what a push would do, and warns where it would fail. */
function checkWithoutPushing(lookup: TagLookup, request: PushRequest): void {
  const plan = planPush(
    request.tags,
    lookup,
    request.imageId,
    request.mutability,
    request.mutabilityExclusionFilters
  )
  if (plan.conflicts.length) {
    const error = conflictError(
      plan.conflicts,
      buildWanted(request.imageId),
      request.mutability,
      request.mutabilityExclusionFilters,
      'A push would fail before writing anything.'
    )
    core.warning(error.message)
  }
  core.info(
    `push is false: nothing was created or pushed (would write ` +
      `${plan.toWrite.length} tag(s), ${plan.unchanged.length} already there)`
  )
}

/**
 * source-tag, skip-existing or merge-sources: the image in the registry
 * that the tags now point at, when one is used instead of a build.
 */
async function tagExistingImage(
  settings: Settings,
  registry: RegistryClient,
  lookup: Promise<TagLookup>,
  request: ExistingImageRequest
): Promise<ExistingImage | undefined> {
  if (settings.mergeSources.length) {
    return phase('Merge', () =>
      mergeImages(registry, lookup, request, settings.mergeSources)
    )
  }
  if (settings.sourceTag === undefined && !settings.skipExisting) {
    return undefined
  }
  return phase(settings.sourceTag ? 'Promote' : 'Reuse', () =>
    useExistingImage(registry, lookup, request, settings.sourceTag)
  )
}

/**
 * The outputs of a promotion, reuse, merge or buildx push describe the
 * manifest the tags now point at; an index has no image ID.
 */
function reportExistingImage(
  existing: ExistingImage,
  settings: Settings,
  repositoryUri: string,
  report: RunReport
): void {
  if (existing.platforms) report.platforms = existing.platforms
  report.imageId = existing.imageId
  core.setOutput('image-id', existing.imageId)
  if (!settings.push) {
    report.dryRunTags = settings.tags
    return
  }
  core.setOutput('pushed', String(existing.pushed))
  setPushedOutputs(repositoryUri, existing.digest, settings.tags, report)
}

/**
 * A buildx build pushes the image (or index) by digest, untagged; the
 * tags are then pointed at it through the registry API, each once, so
 * reruns and immutable tags behave as for any image in the registry.
 */
async function buildWithBuildx(
  settings: Settings,
  session: dockerCli.DockerSession,
  registry: RegistryClient,
  lookup: Promise<TagLookup>,
  target: Omit<ExistingImageRequest, 'push'>,
  report: RunReport
): Promise<void> {
  if (settings.cacheTag !== undefined && settings.push) {
    const refusal = immutableCacheTag(
      settings.cacheTag,
      target.mutability,
      target.mutabilityExclusionFilters
    )
    if (refusal) throw refusal
  }
  if (settings.platforms.length) report.platforms = settings.platforms

  const built = await phase('Build', () =>
    buildx(session, {
      context: settings.context,
      dockerfile: settings.dockerfile,
      buildArgs: settings.buildArgs,
      labels: withProvenance(
        settings.labels,
        provenanceLabels(process.env, settings.version)
      ),
      target: settings.target,
      platforms: settings.platforms,
      attestations: settings.attestations,
      repositoryUri: target.repositoryUri,
      push: settings.push,
      cacheReference:
        settings.cacheTag && `${target.repositoryUri}:${settings.cacheTag}`,
      cacheFrom: settings.cacheFrom,
      cacheTo: settings.cacheTo
    })
  )

  if (!settings.push || built.digest === undefined) {
    report.imageId = built.configDigest ?? ''
    core.setOutput('image-id', report.imageId)
    report.dryRunTags = settings.tags
    core.info('push is false: built with buildx; nothing was pushed')
    return
  }
  const digest = built.digest
  const image = await phase('Tag', () =>
    tagPushedImage(registry, lookup, { ...target, push: true }, digest)
  )
  reportExistingImage(image, settings, target.repositoryUri, report)
}

async function logIn(
  settings: Settings,
  session: dockerCli.DockerSession,
  login: RegistryLogin
): Promise<string> {
  if (settings.keepLogin) {
    // Later steps of the job use this login; the post step logs out.
    core.saveState(State.loggedInRegistry, login.registry)
    core.saveState(State.loggedInDockerConfig, process.env.DOCKER_CONFIG ?? '')
    core.saveState(
      State.logoutTimeoutMs,
      String(seconds(settings.networkTimeout))
    )
  } else {
    session.configDir = createPrivateDockerConfig(
      userDockerConfigDir(process.env),
      process.env.RUNNER_TEMP || os.tmpdir(),
      login.registry
    )
    core.saveState(State.privateDockerConfig, session.configDir)
  }

  await dockerCli.login(session, login.registry, login.username, login.password)
  const where = settings.keepLogin
    ? "the job's docker config, until the post step"
    : 'a docker config private to this step'
  return `Logged in to ${login.registry} in ${where}`
}

async function prepareImage(
  settings: Settings,
  session: dockerCli.DockerSession,
  references: string[]
): Promise<string> {
  if (settings.image) {
    const id = await dockerCli.imageId(session, settings.image)
    for (const reference of references) {
      await dockerCli.tag(session, settings.image, reference)
    }
    core.info(`Tagged ${settings.image} (${id}) as ${references.join(', ')}`)
    return id
  }

  // Only without buildx does a platform get here: one at most.
  const platform = settings.platforms[0]
  const id = await dockerCli.build(session, {
    context: settings.context,
    dockerfile: settings.dockerfile,
    buildArgs: settings.buildArgs,
    labels: withProvenance(
      settings.labels,
      provenanceLabels(process.env, settings.version)
    ),
    target: settings.target,
    references,
    ...(platform ? { platform } : {})
  })
  if (platform) await dockerCli.expectPlatform(session, id, platform)
  core.info(`Built ${id}`)
  return id
}

function setPushedOutputs(
  repositoryUri: string,
  digest: string,
  tags: string[],
  report: RunReport
): void {
  report.digest = digest
  report.pushedTags = tags
  core.setOutput('digest', digest)
  core.setOutput('image-uri', `${repositoryUri}@${digest}`)
  core.setOutput('tags', tags.join('\n'))
  core.setOutput(
    'image-uris',
    tags.map(tag => `${repositoryUri}:${tag}`).join('\n')
  )
}

/**
 * Fails the step on a definite denial, before anything is created or
 * built. STS is asked now, alongside the token and the repository lookup
 * that are already on their way: one round trip for all three.
 */
async function checkPermissionsFirst(
  settings: Settings,
  report: RunReport,
  started: Omit<StartedCalls, 'identity'>
): Promise<void> {
  const config = (await loadSdk()).awsClientConfig(settings.region, settings)
  const check = await checkPermissions(
    settings,
    { ...started, identity: getCallerIdentity(settings.region, config) },
    config
  )
  if (check.caller) report.callerArn = check.caller
  if (check.account) setPolicyOutputs(check.repositoryArn, report)
  const failure = permissionFailure(check)
  if (failure) {
    report.neededPolicy = check.policy
    throw failure
  }
}

/** push-policy and pull-policy, as soon as the repository's ARN is known. */
function setPolicyOutputs(arn: string | undefined, report: RunReport): void {
  if (arn === undefined || report.repositoryArn !== undefined) return
  report.repositoryArn = arn
  core.setOutput('push-policy', pushPolicy(arn))
  core.setOutput('pull-policy', pullPolicy(arn))
}

/**
 * fail-on-severity: waits for the scan of the pushed digest, reports its
 * findings, and fails when one is at or above the threshold. It runs
 * after every output is set, so a failing gate still says what was
 * pushed: the image is in the registry either way.
 */
async function checkVulnerabilities(
  settings: Settings,
  report: RunReport
): Promise<void> {
  const threshold = settings.failOnSeverity
  if (threshold === undefined) return
  if (!settings.push || !report.digest || !report.repositoryUri) {
    core.info(
      'push is false: nothing was pushed, so there is no scan to check ' +
        `against fail-on-severity ${threshold}`
    )
    return
  }

  const imageUri = `${report.repositoryUri}@${report.digest}`
  const target = {
    repository: settings.repository,
    registryId: settings.registryId,
    digest: report.digest,
    imageUri,
    repositoryArn: report.repositoryArn ?? settings.repository
  }
  const result = await phase('Scan', () =>
    waitForScan(lazyEcrClient(settings.region, settings), target, {
      timeoutMs: minutes(settings.scanTimeout),
      sleep,
      now: Date.now
    })
  )
  report.scan = { ...result, threshold }
  core.setOutput('scan-findings', JSON.stringify(result.counts))
  const failure = gateFailure(result, threshold, imageUri)
  if (failure) throw failure
  core.info(
    `Scan (${result.scanner}) of ${report.digest}: nothing at or above ` +
      threshold
  )
}
