import * as core from '@actions/core'
import { existsSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'

import { ActionError, InputError, quote } from './errors.js'
import { readLimits, type Limits } from './limits.js'
import { describeVersionTags, versionTagsOf } from './version-tags.js'

export const MUTABILITIES = [
  'MUTABLE',
  'IMMUTABLE',
  'MUTABLE_WITH_EXCLUSION',
  'IMMUTABLE_WITH_EXCLUSION'
] as const
export type Mutability = (typeof MUTABILITIES)[number]

/** Scan severities, worst first: a threshold fails on itself and above. */
export const SEVERITIES = [
  'CRITICAL',
  'HIGH',
  'MEDIUM',
  'LOW',
  'INFORMATIONAL',
  'UNDEFINED'
] as const
export type Severity = (typeof SEVERITIES)[number]

export const ENCRYPTION_TYPES = ['AES256', 'KMS', 'KMS_DSSE'] as const
export type EncryptionType = (typeof ENCRYPTION_TYPES)[number]

export const REGISTRY_TYPES = ['private', 'public'] as const
export type RegistryType = (typeof REGISTRY_TYPES)[number]

/**
 * What the ECR Public Gallery shows of a repository, named as the ECR
 * Public API names it; only the fields the inputs give.
 */
export interface PublicCatalog {
  description?: string
  aboutText?: string
  usageText?: string
  architectures?: string[]
  operatingSystems?: string[]
}

/** Everything the run needs to know, read and checked once. */
export interface Settings extends Limits {
  /** Repository name, with `/` namespaces (`shop/api`). */
  repository: string
  /**
   * private: the account's ECR registry in `region`. public: its ECR
   * Public registry (public.ecr.aws/<alias>), whose API is in us-east-1.
   */
  registryType: RegistryType
  /**
   * Gallery data for a public repository; undefined when no catalog
   * input is given, and always for a private one.
   */
  publicCatalog: PublicCatalog | undefined
  /** Tags to push, in the order given, without duplicates. */
  tags: string[]
  /** Absolute path of the build context. */
  context: string
  /** Absolute path of the Dockerfile. */
  dockerfile: string
  /** `NAME=value` pairs for `--build-arg`. */
  buildArgs: string[]
  /** Build stage, or undefined for the last one. */
  target: string | undefined
  /** `name=value` pairs for `--label`. */
  labels: string[]
  /** A local image to tag and push instead of building. */
  image: string | undefined
  /** False: build and check, but create and push nothing. */
  push: boolean
  /** Promote the image at this tag to `tags` instead of building. */
  sourceTag: string | undefined
  /** Reuse the image a requested tag is already at instead of building. */
  skipExisting: boolean
  /**
   * Platforms to build for (`os/arch[/variant]`), without duplicates;
   * empty builds for the runner's own platform.
   */
  platforms: string[]
  /** Provenance and SBOM attestations on a buildx build; off by default. */
  attestations: boolean
  /** A tag of this repository that holds the buildx registry cache. */
  cacheTag: string | undefined
  /** `--cache-from` / `--cache-to` values for buildx, passed as given. */
  cacheFrom: string[]
  cacheTo: string[]
  /**
   * Images of this repository (tags, digests or full references) to merge
   * into one image index, instead of building; empty when not merging.
   */
  mergeSources: string[]
  /** Add the tags of a semantic-version git tag (GITHUB_REF). */
  versionTags: boolean
  /** That version (`1.2.3-rc.1`), when version-tags applies to this run. */
  version: string | undefined
  region: string
  /** The AWS partition of the region, for ARNs. */
  partition: string
  /** The registry's account; undefined means the caller's own. */
  registryId: string | undefined
  createRepository: boolean
  imageTagMutability: Mutability
  /** Wildcard filters for the `*_WITH_EXCLUSION` mutabilities. */
  mutabilityExclusionFilters: string[]
  scanOnPush: boolean
  encryptionType: EncryptionType
  kmsKey: string | undefined
  /** AWS resource tags for a repository this run creates. */
  repositoryTags: { Key: string; Value: string }[]
  /** Lifecycle policy as compact JSON text. */
  lifecyclePolicy: string | undefined
  /** Repository policy as compact JSON text. */
  repositoryPolicy: string | undefined
  /** Log in to the job's docker config and leave it for later steps. */
  keepLogin: boolean
  /** Check the credentials' permissions before anything is built. */
  validatePermissions: boolean
  /**
   * Fail when the pushed image's scan has a finding at or above this
   * severity; undefined: no gate, and no wait for the scan.
   */
  failOnSeverity: Severity | undefined
}

/** Reads an input by its action.yml name; '' when not set. */
export type InputReader = (name: string) => string

/** Reads every input from the runner and checks it. */
export function getInputs(): Settings {
  const settings = readInputs(
    name => core.getInput(name),
    process.env,
    process.cwd()
  )
  core.debug(`Settings: ${JSON.stringify(settings)}`)
  if (settings.versionTags) {
    core.info(describeVersionTags(process.env.GITHUB_REF))
  }
  return settings
}

// ECR's own rule for repository names (CreateRepository API reference).
const REPOSITORY_NAME =
  /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/
// Docker's rule for a tag.
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/
const ACCOUNT = /^\d{12}$/
const BUILD_ARG_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
const LABEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/
const TARGET = /^[A-Za-z0-9][A-Za-z0-9._-]*$/
// A docker image reference: name[:tag][@digest], or an image id.
const IMAGE_REFERENCE =
  /^[a-z0-9][a-z0-9._-]*(?::\d+)?(?:\/[a-z0-9][a-z0-9._-]*)*(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(?:@sha256:[a-f0-9]{64})?$|^(?:sha256:)?[a-f0-9]{12,64}$/
const DIGEST = /^sha256:[a-f0-9]{64}$/
// os/architecture[/variant], as buildx and the OCI image index write it.
const PLATFORM = /^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9.]+)?$/
// <registry>/<repository>:<tag> or <registry>/<repository>@sha256:...;
// the first group is <registry>/<repository>.
const MERGE_REFERENCE =
  /^([a-z0-9-]+(?:\.[a-z0-9-]+)+(?::\d+)?\/[a-z0-9][a-z0-9._/-]*)(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,127}|@sha256:[a-f0-9]{64})$/
