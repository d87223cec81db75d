import * as core from '@actions/core'

import * as dockerCli from './docker.js'
import { ActionError } from './errors.js'
import {
  buildWanted,
  conflictError,
  NOTHING_PUSHED,
  planPush,
  type TagLookup
} from './push-plan.js'
import type { RegistryClient, StoredManifest } from './registry.js'

export interface PushRequest {
  repository: string
  repositoryUri: string
  tags: string[]
  /** Image ID (config digest) of the local image. */
  imageId: string
  /** The repository's tag mutability and exclusion filters, as ECR has them. */
  mutability: string | undefined
  mutabilityExclusionFilters: string[]
  /**
   * What docker push of `<uri>:<tag>` waits for: the login, when it was
   * left until a push is needed, and the local tag, when an early build
   * is tagged after it is built.
   */
  beforeDockerPush?: (tag: string) => Promise<void>
}

export interface PushResult {
  /** Manifest digest every requested tag now points at. */
  digest: string
  /** False when every tag was already at this image. */
  pushed: boolean
}

/** Reads which manifest each tag points at now, all at once. */
export async function lookupTags(
  registry: RegistryClient,
  repository: string,
  tags: string[]
): Promise<TagLookup> {
  const manifests = await Promise.all(
    tags.map(tag => registry.getManifest(repository, tag))
  )
  return new Map(tags.map((tag, index) => [tag, manifests[index]]))
}

/**
 * Pushes the image once, then points the other tags at the same manifest
 * through the registry API: no layer checks per tag, and every tag ends at
 * exactly the digest the registry accepted. Tags already at this image are
 * left alone, so a rerun uploads nothing.
 */
export async function pushImage(
  session: dockerCli.DockerSession,
  registry: RegistryClient,
  lookup: TagLookup,
  request: PushRequest
): Promise<PushResult> {
  const plan = planPush(
    request.tags,
    lookup,
    request.imageId,
    request.mutability,
    request.mutabilityExclusionFilters
  )
  if (plan.conflicts.length) {
    throw conflictError(
      plan.conflicts,
      buildWanted(request.imageId),
      request.mutability,
      request.mutabilityExclusionFilters,
      NOTHING_PUSHED
    )
  }
  for (const tag of plan.unchanged) {
    core.info(`${tag} is already at this image: nothing to push`)
  }

  const toWrite = [...plan.toWrite]
  let manifest = plan.existing
  if (!manifest) {
    const first = toWrite.shift()
    if (first === undefined) {
      throw new ActionError('No tag to push: the tag list is empty')
    }
    manifest = await pushWithDocker(session, registry, request, first)
  }

  const stored = manifest
  await Promise.all(
    toWrite.map(async tag => {
      await registry.putManifest(request.repository, tag, stored)
      core.info(`Tagged ${request.repositoryUri}:${tag} at ${stored.digest}`)
    })
  )

  const pushed = plan.unchanged.length < request.tags.length
  if (!pushed) core.info('Every tag was already at this image: nothing pushed')
  return { digest: stored.digest, pushed }
}

async function pushWithDocker(
  session: dockerCli.DockerSession,
  registry: RegistryClient,
  request: PushRequest,
  tag: string
): Promise<StoredManifest> {
  await request.beforeDockerPush?.(tag)
  const digest = await dockerCli.push(
    session,
    `${request.repositoryUri}:${tag}`
  )
  const manifest = await registry.getManifest(request.repository, digest)
  if (!manifest || manifest.digest !== digest) {
    throw new ActionError(
      `docker push reported ${digest}, but the registry does not serve ` +
        `that manifest for ${request.repository}`
    )
  }
  return manifest
}
