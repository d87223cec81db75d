import { beforeEach, describe, expect, jest, test } from '@jest/globals'
import {
  CreateRepositoryCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  GetLifecyclePolicyCommand,
  GetRepositoryPolicyCommand,
  PutLifecyclePolicyCommand,
  SetRepositoryPolicyCommand,
  ServerException
} from '@aws-sdk/client-ecr'
import { mockClient } from 'aws-sdk-client-mock'

import {
  ACCOUNT,
  ARN,
  REGISTRY,
  accessDenied,
  lifecyclePolicyNotFound,
  repository,
  repositoryAlreadyExists,
  repositoryNotFound,
  repositoryPolicyNotFound
} from '../fixtures/aws.js'
import { core, logged, resetCore } from '../fixtures/core.js'
import { makeSettings } from '../fixtures/settings.js'
import { rejection } from '../fixtures/rejection.js'

jest.unstable_mockModule('@actions/core', () => core)

const { ActionError } = await import('../../src/errors.js')
const { createRequest, ensureRepository, samePolicy, settingsDifferences } =
  await import('../../src/repository.js')

const ecrMock = mockClient(ECRClient)
const ecr = new ECRClient({ region: 'us-east-1' })

const LIFECYCLE = {
  rules: [
    {
      rulePriority: 1,
      selection: {
        tagStatus: 'any',
        countType: 'imageCountMoreThan',
        countNumber: 30
      },
      action: { type: 'expire' }
    }
  ]
}
const REPOSITORY_POLICY = {
  Version: '2012-10-17',
  Statement: [
    {
      Sid: 'Pull',
      Effect: 'Allow',
      Principal: { AWS: 'arn:aws:iam::210987654321:root' },
      Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer']
    }
  ]
}

/** The same JSON, as ECR hands it back: pretty-printed, keys reordered. */
function reordered(value: unknown): string {
  const sortDeep = (item: unknown): unknown => {
    if (Array.isArray(item)) return item.map(sortDeep)
    if (item !== null && typeof item === 'object') {
      return Object.fromEntries(
        Object.entries(item)
          .reverse()
          .map(([key, inner]) => [key, sortDeep(inner)])
      )
    }
    return item
  }
  return JSON.stringify(sortDeep(value), null, 3)
}

/** Forgets behaviours and calls; writes answer as ECR does, with {}. */
function resetEcr(): void {
  ecrMock.reset()
  ecrMock.on(PutLifecyclePolicyCommand).resolves({})
  ecrMock.on(SetRepositoryPolicyCommand).resolves({})
}

beforeEach(() => {
  resetEcr()
  resetCore()
})

function callNames(): string[] {
  return ecrMock.calls().map(call => call.args[0].constructor.name)
}

