import * as core from '@actions/core'
import type { Repository } from '@aws-sdk/client-ecr'

import type { CreatedRepository } from './direct-ecr.js'
import { ActionError, awsErrorName } from './errors.js'
import type { Settings } from './inputs.js'
import { explainDenial, repositoryArn } from './policy.js'
import { ecrClientOf, loadSdk, type EcrSource } from './sdk-loader.js'

/** What the run knows about the repository once it has been ensured. */
export interface RepositoryState {
  /** False only when push is off and the repository does not exist yet. */
  exists: boolean
  /** True only for the run whose CreateRepository call made it. */
  created: boolean
  arn: string | undefined
  /**
   * The repository URI as the ECR API gives it; undefined when not known
   * (push off and the repository missing).
   */
  uri: string | undefined
  /** The account that owns the registry, when known. */
  registryId: string | undefined
  imageTagMutability: string | undefined
  mutabilityExclusionFilters: string[]
}

type RepositorySettings = Pick<
  Settings,
  | 'repository'
  | 'registryId'
  | 'region'
  | 'partition'
  | 'push'
  | 'sourceTag'
  | 'mergeSources'
  | 'createRepository'
  | 'imageTagMutability'
  | 'mutabilityExclusionFilters'
  | 'scanOnPush'
  | 'encryptionType'
  | 'kmsKey'
  | 'repositoryTags'
  | 'lifecyclePolicy'
  | 'repositoryPolicy'
>

/**
 * Finds the repository, creating it when it is missing and that is
 * allowed, and brings its policies in line with the inputs. With push off
 * it only reads: nothing is created or written.
 */
export async function ensureRepository(
  ecr: EcrSource,
  settings: RepositorySettings,
  found: Promise<Repository | undefined> = findRepository(ecr, settings),
  createDirectly?: CreateDirectly
): Promise<RepositoryState> {
  const guessArn = arnBeforeDescribe(settings)
  const existing = await found

  if (existing) {
    core.info(`Found repository ${existing.repositoryUri}`)
    warnAboutDifferences(existing, settings)
    if (settings.push) await syncPolicies(ecr, settings, existing, false)
    return stateOf(existing, false)
  }

  refuseMissing(settings, `${registryName(settings)} (${settings.region})`)

  if (!settings.push) {
    core.info(
      `Repository ${settings.repository} does not exist; it would be ` +
        'created, but push is false, so nothing is created.'
    )
    return {
      exists: false,
      created: false,
      arn: undefined,
      uri: undefined,
      registryId: settings.registryId,
      imageTagMutability: settings.imageTagMutability,
      mutabilityExclusionFilters: settings.mutabilityExclusionFilters
    }
  }

  return create(ecr, settings, guessArn, createDirectly)
}

/**
 * Throws when a missing repository is an error, `where` being the
 * registry it is missing from: a promotion or a merge needs images
 * already there (creating an empty repository would only hide a misspelt
 * name), and create-repository false forbids creating it.
 */
export function refuseMissing(
  settings: Pick<
    RepositorySettings,
    'repository' | 'sourceTag' | 'mergeSources' | 'createRepository'
  >,
  where: string
): void {
  const missing = `Repository ${settings.repository} does not exist in ${where}`
  if (settings.sourceTag !== undefined) {
    throw new ActionError(
      `${missing}, so there is no image at source-tag ` +
        `${settings.sourceTag} to promote. Check the repository name.`
    )
  }
  if (settings.mergeSources.length) {
    throw new ActionError(
      `${missing}, so there are no images to merge. Check the repository ` +
        'name, and that the build jobs pushed to it.'
    )
  }
  if (!settings.createRepository) {
    throw new ActionError(
      `${missing}, and create-repository is false. Create it first, or ` +
        'set create-repository: true.'
    )
  }
}

/**
 * Describes the repository only: undefined when it is missing. main.ts
 * starts it with the token, so that the permission check and the
 * repository phase share one lookup.
 */
export function findRepository(
  ecr: EcrSource,
  settings: Pick<
    RepositorySettings,
    'repository' | 'registryId' | 'region' | 'partition'
  >
): Promise<Repository | undefined> {
  return describe(ecr, settings, arnBeforeDescribe(settings))
}

function arnBeforeDescribe(
  settings: Pick<
    RepositorySettings,
    'repository' | 'registryId' | 'region' | 'partition'
  >
): string {
  return repositoryArn(
    settings.partition,
    settings.region,
    settings.registryId ?? '<account>',
    settings.repository
  )
}

function registryName(settings: RepositorySettings): string {
  return settings.registryId
    ? `registry ${settings.registryId}`
    : "the caller's registry"
}