// ECR's rule for a tag-mutability exclusion filter.
const EXCLUSION_FILTER = /^[A-Za-z0-9._*-]{1,128}$/
const KMS_KEY =
  /^(?:arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(?:key|alias)\/[A-Za-z0-9/_-]+|alias\/[A-Za-z0-9/_-]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/
// AWS resource tag characters (Tagging AWS resources, tag naming limits).
const TAG_TEXT = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u

export function readInputs(
  input: InputReader,
  env: NodeJS.ProcessEnv,
  cwd: string
): Settings {
  const registryType = readEnum(
    'registry-type',
    input('registry-type') || 'private',
    REGISTRY_TYPES
  )
  const repository = readRepository(input('repository'), registryType)
  const region = readRegion(input('region'), env)
  // Before any other input is read: what does not apply to this registry
  // type is named as such, not as whatever else may be wrong with it.
  const publicCatalog = readRegistryType(input, registryType, region)
  const versionTags = readBoolean('version-tags', input('version-tags'), false)
  const release = versionTags ? versionTagsOf(env.GITHUB_REF) : undefined
  const tags = versionTags
    ? readTags(input('tags'), release?.tags ?? [], env.GITHUB_REF).filter(
        // A pre-release never moves latest, not even the input's default.
        tag => tag !== 'latest' || !release || release.tags.includes(tag)
      )
    : readTags(input('tags'))
  const sourceTag = readSourceTag(input('source-tag'))
  const mergeSources = readMergeSources(
    input('merge-sources'),
    registryType === 'public' ? `<alias>/${repository}` : repository
  )
  const image = optional(input('image'))
  const imageTagMutability = readEnum(
    'image-tag-mutability',
    input('image-tag-mutability') || 'MUTABLE',
    MUTABILITIES
  )
  const encryptionType = readEnum(
    'encryption-type',
    input('encryption-type') || 'AES256',
    ENCRYPTION_TYPES
  )
  const build = mergeSources.length
    ? readMergeOnly(input)
    : sourceTag !== undefined
      ? readPromotionOnly(input, sourceTag)
      : image
        ? readImageOnly(input, image)
        : readBuild(input, cwd, tags)

  return {
    repository,
    registryType,
    publicCatalog,
    tags,
    ...build,
    image: image ? readImage(image) : undefined,
    push: readBoolean('push', input('push'), true),
    sourceTag,
    mergeSources,
    skipExisting: readBoolean('skip-existing', input('skip-existing'), false),
    versionTags,
    version: release?.version,
    region,
    partition: partitionOf(region),
    registryId: readRegistryId(input('registry-id')),
    createRepository: readBoolean(
      'create-repository',
      input('create-repository'),
      true
    ),
    imageTagMutability,
    mutabilityExclusionFilters: readExclusionFilters(
      input('image-tag-mutability-exclusion-filters'),
      imageTagMutability
    ),
    scanOnPush: readBoolean('scan-on-push', input('scan-on-push'), true),
    encryptionType,
    kmsKey: readKmsKey(input('kms-key'), encryptionType),
    repositoryTags: readRepositoryTags(input('repository-tags')),
    lifecyclePolicy: readPolicy(
      'lifecycle-policy',
      input('lifecycle-policy'),
      cwd,
      'rules'
    ),
    repositoryPolicy: readPolicy(
      'repository-policy',
      input('repository-policy'),
      cwd,
      'Statement'
    ),
    keepLogin: readBoolean('keep-login', input('keep-login'), false),
    validatePermissions: readBoolean(
      'validate-permissions',
      input('validate-permissions'),
      false
    ),
    failOnSeverity: input('fail-on-severity').trim()
      ? readEnum('fail-on-severity', input('fail-on-severity'), SEVERITIES)
      : undefined,
    ...readLimits(input)
  }
}

function optional(value: string): string | undefined {
  const trimmed = value.trim()
  return trimmed === '' ? undefined : trimmed
}

/** Splits a list input on newlines and, where allowed, commas. */
export function splitList(value: string, commas: boolean): string[] {
  const separator = commas ? /[\n,]/ : /\n/
  return value
    .split(separator)
    .map(item => item.trim())
    .filter(item => item !== '')
}

export function readBoolean(
  name: string,
  value: string,
  fallback: boolean
): boolean {
  const word = value.trim()
  if (word === '') return fallback
  // The same words the YAML 1.2 core schema and core.getBooleanInput accept.
  if (['true', 'True', 'TRUE'].includes(word)) return true
  if (['false', 'False', 'FALSE'].includes(word)) return false
  throw new InputError(name, value, 'is not a boolean: use true or false')
}

function readEnum<T extends string>(
  name: string,
  value: string,
  allowed: readonly T[]
): T {
  const word = value.trim()
  const found = allowed.find(candidate => candidate === word)
  if (found) return found
  const sameLetters = allowed.find(
    candidate => candidate === word.toUpperCase()
  )
  const hint = sameLetters ? ` (did you mean ${sameLetters}?)` : ''
  throw new InputError(
    name,
    value,
    `is not one of ${allowed.join(', ')}${hint}`
  )
}

export function readRepository(
  value: string,
  registryType: RegistryType = 'private'
): string {
  const name = value.trim()
  if (name === '') {
    throw new InputError('repository', value, 'is empty: it is required')
  }
  // The same pattern for both; ECR Public's names are shorter.
  const [longest, service] =
    registryType === 'public' ? [205, 'ECR Public'] : [256, 'ECR']
  if (name.length < 2 || name.length > longest) {
    throw new InputError(
      'repository',
      value,
      `is ${name.length} characters long: ${service} allows 2 to ${longest}`
    )
  }
  if (!REPOSITORY_NAME.test(name)) {
    const hint =
      name !== name.toLowerCase()
        ? ' (ECR repository names are lower case)'
        : ''
    throw new InputError(
      'repository',
      value,
      'is not a valid ECR repository name: use lower-case letters, ' +
        'digits and . _ - between them, with / between namespaces' +
        hint
    )
  }
  return name
}

/**
 * Inputs of one registry type only, each with its action.yml default: set
 * to anything else for the other type, it would silently do nothing.
 */
const PRIVATE_ONLY: [name: string, fallback: string, why: string][] = [
  [
    'registry-id',
    '',
    "the run pushes to the public registry of the credentials' own account"
  ],
  [
    'image-tag-mutability',
    'MUTABLE',
    'ECR Public has no tag mutability setting: its tags always move'
  ],
  [
    'image-tag-mutability-exclusion-filters',
    '',
    'ECR Public has no tag mutability setting: its tags always move'
  ],
  ['scan-on-push', 'true', 'ECR Public does not scan images'],
  ['encryption-type', 'AES256', 'ECR Public has no encryption setting'],
  ['kms-key', '', 'ECR Public has no encryption setting'],
  ['lifecycle-policy', '', 'ECR Public has no lifecycle policies'],
  [
    'repository-policy',
    '',
    'this action writes repository policies of private repositories only'
  ],
  [
    'fail-on-severity',
    '',
    'ECR Public does not scan images, so there is no scan to gate on'
  ],
  [
    'scan-timeout',
    '10',
    'ECR Public does not scan images, so there is no scan to wait for'
  ]
]
const PUBLIC_ONLY = [
  'public-description',
  'public-about',
  'public-usage',
  'public-architectures',
  'public-operating-systems'
]

/**
 * Refuses the inputs the registry type cannot use, and reads the gallery
 * data of a public repository. ECR Public exists in the aws partition
 * only, whatever region the job is in.
 */
function readRegistryType(
  input: InputReader,
  registryType: RegistryType,
  region: string
): PublicCatalog | undefined {
  if (registryType === 'private') {
    const given = PUBLIC_ONLY.find(name => input(name).trim() !== '')
    if (given) {
      throw new InputError(
        given,
        input(given),
        'only applies to registry-type public (the ECR Public Gallery), ' +
          'and registry-type is private'
      )
    }
    return undefined
  }

  for (const [name, fallback, why] of PRIVATE_ONLY) {
    const value = input(name)
    const word = value.trim()
    const changed =
      name === 'scan-on-push'
        ? word !== '' && !readBoolean(name, value, true)
        : word !== '' && word !== fallback
    if (changed) {
      throw new InputError(
        name,
        value,
        `cannot be used with registry-type public: ${why}`
      )
    }
  }
  const partition = partitionOf(region)
  if (partition !== 'aws') {
    throw new InputError(
      'registry-type',
      input('registry-type'),
      `is not available in region ${region}: ECR Public exists in the ` +
        `aws partition only, and ${region} is in ${partition}`
    )
  }
  return readCatalog(input)
}

// The ECR Public API's limits, in characters and entries.
const DESCRIPTION_LENGTH = 1024
const GALLERY_TEXT_LENGTH = 25600
const BADGE_LENGTH = 50
const BADGES = 50

function readCatalog(input: InputReader): PublicCatalog | undefined {
  const text = (name: string, longest: number) => {
    const value = input(name)
    const given = value.trim()
    const length = [...given].length
    if (length > longest) {
      throw new InputError(
        name,
        value,
        `is ${length} characters long: ECR Public allows up to ${longest}`
      )
    }
    return given === '' ? undefined : given
  }
  const catalog: PublicCatalog = {}
  const description = text('public-description', DESCRIPTION_LENGTH)
  if (description !== undefined) catalog.description = description
  const aboutText = text('public-about', GALLERY_TEXT_LENGTH)
  if (aboutText !== undefined) catalog.aboutText = aboutText
  const usageText = text('public-usage', GALLERY_TEXT_LENGTH)
  if (usageText !== undefined) catalog.usageText = usageText
  const architectures = readBadges('public-architectures')
  if (architectures.length) catalog.architectures = architectures
  const operatingSystems = readBadges('public-operating-systems')
  if (operatingSystems.length) catalog.operatingSystems = operatingSystems

  function readBadges(name: string): string[] {
    const value = input(name)
    const badges = [...new Set(splitList(value, true))]
    const long = badges.find(badge => [...badge].length > BADGE_LENGTH)
    if (long !== undefined) {
      throw new InputError(
        name,
        value,
        `contains ${quote(long)}: ECR Public allows up to ${BADGE_LENGTH} ` +
          'characters each'
      )
    }
    if (badges.length > BADGES) {
      throw new InputError(
        name,
        value,
        `has ${badges.length} entries: ECR Public allows up to ${BADGES}`
      )
    }
    return badges
  }

  return Object.keys(catalog).length ? catalog : undefined
}

/**
 * The tags input (empty means latest, the input's default), then the tags
 * version-tags adds (`versionTags`, given only when it is on), without
 * duplicates.
 */
export function readTags(
  value: string,
  versionTags?: string[],
  ref?: string
): string[] {
  const given = value === '' ? ['latest'] : splitList(value, true)
  for (const tag of given) {
    if (!TAG.test(tag)) {
      throw new InputError(
        'tags',
        value,
        `contains ${quote(tag)}, which is not a valid tag: up to 128 ` +
          'letters, digits, _ . -, not starting with . or -'
      )
    }
  }
  for (const tag of versionTags ?? []) {
    if (!TAG.test(tag)) {
      throw new InputError(
        'version-tags',
        'true',
        `makes ${quote(tag)} of ${ref ?? 'GITHUB_REF'}, which is not a ` +
          'valid tag: up to 128 letters, digits, _ . -'
      )
    }
  }

  const tags = [...new Set([...given, ...(versionTags ?? [])])]
  if (tags.length === 0) {
    const why =
      versionTags === undefined
        ? ''
        : `, and version-tags adds none: ${ref || 'GITHUB_REF (not set)'} ` +
          'is not a semantic version tag'
    throw new InputError('tags', value, `has no tag${why}`)
  }
  return tags
}

/** The tag whose image a promotion copies; docker's tag rule. */
function readSourceTag(value: string): string | undefined {
  const tag = optional(value)
  if (tag !== undefined && !TAG.test(tag)) {
    throw new InputError(
      'source-tag',
      value,
      'is not a valid tag: up to 128 letters, digits, _ . -, not starting ' +
        'with . or -'
    )
  }
  return tag
}

function readRegion(value: string, env: NodeJS.ProcessEnv): string {
  const sources: [string, string | undefined][] = [
    ['input "region"', value],
    ['AWS_REGION', env.AWS_REGION],
    ['AWS_DEFAULT_REGION', env.AWS_DEFAULT_REGION]
  ]
  for (const [source, candidate] of sources) {
    const region = candidate?.trim()
    if (!region) continue
    if (!REGION.test(region)) {
      if (source !== 'input "region"') {
        throw new ActionError(
          `Environment variable ${source}: ${quote(candidate ?? '')} is ` +
            'not an AWS region name like us-east-1'
        )
      }
      throw new InputError(
        'region',
        candidate ?? '',
        'is not an AWS region name like us-east-1'
      )
    }
    return region
  }
  throw new InputError(
    'region',
    value,
    'is empty and neither AWS_REGION nor AWS_DEFAULT_REGION is set: ' +
      'set the input, or run aws-actions/configure-aws-credentials first'
  )
}

/** The AWS partition a region belongs to, as ARNs spell it. */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn'
  if (region.startsWith('us-gov-')) return 'aws-us-gov'
  if (region.startsWith('us-isob-')) return 'aws-iso-b'
  if (region.startsWith('us-iso-')) return 'aws-iso'
  if (region.startsWith('eu-isoe-')) return 'aws-iso-e'
  if (region.startsWith('us-isof-')) return 'aws-iso-f'
  return 'aws'
}

