import { AccessDeniedError, awsErrorName, errorMessage } from './errors.js'
import { partitionOf } from './inputs.js'

/** The ECR actions a docker push makes, all on the repository ARN. */
export const PUSH_ACTIONS = [
  'ecr:BatchCheckLayerAvailability',
  'ecr:InitiateLayerUpload',
  'ecr:UploadLayerPart',
  'ecr:CompleteLayerUpload',
  'ecr:PutImage',
  'ecr:BatchGetImage'
] as const

/** The ECR actions a docker pull makes, on the repository ARN. */
export const PULL_ACTIONS = [
  'ecr:BatchGetImage',
  'ecr:GetDownloadUrlForLayer'
] as const

/** Reading and writing the policies the inputs may give. */
export const LIFECYCLE_POLICY_ACTIONS = [
  'ecr:GetLifecyclePolicy',
  'ecr:PutLifecyclePolicy'
] as const
export const REPOSITORY_POLICY_ACTIONS = [
  'ecr:GetRepositoryPolicy',
  'ecr:SetRepositoryPolicy'
] as const

// GetAuthorizationToken has no resource type: IAM only ever matches it
// against "*", so a statement scoped to a repository never allows it.
const LOGIN_STATEMENT = {
  Effect: 'Allow',
  Action: 'ecr:GetAuthorizationToken',
  Resource: '*'
}

export function repositoryArn(
  partition: string,
  region: string,
  account: string,
  repository: string
): string {
  return `arn:${partition}:ecr:${region}:${account}:repository/${repository}`
}

/**
 * The repository ARN behind a registry host and a repository name, for
 * the registry API, which names neither. Undefined for a host that is not
 * ECR's (`<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`).
 */
export function registryRepositoryArn(
  registry: string,
  repository: string
): string | undefined {
  const host =
    /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(
      registry
    )
  if (!host?.[1] || !host[2]) return undefined
  return repositoryArn(partitionOf(host[2]), host[2], host[1], repository)
}

/**
 * An identity policy: login on "*" in a statement of its own, and the
 * given actions on the repository.
 */
export function identityPolicy(
  repositoryArn: string,
  actions: readonly string[]
): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      LOGIN_STATEMENT,
      { Effect: 'Allow', Action: [...actions], Resource: repositoryArn }
    ]
  })
}

/** The least-privilege identity policy for pushing to one repository. */
export function pushPolicy(repositoryArn: string): string {
  return identityPolicy(repositoryArn, PUSH_ACTIONS)
}

/** The least-privilege identity policy for pulling from one repository. */
export function pullPolicy(repositoryArn: string): string {
  return identityPolicy(repositoryArn, PULL_ACTIONS)
}

/** The one statement that would allow `action`, as a reader pastes it. */
export function allowStatement(action: string, resource: string): string {
  const onAnything = action === 'ecr:GetAuthorizationToken'
  return JSON.stringify({
    Effect: 'Allow',
    Action: action,
    Resource: onAnything ? '*' : resource
  })
}

export function isAccessDenied(error: unknown): boolean {
  const name = awsErrorName(error)
  return name === 'AccessDeniedException' || name === 'AccessDenied'
}

/**
 * Turns an AWS access denial into a message that names the action, the
 * resource and the statement that would allow it. Anything else is
 * returned unchanged.
 */
export function explainDenial(
  error: unknown,
  action: string,
  resource: string
): unknown {
  if (!isAccessDenied(error)) return error
  const awsText = errorMessage(error)
  // AWS names the resource it checked; trust it over our own guess.
  const checked = deniedResource(awsText) ?? resource
  return new AccessDeniedError(
    `${action} was denied on ${checked}.\nAWS said: ${awsText}\n` +
      denialAdvice(action, checked, awsText),
    action,
    checked,
    isExplicit(awsText)
  )
}

/**
 * For a failure that is a denial but no SDK exception (docker's "denied:
 * User ... is not authorized to perform: ecr:X", the registry API's 403):
 * the same failure, with the statement that would allow the action added.
 * The action AWS quotes wins over `action`; with neither, the failure is
 * returned unchanged.
 */
export function explainDeniedText(
  error: unknown,
  resource: string,
  action?: string
): unknown {
  const text = errorMessage(error)
  const quoted = /not authorized to perform: ([a-z0-9-]+:[A-Za-z0-9]+)/.exec(
    text
  )?.[1]
  const denied = quoted ?? action
  if (denied === undefined) return error
  const checked = deniedResource(text) ?? resource
  return new AccessDeniedError(
    `${text}\n${denied} was denied on ${checked}. ` +
      denialAdvice(denied, checked, text),
    denied,
    checked,
    isExplicit(text)
  )
}

function deniedResource(awsText: string): string | undefined {
  return /on resource: (arn:[^\s]+)/.exec(awsText)?.[1]
}

function isExplicit(awsText: string): boolean {
  return /explicit deny/i.test(awsText)
}

/** What to do about a denial: the Allow to add, or the Deny to narrow. */
export function denialAdvice(
  action: string,
  resource: string,
  awsText: string
): string {
  // An Allow never overrides an explicit Deny: adding one would not help.
  if (isExplicit(awsText)) {
    return (
      'An explicit Deny (in an identity policy, a permissions boundary, ' +
      'a session policy or an SCP) blocks it: remove or narrow that Deny.'
    )
  }
  return (
    'Allow it in the policy of the role or user this job runs as:\n' +
    allowStatement(action, resource)
  )
}
