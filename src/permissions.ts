/**
 * The permission check (validate-permissions): before anything is built or
 * written, whether this run's credentials may make each call the run will
 * make. Each action ends allowed, denied or unknown; only a definite
 * denial fails the step, and unknown is a warning.
 *
 * How it decides, and why:
 * - IAM's policy simulator (iam:SimulatePrincipalPolicy) for the caller's
 *   user or role. It is the one check AWS documents as free of side
 *   effects, and it evaluates the identity policies and the permissions
 *   boundary with resources and conditions. It cannot see service control
 *   policies, repository policies or session policies, so "allowed" means
 *   "allowed by the identity policies". A repository policy that grants
 *   this role access in its own account is not seen either: such a setup
 *   gets a false denial here, and needs validate-permissions off.
 * - The run's own read-only calls, which it makes anyway and which main.ts
 *   starts before this check: GetAuthorizationToken and
 *   DescribeRepositories. Their answer is AWS's real decision, with every
 *   kind of policy applied, so it wins over the simulator's.
 * - No other probes. A deliberately invalid request for a write action
 *   (PutImage with a broken manifest, say) would tell nothing, since AWS
 *   does not document that ECR checks IAM before it validates a request,
 *   and a valid one would change the registry.
 */
import * as core from '@actions/core'
import type { Repository } from '@aws-sdk/client-ecr'
import type {
  EvaluationResult,
  IAMClient,
  IAMClientConfig
} from '@aws-sdk/client-iam'
import type { STSClientConfig } from '@aws-sdk/client-sts'

import { ECR_PUBLIC_REGION } from './ecr-public.js'
import {
  AccessDeniedError,
  ActionError,
  awsErrorName,
  errorMessage
} from './errors.js'
import type { Settings } from './inputs.js'
import {
  LIFECYCLE_POLICY_ACTIONS,
  PUBLIC_LOGIN_ACTIONS,
  PUBLIC_PUSH_ACTIONS,
  PUSH_ACTIONS,
  REPOSITORY_POLICY_ACTIONS,
  allowStatement,
  identityPolicy,
  isAccessDenied,
  publicRepositoryArn,
  repositoryArn
} from './policy.js'
import { loadSdk } from './sdk-loader.js'
import { USER_AGENT } from './user-agent.js'

/**
 * What the STS and IAM clients are made with: the run's AWS client
 * settings (region, retries, request handler). Without it, the region
 * alone and the SDK's defaults.
 */
export type ClientConfig = STSClientConfig & IAMClientConfig

function clientConfig(region: string, config?: ClientConfig): ClientConfig {
  return config ?? { region, customUserAgent: USER_AGENT }
}

/** Who the run's credentials are, as STS says. */
export interface CallerIdentity {
  account: string
  /** A user's ARN, or an assumed-role session's (`assumed-role/NAME/…`). */
  arn: string
}

/**
 * Asks STS who the credentials are. Its own module chunk is loaded only
 * here, so runs without the check never load it. GetCallerIdentity needs
 * no permission: no policy can deny it.
 */
export async function getCallerIdentity(
  region: string,
  config?: ClientConfig
): Promise<CallerIdentity> {
  const { GetCallerIdentityCommand, STSClient } = await (
    await loadSdk()
  ).loadSts()
  const sts = new STSClient(clientConfig(region, config))
  const answer = await sts.send(new GetCallerIdentityCommand({}))
  if (!answer.Account || !answer.Arn) {
    throw new ActionError('STS GetCallerIdentity returned no account or ARN')
  }
  return { account: answer.Account, arn: answer.Arn }
}

export type Verdict = 'allowed' | 'denied' | 'unknown'

/** One action the run will make, on the resource IAM checks it against. */
export interface Requirement {
  action: string
  resource: string
}

export interface Finding extends Requirement {
  verdict: Verdict
  /** What decided, in a few words. */
  reason: string
  /** For a denial: whether only removing a Deny would help. */
  explicit?: boolean
}

export interface PermissionCheck {
  /** The caller's ARN, when STS answered. */
  caller: string | undefined
  /** The registry's account, once the inputs, ECR or STS told it. */
  account: string | undefined
  repositoryArn: string
  findings: Finding[]
  /** An identity policy that allows every action checked. */
  policy: string
}