function readRegistryId(value: string): string | undefined {
  const id = optional(value)
  if (id !== undefined && !ACCOUNT.test(id)) {
    throw new InputError(
      'registry-id',
      value,
      'is not a 12-digit AWS account ID'
    )
  }
  return id
}

function readImage(value: string): string {
  if (!IMAGE_REFERENCE.test(value)) {
    throw new InputError(
      'image',
      value,
      'is not a local image reference like my-app:1.0 or an image ID'
    )
  }
  return value
}

type BuildSettings = Pick<
  Settings,
  | 'context'
  | 'dockerfile'
  | 'buildArgs'
  | 'target'
  | 'labels'
  | 'platforms'
  | 'attestations'
  | 'cacheTag'
  | 'cacheFrom'
  | 'cacheTo'
>

const NO_BUILD: BuildSettings = {
  context: '',
  dockerfile: '',
  buildArgs: [],
  target: undefined,
  labels: [],
  platforms: [],
  attestations: false,
  cacheTag: undefined,
  cacheFrom: [],
  cacheTo: []
}

// Inputs that only matter to a build: without one, they would be ignored.
const BUILD_INPUTS = ['dockerfile', 'build-args', 'target', 'labels']
const BUILDX_INPUTS = [
  'platforms',
  'attestations',
  'cache-tag',
  'cache-from',
  'cache-to'
]