describe('an existing repository', () => {
  test('is found: nothing is created, created is false', async () => {
    ecrMock
      .on(DescribeRepositoriesCommand)
      .resolves({ repositories: [repository()] })

    const state = await ensureRepository(ecr, makeSettings())

    expect(state).toEqual({
      exists: true,
      created: false,
      arn: ARN,
      uri: `${REGISTRY}/shop/api`,
      registryId: ACCOUNT,
      imageTagMutability: 'MUTABLE',
      mutabilityExclusionFilters: []
    })
    expect(callNames()).toEqual(['DescribeRepositoriesCommand'])
    expect(
      ecrMock.commandCalls(DescribeRepositoriesCommand)[0]?.args[0].input
    ).toStrictEqual({ repositoryNames: ['shop/api'] })
    expect(core.warning).not.toHaveBeenCalled()
  })

  test('is looked up in the registry-id account when given', async () => {
    ecrMock
      .on(DescribeRepositoriesCommand)
      .resolves({ repositories: [repository({ registryId: '210987654321' })] })

    const state = await ensureRepository(
      ecr,
      makeSettings({ registryId: '210987654321' })
    )

    expect(
      ecrMock.commandCalls(DescribeRepositoriesCommand)[0]?.args[0].input
    ).toStrictEqual({
      repositoryNames: ['shop/api'],
      registryId: '210987654321'
    })
    expect(state.registryId).toBe('210987654321')
  })

  test('reports its exclusion filters', async () => {
    ecrMock.on(DescribeRepositoriesCommand).resolves({
      repositories: [
        repository({
          imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION',
          imageTagMutabilityExclusionFilters: [
            { filterType: 'WILDCARD', filter: 'latest' },
            { filterType: 'WILDCARD', filter: 'dev-*' }
          ]
        })
      ]
    })

    const state = await ensureRepository(
      ecr,
      makeSettings({
        imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION',
        mutabilityExclusionFilters: ['latest', 'dev-*']
      })
    )

    expect(state.imageTagMutability).toBe('IMMUTABLE_WITH_EXCLUSION')
    expect(state.mutabilityExclusionFilters).toEqual(['latest', 'dev-*'])
    expect(core.warning).not.toHaveBeenCalled()
  })

  test.each([
    {
      setting: 'image-tag-mutability',
      found: { imageTagMutability: 'IMMUTABLE' as const },
      wanted: {},
      text: 'image-tag-mutability is IMMUTABLE in the repository, but the input asks for MUTABLE'
    },
    {
      setting: 'image-tag-mutability-exclusion-filters',
      found: {
        imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION' as const,
        imageTagMutabilityExclusionFilters: [
          { filterType: 'WILDCARD' as const, filter: 'latest' }
        ]
      },
      wanted: {
        imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION' as const,
        mutabilityExclusionFilters: ['latest', 'dev-*']
      },
      text: 'image-tag-mutability-exclusion-filters is latest in the repository, but the input asks for dev-*,latest'
    },
    {
      setting: 'scan-on-push',
      found: { imageScanningConfiguration: { scanOnPush: false } },
      wanted: {},
      text: 'scan-on-push is false in the repository, but the input asks for true'
    },
    {
      setting: 'encryption-type',
      found: {
        encryptionConfiguration: {
          encryptionType: 'KMS' as const,
          kmsKey: `arn:aws:kms:us-east-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`
        }
      },
      wanted: {},
      text: 'encryption-type is KMS in the repository, but the input asks for AES256'
    },
    {
      setting: 'kms-key',
      found: {
        encryptionConfiguration: {
          encryptionType: 'KMS' as const,
          kmsKey: `arn:aws:kms:us-east-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`
        }
      },
      wanted: {
        encryptionType: 'KMS' as const,
        kmsKey: '99999999-12ab-34cd-56ef-1234567890ab'
      },
      text: 'kms-key is arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab in the repository, but the input asks for 99999999-12ab-34cd-56ef-1234567890ab'
    }
  ])(
    'a different $setting is a warning, and is left as it is',
    async ({ found, wanted, text }) => {
      ecrMock
        .on(DescribeRepositoriesCommand)
        .resolves({ repositories: [repository(found)] })

      const state = await ensureRepository(ecr, makeSettings(wanted))

      expect(core.warning).toHaveBeenCalledTimes(1)
      expect(logged(core.warning)).toContain(text)
      expect(logged(core.warning)).toContain('left as they are')
      expect(state.created).toBe(false)
      expect(callNames()).toEqual(['DescribeRepositoriesCommand'])
    }
  )

  test('one warning for each setting that differs', async () => {
    ecrMock.on(DescribeRepositoriesCommand).resolves({
      repositories: [
        repository({
          imageTagMutability: 'IMMUTABLE',
          imageScanningConfiguration: { scanOnPush: false },
          encryptionConfiguration: { encryptionType: 'KMS' }
        })
      ]
    })

    await ensureRepository(ecr, makeSettings())

    const warnings = core.warning.mock.calls.map(call => String(call[0]))
    expect(warnings).toHaveLength(3)
    expect(warnings[0]).toMatch(/^image-tag-mutability is IMMUTABLE/)
    expect(warnings[1]).toMatch(/^scan-on-push is false/)
    expect(warnings[2]).toMatch(/^encryption-type is KMS/)
  })
})

