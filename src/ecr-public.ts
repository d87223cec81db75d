/**
 * ECR Public (registry-type public): repositories on
 * public.ecr.aws/<alias>, through the ECR Public API.
 *
 * - The API and its login answer in us-east-1 only, whatever region the
 *   job uses; the client is made for that region.
 * - The client's own chunk is loaded only by runs that push to ECR
 *   Public: most runs never need it.
 * - A repository URI names the registry's alias, which only ECR Public
 *   knows: it comes from the repository itself, or (push off, repository
 *   missing) from DescribeRegistries.
 * - Gallery data (catalog inputs) goes with CreateRepository, and is
 *   written to an existing repository only when it differs.
 */
import * as core from '@actions/core'
import type {
  ECRPUBLICClient,
  Repository,
  RepositoryCatalogData
} from '@aws-sdk/client-ecr-public'

import type { RegistryLogin } from './auth.js'
import { decodeLogin } from './auth.js'
import type { NetworkSettings } from './aws.js'
import { ActionError, awsErrorName, errorMessage } from './errors.js'
import type { PublicCatalog, Settings } from './inputs.js'
import {
  PUBLIC_LOGIN_ACTIONS,
  PUBLIC_REGISTRY,
  explainDenial,
  publicRepositoryArn
} from './policy.js'
import { refuseMissing, type RepositoryState } from './repository.js'
import { loadSdk } from './sdk-loader.js'

/** The one region ECR Public's API and login answer in. */
export const ECR_PUBLIC_REGION = 'us-east-1'

type Sdk = typeof import('@aws-sdk/client-ecr-public')

/** The ECR Public client with its SDK module, loaded on demand. */
export interface EcrPublic {
  sdk: Sdk
  client: ECRPUBLICClient
}

type PublicSettings = Pick<
  Settings,
  | 'repository'
  | 'partition'
  | 'push'
  | 'sourceTag'
  | 'mergeSources'
  | 'createRepository'
  | 'repositoryTags'
  | 'publicCatalog'
>

/**
 * The ECR Public client, with the run's retries, timeouts and proxy, in
 * us-east-1. AWS_ENDPOINT_URL_ECR_PUBLIC (then AWS_ENDPOINT_URL) points it
 * elsewhere, as the SDK does for every client.
 */
export async function createEcrPublicClient(
  network: NetworkSettings
): Promise<EcrPublic> {
  const aws = await loadSdk()
  const sdk = await aws.loadEcrPublic()
  const client = new sdk.ECRPUBLICClient(
    aws.awsClientConfig(ECR_PUBLIC_REGION, network)
  )
  return { sdk, client }
}

/** The ARN before ECR Public has named the account. */
function guessArn(settings: Pick<PublicSettings, 'partition' | 'repository'>) {
  return publicRepositoryArn(
    settings.partition,
    '<account>',
    settings.repository
  )
}

/**
 * Describes the repository only: undefined when it is missing, and a
 * denial is never read as missing.
 */
export async function findPublicRepository(
  ecr: EcrPublic,
  settings: Pick<PublicSettings, 'partition' | 'repository'>
): Promise<Repository | undefined> {
  try {
    const response = await ecr.client.send(
      new ecr.sdk.DescribeRepositoriesCommand({
        repositoryNames: [settings.repository]
      })
    )
    return response.repositories?.[0]
  } catch (error) {
    if (awsErrorName(error) === 'RepositoryNotFoundException') return undefined
    throw explainDenial(
      error,
      'ecr-public:DescribeRepositories',
      guessArn(settings)
    )
  }
}

/**
 * Finds the public repository, creating it (with its gallery data) when
 * it is missing and that is allowed, and brings the gallery data of an
 * existing one in line with the inputs. With push off it only reads.
 */