/**
 * The first of `names` set to something other than its default, as
 * [name, value]. context defaults to '.', the booleans to false: only a
 * change counts.
 */
function firstChanged(
  input: InputReader,
  names: string[]
): [string, string] | undefined {
  for (const name of names) {
    const value = input(name)
    const word = value.trim()
    if (word === '') continue
    if (name === 'context' && word === '.') continue
    if (
      (name === 'skip-existing' || name === 'attestations') &&
      !readBoolean(name, value, false)
    ) {
      continue
    }
    return [name, value]
  }
  return undefined
}

/** With `image`, nothing is built: build inputs would silently do nothing. */
function readImageOnly(input: InputReader, image: string): BuildSettings {
  const changed = firstChanged(input, [...BUILD_INPUTS, ...BUILDX_INPUTS])
  if (changed) {
    throw new InputError(
      ...changed,
      `cannot be used with image ${quote(image)}: ` +
        'nothing is built when an existing image is pushed'
    )
  }
  return NO_BUILD
}

/**
 * A promotion copies a manifest the registry has: nothing is built or
 * reused, so inputs about building or reusing would silently do nothing.
 */
function readPromotionOnly(
  input: InputReader,
  sourceTag: string
): BuildSettings {
  const changed = firstChanged(input, [
    'image',
    ...BUILD_INPUTS,
    ...BUILDX_INPUTS,
    'context',
    'skip-existing'
  ])
  if (!changed) return NO_BUILD
  const reason =
    changed[0] === 'skip-existing'
      ? 'reuses an existing tag instead of building; with source-tag ' +
        'nothing is built anyway, so it would change nothing'
      : 'nothing is built or pushed from this runner when a tag is ' +
        'promoted, so it would be ignored'
  throw new InputError(
    ...changed,
    `cannot be used with source-tag ${quote(sourceTag)}: ${reason}`
  )
}