describe('a missing repository', () => {
  test('is created with exactly the settings', async () => {
    ecrMock.on(DescribeRepositoriesCommand).rejects(repositoryNotFound())
    const created = repository({
      registryId: '210987654321',
      repositoryArn: 'arn:aws:ecr:us-east-1:210987654321:repository/shop/api',
      imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION',
      imageTagMutabilityExclusionFilters: [
        { filterType: 'WILDCARD', filter: 'latest' },
        { filterType: 'WILDCARD', filter: 'dev-*' }
      ]
    })
    ecrMock.on(CreateRepositoryCommand).resolves({ repository: created })

    const state = await ensureRepository(
      ecr,
      makeSettings({
        registryId: '210987654321',
        imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION',
        mutabilityExclusionFilters: ['latest', 'dev-*'],
        scanOnPush: false,
        encryptionType: 'KMS',
        kmsKey: 'alias/ecr-images',
        repositoryTags: [
          { Key: 'team', Value: 'shop' },
          { Key: 'cost-center', Value: '42' }
        ]
      })
    )

    const calls = ecrMock.commandCalls(CreateRepositoryCommand)
    expect(calls).toHaveLength(1)
    expect(calls[0]?.args[0].input).toStrictEqual({
      repositoryName: 'shop/api',
      registryId: '210987654321',
      imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION',
      imageTagMutabilityExclusionFilters: [
        { filterType: 'WILDCARD', filter: 'latest' },
        { filterType: 'WILDCARD', filter: 'dev-*' }
      ],
      imageScanningConfiguration: { scanOnPush: false },
      encryptionConfiguration: {
        encryptionType: 'KMS',
        kmsKey: 'alias/ecr-images'
      },
      tags: [
        { Key: 'team', Value: 'shop' },
        { Key: 'cost-center', Value: '42' }
      ]
    })
    expect(state).toEqual({
      exists: true,
      created: true,
      arn: 'arn:aws:ecr:us-east-1:210987654321:repository/shop/api',
      uri: `${REGISTRY}/shop/api`,
      registryId: '210987654321',
      imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION',
      mutabilityExclusionFilters: ['latest', 'dev-*']
    })
  })

  test('defaults: no optional keys are sent', async () => {
    ecrMock.on(DescribeRepositoriesCommand).rejects(repositoryNotFound())
    ecrMock.on(CreateRepositoryCommand).resolves({ repository: repository() })

    const state = await ensureRepository(ecr, makeSettings())

    expect(
      ecrMock.commandCalls(CreateRepositoryCommand)[0]?.args[0].input
    ).toStrictEqual({
      repositoryName: 'shop/api',
      imageTagMutability: 'MUTABLE',
      imageScanningConfiguration: { scanOnPush: true },
      encryptionConfiguration: { encryptionType: 'AES256' }
    })
    expect(state.created).toBe(true)
    expect(logged(core.info)).toContain(
      `Created repository ${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/shop/api`
    )
  })

  test('lost the race: another run created it, which is no error', async () => {
    ecrMock
      .on(DescribeRepositoriesCommand)
      .rejectsOnce(repositoryNotFound())
      .resolves({ repositories: [repository()] })
    ecrMock.on(CreateRepositoryCommand).rejects(repositoryAlreadyExists())

    const state = await ensureRepository(ecr, makeSettings())

    expect(state.created).toBe(false)
    expect(state.exists).toBe(true)
    expect(state.arn).toBe(ARN)
    expect(callNames()).toEqual([
      'DescribeRepositoriesCommand',
      'CreateRepositoryCommand',
      'DescribeRepositoriesCommand'
    ])
  })

  describe("created by the entry's own request", () => {
    test('made: the SDK creates nothing', async () => {
      ecrMock.on(DescribeRepositoriesCommand).rejects(repositoryNotFound())
      const requests: unknown[] = []

      const state = await ensureRepository(
        ecr,
        makeSettings(),
        Promise.resolve(undefined),
        async request => {
          requests.push(request)
          return { repository: repository() }
        }
      )

      expect(state).toMatchObject({ created: true, exists: true, arn: ARN })
      expect(requests).toEqual([createRequest(makeSettings())])
      expect(callNames()).toEqual([])
      expect(logged(core.info)).toContain('Created repository')
    })

    test('made by another run first: found through the SDK', async () => {
      ecrMock
        .on(DescribeRepositoriesCommand)
        .resolves({ repositories: [repository()] })

      const state = await ensureRepository(
        ecr,
        makeSettings(),
        Promise.resolve(undefined),
        async () => ({ alreadyExists: true })
      )

      expect(state).toMatchObject({ created: false, exists: true })
      expect(callNames()).toEqual(['DescribeRepositoriesCommand'])
      expect(logged(core.info)).toContain('was just created by another run')
    })

    test('no answer: the SDK creates it', async () => {
      ecrMock.on(CreateRepositoryCommand).resolves({ repository: repository() })

      const state = await ensureRepository(
        ecr,
        makeSettings(),
        Promise.resolve(undefined),
        async () => undefined
      )

      expect(state.created).toBe(true)
      expect(callNames()).toEqual(['CreateRepositoryCommand'])
    })
  })

  test('lost the race: policies are compared with what the winner wrote', async () => {
    ecrMock
      .on(DescribeRepositoriesCommand)
      .rejectsOnce(repositoryNotFound())
      .resolves({ repositories: [repository()] })
    ecrMock.on(CreateRepositoryCommand).rejects(repositoryAlreadyExists())
    ecrMock
      .on(GetLifecyclePolicyCommand)
      .resolves({ lifecyclePolicyText: reordered(LIFECYCLE) })

    await ensureRepository(
      ecr,
      makeSettings({ lifecyclePolicy: JSON.stringify(LIFECYCLE) })
    )

    expect(ecrMock.commandCalls(GetLifecyclePolicyCommand)).toHaveLength(1)
    expect(ecrMock.commandCalls(PutLifecyclePolicyCommand)).toHaveLength(0)
  })

  test('lost the race, then gone again: a clear error', async () => {
    ecrMock.on(DescribeRepositoriesCommand).rejects(repositoryNotFound())
    ecrMock.on(CreateRepositoryCommand).rejects(repositoryAlreadyExists())

    const error = await rejection(ensureRepository(ecr, makeSettings()))

    expect(error).toBeInstanceOf(ActionError)
    expect(error.message).toContain('deleted meanwhile')
  })

  test('an empty DescribeRepositories answer counts as missing', async () => {
    ecrMock.on(DescribeRepositoriesCommand).resolves({ repositories: [] })
    ecrMock.on(CreateRepositoryCommand).resolves({ repository: repository() })

    const state = await ensureRepository(ecr, makeSettings())

    expect(state.created).toBe(true)
  })

  test('CreateRepository without a repository in its answer fails', async () => {
    ecrMock.on(DescribeRepositoriesCommand).rejects(repositoryNotFound())
    ecrMock.on(CreateRepositoryCommand).resolves({})

    const error = await rejection(ensureRepository(ecr, makeSettings()))

    expect(error).toBeInstanceOf(ActionError)
    expect(error.message).toContain('returned no repository')
  })

  test('create-repository false: an error, and nothing is created', async () => {
    ecrMock.on(DescribeRepositoriesCommand).rejects(repositoryNotFound())

    const error = await rejection(
      ensureRepository(ecr, makeSettings({ createRepository: false }))
    )

    expect(error).toBeInstanceOf(ActionError)
    expect(error.message).toContain('Repository shop/api does not exist')
    expect(error.message).toContain('create-repository is false')
    expect(error.message).toContain("the caller's registry (us-east-1)")
    expect(ecrMock.commandCalls(CreateRepositoryCommand)).toHaveLength(0)
  })

  test('create-repository false names the registry-id account', async () => {
    ecrMock.on(DescribeRepositoriesCommand).rejects(repositoryNotFound())

    const error = await rejection(
      ensureRepository(
        ecr,
        makeSettings({ createRepository: false, registryId: '210987654321' })
      )
    )

    expect(error.message).toContain('registry 210987654321')
  })

  test('push false: nothing is created, exists is false', async () => {
    ecrMock.on(DescribeRepositoriesCommand).rejects(repositoryNotFound())

    const state = await ensureRepository(
      ecr,
      makeSettings({
        push: false,
        lifecyclePolicy: JSON.stringify(LIFECYCLE),
        repositoryPolicy: JSON.stringify(REPOSITORY_POLICY)
      })
    )

    expect(state).toEqual({
      exists: false,
      created: false,
      arn: undefined,
      registryId: undefined,
      imageTagMutability: 'MUTABLE',
      mutabilityExclusionFilters: []
    })
    expect(callNames()).toEqual(['DescribeRepositoriesCommand'])
    expect(logged(core.info)).toContain('push is false')
  })
})

