import * as core from '@actions/core'
import os from 'node:os'

import { getRegistryLogin, type RegistryLogin } from './auth.js'
import { createEcrClient } from './aws.js'
import * as dockerCli from './docker.js'
import {
  createPrivateDockerConfig,
  removePrivateDockerConfig,
  userDockerConfigDir
} from './docker-config.js'
import { errorMessage } from './errors.js'
import { getInputs, type Settings } from './inputs.js'
import { lookupTags, pushImage, type PushRequest } from './push.js'
import { conflictError, planPush, type TagLookup } from './push-plan.js'
import { RegistryClient } from './registry.js'
import { ensureRepository } from './repository.js'
import { State } from './state.js'
import { writeSummary, type RunReport } from './summary.js'

/**
 * The main step: inputs, repository, login, build, push, report. This is
 * the one place that fails the step; every phase throws errors already
 * written for the log.
 */
export async function run(): Promise<void> {
  const report: RunReport = { repository: core.getInput('repository') }
  const session: dockerCli.DockerSession = { configDir: undefined }

  try {
    const settings = await core.group('Inputs', async () => getInputs())
    report.region = settings.region
    await publish(settings, session, report)
  } catch (error) {
    report.failure = errorMessage(error)
    core.setFailed(report.failure)
  } finally {
    if (session.configDir) {
      removePrivateDockerConfig(session.configDir)
      core.saveState(State.privateDockerConfig, '')
    }
    await writeSummary(report)
  }
}

async function publish(
  settings: Settings,
  session: dockerCli.DockerSession,
  report: RunReport
): Promise<void> {
  const ecr = createEcrClient(settings.region)

  // The token does not depend on the repository: ask for both at once,
  // so the build starts one round trip after the inputs are read.
  const pendingLogin = getRegistryLogin(ecr, settings.registryId)
  pendingLogin.catch(() => undefined)

  const repository = await core.group('Repository', () =>
    ensureRepository(ecr, settings)
  )
  report.repositoryCreated = repository.created
  core.setOutput('repository-created', String(repository.created))

  const login = await core.group('Login', async () =>
    logIn(settings, session, await pendingLogin)
  )
  const repositoryUri = `${login.registry}/${settings.repository}`
  report.repositoryUri = repositoryUri
  core.setOutput('registry', login.registry)
  core.setOutput('repository-uri', repositoryUri)

  // What the tags point at now is read while the image builds.
  const registry = new RegistryClient(login)
  const pendingLookup = repository.exists
    ? lookupTags(registry, settings.repository, settings.tags)
    : Promise.resolve<TagLookup>(new Map())
  pendingLookup.catch(() => undefined)

  const references = settings.tags.map(tag => `${repositoryUri}:${tag}`)
  const imageId = await core.group(settings.image ? 'Tag' : 'Build', () =>
    prepareImage(settings, session, references)
  )
  report.imageId = imageId
  core.setOutput('image-id', imageId)

  const request = {
    repository: settings.repository,
    repositoryUri,
    tags: settings.tags,
    imageId,
    mutability: repository.imageTagMutability,
    mutabilityExclusionFilters: repository.mutabilityExclusionFilters
  }
  if (!settings.push) {
    report.dryRunTags = settings.tags
    checkWithoutPushing(await pendingLookup, request)
    return
  }

  const result = await core.group('Push', async () =>
    pushImage(session, registry, await pendingLookup, request)
  )
  core.setOutput('pushed', String(result.pushed))
  setPushedOutputs(repositoryUri, result.digest, settings.tags, report)
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
    core.warning(
      conflictError(plan.conflicts, request.imageId, request.mutability).message
    )
  }
  core.info(
    `push is false: nothing was created or pushed (would write ` +
      `${plan.toWrite.length} tag(s), ${plan.unchanged.length} already there)`
  )
}

async function logIn(
  settings: Settings,
  session: dockerCli.DockerSession,
  login: RegistryLogin
): Promise<RegistryLogin> {
  if (settings.keepLogin) {
    // Later steps of the job use this login; the post step logs out.
    core.saveState(State.loggedInRegistry, login.registry)
    core.saveState(State.loggedInDockerConfig, process.env.DOCKER_CONFIG ?? '')
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
  core.info(`Logged in to ${login.registry} in ${where}`)
  return login
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

  const id = await dockerCli.build(session, {
    context: settings.context,
    dockerfile: settings.dockerfile,
    buildArgs: settings.buildArgs,
    labels: settings.labels,
    target: settings.target,
    references
  })
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