/**
 * A merge writes an index over images the registry has: nothing is
 * built, promoted or reused, so those inputs would silently do nothing.
 */
function readMergeOnly(input: InputReader): BuildSettings {
  const changed = firstChanged(input, [
    'source-tag',
    'image',
    'skip-existing',
    'context',
    ...BUILD_INPUTS,
    ...BUILDX_INPUTS
  ])
  if (!changed) return NO_BUILD
  const reason =
    changed[0] === 'source-tag'
      ? 'a merge writes a new image index, a promotion copies an ' +
        'existing image: use one or the other'
      : 'a merge only writes an index over images already in the ' +
        'registry, nothing is built, so it would be ignored'
  throw new InputError(
    ...changed,
    `cannot be used with merge-sources: ${reason}`
  )
}

function readBuild(
  input: InputReader,
  cwd: string,
  tags: string[]
): BuildSettings {
  const contextValue = input('context') || '.'
  const context = path.resolve(cwd, contextValue.trim())
  if (!isDirectory(context)) {
    throw new InputError(
      'context',
      contextValue,
      `is not a directory (looked for ${context})`
    )
  }

  const dockerfileValue = input('dockerfile')
  const dockerfile = dockerfileValue.trim()
    ? path.resolve(cwd, dockerfileValue.trim())
    : path.join(context, 'Dockerfile')
  if (!isFile(dockerfile)) {
    throw new InputError(
      'dockerfile',
      dockerfileValue || `${contextValue}/Dockerfile`,
      `is not a file (looked for ${dockerfile})`
    )
  }

  const targetValue = input('target')
  const target = optional(targetValue)
  if (target !== undefined && !TARGET.test(target)) {
    throw new InputError('target', targetValue, 'is not a build stage name')
  }

  return {
    context,
    dockerfile,
    buildArgs: readPairs('build-args', input('build-args'), BUILD_ARG_NAME),
    target,
    labels: readPairs('labels', input('labels'), LABEL_NAME),
    platforms: readPlatforms(input('platforms')),
    attestations: readBoolean('attestations', input('attestations'), false),
    cacheTag: readCacheTag(input('cache-tag'), tags),
    cacheFrom: readCacheList('cache-from', input('cache-from')),
    cacheTo: readCacheList('cache-to', input('cache-to'))
  }
}