async function describe(
  ecr: EcrSource,
  settings: Pick<RepositorySettings, 'repository' | 'registryId'>,
  arn: string
): Promise<Repository | undefined> {
  try {
    const { DescribeRepositoriesCommand } = await loadSdk()
    const client = await ecrClientOf(ecr)
    const response = await client.send(
      new DescribeRepositoriesCommand({
        repositoryNames: [settings.repository],
        ...(settings.registryId ? { registryId: settings.registryId } : {})
      })
    )
    return response.repositories?.[0]
  } catch (error) {
    // Only this exception means "missing"; a denial must never be read so.
    if (awsErrorName(error) === 'RepositoryNotFoundException') return undefined
    throw explainDenial(error, 'ecr:DescribeRepositories', arn)
  }
}

/**
 * CreateRepository made another way than through the SDK (the entry's
 * signed requests, src/direct-ecr.ts); undefined leaves it to the SDK.
 */
export type CreateDirectly = (
  request: ReturnType<typeof createRequest>
) => Promise<CreatedRepository | undefined>

async function create(
  ecr: EcrSource,
  settings: RepositorySettings,
  arn: string,
  createDirectly: CreateDirectly | undefined
): Promise<RepositoryState> {
  const request = createRequest(settings)
  const direct = await createDirectly?.(request)
  let created: Repository | undefined
  if (direct && 'repository' in direct) {
    created = direct.repository
  } else if (direct?.alreadyExists) {
    return createdByAnotherRun(ecr, settings, arn)
  } else {
    try {
      const { CreateRepositoryCommand } = await loadSdk()
      const client = await ecrClientOf(ecr)
      const response = await client.send(new CreateRepositoryCommand(request))
      created = response.repository
    } catch (error) {
      if (awsErrorName(error) !== 'RepositoryAlreadyExistsException') {
        throw explainDenial(error, 'ecr:CreateRepository', arn)
      }
      return createdByAnotherRun(ecr, settings, arn)
    }
  }

  if (!created) {
    throw new ActionError('CreateRepository returned no repository')
  }
  core.info(`Created repository ${created.repositoryUri}`)
  await syncPolicies(ecr, settings, created, true)
  return stateOf(created, true)
}

/** A parallel job created it between our describe and create: success. */
async function createdByAnotherRun(
  ecr: EcrSource,
  settings: RepositorySettings,
  arn: string
): Promise<RepositoryState> {
  core.info(`Repository ${settings.repository} was just created by another run`)
  const existing = await describe(ecr, settings, arn)
  if (!existing) {
    throw new ActionError(
      `Repository ${settings.repository} was reported as existing, but ` +
        'cannot be found: was it deleted meanwhile?'
    )
  }
  warnAboutDifferences(existing, settings)
  await syncPolicies(ecr, settings, existing, false)
  return stateOf(existing, false)
}

export function createRequest(settings: RepositorySettings) {
  const filters = settings.mutabilityExclusionFilters.map(filter => ({
    filterType: 'WILDCARD' as const,
    filter
  }))
  return {
    repositoryName: settings.repository,
    ...(settings.registryId ? { registryId: settings.registryId } : {}),
    imageTagMutability: settings.imageTagMutability,
    ...(filters.length ? { imageTagMutabilityExclusionFilters: filters } : {}),
    imageScanningConfiguration: { scanOnPush: settings.scanOnPush },
    encryptionConfiguration: {
      encryptionType: settings.encryptionType,
      ...(settings.kmsKey ? { kmsKey: settings.kmsKey } : {})
    },
    ...(settings.repositoryTags.length ? { tags: settings.repositoryTags } : {})
  }
}

function stateOf(repository: Repository, created: boolean): RepositoryState {
  return {
    exists: true,
    created,
    arn: repository.repositoryArn,
    uri: repository.repositoryUri,
    registryId: repository.registryId,
    imageTagMutability: repository.imageTagMutability,
    mutabilityExclusionFilters: (
      repository.imageTagMutabilityExclusionFilters ?? []
    ).flatMap(filter => (filter.filter ? [filter.filter] : []))
  }
}

/**
 * Settings of an existing repository are never changed behind the user's
 * back: each difference is a warning, and the repository stays as it is.
 */
