import {
  afterEach,
  beforeEach,
  describe,
  expect,
  jest,
  test
} from '@jest/globals'
import {
  CreateRepositoryCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
  type Repository
} from '@aws-sdk/client-ecr'
import {
  GetRoleCommand,
  IAMClient,
  SimulatePrincipalPolicyCommand,
  type EvaluationResult,
  type SimulatePrincipalPolicyCommandInput
} from '@aws-sdk/client-iam'
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts'
import { mockClient } from 'aws-sdk-client-mock'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'

import {
  ACCOUNT,
  ARN,
  REGISTRY,
  accessDenied,
  repository,
  repositoryNotFound
} from '../fixtures/aws.js'
import { core, inputs, logged, outputs, resetCore } from '../fixtures/core.js'
import { exec } from '../fixtures/exec.js'
import { ROLE_ARN, ROLE_NAME, SESSION_ARN } from '../fixtures/iam-engine.js'
import { makeSettings } from '../fixtures/settings.js'
import { removeTempDirs, tempDir } from '../fixtures/tmp.js'

jest.unstable_mockModule('@actions/core', () => core)
jest.unstable_mockModule('@actions/exec', () => exec)

const { AccessDeniedError } = await import('../../src/errors.js')
const { PUSH_ACTIONS, pullPolicy, pushPolicy } =
  await import('../../src/policy.js')
const { checkPermissions, permissionFailure, requiredActions } =
  await import('../../src/permissions.js')
const { run } = await import('../../src/main.js')

const ecrMock = mockClient(ECRClient)
const iamMock = mockClient(IAMClient)
const stsMock = mockClient(STSClient)

const LOGIN = 'ecr:GetAuthorizationToken'
const DESCRIBE = 'ecr:DescribeRepositories'
const TOKEN = Buffer.from('AWS:password').toString('base64')

/** The simulator's answer: every action allowed but those given. */
function simulator(
  decisions: Record<string, Partial<EvaluationResult>> = {}
): void {
  iamMock.on(GetRoleCommand).resolves({
    Role: {
      Arn: ROLE_ARN,
      RoleName: ROLE_NAME,
      Path: '/ci/',
      RoleId: 'AROAEXAMPLE',
      CreateDate: new Date('2024-01-01T00:00:00Z')
    }
  })
  iamMock
    .on(SimulatePrincipalPolicyCommand)
    .callsFake((input: SimulatePrincipalPolicyCommandInput) => ({
      EvaluationResults: (input.ActionNames ?? []).map(action => ({
        EvalActionName: action,
        EvalResourceName: input.ResourceArns?.[0] ?? '*',
        EvalDecision: 'allowed',
        ...decisions[action]
      })),
      IsTruncated: false
    }))
}

function caller(arn = SESSION_ARN): void {
  stsMock.on(GetCallerIdentityCommand).resolves({ Account: ACCOUNT, Arn: arn })
}

/** The calls main.ts starts before the check, already answered. */
function started(
  options: {
    found?: Repository | undefined
    lookup?: Error
    login?: Error
  } = { found: repository() }
) {
  const login = options.login
    ? Promise.reject(options.login)
    : Promise.resolve({})
  const found = options.lookup
    ? Promise.reject(options.lookup)
    : Promise.resolve(options.found)
  const sts = new STSClient({ region: 'us-east-1' })
  const identity = sts
    .send(new GetCallerIdentityCommand({}))
    .then(answer => ({ account: answer.Account ?? '', arn: answer.Arn ?? '' }))
  return { identity, repository: found, login }
}

function verdicts(findings: { action: string; verdict: string }[]) {
  return Object.fromEntries(findings.map(f => [f.action, f.verdict]))
}

function simulateCalls(): SimulatePrincipalPolicyCommandInput[] {
  return iamMock
    .commandCalls(SimulatePrincipalPolicyCommand)
    .map(call => call.args[0].input)
}

beforeEach(() => {
  resetCore()
  ecrMock.reset()
  iamMock.reset()
  stsMock.reset()
  caller()
  simulator()
})