/** `os/arch[/variant]` entries, as buildx and image indexes name them. */
function readPlatforms(value: string): string[] {
  const platforms = splitList(value, true)
  for (const platform of platforms) {
    if (!PLATFORM.test(platform)) {
      throw new InputError(
        'platforms',
        value,
        `contains ${quote(platform)}, which is not a platform like ` +
          'linux/amd64 or linux/arm/v7 (os/architecture[/variant], lower ' +
          'case)'
      )
    }
  }
  return [...new Set(platforms)]
}

function readCacheTag(value: string, tags: string[]): string | undefined {
  const tag = optional(value)
  if (tag === undefined) return undefined
  if (!TAG.test(tag)) {
    throw new InputError(
      'cache-tag',
      value,
      'is not a valid tag: up to 128 letters, digits, _ . -, not starting ' +
        'with . or -'
    )
  }
  if (tags.includes(tag)) {
    throw new InputError(
      'cache-tag',
      value,
      'is also one of the tags: the build cache would replace the image ' +
        'there. Give the cache a tag of its own, such as buildcache'
    )
  }
  return tag
}

/** Lines passed to buildx as they are; one per --cache-from/--cache-to. */
function readCacheList(name: string, value: string): string[] {
  const lines = splitList(value, false)
  for (const line of lines) {
    // A value buildx could read as another option of its own.
    if (line.startsWith('-')) {
      throw new InputError(
        name,
        value,
        `has the line ${quote(line)}: a cache is written as ` +
          'type=registry,ref=... or type=gha, not as an option'
      )
    }
  }
  return lines
}