export async function ensurePublicRepository(
  ecr: EcrPublic,
  settings: PublicSettings,
  found: Promise<Repository | undefined> = findPublicRepository(ecr, settings)
): Promise<RepositoryState> {
  const existing = await found
  if (existing) {
    core.info(`Found repository ${existing.repositoryUri}`)
    if (settings.push) await syncCatalog(ecr, settings, existing)
    return publicState(existing, false)
  }

  refuseMissing(settings, "the ECR Public registry of the credentials' account")
  if (!settings.push) {
    core.info(
      `Repository ${settings.repository} does not exist; it would be ` +
        'created, but push is false, so nothing is created.'
    )
    const registry = await publicRegistry(ecr, settings.repository)
    return {
      ...publicState({}, false),
      exists: false,
      uri: registry.uri,
      arn:
        registry.account &&
        publicRepositoryArn(
          settings.partition,
          registry.account,
          settings.repository
        )
    }
  }
  return create(ecr, settings)
}

async function create(
  ecr: EcrPublic,
  settings: PublicSettings
): Promise<RepositoryState> {
  let created: Repository | undefined
  try {
    const response = await ecr.client.send(
      new ecr.sdk.CreateRepositoryCommand({
        repositoryName: settings.repository,
        ...(settings.publicCatalog
          ? { catalogData: settings.publicCatalog }
          : {}),
        ...(settings.repositoryTags.length
          ? { tags: settings.repositoryTags }
          : {})
      })
    )
    created = response.repository
  } catch (error) {
    if (awsErrorName(error) !== 'RepositoryAlreadyExistsException') {
      throw explainDenial(
        error,
        'ecr-public:CreateRepository',
        guessArn(settings)
      )
    }
    // A parallel job created it between our describe and create: success.
    core.info(
      `Repository ${settings.repository} was just created by another run`
    )
    const existing = await findPublicRepository(ecr, settings)
    if (!existing) {
      throw new ActionError(
        `Repository ${settings.repository} was reported as existing, but ` +
          'cannot be found: was it deleted meanwhile?'
      )
    }
    await syncCatalog(ecr, settings, existing)
    return publicState(existing, false)
  }

  if (!created?.repositoryUri) {
    throw new ActionError('CreateRepository returned no repository URI')
  }
  core.info(`Created repository ${created.repositoryUri}`)
  return publicState(created, true)
}

/** ECR Public has no mutability setting: its tags always move. */
function publicState(
  repository: Repository,
  created: boolean
): RepositoryState {
  return {
    exists: true,
    created,
    arn: repository.repositoryArn,
    uri: repository.repositoryUri,
    registryId: repository.registryId,
    imageTagMutability: 'MUTABLE',
    mutabilityExclusionFilters: []
  }
}

/**
 * Writes the gallery data the inputs give, when the repository's differs
 * in a field given; the fields not given are left as they are.
 */
async function syncCatalog(
  ecr: EcrPublic,
  settings: PublicSettings,
  repository: Repository
): Promise<void> {
  const wanted = settings.publicCatalog
  if (!wanted) return
  const target = {
    repositoryName: settings.repository,
    ...(repository.registryId ? { registryId: repository.registryId } : {})
  }
  const arn = repository.repositoryArn ?? guessArn(settings)

  let current: RepositoryCatalogData | undefined
  try {
    const answer = await ecr.client.send(
      new ecr.sdk.GetRepositoryCatalogDataCommand(target)
    )
    current = answer.catalogData
  } catch (error) {
    if (awsErrorName(error) !== 'RepositoryCatalogDataNotFoundException') {
      throw explainDenial(error, 'ecr-public:GetRepositoryCatalogData', arn)
    }
  }
  const changed = catalogDifferences(current, wanted)
  if (!changed.length) {
    core.info('Gallery data is already as given')
    return
  }
  try {
    await ecr.client.send(
      new ecr.sdk.PutRepositoryCatalogDataCommand({
        ...target,
        catalogData: { ...catalogInput(current), ...wanted }
      })
    )
  } catch (error) {
    throw explainDenial(error, 'ecr-public:PutRepositoryCatalogData', arn)
  }
  core.info(`Gallery data written (${changed.join(', ')})`)
}