describe('denials', () => {
  test('on DescribeRepositories: named, never read as missing', async () => {
    ecrMock
      .on(DescribeRepositoriesCommand)
      .rejects(accessDenied('ecr:DescribeRepositories', ARN))

    const error = await rejection(ensureRepository(ecr, makeSettings()))

    expect(error).toBeInstanceOf(ActionError)
    expect(error.message).toContain(
      `ecr:DescribeRepositories was denied on ${ARN}`
    )
    expect(error.message).toContain(
      JSON.stringify({
        Effect: 'Allow',
        Action: 'ecr:DescribeRepositories',
        Resource: ARN
      })
    )
    expect(ecrMock.commandCalls(CreateRepositoryCommand)).toHaveLength(0)
  })

  test('on DescribeRepositories with push false is still an error', async () => {
    ecrMock
      .on(DescribeRepositoriesCommand)
      .rejects(accessDenied('ecr:DescribeRepositories', ARN))

    const error = await rejection(
      ensureRepository(ecr, makeSettings({ push: false }))
    )

    expect(error.message).toContain('ecr:DescribeRepositories')
  })

  test('without a resource in the AWS text, the guessed ARN is named', async () => {
    ecrMock
      .on(DescribeRepositoriesCommand)
      .rejects(accessDenied('ecr:DescribeRepositories'))

    const error = await rejection(
      ensureRepository(ecr, makeSettings({ registryId: '210987654321' }))
    )

    expect(error.message).toContain(
      'ecr:DescribeRepositories was denied on ' +
        'arn:aws:ecr:us-east-1:210987654321:repository/shop/api'
    )
  })

  test('other DescribeRepositories errors pass through unchanged', async () => {
    const throttled = new ServerException({
      message: 'Internal error',
      $metadata: {}
    })
    ecrMock.on(DescribeRepositoriesCommand).rejects(throttled)

    const error = await rejection(ensureRepository(ecr, makeSettings()))

    expect(error).toBe(throttled)
    expect(ecrMock.commandCalls(CreateRepositoryCommand)).toHaveLength(0)
  })

  test('on CreateRepository: named, with the statement to add', async () => {
    ecrMock.on(DescribeRepositoriesCommand).rejects(repositoryNotFound())
    ecrMock
      .on(CreateRepositoryCommand)
      .rejects(accessDenied('ecr:CreateRepository', ARN))

    const error = await rejection(ensureRepository(ecr, makeSettings()))

    expect(error).toBeInstanceOf(ActionError)
    expect(error.message).toContain(`ecr:CreateRepository was denied on ${ARN}`)
    expect(error.message).toContain('"Action":"ecr:CreateRepository"')
  })

  test('on PutLifecyclePolicy: named', async () => {
    ecrMock
      .on(DescribeRepositoriesCommand)
      .resolves({ repositories: [repository()] })
    ecrMock.on(GetLifecyclePolicyCommand).rejects(lifecyclePolicyNotFound())
    ecrMock
      .on(PutLifecyclePolicyCommand)
      .rejects(accessDenied('ecr:PutLifecyclePolicy', ARN))

    const error = await rejection(
      ensureRepository(
        ecr,
        makeSettings({ lifecyclePolicy: JSON.stringify(LIFECYCLE) })
      )
    )

    expect(error).toBeInstanceOf(ActionError)
    expect(error.message).toContain(
      `ecr:PutLifecyclePolicy was denied on ${ARN}`
    )
  })

  test('on GetRepositoryPolicy: named, never read as no policy', async () => {
    ecrMock
      .on(DescribeRepositoriesCommand)
      .resolves({ repositories: [repository()] })
    ecrMock
      .on(GetRepositoryPolicyCommand)
      .rejects(accessDenied('ecr:GetRepositoryPolicy', ARN))

    const error = await rejection(
      ensureRepository(
        ecr,
        makeSettings({ repositoryPolicy: JSON.stringify(REPOSITORY_POLICY) })
      )
    )

    expect(error.message).toContain(
      `ecr:GetRepositoryPolicy was denied on ${ARN}`
    )
    expect(ecrMock.commandCalls(SetRepositoryPolicyCommand)).toHaveLength(0)
  })
})