/**
 * The images a merge combines: tags, `sha256:` digests, or full
 * references of this repository such as a build job's image-uri output.
 * Whether a full reference names this registry is checked once the
 * registry is known (merge.ts). `repository` is the path in the registry,
 * where `<alias>/` stands for ECR Public's alias, not known yet.
 */
function readMergeSources(value: string, repository: string): string[] {
  const sources = splitList(value, true)
  if (sources.length === 0) return []
  const alias = repository.startsWith('<alias>/')
  const name = alias ? repository.slice('<alias>/'.length) : repository
  for (const source of sources) {
    const named = MERGE_REFERENCE.exec(source)?.[1]
    let path = named?.slice(named.indexOf('/') + 1)
    if (alias && path !== undefined) path = path.slice(path.indexOf('/') + 1)
    if (path !== undefined && path !== name) {
      throw new InputError(
        'merge-sources',
        value,
        `contains ${quote(source)}, an image of ${path}, not of ` +
          `${name}: an image index can only reference images of ` +
          'its own repository'
      )
    }
    if (path === undefined && !TAG.test(source) && !DIGEST.test(source)) {
      throw new InputError(
        'merge-sources',
        value,
        `contains ${quote(source)}, which is neither a tag, a sha256: ` +
          'digest, nor <repository-uri>:<tag> or <repository-uri>@<digest>'
      )
    }
  }
  const twice = sources.find((source, index) => sources.indexOf(source) < index)
  if (twice !== undefined) {
    throw new InputError(
      'merge-sources',
      value,
      `lists ${quote(twice)} twice: each image goes into the index once`
    )
  }
  if (sources.length < 2) {
    throw new InputError(
      'merge-sources',
      value,
      'names one image: an index merges at least two, one per platform. ' +
        'To add tags to one image, use source-tag'
    )
  }
  return sources
}

/** `NAME=value` lines; values may hold commas and further `=`. */
function readPairs(name: string, value: string, key: RegExp): string[] {
  return splitList(value, false).map(line => {
    const equals = line.indexOf('=')
    const pairName = equals > 0 ? line.slice(0, equals).trim() : ''
    if (!key.test(pairName)) {
      throw new InputError(
        name,
        value,
        `has the line ${quote(line)}: each line must be NAME=value`
      )
    }
    return `${pairName}=${line.slice(equals + 1).trimStart()}`
  })
}

