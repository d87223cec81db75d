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

/**
 * What an ECR Public push makes, on the public repository's ARN. ECR
 * Public has no BatchGetImage: reading its images needs no permission.
 */
export const PUBLIC_PUSH_ACTIONS = [
  'ecr-public:BatchCheckLayerAvailability',
  'ecr-public:InitiateLayerUpload',
  'ecr-public:UploadLayerPart',
  'ecr-public:CompleteLayerUpload',
  'ecr-public:PutImage'
] as const

/**
 * ECR Public's login: its token is made from an STS bearer token, which
 * the caller must be allowed to get too.
 */
export const PUBLIC_LOGIN_ACTIONS = [
  'ecr-public:GetAuthorizationToken',
  'sts:GetServiceBearerToken'
] as const

// These have no resource type: IAM only ever matches them against "*", so
// a statement scoped to a repository never allows them.
const WILDCARD_ONLY = new Set<string>([
  'ecr:GetAuthorizationToken',
  ...PUBLIC_LOGIN_ACTIONS
])
const LOGIN_STATEMENT = {
  Effect: 'Allow',
  Action: 'ecr:GetAuthorizationToken',
  Resource: '*'
}
const PUBLIC_LOGIN_STATEMENT = {
  Effect: 'Allow',
  Action: [...PUBLIC_LOGIN_ACTIONS],
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
 * An ECR Public repository's ARN. It names no region: ECR Public is
 * global, though its API answers in us-east-1 only.
 */
export function publicRepositoryArn(
  partition: string,
  account: string,
  repository: string
): string {
  return `arn:${partition}:ecr-public::${account}:repository/${repository}`
}

/** Whether an ARN is of an ECR Public repository. */
export function isPublicArn(arn: string): boolean {
  return /^arn:[^:]+:ecr-public:/.test(arn)
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

/** The one host of every ECR Public registry, whatever its alias. */
export const PUBLIC_REGISTRY = 'public.ecr.aws'

/**
 * The IAM action behind a registry request, for the registry it goes to:
 * ECR Public names its writes ecr-public:, and reading from it needs no
 * permission at all, so a refused read names no action (undefined).
 */
export function registryAction(
  registry: string,
  action: string
): string | undefined {
  if (registry !== PUBLIC_REGISTRY) return action
  const name = action.replace(/^ecr:/, '')
  return PUBLIC_PUSH_ACTIONS.find(known => known === `ecr-public:${name}`)
}

/**
 * An identity policy: login on "*" in a statement of its own, and the
 * given actions on the repository.
 */
export function identityPolicy(
  repositoryArn: string,
  actions: readonly string[]
): string {
  const login = isPublicArn(repositoryArn)
    ? PUBLIC_LOGIN_STATEMENT
    : LOGIN_STATEMENT
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      login,
      { Effect: 'Allow', Action: [...actions], Resource: repositoryArn }
    ]
  })
}

/**
 * The least-privilege identity policy for pushing to one repository,
 * private or public as its ARN says.
 */
export function pushPolicy(repositoryArn: string): string {
  return identityPolicy(
    repositoryArn,
    isPublicArn(repositoryArn) ? PUBLIC_PUSH_ACTIONS : PUSH_ACTIONS
  )
}

/**
 * The least-privilege identity policy for pulling from one repository.
 * Anyone may pull from a public repository without any policy; a pull
 * logged in to public.ecr.aws (which AWS allows more pulls per second)
 * needs the login alone, so that is the public one.
 */
export function pullPolicy(repositoryArn: string): string {
  if (isPublicArn(repositoryArn)) {
    return JSON.stringify({
      Version: '2012-10-17',
      Statement: [PUBLIC_LOGIN_STATEMENT]
    })
  }
  return identityPolicy(repositoryArn, PULL_ACTIONS)
}

/** The one statement that would allow `action`, as a reader pastes it. */
export function allowStatement(action: string, resource: string): string {
  const onAnything = WILDCARD_ONLY.has(action)
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

/** The caller AWS names in a denial: "User: arn:aws:…:ACCOUNT:…". */
export function deniedPrincipal(awsText: string): string | undefined {
  return /User: (arn:aws[a-z-]*:(?:iam|sts)::\d{12}:\S+?)(?=\s|$)/.exec(
    awsText
  )?.[1]
}

/** The account of an IAM or STS principal ARN. */
export function accountOf(principalArn: string): string | undefined {
  return /^arn:[^:]+:(?:iam|sts)::(\d{12}):/.exec(principalArn)?.[1]
}

/**
 * The ARN a policy's Principal names for a caller. A session of a role
 * (`sts::…:assumed-role/NAME/session`) is named by its role; IAM matches
 * a role ARN with its path, which the session ARN does not carry, so a
 * role under a path needs that path added by hand.
 */
export function policyPrincipal(callerArn: string): string {
  const session = /^arn:([^:]+):sts::(\d{12}):assumed-role\/([^/]+)\//.exec(
    callerArn
  )
  if (!session) return callerArn
  const [, partition, account, role] = session
  return `arn:${partition}:iam::${account}:role/${role}`
}

/** A push into another account's registry: both sides must allow it. */
export interface CrossAccountPolicies {
  /** The pusher's role or user, as AWS named it. */
  callerArn: string
  callerAccount: string
  /** The account that owns the registry (registry-id). */
  registryAccount: string
  /** For the pusher, in its own account. */
  identityPolicy: string
  /** For the repository, in the registry's account. */
  repositoryPolicy: string
}

/**
 * Both policies a cross-account push needs: the pusher's identity policy
 * (login on "*", the push actions on the target repository) and the
 * target repository's policy that lets the pusher in. A repository
 * policy has no Resource: it applies to its own repository.
 */
export function crossAccountPolicies(
  targetRepositoryArn: string,
  callerArn: string,
  registryAccount: string
): CrossAccountPolicies | undefined {
  const callerAccount = accountOf(callerArn)
  if (!callerAccount || callerAccount === registryAccount) return undefined
  return {
    callerArn,
    callerAccount,
    registryAccount,
    identityPolicy: pushPolicy(targetRepositoryArn),
    repositoryPolicy: JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'AllowPushFromAccount' + callerAccount,
          Effect: 'Allow',
          Principal: { AWS: policyPrincipal(callerArn) },
          Action: [...PUSH_ACTIONS]
        }
      ]
    })
  }
}

/** The words a cross-account denial adds to its message. */
export function crossAccountAdvice(policies: CrossAccountPolicies): string {
  return (
    `The registry belongs to account ${policies.registryAccount} and this ` +
    `job runs as ${policies.callerArn} (account ` +
    `${policies.callerAccount}): both sides must allow the push. The ` +
    'identity policy of the role or user in its own account:\n' +
    `${policies.identityPolicy}\n` +
    `The repository policy in account ${policies.registryAccount} ` +
    '(repository-policy, or the console):\n' +
    `${policies.repositoryPolicy}\n` +
    'The job summary shows both, formatted.'
  )
}
