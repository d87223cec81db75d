import { ActionError, awsErrorName, errorMessage } from './errors.js'

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

function policyDocument(statements: object[]): string {
  return JSON.stringify({ Version: '2012-10-17', Statement: statements })
}

/** The least-privilege identity policy for pushing to one repository. */
export function pushPolicy(repositoryArn: string): string {
  return policyDocument([
    LOGIN_STATEMENT,
    { Effect: 'Allow', Action: [...PUSH_ACTIONS], Resource: repositoryArn }
  ])
}

/** The least-privilege identity policy for pulling from one repository. */
export function pullPolicy(repositoryArn: string): string {
  return policyDocument([
    LOGIN_STATEMENT,
    { Effect: 'Allow', Action: [...PULL_ACTIONS], Resource: repositoryArn }
  ])
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
  const named = /on resource: (arn:[^\s]+)/.exec(awsText)?.[1]
  const checked = named ?? resource
  const said = `${action} was denied on ${checked}.\nAWS said: ${awsText}\n`
  // An Allow never overrides an explicit Deny: adding one would not help.
  if (/explicit deny/i.test(awsText)) {
    return new ActionError(
      said +
        'An explicit Deny (in an identity policy, a permissions boundary, ' +
        'a session policy or an SCP) blocks it: remove or narrow that Deny.'
    )
  }
  return new ActionError(
    said +
      'Allow it in the policy of the role or user this job runs as:\n' +
      allowStatement(action, checked)
  )
}