type CheckSettings = Pick<
  Settings,
  | 'repository'
  | 'registryType'
  | 'publicCatalog'
  | 'region'
  | 'partition'
  | 'registryId'
  | 'push'
  | 'sourceTag'
  | 'mergeSources'
  | 'cacheTag'
  | 'createRepository'
  | 'repositoryTags'
  | 'lifecyclePolicy'
  | 'repositoryPolicy'
  | 'failOnSeverity'
>

/** The calls main.ts started before the check; it reads their outcome. */
export interface StartedCalls {
  identity: Promise<CallerIdentity>
  repository: Promise<Repository | undefined>
  login: Promise<unknown>
}

const LOGIN = 'ecr:GetAuthorizationToken'
const DESCRIBE = 'ecr:DescribeRepositories'
const GET_BLOB = 'ecr:GetDownloadUrlForLayer'
const PUBLIC_DESCRIBE = 'ecr-public:DescribeRepositories'

/**
 * The actions this run will make. `exists` is undefined when the lookup
 * failed: then neither CreateRepository nor the policy reads are assumed.
 */
export function requiredActions(
  settings: CheckSettings,
  exists: boolean | undefined,
  arn: string
): Requirement[] {
  if (settings.registryType === 'public') {
    return publicActions(settings, exists, arn)
  }
  const actions: string[] = [DESCRIBE]
  const merge = settings.mergeSources.length > 0
  if (settings.push && settings.sourceTag !== undefined) {
    // A promotion reads the manifest at the source tag and writes it at
    // the others: no layer moves, and the repository must exist.
    actions.push('ecr:BatchGetImage', 'ecr:PutImage')
  } else if (settings.push && merge) {
    // A merge also reads each source's config (a blob download) for its
    // platform, then writes the index at the tags.
    actions.push('ecr:BatchGetImage', GET_BLOB, 'ecr:PutImage')
  } else if (settings.push) {
    if (exists === false && settings.createRepository) {
      actions.push('ecr:CreateRepository')
      if (settings.repositoryTags.length) actions.push('ecr:TagResource')
    }
    actions.push(...PUSH_ACTIONS)
    // buildx reads the registry cache before it writes it.
    if (settings.cacheTag !== undefined) actions.push(GET_BLOB)
    const policies = [
      [settings.lifecyclePolicy, LIFECYCLE_POLICY_ACTIONS],
      [settings.repositoryPolicy, REPOSITORY_POLICY_ACTIONS]
    ] as const
    for (const [given, [read, write]] of policies) {
      if (given === undefined) continue
      // A repository this run creates has no policy to read yet.
      if (exists !== false) actions.push(read)
      actions.push(write)
    }
  } else if (exists) {
    // Without push, the run still reads what the tags point at, and
    // what a merge or a registry cache reads.
    actions.push('ecr:BatchGetImage')
    if (merge || settings.cacheTag !== undefined) actions.push(GET_BLOB)
  }
  if (settings.push && settings.failOnSeverity !== undefined) {
    // The gate reads the findings of the image the run pushed.
    actions.push('ecr:DescribeImageScanFindings')
  }
  return [
    { action: LOGIN, resource: '*' },
    ...actions.map(action => ({ action, resource: arn }))
  ]
}

/**
 * The actions of a run on ECR Public. Reading its images (a tag lookup,
 * a promotion's source, a merge's configs, a buildx cache) needs no
 * permission; every write to the registry is PutImage or a layer upload.
 */
function publicActions(
  settings: CheckSettings,
  exists: boolean | undefined,
  arn: string
): Requirement[] {
  const actions: string[] = [PUBLIC_DESCRIBE]
  const copiesManifests =
    settings.sourceTag !== undefined || settings.mergeSources.length > 0
  if (settings.push && copiesManifests) {
    actions.push('ecr-public:PutImage')
  } else if (settings.push) {
    if (exists === false && settings.createRepository) {
      actions.push('ecr-public:CreateRepository')
      if (settings.repositoryTags.length) actions.push('ecr-public:TagResource')
    }
    actions.push(...PUBLIC_PUSH_ACTIONS)
  }
  // A repository this run creates gets its gallery data with it.
  if (settings.push && settings.publicCatalog && exists !== false) {
    actions.push(
      'ecr-public:GetRepositoryCatalogData',
      'ecr-public:PutRepositoryCatalogData'
    )
  }
  return [
    ...PUBLIC_LOGIN_ACTIONS.map(action => ({ action, resource: '*' })),
    ...actions.map(action => ({ action, resource: arn }))
  ]
}