export function settingsDifferences(
  repository: Repository,
  settings: RepositorySettings
): string[] {
  const differences: string[] = []
  const compare = (name: string, actual: unknown, wanted: unknown) => {
    if (actual !== undefined && actual !== wanted) {
      differences.push(
        `${name} is ${String(actual)} in the repository, ` +
          `but the input asks for ${String(wanted)}`
      )
    }
  }
  compare(
    'image-tag-mutability',
    repository.imageTagMutability,
    settings.imageTagMutability
  )
  if (repository.imageTagMutability?.endsWith('_WITH_EXCLUSION')) {
    compare(
      'image-tag-mutability-exclusion-filters',
      (repository.imageTagMutabilityExclusionFilters ?? [])
        .map(filter => filter.filter)
        .sort()
        .join(','),
      [...settings.mutabilityExclusionFilters].sort().join(',')
    )
  }
  compare(
    'scan-on-push',
    repository.imageScanningConfiguration?.scanOnPush,
    settings.scanOnPush
  )
  compare(
    'encryption-type',
    repository.encryptionConfiguration?.encryptionType,
    settings.encryptionType
  )
  // ECR reports the key's ARN, which an alias cannot be compared with.
  if (settings.kmsKey && !/(^|:)alias\//.test(settings.kmsKey)) {
    const actualKey = repository.encryptionConfiguration?.kmsKey
    if (actualKey !== undefined && !actualKey.endsWith(settings.kmsKey)) {
      differences.push(
        `kms-key is ${actualKey} in the repository, ` +
          `but the input asks for ${settings.kmsKey}`
      )
    }
  }
  return differences
}

function warnAboutDifferences(
  repository: Repository,
  settings: RepositorySettings
): void {
  for (const difference of settingsDifferences(repository, settings)) {
    core.warning(
      `${difference}. Settings of an existing repository are left as ` +
        'they are; change them in ECR if that is what you want.'
    )
  }
}

interface PolicyHandle {
  label: string
  wanted: string | undefined
  read: () => Promise<string | undefined>
  notFound: string
  readAction: string
  write: (text: string) => Promise<unknown>
  writeAction: string
}

/** Writes each policy given in the inputs, unless it is already there. */
async function syncPolicies(
  ecr: EcrSource,
  settings: RepositorySettings,
  repository: Repository,
  isNew: boolean
): Promise<void> {
  // Most runs give no policy: they need the SDK for nothing here.
  if (
    settings.lifecyclePolicy === undefined &&
    settings.repositoryPolicy === undefined
  ) {
    return
  }
  const sdk = await loadSdk()
  const client = await ecrClientOf(ecr)
  const target = {
    repositoryName: settings.repository,
    ...(repository.registryId ? { registryId: repository.registryId } : {})
  }
  const arn = repository.repositoryArn ?? settings.repository
  const handles: PolicyHandle[] = [
    {
      label: 'Lifecycle policy',
      wanted: settings.lifecyclePolicy,
      read: async () =>
        (await client.send(new sdk.GetLifecyclePolicyCommand(target)))
          .lifecyclePolicyText,
      notFound: 'LifecyclePolicyNotFoundException',
      readAction: 'ecr:GetLifecyclePolicy',
      write: text =>
        client.send(
          new sdk.PutLifecyclePolicyCommand({
            ...target,
            lifecyclePolicyText: text
          })
        ),
      writeAction: 'ecr:PutLifecyclePolicy'
    },
    {
      label: 'Repository policy',
      wanted: settings.repositoryPolicy,
      read: async () =>
        (await client.send(new sdk.GetRepositoryPolicyCommand(target)))
          .policyText,
      notFound: 'RepositoryPolicyNotFoundException',
      readAction: 'ecr:GetRepositoryPolicy',
      write: text =>
        client.send(
          new sdk.SetRepositoryPolicyCommand({ ...target, policyText: text })
        ),
      writeAction: 'ecr:SetRepositoryPolicy'
    }
  ]

  for (const handle of handles) {
    if (handle.wanted === undefined) continue
    const current = isNew ? undefined : await readCurrent(handle, arn)
    if (samePolicy(current, handle.wanted)) {
      core.info(`${handle.label} is already as given`)
      continue
    }
    await handle.write(handle.wanted).catch((error: unknown) => {
      throw explainDenial(error, handle.writeAction, arn)
    })
    core.info(`${handle.label} written`)
  }
}

async function readCurrent(
  handle: PolicyHandle,
  arn: string
): Promise<string | undefined> {
  try {
    return await handle.read()
  } catch (error) {
    if (awsErrorName(error) === handle.notFound) return undefined
    throw explainDenial(error, handle.readAction, arn)
  }
}

/** Two policy texts mean the same when their JSON is equal. */
export function samePolicy(
  current: string | undefined,
  wanted: string
): boolean {
  if (current === undefined) return false
  try {
    return canonical(JSON.parse(current)) === canonical(JSON.parse(wanted))
  } catch {
    return false
  }
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, item]) => `${JSON.stringify(key)}:${canonical(item)}`)
    return `{${entries.join(',')}}`
  }
  return JSON.stringify(value)
}