/** The fields the inputs give that the repository has otherwise. */
export function catalogDifferences(
  current: RepositoryCatalogData | undefined,
  wanted: PublicCatalog
): string[] {
  const same = (a: unknown, b: unknown) =>
    JSON.stringify(a ?? null) === JSON.stringify(b ?? null)
  return (Object.keys(wanted) as (keyof PublicCatalog)[]).filter(
    field => !same(current?.[field], wanted[field])
  )
}

/**
 * What of the repository's gallery data a Put can carry over. The logo
 * cannot: ECR Public hands out its URL, not the image.
 */
function catalogInput(current: RepositoryCatalogData | undefined) {
  const input: PublicCatalog = {}
  if (current?.description) input.description = current.description
  if (current?.aboutText) input.aboutText = current.aboutText
  if (current?.usageText) input.usageText = current.usageText
  if (current?.architectures?.length) {
    input.architectures = current.architectures
  }
  if (current?.operatingSystems?.length) {
    input.operatingSystems = current.operatingSystems
  }
  return input
}

/**
 * The URI and account of a repository not yet created, for a run with
 * push off: the registry's primary alias comes from DescribeRegistries.
 * An account that has never had a public repository has no alias yet;
 * then, or when the call fails, the image is tagged under the bare host,
 * which only matters locally since nothing is pushed.
 */
async function publicRegistry(
  ecr: EcrPublic,
  repository: string
): Promise<{ uri: string; account: string | undefined }> {
  const fallback = `${PUBLIC_REGISTRY}/${repository}`
  try {
    const answer = await ecr.client.send(
      new ecr.sdk.DescribeRegistriesCommand({})
    )
    const registry = answer.registries?.[0]
    const aliases = registry?.aliases ?? []
    const alias =
      aliases.find(candidate => candidate.primaryRegistryAlias) ?? aliases[0]
    const account = registry?.registryId
    if (alias?.name) {
      return {
        uri: `${PUBLIC_REGISTRY}/${alias.name}/${repository}`,
        account
      }
    }
    core.warning(
      'The ECR Public registry has no alias yet (it gets one with its ' +
        `first repository), so the image is tagged ${fallback} locally.`
    )
    return { uri: fallback, account }
  } catch (error) {
    core.warning(
      `Could not read the ECR Public registry's alias ` +
        `(ecr-public:DescribeRegistries): ${errorMessage(error)}. The ` +
        `image is tagged ${fallback} locally; nothing is pushed anyway.`
    )
    return { uri: fallback, account: undefined }
  }
}

/**
 * The login to public.ecr.aws. ECR Public's token carries no endpoint:
 * every public registry is on that one host. The token and its password
 * are masked the moment they exist.
 */
export async function getPublicLogin(ecr: EcrPublic): Promise<RegistryLogin> {
  const response = await ecr.client
    .send(new ecr.sdk.GetAuthorizationTokenCommand({}))
    .catch((error: unknown) => {
      // The token is made from an STS bearer token: AWS names whichever
      // of the two was denied.
      const quoted = PUBLIC_LOGIN_ACTIONS.find(action =>
        errorMessage(error).includes(`perform: ${action}`)
      )
      throw explainDenial(
        error,
        quoted ?? 'ecr-public:GetAuthorizationToken',
        '*'
      )
    })

  const data = response.authorizationData
  if (!data?.authorizationToken) {
    throw new ActionError(
      'ECR Public returned no authorization token: try the run again'
    )
  }
  return decodeLogin(data.authorizationToken, PUBLIC_REGISTRY, data.expiresAt)
}

/**
 * Where the registry API finds the repository: `<alias>/<name>`, the
 * path of the URI ECR Public gives.
 */
export function publicRegistryPath(repositoryUri: string): string {
  const prefix = `${PUBLIC_REGISTRY}/`
  if (!repositoryUri.startsWith(prefix)) {
    throw new ActionError(
      `ECR Public gave the repository URI ${repositoryUri}, which is not ` +
        `on ${PUBLIC_REGISTRY}`
    )
  }
  return repositoryUri.slice(prefix.length)
}