/**
 * Checks every action the run needs, and logs each verdict. Never throws
 * for what it cannot find out: that is unknown, with a warning that says
 * which permission would let it check.
 */
export async function checkPermissions(
  settings: CheckSettings,
  started: StartedCalls,
  config?: ClientConfig
): Promise<PermissionCheck> {
  const [identity, lookup, login] = await Promise.allSettled([
    started.identity,
    started.repository,
    started.login
  ])
  const caller = identity.status === 'fulfilled' ? identity.value : undefined
  if (caller) {
    core.info(`Credentials: ${caller.arn} (account ${caller.account})`)
  }

  const { account, arn, exists } = whereTo(settings, lookup, caller)
  const requirements = requiredActions(settings, exists, arn)

  // ECR Public's calls go to us-east-1 whatever the job's region.
  const region =
    settings.registryType === 'public' ? ECR_PUBLIC_REGION : settings.region
  const simulated = caller
    ? await simulatePermissions(caller, requirements, region, config)
    : unknownAll(
        requirements,
        'sts:GetCallerIdentity failed, so the caller is not known' +
          failureOf(identity.status === 'rejected' ? identity.reason : '')
      )
  const observed = observedFindings(settings, login, lookup)
  const findings = simulated.map(finding => ({
    ...finding,
    ...observed.get(finding.action)
  }))

  logFindings(findings)
  return {
    caller: caller?.arn,
    account,
    repositoryArn: arn,
    findings,
    // The login is on "*", in a statement of its own.
    policy: identityPolicy(
      arn,
      findings.filter(f => f.resource !== '*').map(f => f.action)
    )
  }
}

/** The registry's account and the repository's ARN, from what is known. */
function whereTo(
  settings: CheckSettings,
  lookup: PromiseSettledResult<Repository | undefined>,
  caller: CallerIdentity | undefined
) {
  const found = lookup.status === 'fulfilled' ? lookup.value : undefined
  const account = settings.registryId ?? found?.registryId ?? caller?.account
  const arn =
    found?.repositoryArn ??
    (settings.registryType === 'public'
      ? publicRepositoryArn(
          settings.partition,
          account ?? '<account>',
          settings.repository
        )
      : repositoryArn(
          settings.partition,
          settings.region,
          account ?? '<account>',
          settings.repository
        ))
  const exists = lookup.status === 'fulfilled' ? found !== undefined : undefined
  return { account, arn, exists }
}

/**
 * The failure for a check that found definite denials: one line per
 * action, with the statement that would allow it. Undefined otherwise.
 */
export function permissionFailure(
  check: PermissionCheck
): ActionError | undefined {
  const denied = check.findings.filter(f => f.verdict === 'denied')
  if (!denied.length) return undefined
  const who = check.caller ? ` (${check.caller})` : ''
  const lines = denied.map(finding => {
    const advice = finding.explicit
      ? 'an Allow cannot override a Deny: remove or narrow that Deny'
      : `allow it with ${allowStatement(finding.action, finding.resource)}`
    return (
      `- ${finding.action} on ${finding.resource}: ${finding.reason}; ` + advice
    )
  })
  return new ActionError(
    `The credentials${who} may not make ${denied.length} call(s) this run ` +
      'needs, so nothing was built or pushed:\n' +
      `${lines.join('\n')}\n` +
      'The job summary shows a policy that allows everything this run ' +
      'needs; the push-policy output has the one for pushing alone.'
  )
}

type Decision = Pick<Finding, 'verdict' | 'reason' | 'explicit'>