describe('policies', () => {
  const lifecycle = JSON.stringify(LIFECYCLE)
  const policy = JSON.stringify(REPOSITORY_POLICY)

  beforeEach(() => {
    ecrMock
      .on(DescribeRepositoriesCommand)
      .resolves({ repositories: [repository()] })
  })

  test('are written when the repository has none', async () => {
    ecrMock.on(GetLifecyclePolicyCommand).rejects(lifecyclePolicyNotFound())
    ecrMock.on(GetRepositoryPolicyCommand).rejects(repositoryPolicyNotFound())

    await ensureRepository(
      ecr,
      makeSettings({ lifecyclePolicy: lifecycle, repositoryPolicy: policy })
    )

    expect(
      ecrMock.commandCalls(PutLifecyclePolicyCommand)[0]?.args[0].input
    ).toStrictEqual({
      repositoryName: 'shop/api',
      registryId: ACCOUNT,
      lifecyclePolicyText: lifecycle
    })
    expect(
      ecrMock.commandCalls(SetRepositoryPolicyCommand)[0]?.args[0].input
    ).toStrictEqual({
      repositoryName: 'shop/api',
      registryId: ACCOUNT,
      policyText: policy
    })
    expect(
      ecrMock.commandCalls(GetLifecyclePolicyCommand)[0]?.args[0].input
    ).toStrictEqual({ repositoryName: 'shop/api', registryId: ACCOUNT })
    expect(logged(core.info)).toContain('Lifecycle policy written')
    expect(logged(core.info)).toContain('Repository policy written')
  })

  test('are written when they differ', async () => {
    const older = {
      ...LIFECYCLE,
      rules: [{ ...LIFECYCLE.rules[0], rulePriority: 2 }]
    }
    ecrMock
      .on(GetLifecyclePolicyCommand)
      .resolves({ lifecyclePolicyText: JSON.stringify(older) })
    ecrMock.on(GetRepositoryPolicyCommand).resolves({
      policyText: JSON.stringify({ ...REPOSITORY_POLICY, Statement: [] })
    })

    await ensureRepository(
      ecr,
      makeSettings({ lifecyclePolicy: lifecycle, repositoryPolicy: policy })
    )

    expect(ecrMock.commandCalls(PutLifecyclePolicyCommand)).toHaveLength(1)
    expect(ecrMock.commandCalls(SetRepositoryPolicyCommand)).toHaveLength(1)
  })

  test('are not written when the same JSON is formatted differently', async () => {
    ecrMock
      .on(GetLifecyclePolicyCommand)
      .resolves({ lifecyclePolicyText: reordered(LIFECYCLE) })
    ecrMock
      .on(GetRepositoryPolicyCommand)
      .resolves({ policyText: reordered(REPOSITORY_POLICY) })

    await ensureRepository(
      ecr,
      makeSettings({ lifecyclePolicy: lifecycle, repositoryPolicy: policy })
    )

    expect(ecrMock.commandCalls(PutLifecyclePolicyCommand)).toHaveLength(0)
    expect(ecrMock.commandCalls(SetRepositoryPolicyCommand)).toHaveLength(0)
    expect(logged(core.info)).toContain('Lifecycle policy is already as given')
    expect(logged(core.info)).toContain('Repository policy is already as given')
  })

  test('are neither read nor written when not given', async () => {
    await ensureRepository(ecr, makeSettings())

    expect(callNames()).toEqual(['DescribeRepositoriesCommand'])
  })

  test('are neither read nor written with push false', async () => {
    await ensureRepository(
      ecr,
      makeSettings({
        push: false,
        lifecyclePolicy: lifecycle,
        repositoryPolicy: policy
      })
    )

    expect(callNames()).toEqual(['DescribeRepositoriesCommand'])
  })

  test('a new repository gets them without reading them first', async () => {
    resetEcr()
    ecrMock.on(DescribeRepositoriesCommand).rejects(repositoryNotFound())
    ecrMock.on(CreateRepositoryCommand).resolves({ repository: repository() })

    const state = await ensureRepository(
      ecr,
      makeSettings({ lifecyclePolicy: lifecycle, repositoryPolicy: policy })
    )

    expect(state.created).toBe(true)
    expect(callNames()).toEqual([
      'DescribeRepositoriesCommand',
      'CreateRepositoryCommand',
      'PutLifecyclePolicyCommand',
      'SetRepositoryPolicyCommand'
    ])
  })
})

