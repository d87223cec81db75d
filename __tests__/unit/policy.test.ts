import { describe, expect, test } from '@jest/globals'
import { RepositoryNotFoundException } from '@aws-sdk/client-ecr'

import { ACCOUNT, ARN, REGISTRY, accessDenied } from '../fixtures/aws.js'
import { AccessDeniedError, ActionError } from '../../src/errors.js'
import {
  PUBLIC_PUSH_ACTIONS,
  PUBLIC_REGISTRY,
  PULL_ACTIONS,
  PUSH_ACTIONS,
  allowStatement,
  isPublicArn,
  publicRepositoryArn,
  registryAction,
  deniedPrincipal,
  explainDeniedText,
  explainDenial,
  isAccessDenied,
  policyPrincipal,
  pullPolicy,
  pushPolicy,
  registryRepositoryArn,
  repositoryArn
} from '../../src/policy.js'

const LOGIN = {
  Effect: 'Allow',
  Action: 'ecr:GetAuthorizationToken',
  Resource: '*'
}

describe('identity policies', () => {
  test('push: login on "*" in its own statement, the push set on the ARN', () => {
    expect(JSON.parse(pushPolicy(ARN))).toEqual({
      Version: '2012-10-17',
      Statement: [
        LOGIN,
        {
          Effect: 'Allow',
          Action: [
            'ecr:BatchCheckLayerAvailability',
            'ecr:InitiateLayerUpload',
            'ecr:UploadLayerPart',
            'ecr:CompleteLayerUpload',
            'ecr:PutImage',
            'ecr:BatchGetImage'
          ],
          Resource: ARN
        }
      ]
    })
  })

  test('pull: BatchGetImage and GetDownloadUrlForLayer on the ARN', () => {
    expect(JSON.parse(pullPolicy(ARN))).toEqual({
      Version: '2012-10-17',
      Statement: [
        LOGIN,
        {
          Effect: 'Allow',
          Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
          Resource: ARN
        }
      ]
    })
  })

  test('GetAuthorizationToken is never scoped to the repository', () => {
    expect(PUSH_ACTIONS).not.toContain('ecr:GetAuthorizationToken')
    expect(PULL_ACTIONS).not.toContain('ecr:GetAuthorizationToken')
  })
})

describe('repositoryArn', () => {
  test.each([
    [
      'aws',
      'us-east-1',
      'arn:aws:ecr:us-east-1:123456789012:repository/shop/api'
    ],
    [
      'aws-cn',
      'cn-north-1',
      'arn:aws-cn:ecr:cn-north-1:123456789012:repository/shop/api'
    ],
    [
      'aws-us-gov',
      'us-gov-west-1',
      'arn:aws-us-gov:ecr:us-gov-west-1:123456789012:repository/shop/api'
    ]
  ])('%s %s', (partition, region, arn) => {
    expect(repositoryArn(partition, region, '123456789012', 'shop/api')).toBe(
      arn
    )
  })
})

describe('allowStatement', () => {
  test('names the action on the resource', () => {
    expect(JSON.parse(allowStatement('ecr:PutImage', ARN))).toEqual({
      Effect: 'Allow',
      Action: 'ecr:PutImage',
      Resource: ARN
    })
  })

  test('GetAuthorizationToken is always on "*"', () => {
    expect(
      JSON.parse(allowStatement('ecr:GetAuthorizationToken', ARN))
    ).toEqual(LOGIN)
  })
})

describe('isAccessDenied', () => {
  test.each([
    ['AccessDeniedException', true],
    ['AccessDenied', true],
    ['RepositoryNotFoundException', false],
    ['Error', false]
  ])('%s: %s', (name, denied) => {
    expect(isAccessDenied(Object.assign(new Error('x'), { name }))).toBe(denied)
  })

  test.each([undefined, null, 'AccessDeniedException', 42])(
    '%p is no denial',
    value => {
      expect(isAccessDenied(value)).toBe(false)
    }
  )
})