/** What the run's own calls showed: AWS's real decision wins. */
function observedFindings(
  settings: Pick<CheckSettings, 'registryType'>,
  login: PromiseSettledResult<unknown>,
  lookup: PromiseSettledResult<Repository | undefined>
): Map<string, Decision & { resource?: string }> {
  const observed = new Map<string, Decision & { resource?: string }>()
  const record = (action: string, outcome: PromiseSettledResult<unknown>) => {
    if (outcome.status === 'fulfilled') {
      observed.set(action, {
        verdict: 'allowed',
        reason: 'the call itself succeeded'
      })
    } else if (outcome.reason instanceof AccessDeniedError) {
      observed.set(action, {
        verdict: 'denied',
        reason: 'AWS denied the call itself',
        explicit: outcome.reason.explicit,
        resource: outcome.reason.resource
      })
    }
  }
  const isPublic = settings.registryType === 'public'
  if (!isPublic) {
    record(LOGIN, login)
  } else if (login.status === 'rejected') {
    // The denial names which of the two the login lacked.
    const denied = login.reason
    if (denied instanceof AccessDeniedError) record(denied.action, login)
  } else {
    for (const action of PUBLIC_LOGIN_ACTIONS) record(action, login)
  }
  // "Not found" is no proof of being allowed: AWS does not document
  // whether ECR checks permissions before it looks the repository up.
  if (lookup.status === 'rejected' || lookup.value !== undefined) {
    record(isPublic ? PUBLIC_DESCRIBE : DESCRIBE, lookup)
  }
  return observed
}

function unknownAll(requirements: Requirement[], why: string): Finding[] {
  return requirements.map(r => ({ ...r, verdict: 'unknown', reason: why }))
}

function logFindings(findings: Finding[]): void {
  for (const f of findings) {
    core.info(`${f.verdict}: ${f.action} on ${f.resource} (${f.reason})`)
  }
  core.info(
    'The check sees identity policies and permissions boundaries, not ' +
      'SCPs, repository policies or session policies: "allowed" means ' +
      'allowed by the identity policies.'
  )
  // One warning per reason, which says what would let the check decide.
  const unknown = findings.filter(f => f.verdict === 'unknown')
  for (const reason of new Set(unknown.map(f => f.reason))) {
    const actions = unknown.filter(f => f.reason === reason)
    core.warning(
      `Could not check ${actions.map(f => f.action).join(', ')}: ` +
        `${reason}. Unknown is no failure: a missing permission shows ` +
        'when the call is made.'
    )
  }
}

/**
 * `: <first line of the error>`, with the HTTP status when AWS answered
 * one: a service that cannot answer at all says little more than that.
 */
function failureOf(error: unknown): string {
  const status = (error as { $metadata?: { httpStatusCode?: number } })
    ?.$metadata?.httpStatusCode
  const name = awsErrorName(error)
  const firstLine = (errorMessage(error).split('\n')[0] ?? '').replace(
    /\.$/,
    ''
  )
  const code = name && name !== 'Error' ? `${name}: ` : ''
  return `${status ? ` (HTTP ${status})` : ''}: ${code}${firstLine}`
}

/** `[partition, account, resource]` of a caller ARN from STS. */
function callerParts(arn: string): [string, string, string] {
  const match = /^arn:([\w-]+):(?:iam|sts)::(\d{12}):(.+)$/.exec(arn)
  return [match?.[1] ?? '', match?.[2] ?? '', match?.[3] ?? '']
}

type IamSdk = typeof import('@aws-sdk/client-iam')

/**
 * Runs the simulator for the caller: one verdict per requirement. A check
 * it cannot make is unknown, with the reason.
 */
export async function simulatePermissions(
  caller: CallerIdentity,
  requirements: Requirement[],
  region: string,
  config?: ClientConfig
): Promise<Finding[]> {
  if (callerParts(caller.arn)[2] === 'root') {
    core.warning(
      'The job runs as the account root user, which IAM policies do not ' +
        'limit; use a role with the push-policy output instead.'
    )
    return requirements.map(r => ({
      ...r,
      verdict: 'allowed',
      reason: 'the root user'
    }))
  }

  // Loaded only when the check runs: most runs never need the IAM client.
  const sdk = await (await loadSdk()).loadIam()
  const iam = new sdk.IAMClient(clientConfig(region, config))

  let source: string
  try {
    source = await policySourceArn(sdk, iam, caller)
  } catch (error) {
    return unknownAll(requirements, errorMessage(error))
  }

  // The simulator checks every action against every resource it is given,
  // and login must only be matched against "*": one request per resource.
  const byResource = new Map<string, string[]>()
  for (const { action, resource } of requirements) {
    byResource.set(resource, [...(byResource.get(resource) ?? []), action])
  }
  let results: EvaluationResult[]
  try {
    const pages = await Promise.all(
      [...byResource].map(([resource, actions]) =>
        simulateOn(sdk, iam, source, actions, resource, region)
      )
    )
    results = pages.flat()
  } catch (error) {
    const why = isAccessDenied(error)
      ? `iam:SimulatePrincipalPolicy was denied; allow it on ${source} ` +
        'to enable this check'
      : `iam:SimulatePrincipalPolicy failed${failureOf(error)}`
    return unknownAll(requirements, why)
  }

  return requirements.map(requirement => ({
    ...requirement,
    ...decisionOf(results.find(r => r.EvalActionName === requirement.action))
  }))
}