function readExclusionFilters(value: string, mutability: Mutability) {
  const filters = splitList(value, true)
  const needsFilters = mutability.endsWith('_WITH_EXCLUSION')
  const inputName = 'image-tag-mutability-exclusion-filters'
  if (needsFilters && filters.length === 0) {
    throw new InputError(
      inputName,
      value,
      `is empty: ${mutability} needs at least one filter such as latest or dev-*`
    )
  }
  if (!needsFilters && filters.length > 0) {
    throw new InputError(
      inputName,
      value,
      `only applies to MUTABLE_WITH_EXCLUSION or IMMUTABLE_WITH_EXCLUSION, not ${mutability}`
    )
  }
  if (filters.length > 5) {
    throw new InputError(inputName, value, 'has more than the 5 ECR allows')
  }
  for (const filter of filters) {
    if (!EXCLUSION_FILTER.test(filter)) {
      throw new InputError(
        inputName,
        value,
        `contains ${quote(filter)}: a filter is up to 128 letters, ` +
          'digits, . _ - and * wildcards'
      )
    }
  }
  return filters
}

function readKmsKey(
  value: string,
  encryption: EncryptionType
): string | undefined {
  const key = optional(value)
  if (key === undefined) return undefined
  if (encryption === 'AES256') {
    throw new InputError(
      'kms-key',
      value,
      'needs encryption-type KMS or KMS_DSSE; it is AES256'
    )
  }
  if (!KMS_KEY.test(key)) {
    throw new InputError(
      'kms-key',
      value,
      'is not a KMS key ARN, key ID, alias/name or alias ARN'
    )
  }
  return key
}

function readRepositoryTags(value: string) {
  return splitList(value, false).map(line => {
    const equals = line.indexOf('=')
    const key = equals > 0 ? line.slice(0, equals).trim() : ''
    const tagValue = equals > 0 ? line.slice(equals + 1).trim() : ''
    if (key === '' || key.length > 128 || tagValue.length > 256) {
      throw new InputError(
        'repository-tags',
        value,
        `has the line ${quote(line)}: each line must be key=value, ` +
          'keys up to 128 characters and values up to 256'
      )
    }
    if (!TAG_TEXT.test(key) || !TAG_TEXT.test(tagValue)) {
      throw new InputError(
        'repository-tags',
        value,
        `has the line ${quote(line)}: AWS tags allow letters, digits, ` +
          'spaces and _ . : / = + - @'
      )
    }
    if (key.toLowerCase().startsWith('aws:')) {
      throw new InputError(
        'repository-tags',
        value,
        `has the key ${quote(key)}: the aws: prefix is reserved`
      )
    }
    return { Key: key, Value: tagValue }
  })
}

/**
 * A policy given inline or as a file. Returns compact JSON text so that
 * the comparison with what the repository has ignores formatting.
 */
function readPolicy(
  name: string,
  value: string,
  cwd: string,
  requiredKey: string
): string | undefined {
  const given = value.trim()
  if (given === '') return undefined

  let text = given
  if (!/^[[{]/.test(given)) {
    const file = path.resolve(cwd, given)
    if (!isFile(file)) {
      throw new InputError(
        name,
        value,
        `is neither JSON text nor a file that exists (looked for ${file})`
      )
    }
    text = readFileSync(file, 'utf8')
  }

  let policy: unknown
  try {
    policy = JSON.parse(text)
  } catch (error) {
    throw new InputError(
      name,
      value,
      `is not valid JSON: ${(error as Error).message}`
    )
  }
  if (typeof policy !== 'object' || policy === null || Array.isArray(policy)) {
    throw new InputError(name, value, 'is not a JSON object')
  }
  if (!(requiredKey in policy)) {
    throw new InputError(name, value, `has no "${requiredKey}" key`)
  }
  return JSON.stringify(policy)
}

function isDirectory(file: string): boolean {
  return existsSync(file) && statSync(file).isDirectory()
}

function isFile(file: string): boolean {
  return existsSync(file) && statSync(file).isFile()
}