describe('explainDenial', () => {
  test.each([
    new Error('socket hang up'),
    new RepositoryNotFoundException({ message: 'missing', $metadata: {} }),
    'a string',
    undefined
  ])('passes %p through unchanged', error => {
    expect(explainDenial(error, 'ecr:PutImage', ARN)).toBe(error)
  })

  test('names the action, the resource AWS checked, and the statement', () => {
    const checked = 'arn:aws:ecr:us-east-1:210987654321:repository/shop/api'
    const denial = accessDenied('ecr:CreateRepository', checked)

    const explained = explainDenial(denial, 'ecr:CreateRepository', ARN)

    expect(explained).toBeInstanceOf(ActionError)
    const message = (explained as Error).message
    expect(message.split('\n')).toEqual([
      `ecr:CreateRepository was denied on ${checked}.`,
      `AWS said: ${denial.message}`,
      'Allow it in the policy of the role or user this job runs as:',
      JSON.stringify({
        Effect: 'Allow',
        Action: 'ecr:CreateRepository',
        Resource: checked
      })
    ])
    expect(message).not.toContain(ARN)
  })

  test('an AWS text ending with the resource is read too', () => {
    const denial = Object.assign(
      new Error(
        `User: x is not authorized to perform: ecr:PutImage on resource: ${ARN}`
      ),
      { name: 'AccessDenied' }
    )
    const message = (explainDenial(denial, 'ecr:PutImage', 'guess') as Error)
      .message
    expect(message).toContain(`ecr:PutImage was denied on ${ARN}.`)
    expect(message).not.toContain('guess')
  })

  test('without a resource in the AWS text, uses the one given', () => {
    const message = (
      explainDenial(accessDenied('ecr:PutImage'), 'ecr:PutImage', ARN) as Error
    ).message
    expect(message).toContain(`ecr:PutImage was denied on ${ARN}.`)
    expect(message).toContain(`"Resource":"${ARN}"`)
  })
})

describe('registryRepositoryArn', () => {
  test.each([
    [
      '123456789012.dkr.ecr.us-east-1.amazonaws.com',
      'arn:aws:ecr:us-east-1:123456789012:repository/shop/api'
    ],
    [
      '123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com',
      'arn:aws-us-gov:ecr:us-gov-west-1:123456789012:repository/shop/api'
    ],
    [
      '123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn',
      'arn:aws-cn:ecr:cn-north-1:123456789012:repository/shop/api'
    ]
  ])('%s', (registry, arn) => {
    expect(registryRepositoryArn(registry, 'shop/api')).toBe(arn)
  })

  test('a registry that is not ECR has no ARN', () => {
    expect(registryRepositoryArn('ghcr.io', 'shop/api')).toBeUndefined()
  })
})

describe('explainDeniedText', () => {
  const dockerDenial = new ActionError(
    'docker push failed (exit code 1):\n' +
      'denied: User: arn:aws:sts::123456789012:assumed-role/ci/run is not ' +
      `authorized to perform: ecr:InitiateLayerUpload on resource: ${ARN} ` +
      'because no identity-based policy allows the ecr:InitiateLayerUpload ' +
      'action'
  )

  test("keeps docker's words and adds the action and statement", () => {
    const explained = explainDeniedText(dockerDenial, 'guess')

    expect(explained).toBeInstanceOf(AccessDeniedError)
    const message = (explained as Error).message
    expect(message.startsWith(dockerDenial.message)).toBe(true)
    expect(message).toContain(`ecr:InitiateLayerUpload was denied on ${ARN}.`)
    expect(message).toContain(
      JSON.stringify({
        Effect: 'Allow',
        Action: 'ecr:InitiateLayerUpload',
        Resource: ARN
      })
    )
    expect((explained as InstanceType<typeof AccessDeniedError>).action).toBe(
      'ecr:InitiateLayerUpload'
    )
  })

  test('without a quoted action, names the one given', () => {
    const refused = new ActionError('Could not read shop/api:latest: 403.')

    const message = (
      explainDeniedText(refused, ARN, 'ecr:BatchGetImage') as Error
    ).message

    expect(message).toContain(`ecr:BatchGetImage was denied on ${ARN}.`)
  })

  test('anything else is returned unchanged', () => {
    const other = new ActionError('docker push failed: connection reset')
    expect(explainDeniedText(other, ARN)).toBe(other)
  })

  test('an explicit deny asks to narrow the Deny', () => {
    const explicit = new ActionError(
      `User: x is not authorized to perform: ecr:PutImage on resource: ${ARN} ` +
        'with an explicit deny in an identity-based policy'
    )
    const message = (explainDeniedText(explicit, ARN) as Error).message
    expect(message).toContain('remove or narrow that Deny')
    expect(message).not.toContain('"Effect":"Allow"')
  })
})