/**
 * The IAM ARN the simulator takes for the caller. STS names a role
 * session `arn:…:sts::ACCOUNT:assumed-role/NAME/SESSION`, without the
 * role's path, which only iam:GetRole can tell.
 */
async function policySourceArn(
  sdk: IamSdk,
  iam: IAMClient,
  caller: CallerIdentity
): Promise<string> {
  const [partition, account, resource] = callerParts(caller.arn)
  if (resource.startsWith('user/')) {
    return `arn:${partition}:iam::${account}:${resource}`
  }
  const roleName = /^assumed-role\/([^/]+)\//.exec(resource)?.[1]
  if (roleName === undefined) {
    throw new ActionError(
      `the simulator checks users and roles, and ${caller.arn} is neither`
    )
  }

  const roleArn = `arn:${partition}:iam::${account}:role/${roleName}`
  try {
    const answer = await iam.send(
      new sdk.GetRoleCommand({ RoleName: roleName })
    )
    if (answer.Role?.Arn) return answer.Role.Arn
    throw new ActionError(`iam:GetRole returned no ARN for ${roleName}`)
  } catch (error) {
    if (isAccessDenied(error)) {
      throw new ActionError(
        `iam:GetRole was denied; allow it on ${roleArn} so that the ` +
          "check can find the role's path"
      )
    }
    if (error instanceof ActionError) throw error
    throw new ActionError(`iam:GetRole ${roleName} failed${failureOf(error)}`)
  }
}

async function simulateOn(
  sdk: IamSdk,
  iam: IAMClient,
  source: string,
  actions: string[],
  resource: string,
  region: string
): Promise<EvaluationResult[]> {
  const results: EvaluationResult[] = []
  let marker: string | undefined
  do {
    const page = await iam.send(
      new sdk.SimulatePrincipalPolicyCommand({
        PolicySourceArn: source,
        ActionNames: actions,
        // Without resources, the simulator checks against "*".
        ...(resource === '*' ? {} : { ResourceArns: [resource] }),
        // What the check knows for sure about the real requests.
        ContextEntries: [
          {
            ContextKeyName: 'aws:RequestedRegion',
            ContextKeyType: 'string',
            ContextKeyValues: [region]
          },
          {
            ContextKeyName: 'aws:SecureTransport',
            ContextKeyType: 'boolean',
            ContextKeyValues: ['true']
          }
        ],
        ...(marker ? { Marker: marker } : {})
      })
    )
    results.push(...(page.EvaluationResults ?? []))
    marker = page.IsTruncated ? page.Marker : undefined
  } while (marker)
  return results
}

function decisionOf(result: EvaluationResult | undefined): Decision {
  if (!result) {
    return { verdict: 'unknown', reason: 'the simulator did not answer' }
  }
  // A condition on a key the simulator was not given is not evaluated:
  // the real request may well match it.
  const missing = result.MissingContextValues ?? []
  if (result.EvalDecision !== 'allowed' && missing.length) {
    return {
      verdict: 'unknown',
      reason: `depends on ${missing.join(', ')}, which the check cannot know`
    }
  }
  if (result.EvalDecision === 'allowed') {
    return { verdict: 'allowed', reason: 'allowed by the identity policies' }
  }
  if (result.EvalDecision === 'explicitDeny') {
    const sources = [
      ...new Set(
        (result.MatchedStatements ?? []).flatMap(s =>
          s.SourcePolicyId ? [s.SourcePolicyId] : []
        )
      )
    ]
    const by = sources.length ? ` by ${sources.join(', ')}` : ''
    return {
      verdict: 'denied',
      reason: `explicitly denied${by}`,
      explicit: true
    }
  }
  if (
    result.PermissionsBoundaryDecisionDetail?.AllowedByPermissionsBoundary ===
    false
  ) {
    return {
      verdict: 'denied',
      reason: 'the permissions boundary does not allow it (allow it there too)'
    }
  }
  return { verdict: 'denied', reason: 'no identity policy allows it' }
}