describe('requiredActions', () => {
  const push = [...PUSH_ACTIONS]

  test.each([
    ['an existing repository', {}, true, [DESCRIBE, ...push]],
    [
      'a missing repository it may create',
      {},
      false,
      [DESCRIBE, 'ecr:CreateRepository', ...push]
    ],
    [
      'a missing repository created with tags',
      { repositoryTags: [{ Key: 'team', Value: 'shop' }] },
      false,
      [DESCRIBE, 'ecr:CreateRepository', 'ecr:TagResource', ...push]
    ],
    [
      'create-repository false',
      { createRepository: false },
      false,
      [DESCRIBE, ...push]
    ],
    [
      'policies on an existing repository',
      { lifecyclePolicy: '{}', repositoryPolicy: '{}' },
      true,
      [
        DESCRIBE,
        ...push,
        'ecr:GetLifecyclePolicy',
        'ecr:PutLifecyclePolicy',
        'ecr:GetRepositoryPolicy',
        'ecr:SetRepositoryPolicy'
      ]
    ],
    [
      'policies on a repository this run creates: nothing to read',
      { lifecyclePolicy: '{}' },
      false,
      [DESCRIBE, 'ecr:CreateRepository', ...push, 'ecr:PutLifecyclePolicy']
    ],
    [
      'a lookup that failed: no creation assumed',
      {},
      undefined,
      [DESCRIBE, ...push]
    ],
    [
      'push false, existing: only reads',
      { push: false, lifecyclePolicy: '{}' },
      true,
      [DESCRIBE, 'ecr:BatchGetImage']
    ],
    ['push false, missing', { push: false }, false, [DESCRIBE]],
    [
      'a promotion: reads and writes manifests only',
      { sourceTag: 'rc' },
      true,
      [DESCRIBE, 'ecr:BatchGetImage', 'ecr:PutImage']
    ],
    [
      'a merge: reads manifests and configs, writes the index',
      { mergeSources: ['amd64', 'arm64'] },
      true,
      [
        DESCRIBE,
        'ecr:BatchGetImage',
        'ecr:GetDownloadUrlForLayer',
        'ecr:PutImage'
      ]
    ],
    [
      'a merge with push false: only reads',
      { mergeSources: ['amd64', 'arm64'], push: false },
      true,
      [DESCRIBE, 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer']
    ],
    [
      'a registry cache: read, then written',
      { cacheTag: 'buildcache' },
      true,
      [DESCRIBE, ...push, 'ecr:GetDownloadUrlForLayer']
    ],
    [
      'fail-on-severity: reads the scan findings',
      { failOnSeverity: 'HIGH' as const },
      true,
      [DESCRIBE, ...push, 'ecr:DescribeImageScanFindings']
    ],
    [
      'fail-on-severity with push false: no scan to read',
      { failOnSeverity: 'HIGH' as const, push: false },
      true,
      [DESCRIBE, 'ecr:BatchGetImage']
    ]
  ])('%s', (_name, overrides, exists, actions) => {
    const required = requiredActions(makeSettings(overrides), exists, ARN)

    expect(required[0]).toEqual({ action: LOGIN, resource: '*' })
    expect(required.slice(1)).toEqual(
      actions.map(action => ({ action, resource: ARN }))
    )
  })
})

describe('checkPermissions', () => {
  test('all allowed: logs who, each verdict and what it cannot see', async () => {
    const check = await checkPermissions(makeSettings(), started())

    expect(permissionFailure(check)).toBeUndefined()
    expect(check.findings.every(f => f.verdict === 'allowed')).toBe(true)
    expect(check.account).toBe(ACCOUNT)
    const info = logged(core.info)
    expect(info).toContain(`Credentials: ${SESSION_ARN} (account ${ACCOUNT})`)
    expect(info).toContain(`allowed: ecr:PutImage on ${ARN}`)
    expect(info).toContain('not SCPs, repository policies or session policies')
    expect(core.warning).not.toHaveBeenCalled()
  })

  test('maps the role session to the role, path included', async () => {
    await checkPermissions(makeSettings(), started())

    expect(iamMock.commandCalls(GetRoleCommand)[0]?.args[0].input).toEqual({
      RoleName: ROLE_NAME
    })
    for (const input of simulateCalls()) {
      expect(input.PolicySourceArn).toBe(ROLE_ARN)
    }
  })

  test('login is simulated on "*", the rest on the repository', async () => {
    await checkPermissions(makeSettings(), started())

    const [login, repositoryActions] = simulateCalls()
    expect(login?.ActionNames).toEqual([LOGIN])
    expect(login?.ResourceArns).toBeUndefined()
    expect(repositoryActions?.ActionNames).toEqual([DESCRIBE, ...PUSH_ACTIONS])
    expect(repositoryActions?.ResourceArns).toEqual([ARN])
    expect(repositoryActions?.ContextEntries).toContainEqual({
      ContextKeyName: 'aws:RequestedRegion',
      ContextKeyType: 'string',
      ContextKeyValues: ['us-east-1']
    })
  })

  test('an IAM user is checked as itself, without GetRole', async () => {
    const user = `arn:aws:iam::${ACCOUNT}:user/ci/pusher`
    caller(user)

    await checkPermissions(makeSettings(), started())

    expect(iamMock.commandCalls(GetRoleCommand)).toHaveLength(0)
    expect(simulateCalls()[0]?.PolicySourceArn).toBe(user)
  })

  test('a user named in an sts ARN is checked as the IAM user', async () => {
    caller(`arn:aws:sts::${ACCOUNT}:user/moto`)

    await checkPermissions(makeSettings(), started())

    expect(simulateCalls()[0]?.PolicySourceArn).toBe(
      `arn:aws:iam::${ACCOUNT}:user/moto`
    )
  })

  test('implicit denials: one line each, with the statement to add', async () => {
    simulator({
      'ecr:PutImage': { EvalDecision: 'implicitDeny' },
      'ecr:InitiateLayerUpload': { EvalDecision: 'implicitDeny' }
    })

    const check = await checkPermissions(makeSettings(), started())

    const message = permissionFailure(check)?.message ?? ''
    const lines = message.split('\n')
    expect(lines[0]).toBe(
      `The credentials (${SESSION_ARN}) may not make 2 call(s) this run ` +
        'needs, so nothing was built or pushed:'
    )
    for (const action of ['ecr:InitiateLayerUpload', 'ecr:PutImage']) {
      expect(lines).toContain(
        `- ${action} on ${ARN}: no identity policy allows it; allow it ` +
          `with ${JSON.stringify({ Effect: 'Allow', Action: action, Resource: ARN })}`
      )
    }
    expect(message).toContain('push-policy output')
  })

  test('an explicit deny names its policy and asks to narrow it', async () => {
    simulator({
      'ecr:PutImage': {
        EvalDecision: 'explicitDeny',
        MatchedStatements: [{ SourcePolicyId: 'deny-prod-writes' }]
      }
    })

    const check = await checkPermissions(makeSettings(), started())

    expect(permissionFailure(check)?.message).toContain(
      `- ecr:PutImage on ${ARN}: explicitly denied by deny-prod-writes; ` +
        'an Allow cannot override a Deny: remove or narrow that Deny'
    )
  })

  test('a permissions boundary that does not allow it is named', async () => {
    simulator({
      'ecr:PutImage': {
        EvalDecision: 'implicitDeny',
        PermissionsBoundaryDecisionDetail: {
          AllowedByPermissionsBoundary: false
        }
      }
    })

    const check = await checkPermissions(makeSettings(), started())

    expect(permissionFailure(check)?.message).toContain(
      'the permissions boundary does not allow it'
    )
  })

  test('a condition on a key it cannot know is unknown, not denied', async () => {
    simulator({
      'ecr:PutImage': {
        EvalDecision: 'implicitDeny',
        MissingContextValues: ['aws:SourceVpce']
      }
    })

    const check = await checkPermissions(makeSettings(), started())

    expect(verdicts(check.findings)['ecr:PutImage']).toBe('unknown')
    expect(permissionFailure(check)).toBeUndefined()
    expect(logged(core.warning)).toContain(
      'Could not check ecr:PutImage: depends on aws:SourceVpce'
    )
  })

  test("the run's own denied login is a denial, whatever the simulator says", async () => {
    const denial = new AccessDeniedError('denied', LOGIN, '*', false)

    const check = await checkPermissions(
      makeSettings(),
      started({ found: repository(), login: denial })
    )

    expect(verdicts(check.findings)[LOGIN]).toBe('denied')
    expect(permissionFailure(check)?.message).toContain(
      `- ${LOGIN} on *: AWS denied the call itself`
    )
  })

  test("the run's own successful calls are allowed over the simulator", async () => {
    simulator({
      [LOGIN]: { EvalDecision: 'implicitDeny' },
      [DESCRIBE]: { EvalDecision: 'implicitDeny' }
    })

    const check = await checkPermissions(makeSettings(), started())

    expect(verdicts(check.findings)).toMatchObject({
      [LOGIN]: 'allowed',
      [DESCRIBE]: 'allowed'
    })
  })

  test('a missing repository is no proof of DescribeRepositories', async () => {
    simulator({ [DESCRIBE]: { EvalDecision: 'implicitDeny' } })

    const check = await checkPermissions(
      makeSettings(),
      started({ found: undefined })
    )

    expect(verdicts(check.findings)[DESCRIBE]).toBe('denied')
    expect(verdicts(check.findings)['ecr:CreateRepository']).toBe('allowed')
  })

  test('GetRole denied: everything unknown, a warning names iam:GetRole', async () => {
    iamMock.on(GetRoleCommand).rejects(accessDenied('iam:GetRole'))

    const check = await checkPermissions(makeSettings(), started())

    expect(permissionFailure(check)).toBeUndefined()
    const unknown = check.findings.filter(f => f.verdict === 'unknown')
    // The run's own calls still count.
    expect(unknown.map(f => f.action)).toEqual([...PUSH_ACTIONS])
    expect(logged(core.warning)).toContain(
      `iam:GetRole was denied; allow it on arn:aws:iam::${ACCOUNT}:role/` +
        `${ROLE_NAME} so that the check can find the role's path`
    )
    expect(core.warning).toHaveBeenCalledTimes(1)
  })

  test('the simulation denied: unknown, a warning names the permission', async () => {
    iamMock
      .on(SimulatePrincipalPolicyCommand)
      .rejects(accessDenied('iam:SimulatePrincipalPolicy'))

    const check = await checkPermissions(makeSettings(), started())

    expect(permissionFailure(check)).toBeUndefined()
    expect(logged(core.warning)).toContain(
      `iam:SimulatePrincipalPolicy was denied; allow it on ${ROLE_ARN}`
    )
  })

  test('the simulation unavailable: unknown, a warning', async () => {
    iamMock
      .on(SimulatePrincipalPolicyCommand)
      .rejects(
        new Error(
          'The simulate_principal_policy action has not been implemented'
        )
      )

    const check = await checkPermissions(makeSettings(), started())

    expect(permissionFailure(check)).toBeUndefined()
    expect(logged(core.warning)).toContain(
      'iam:SimulatePrincipalPolicy failed: The simulate_principal_policy'
    )
  })

  test('STS unreachable: unknown, a warning, no failure', async () => {
    stsMock.on(GetCallerIdentityCommand).rejects(new Error('connect ETIMEDOUT'))

    const check = await checkPermissions(makeSettings(), started())

    expect(permissionFailure(check)).toBeUndefined()
    expect(iamMock.calls()).toHaveLength(0)
    expect(logged(core.warning)).toContain(
      'sts:GetCallerIdentity failed, so the caller is not known: connect ETIMEDOUT'
    )
  })

  test('a federated user cannot be simulated: unknown', async () => {
    caller(`arn:aws:sts::${ACCOUNT}:federated-user/alice`)

    const check = await checkPermissions(makeSettings(), started())

    expect(permissionFailure(check)).toBeUndefined()
    expect(logged(core.warning)).toContain('is neither')
  })

  test('the root user: allowed, with a warning', async () => {
    caller(`arn:aws:iam::${ACCOUNT}:root`)

    const check = await checkPermissions(makeSettings(), started())

    expect(check.findings.every(f => f.verdict === 'allowed')).toBe(true)
    expect(iamMock.calls()).toHaveLength(0)
    expect(logged(core.warning)).toContain('root user')
  })

  test('the account comes from registry-id over the caller', async () => {
    const check = await checkPermissions(
      makeSettings({ registryId: '210987654321' }),
      started({ found: undefined })
    )

    expect(check.account).toBe('210987654321')
    expect(check.repositoryArn).toBe(
      'arn:aws:ecr:us-east-1:210987654321:repository/shop/api'
    )
  })
})

describe('a run with validate-permissions', () => {
  let summaryFile: string

  beforeEach(() => {
    summaryFile = path.join(tempDir(), 'step-summary.md')
    writeFileSync(summaryFile, '')
    process.env.GITHUB_STEP_SUMMARY = summaryFile
    process.env.AWS_REGION = 'us-east-1'
    exec.getExecOutput.mockReset()
    ecrMock.on(DescribeRepositoriesCommand).rejects(repositoryNotFound())
    ecrMock.on(GetAuthorizationTokenCommand).resolves({
      authorizationData: [
        { authorizationToken: TOKEN, proxyEndpoint: `https://${REGISTRY}` }
      ]
    })
    Object.assign(inputs, {
      repository: 'shop/api',
      image: 'app:ci',
      'validate-permissions': 'true'
    })
  })

  afterEach(() => {
    delete process.env.GITHUB_STEP_SUMMARY
    delete process.env.AWS_REGION
    removeTempDirs()
  })

  test('a denial fails before anything is created or run', async () => {
    simulator({
      'ecr:CreateRepository': { EvalDecision: 'implicitDeny' },
      'ecr:PutImage': { EvalDecision: 'explicitDeny' }
    })

    await run()

    expect(core.setFailed).toHaveBeenCalledTimes(1)
    const message = String(core.setFailed.mock.calls[0]?.[0])
    expect(message).toContain('may not make 2 call(s)')
    expect(message).toContain(`- ecr:CreateRepository on ${ARN}:`)
    expect(message).toContain(`- ecr:PutImage on ${ARN}: explicitly denied`)
    expect(ecrMock.commandCalls(CreateRepositoryCommand)).toHaveLength(0)
    expect(exec.getExecOutput).not.toHaveBeenCalled()
    expect(core.group).toHaveBeenCalledWith('Permissions', expect.anything())
  })

  test('the policy outputs are set, and the summary shows the policy', async () => {
    simulator({ 'ecr:PutImage': { EvalDecision: 'implicitDeny' } })

    await run()

    expect(outputs).toEqual({
      'push-policy': pushPolicy(ARN),
      'pull-policy': pullPolicy(ARN)
    })
    const summary = readFileSync(summaryFile, 'utf8')
    expect(summary).toContain('An identity policy that allows everything')
    expect(summary).toContain('"ecr:PutImage"')
    expect(summary).toContain('"ecr:CreateRepository"')
  })

  test('registry-id of another account: both policies, for the STS caller', async () => {
    const target = '210987654321'
    inputs['registry-id'] = target
    simulator({ 'ecr:PutImage': { EvalDecision: 'implicitDeny' } })

    await run()

    const message = String(core.setFailed.mock.calls[0]?.[0])
    expect(message).toContain(`The registry belongs to account ${target}`)
    expect(message).toContain('both sides must allow the push')
    const summary = readFileSync(summaryFile, 'utf8')
    expect(summary).toContain(
      `The repository policy, in account <code>${target}</code>:`
    )
    expect(summary).toContain(
      `"Resource": "arn:aws:ecr:us-east-1:${target}:repository/shop/api"`
    )
  })

  test('STS, the token and the lookup are asked at once', async () => {
    const events: string[] = []
    const slowly = async <T>(name: string, answer: () => T): Promise<T> => {
      events.push(`${name} asked`)
      await new Promise(resolve => setTimeout(resolve, 20))
      events.push(`${name} answered`)
      return answer()
    }
    stsMock
      .on(GetCallerIdentityCommand)
      .callsFake(() =>
        slowly('sts', () => ({ Account: ACCOUNT, Arn: SESSION_ARN }))
      )
    ecrMock
      .on(GetAuthorizationTokenCommand)
      .callsFake(() => slowly('token', () => ({})))
    ecrMock.on(DescribeRepositoriesCommand).callsFake(() =>
      slowly('describe', () => {
        throw repositoryNotFound()
      })
    )

    await run()

    const asked = ['sts', 'token', 'describe'].map(name =>
      events.indexOf(`${name} asked`)
    )
    const firstAnswer = events.findIndex(event => event.endsWith('answered'))
    for (const index of asked) {
      expect(index).toBeGreaterThanOrEqual(0)
      expect(index).toBeLessThan(firstAnswer)
    }
  })

  test('off by default: no STS or IAM call', async () => {
    delete inputs['validate-permissions']
    ecrMock.on(DescribeRepositoriesCommand).rejects(accessDenied(DESCRIBE))

    await run()

    expect(stsMock.calls()).toHaveLength(0)
    expect(iamMock.calls()).toHaveLength(0)
    expect(String(core.setFailed.mock.calls[0]?.[0])).toContain(
      `${DESCRIBE} was denied`
    )
  })
})

describe('registry-type public', () => {
  const PUBLIC_ARN = `arn:aws:ecr-public::${ACCOUNT}:repository/shop/api`
  const LOGINS = [
    'ecr-public:GetAuthorizationToken',
    'sts:GetServiceBearerToken'
  ]
  const publicSettings = (overrides: Parameters<typeof makeSettings>[0] = {}) =>
    makeSettings({ registryType: 'public', ...overrides })

  test('a first push: logins on "*", create and the push set on the ARN', () => {
    expect(requiredActions(publicSettings(), false, PUBLIC_ARN)).toEqual([
      ...LOGINS.map(action => ({ action, resource: '*' })),
      ...[
        'ecr-public:DescribeRepositories',
        'ecr-public:CreateRepository',
        'ecr-public:BatchCheckLayerAvailability',
        'ecr-public:InitiateLayerUpload',
        'ecr-public:UploadLayerPart',
        'ecr-public:CompleteLayerUpload',
        'ecr-public:PutImage'
      ].map(action => ({ action, resource: PUBLIC_ARN }))
    ])
  })

  test('gallery data of an existing repository is read and written', () => {
    const actions = requiredActions(
      publicSettings({ publicCatalog: { description: 'x' } }),
      true,
      PUBLIC_ARN
    ).map(r => r.action)
    expect(actions).toContain('ecr-public:GetRepositoryCatalogData')
    expect(actions).toContain('ecr-public:PutRepositoryCatalogData')
    expect(actions).not.toContain('ecr-public:CreateRepository')
  })

  test('a promotion only writes manifests; push off only looks', () => {
    const promote = requiredActions(
      publicSettings({ sourceTag: 'sha-1' }),
      true,
      PUBLIC_ARN
    ).map(r => r.action)
    expect(promote.slice(2)).toEqual([
      'ecr-public:DescribeRepositories',
      'ecr-public:PutImage'
    ])
    const dryRun = requiredActions(
      publicSettings({ push: false }),
      true,
      PUBLIC_ARN
    ).map(r => r.action)
    expect(dryRun.slice(2)).toEqual(['ecr-public:DescribeRepositories'])
  })

  test('the check simulates in us-east-1 and gives the public policy', async () => {
    const check = await checkPermissions(
      publicSettings({ region: 'eu-west-1' }),
      started({ found: undefined })
    )

    expect(check.repositoryArn).toBe(PUBLIC_ARN)
    expect(check.findings.every(f => f.verdict === 'allowed')).toBe(true)
    for (const call of simulateCalls()) {
      expect(call.ContextEntries?.[0]?.ContextKeyValues).toEqual(['us-east-1'])
    }
    const policy = JSON.parse(check.policy) as {
      Statement: { Action: unknown; Resource: string }[]
    }
    expect(policy.Statement[0]).toEqual({
      Effect: 'Allow',
      Action: LOGINS,
      Resource: '*'
    })
    expect(policy.Statement[1]?.Resource).toBe(PUBLIC_ARN)
  })

  test('a login denied for the bearer token is that denial', async () => {
    const denial = new AccessDeniedError(
      'sts:GetServiceBearerToken was denied on *.',
      'sts:GetServiceBearerToken',
      '*',
      false
    )

    const check = await checkPermissions(
      publicSettings(),
      started({ found: undefined, login: denial })
    )

    expect(verdicts(check.findings)).toMatchObject({
      'sts:GetServiceBearerToken': 'denied',
      'ecr-public:GetAuthorizationToken': 'allowed'
    })
    expect(permissionFailure(check)?.message).toContain(
      '- sts:GetServiceBearerToken on *: AWS denied the call itself'
    )
  })
})