describe('the caller of a denial', () => {
  test.each([
    [
      'User: arn:aws:sts::111111111111:assumed-role/ci/run-1 is not authorized to perform: ecr:PutImage',
      'arn:aws:sts::111111111111:assumed-role/ci/run-1'
    ],
    [
      'denied: User: arn:aws:iam::111111111111:user/ci-bot is not authorized',
      'arn:aws:iam::111111111111:user/ci-bot'
    ],
    ['denied: requested access to the resource is denied', undefined]
  ])('%s', (text, principal) => {
    expect(deniedPrincipal(text)).toBe(principal)
  })

  test.each([
    [
      'arn:aws:sts::111111111111:assumed-role/ci/run-1',
      'arn:aws:iam::111111111111:role/ci'
    ],
    [
      'arn:aws-cn:sts::111111111111:assumed-role/ci/run-1',
      'arn:aws-cn:iam::111111111111:role/ci'
    ],
    [
      'arn:aws:iam::111111111111:user/ci-bot',
      'arn:aws:iam::111111111111:user/ci-bot'
    ]
  ])('%s is named %s in a policy', (caller, principal) => {
    expect(policyPrincipal(caller)).toBe(principal)
  })
})

describe('ECR Public', () => {
  const PUBLIC_ARN = `arn:aws:ecr-public::${ACCOUNT}:repository/shop/api`
  const LOGIN_STATEMENT = {
    Effect: 'Allow',
    Action: ['ecr-public:GetAuthorizationToken', 'sts:GetServiceBearerToken'],
    Resource: '*'
  }

  test('a public repository ARN names no region', () => {
    expect(publicRepositoryArn('aws', ACCOUNT, 'shop/api')).toBe(PUBLIC_ARN)
    expect(isPublicArn(PUBLIC_ARN)).toBe(true)
    expect(isPublicArn(ARN)).toBe(false)
  })

  test('push: both logins on "*", the ecr-public push set on the ARN', () => {
    expect(JSON.parse(pushPolicy(PUBLIC_ARN))).toEqual({
      Version: '2012-10-17',
      Statement: [
        LOGIN_STATEMENT,
        {
          Effect: 'Allow',
          Action: [...PUBLIC_PUSH_ACTIONS],
          Resource: PUBLIC_ARN
        }
      ]
    })
  })

  test('pull: the login alone, for a logged-in pull', () => {
    expect(JSON.parse(pullPolicy(PUBLIC_ARN))).toEqual({
      Version: '2012-10-17',
      Statement: [LOGIN_STATEMENT]
    })
  })

  test.each(['ecr-public:GetAuthorizationToken', 'sts:GetServiceBearerToken'])(
    '%s is always allowed on "*"',
    action => {
      expect(JSON.parse(allowStatement(action, PUBLIC_ARN))).toEqual({
        Effect: 'Allow',
        Action: action,
        Resource: '*'
      })
    }
  )

  test.each([
    ['ecr:PutImage', 'ecr-public:PutImage'],
    ['ecr:BatchGetImage', undefined],
    ['ecr:GetDownloadUrlForLayer', undefined]
  ])('a public registry request of %s is %s', (action, expected) => {
    expect(registryAction(PUBLIC_REGISTRY, action)).toBe(expected)
    expect(registryAction(REGISTRY, action)).toBe(action)
  })
})
