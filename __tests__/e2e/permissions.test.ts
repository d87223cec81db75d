// validate-permissions through the bundle, against the local ECR: who the
// credentials are comes from STS, the role's path from IAM, and a
// simulator that cannot answer leaves every action unknown, with a
// warning, and the run goes on. The policy outputs are always there.
import { beforeAll, describe, expect, it } from '@jest/globals'
import { CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam'
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts'

import type { ActionRun } from './harness.js'
import { actionRuns, expectExit } from './runs.js'
import { localEcr } from './registry-client.js'
import { makeApp, unique } from './tools.js'

const runAction = actionRuns()

async function act(
  inputs: Record<string, string>,
  env: Record<string, string> = {}
): Promise<ActionRun> {
  return runAction({ inputs, cwd: await makeApp(), env })
}

function account(): string {
  return process.env.LOCAL_ECR_ACCOUNT ?? '123456789012'
}

function arnOf(repository: string): string {
  const region = process.env.AWS_REGION ?? 'us-east-1'
  return `arn:aws:ecr:${region}:${account()}:repository/${repository}`
}

/** The lines of the log between ::group::Permissions and its end. */
function permissionsGroup(result: ActionRun): string {
  const start = result.stdout.indexOf('::group::Permissions')
  const end = result.stdout.indexOf('::endgroup::', start)
  return start < 0 ? '' : result.stdout.slice(start, end)
}

describe('validate-permissions with the default credentials', () => {
  const repository = `e2e/perm-${unique()}/api`
  let result: ActionRun

  beforeAll(async () => {
    result = await act({ repository, 'validate-permissions': 'true' })
  }, 120_000)

  it('passes and pushes', () => {
    expectExit(result, 0)
    expect(result.outputs.pushed).toBe('true')
    expect(result.outputs.digest).toMatch(/^sha256:[a-f0-9]{64}$/)
  })

  it('logs who the credentials are, before the repository phase', () => {
    const group = permissionsGroup(result)
    expect(group).toContain(`(account ${account()})`)
    expect(result.stdout.indexOf('::group::Permissions')).toBeLessThan(
      result.stdout.indexOf('::group::Repository')
    )
  })

  it('reads the answer of the calls it made anyway', () => {
    expect(permissionsGroup(result)).toContain(
      'allowed: ecr:GetAuthorizationToken on * (the call itself succeeded)'
    )
  })

  it('warns that what the simulator could not answer is unknown', () => {
    const warnings = result.stdout
      .split('\n')
      .filter(line => line.startsWith('::warning::'))
      .join('\n')
    expect(warnings).toContain('Could not check ')
    expect(warnings).toContain('ecr:PutImage')
    expect(warnings).toContain('Unknown is no failure')
  })

  it('publishes both policies for the repository', () => {
    const push = JSON.parse(result.outputs['push-policy'] ?? '{}') as {
      Statement: { Action: string | string[]; Resource: string }[]
    }
    const pull = JSON.parse(result.outputs['pull-policy'] ?? '{}') as {
      Statement: { Action: string | string[]; Resource: string }[]
    }
    expect(push.Statement[0]).toEqual({
      Effect: 'Allow',
      Action: 'ecr:GetAuthorizationToken',
      Resource: '*'
    })
    expect(push.Statement[1]?.Resource).toBe(arnOf(repository))
    expect(push.Statement[1]?.Action).toContain('ecr:PutImage')
    expect(pull.Statement[1]?.Action).toEqual([
      'ecr:BatchGetImage',
      'ecr:GetDownloadUrlForLayer'
    ])
  })
})

describe('validate-permissions as an assumed role with a path', () => {
  const repository = `e2e/perm-${unique()}/role`
  const roleName = `ecr-push-${unique()}`
  let result: ActionRun

  beforeAll(async () => {
    const region = process.env.AWS_REGION ?? 'us-east-1'
    const role = await new IAMClient({ region }).send(
      new CreateRoleCommand({
        RoleName: roleName,
        Path: '/ci/',
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: `arn:aws:iam::${account()}:root` },
              Action: 'sts:AssumeRole'
            }
          ]
        })
      })
    )
    const session = await new STSClient({ region }).send(
      new AssumeRoleCommand({
        RoleArn: role.Role?.Arn,
        RoleSessionName: 'e2e'
      })
    )
    const credentials = session.Credentials
    result = await act(
      { repository, 'validate-permissions': 'true', push: 'false' },
      {
        AWS_ACCESS_KEY_ID: credentials?.AccessKeyId ?? '',
        AWS_SECRET_ACCESS_KEY: credentials?.SecretAccessKey ?? '',
        AWS_SESSION_TOKEN: credentials?.SessionToken ?? ''
      }
    )
  }, 120_000)

  it('passes: unknown is never a failure', () => {
    expectExit(result, 0)
  })

  it('names the session, and finds the role behind it', () => {
    const group = permissionsGroup(result)
    expect(group).toContain(
      `Credentials: arn:aws:sts::${account()}:assumed-role/${roleName}/e2e`
    )
    // GetRole answered, so what stopped the check was the simulator.
    expect(result.stdout).not.toContain('iam:GetRole was denied')
    expect(result.stdout).toContain('iam:SimulatePrincipalPolicy failed')
  })

  it('publishes the policies with push false too', () => {
    const { registry } = localEcr()
    expect(result.outputs.registry).toBe(registry)
    expect(result.outputs['push-policy']).toContain(arnOf(repository))
    expect(result.outputs['pull-policy']).toContain(arnOf(repository))
  })
})