describe('samePolicy', () => {
  test.each([
    {
      name: 'no current policy',
      current: undefined,
      wanted: '{"rules":[]}',
      same: false
    },
    {
      name: 'same text',
      current: '{"rules":[]}',
      wanted: '{"rules":[]}',
      same: true
    },
    {
      name: 'other whitespace',
      current: '{\n  "rules" : [ ]\n}\n',
      wanted: '{"rules":[]}',
      same: true
    },
    {
      name: 'other key order, nested',
      current: '{"b":{"y":1,"x":[{"q":2,"p":1}]},"a":"1"}',
      wanted: '{"a":"1","b":{"x":[{"p":1,"q":2}],"y":1}}',
      same: true
    },
    {
      name: 'other array order',
      current: '{"Action":["a","b"]}',
      wanted: '{"Action":["b","a"]}',
      same: false
    },
    {
      name: 'a number against a string',
      current: '{"countNumber":30}',
      wanted: '{"countNumber":"30"}',
      same: false
    },
    {
      name: 'an extra key',
      current: '{"rules":[],"x":null}',
      wanted: '{"rules":[]}',
      same: false
    },
    {
      name: 'current is not JSON',
      current: 'not json',
      wanted: '{"rules":[]}',
      same: false
    }
  ])('$name: $same', ({ current, wanted, same }) => {
    expect(samePolicy(current, wanted)).toBe(same)
  })
})

describe('settingsDifferences', () => {
  test('nothing differs for a repository made from the same settings', () => {
    expect(settingsDifferences(repository(), makeSettings())).toEqual([])
  })

  test('settings the repository does not report are not compared', () => {
    const bare = {
      repositoryName: 'shop/api',
      repositoryArn: ARN
    }
    expect(
      settingsDifferences(
        bare,
        makeSettings({ imageTagMutability: 'IMMUTABLE', scanOnPush: false })
      )
    ).toEqual([])
  })

  test('a key ID matches the key ARN the repository reports', () => {
    const keyId = '1234abcd-12ab-34cd-56ef-1234567890ab'
    expect(
      settingsDifferences(
        repository({
          encryptionConfiguration: {
            encryptionType: 'KMS',
            kmsKey: `arn:aws:kms:us-east-1:${ACCOUNT}:key/${keyId}`
          }
        }),
        makeSettings({ encryptionType: 'KMS', kmsKey: keyId })
      )
    ).toEqual([])
  })

  test('exclusion filters are compared only for *_WITH_EXCLUSION', () => {
    const differences = settingsDifferences(
      repository({ imageTagMutability: 'MUTABLE' }),
      makeSettings({
        imageTagMutability: 'MUTABLE_WITH_EXCLUSION',
        mutabilityExclusionFilters: ['latest']
      })
    )
    expect(differences).toEqual([
      'image-tag-mutability is MUTABLE in the repository, but the input asks for MUTABLE_WITH_EXCLUSION'
    ])
  })
})

describe('createRequest', () => {
  test('maps every setting', () => {
    expect(
      createRequest(
        makeSettings({
          repository: 'team/app',
          registryId: '210987654321',
          imageTagMutability: 'MUTABLE_WITH_EXCLUSION',
          mutabilityExclusionFilters: ['release-*'],
          scanOnPush: false,
          encryptionType: 'KMS_DSSE',
          kmsKey: 'alias/ecr',
          repositoryTags: [{ Key: 'team', Value: 'app' }]
        })
      )
    ).toStrictEqual({
      repositoryName: 'team/app',
      registryId: '210987654321',
      imageTagMutability: 'MUTABLE_WITH_EXCLUSION',
      imageTagMutabilityExclusionFilters: [
        { filterType: 'WILDCARD', filter: 'release-*' }
      ],
      imageScanningConfiguration: { scanOnPush: false },
      encryptionConfiguration: {
        encryptionType: 'KMS_DSSE',
        kmsKey: 'alias/ecr'
      },
      tags: [{ Key: 'team', Value: 'app' }]
    })
  })

  test('leaves out what is not set', () => {
    expect(createRequest(makeSettings())).toStrictEqual({
      repositoryName: 'shop/api',
      imageTagMutability: 'MUTABLE',
      imageScanningConfiguration: { scanOnPush: true },
      encryptionConfiguration: { encryptionType: 'AES256' }
    })
  })
})
