// ECR Public through the SDK mock: lookup, creation with gallery data, a
// lost creation race, denials, gallery updates, the login, and the region
// the client is made for.
import { beforeEach, describe, expect, jest, test } from '@jest/globals'
import {
  CreateRepositoryCommand,
  DescribeRegistriesCommand,
  DescribeRepositoriesCommand,
  ECRPUBLICClient,
  GetAuthorizationTokenCommand,
  GetRepositoryCatalogDataCommand,
  PutRepositoryCatalogDataCommand,
  RepositoryAlreadyExistsException,
  RepositoryCatalogDataNotFoundException,
  RepositoryNotFoundException,
  type Repository
} from '@aws-sdk/client-ecr-public'
import { mockClient } from 'aws-sdk-client-mock'

import { ACCOUNT, accessDenied } from '../fixtures/aws.js'
import { core, logged, resetCore } from '../fixtures/core.js'
import { rejection } from '../fixtures/rejection.js'
import { makeSettings } from '../fixtures/settings.js'

jest.unstable_mockModule('@actions/core', () => core)

const {
  catalogDifferences,
  createEcrPublicClient,
  ensurePublicRepository,
  findPublicRepository,
  getPublicLogin,
  publicRegistryPath
} = await import('../../src/ecr-public.js')
const { AccessDeniedError } = await import('../../src/errors.js')

const publicMock = mockClient(ECRPUBLICClient)

const ALIAS = 'a1b2c3d4'
const URI = `public.ecr.aws/${ALIAS}/shop/api`
const PUBLIC_ARN = `arn:aws:ecr-public::${ACCOUNT}:repository/shop/api`
const GUESSED_ARN = 'arn:aws:ecr-public::<account>:repository/shop/api'
const CATALOG = {
  description: 'The shop API',
  aboutText: '# Shop API',
  usageText: 'docker pull public.ecr.aws/a1b2c3d4/shop/api'
}

function publicRepository(): Repository {
  return {
    repositoryArn: PUBLIC_ARN,
    registryId: ACCOUNT,
    repositoryName: 'shop/api',
    repositoryUri: URI,
    createdAt: new Date('2024-05-01T10:00:00Z')
  }
}

function notFound() {
  return new RepositoryNotFoundException({
    message: `The repository with name 'shop/api' does not exist in the registry with id '${ACCOUNT}'`,
    $metadata: { httpStatusCode: 400 }
  })
}

function publicSettings(overrides: Parameters<typeof makeSettings>[0] = {}) {
  return makeSettings({ registryType: 'public', ...overrides })
}

function callNames(): string[] {
  return publicMock.calls().map(call => call.args[0].constructor.name)
}

let ecr: Awaited<ReturnType<typeof createEcrPublicClient>>

beforeEach(async () => {
  resetCore()
  publicMock.reset()
  ecr = await createEcrPublicClient({ maxAttempts: 1, networkTimeout: 5 })
})

describe('the client', () => {
  test('is made for us-east-1, whatever region the job uses', async () => {
    expect(await ecr.client.config.region()).toBe('us-east-1')
  })

  test('gets the run’s retries', async () => {
    const client = await createEcrPublicClient({
      maxAttempts: 7,
      networkTimeout: 5
    })
    expect(await client.client.config.maxAttempts()).toBe(7)
  })
})

describe('findPublicRepository', () => {
  test('describes the repository by name', async () => {
    publicMock
      .on(DescribeRepositoriesCommand)
      .resolves({ repositories: [publicRepository()] })

    expect(await findPublicRepository(ecr, publicSettings())).toEqual(
      publicRepository()
    )
    expect(
      publicMock.commandCalls(DescribeRepositoriesCommand)[0]?.args[0].input
    ).toEqual({ repositoryNames: ['shop/api'] })
  })

  test('RepositoryNotFoundException alone means missing', async () => {
    publicMock.on(DescribeRepositoriesCommand).rejects(notFound())
    expect(await findPublicRepository(ecr, publicSettings())).toBeUndefined()
  })

  test('a denial is never read as missing', async () => {
    publicMock
      .on(DescribeRepositoriesCommand)
      .rejects(accessDenied('ecr-public:DescribeRepositories'))

    const error = await rejection(findPublicRepository(ecr, publicSettings()))

    expect(error).toBeInstanceOf(AccessDeniedError)
    expect(error.message).toContain(
      `ecr-public:DescribeRepositories was denied on ${GUESSED_ARN}`
    )
  })
})

describe('ensurePublicRepository', () => {
  test('an existing one is found; without catalog inputs, nothing else', async () => {
    publicMock
      .on(DescribeRepositoriesCommand)
      .resolves({ repositories: [publicRepository()] })

    const state = await ensurePublicRepository(ecr, publicSettings())

    expect(state).toEqual({
      exists: true,
      created: false,
      arn: PUBLIC_ARN,
      uri: URI,
      registryId: ACCOUNT,
      imageTagMutability: 'MUTABLE',
      mutabilityExclusionFilters: []
    })
    expect(callNames()).toEqual(['DescribeRepositoriesCommand'])
  })

  test('a missing one is created with its gallery data and tags', async () => {
    publicMock.on(DescribeRepositoriesCommand).rejects(notFound())
    publicMock
      .on(CreateRepositoryCommand)
      .resolves({ repository: publicRepository(), catalogData: CATALOG })

    const state = await ensurePublicRepository(
      ecr,
      publicSettings({
        publicCatalog: CATALOG,
        repositoryTags: [{ Key: 'team', Value: 'shop' }]
      })
    )

    expect(state.created).toBe(true)
    expect(state.uri).toBe(URI)
    expect(
      publicMock.commandCalls(CreateRepositoryCommand)[0]?.args[0].input
    ).toStrictEqual({
      repositoryName: 'shop/api',
      catalogData: CATALOG,
      tags: [{ Key: 'team', Value: 'shop' }]
    })
    expect(logged(core.info)).toContain(`Created repository ${URI}`)
  })

  test('without catalog inputs or tags, CreateRepository gets the name only', async () => {
    publicMock.on(DescribeRepositoriesCommand).rejects(notFound())
    publicMock
      .on(CreateRepositoryCommand)
      .resolves({ repository: publicRepository() })

    await ensurePublicRepository(ecr, publicSettings())

    expect(
      publicMock.commandCalls(CreateRepositoryCommand)[0]?.args[0].input
    ).toStrictEqual({ repositoryName: 'shop/api' })
  })

  test('a creation race lost to another run is success, not created', async () => {
    publicMock
      .on(DescribeRepositoriesCommand)
      .rejectsOnce(notFound())
      .resolves({ repositories: [publicRepository()] })
    publicMock.on(CreateRepositoryCommand).rejects(
      new RepositoryAlreadyExistsException({
        message: 'already exists',
        $metadata: { httpStatusCode: 400 }
      })
    )

    const state = await ensurePublicRepository(ecr, publicSettings())

    expect(state).toMatchObject({ exists: true, created: false, uri: URI })
    expect(logged(core.info)).toContain('was just created by another run')
  })

  test('a denied creation names ecr-public:CreateRepository', async () => {
    publicMock.on(DescribeRepositoriesCommand).rejects(notFound())
    publicMock
      .on(CreateRepositoryCommand)
      .rejects(accessDenied('ecr-public:CreateRepository'))

    const error = await rejection(ensurePublicRepository(ecr, publicSettings()))

    expect(error).toBeInstanceOf(AccessDeniedError)
    expect(error.message).toContain(
      `ecr-public:CreateRepository was denied on ${GUESSED_ARN}`
    )
  })

  test('create-repository false: missing is an error', async () => {
    publicMock.on(DescribeRepositoriesCommand).rejects(notFound())

    const error = await rejection(
      ensurePublicRepository(ecr, publicSettings({ createRepository: false }))
    )

    expect(error.message).toBe(
      "Repository shop/api does not exist in the ECR Public registry of the credentials' account, and create-repository is false. Create it first, or set create-repository: true."
    )
    expect(callNames()).toEqual(['DescribeRepositoriesCommand'])
  })

  test('push false: nothing created; the URI from the registry alias', async () => {
    publicMock.on(DescribeRepositoriesCommand).rejects(notFound())
    publicMock.on(DescribeRegistriesCommand).resolves({
      registries: [
        {
          registryId: ACCOUNT,
          registryArn: `arn:aws:ecr-public::${ACCOUNT}:registry/${ACCOUNT}`,
          registryUri: `public.ecr.aws/${ALIAS}`,
          verified: false,
          aliases: [
            {
              name: 'old-alias',
              status: 'ACTIVE',
              primaryRegistryAlias: false,
              defaultRegistryAlias: true
            },
            {
              name: ALIAS,
              status: 'ACTIVE',
              primaryRegistryAlias: true,
              defaultRegistryAlias: false
            }
          ]
        }
      ]
    })

    const state = await ensurePublicRepository(
      ecr,
      publicSettings({ push: false })
    )

    expect(state).toMatchObject({
      exists: false,
      created: false,
      uri: URI,
      arn: PUBLIC_ARN
    })
    expect(callNames()).not.toContain('CreateRepositoryCommand')
  })

  test('push false without an alias: the bare host, with a warning', async () => {
    publicMock.on(DescribeRepositoriesCommand).rejects(notFound())
    publicMock
      .on(DescribeRegistriesCommand)
      .rejects(accessDenied('ecr-public:DescribeRegistries'))

    const state = await ensurePublicRepository(
      ecr,
      publicSettings({ push: false })
    )

    expect(state.uri).toBe('public.ecr.aws/shop/api')
    expect(logged(core.warning)).toContain('ecr-public:DescribeRegistries')
  })
})

describe('gallery data of an existing repository', () => {
  beforeEach(() => {
    publicMock
      .on(DescribeRepositoriesCommand)
      .resolves({ repositories: [publicRepository()] })
    publicMock.on(PutRepositoryCatalogDataCommand).resolves({})
  })

  test('is left alone when it is already as given', async () => {
    publicMock
      .on(GetRepositoryCatalogDataCommand)
      .resolves({ catalogData: { ...CATALOG, marketplaceCertified: false } })

    await ensurePublicRepository(
      ecr,
      publicSettings({ publicCatalog: CATALOG })
    )

    expect(callNames()).not.toContain('PutRepositoryCatalogDataCommand')
    expect(logged(core.info)).toContain('Gallery data is already as given')
  })

  test('is written when a given field differs, keeping the others', async () => {
    publicMock.on(GetRepositoryCatalogDataCommand).resolves({
      catalogData: {
        description: 'Old words',
        operatingSystems: ['Linux'],
        logoUrl: 'https://example.com/logo.png'
      }
    })

    await ensurePublicRepository(
      ecr,
      publicSettings({ publicCatalog: { description: 'The shop API' } })
    )

    expect(
      publicMock.commandCalls(PutRepositoryCatalogDataCommand)[0]?.args[0].input
    ).toStrictEqual({
      repositoryName: 'shop/api',
      registryId: ACCOUNT,
      catalogData: { description: 'The shop API', operatingSystems: ['Linux'] }
    })
    expect(logged(core.info)).toContain('Gallery data written (description)')
  })

  test('a repository without gallery data gets it', async () => {
    publicMock.on(GetRepositoryCatalogDataCommand).rejects(
      new RepositoryCatalogDataNotFoundException({
        message: 'no catalog data',
        $metadata: { httpStatusCode: 400 }
      })
    )

    await ensurePublicRepository(
      ecr,
      publicSettings({ publicCatalog: CATALOG })
    )

    expect(
      publicMock.commandCalls(PutRepositoryCatalogDataCommand)[0]?.args[0].input
        .catalogData
    ).toStrictEqual(CATALOG)
  })

  test('a denied write names ecr-public:PutRepositoryCatalogData', async () => {
    publicMock.on(GetRepositoryCatalogDataCommand).resolves({ catalogData: {} })
    publicMock
      .on(PutRepositoryCatalogDataCommand)
      .rejects(accessDenied('ecr-public:PutRepositoryCatalogData'))

    const error = await rejection(
      ensurePublicRepository(ecr, publicSettings({ publicCatalog: CATALOG }))
    )

    expect(error.message).toContain(
      `ecr-public:PutRepositoryCatalogData was denied on ${PUBLIC_ARN}`
    )
  })

  test('push false reads and writes no gallery data', async () => {
    await ensurePublicRepository(
      ecr,
      publicSettings({ push: false, publicCatalog: CATALOG })
    )
    expect(callNames()).toEqual(['DescribeRepositoriesCommand'])
  })

  test('catalogDifferences names the given fields that differ', () => {
    expect(
      catalogDifferences(
        { description: 'a', architectures: ['ARM 64'] },
        { description: 'a', architectures: ['x86-64'], usageText: 'u' }
      )
    ).toEqual(['architectures', 'usageText'])
  })
})

describe('getPublicLogin', () => {
  const PASSWORD = 'eyJwYXlsb2FkIjoicHVibGljIn0='
  const TOKEN = Buffer.from(`AWS:${PASSWORD}`).toString('base64')

  test('decodes the token for public.ecr.aws and masks both at once', async () => {
    const expiresAt = new Date('2030-01-01T00:00:00Z')
    publicMock.on(GetAuthorizationTokenCommand).resolves({
      authorizationData: { authorizationToken: TOKEN, expiresAt }
    })

    const login = await getPublicLogin(ecr)

    expect(login).toEqual({
      registry: 'public.ecr.aws',
      username: 'AWS',
      password: PASSWORD,
      expiresAt
    })
    expect(core.setSecret).toHaveBeenCalledWith(TOKEN)
    expect(core.setSecret).toHaveBeenCalledWith(PASSWORD)
  })

  test('no token is an error that says to try again', async () => {
    publicMock.on(GetAuthorizationTokenCommand).resolves({})
    expect((await rejection(getPublicLogin(ecr))).message).toContain(
      'ECR Public returned no authorization token'
    )
  })

  test.each(['ecr-public:GetAuthorizationToken', 'sts:GetServiceBearerToken'])(
    'a denial of %s names it, on "*"',
    async action => {
      publicMock.on(GetAuthorizationTokenCommand).rejects(accessDenied(action))

      const error = await rejection(getPublicLogin(ecr))

      expect(error).toBeInstanceOf(AccessDeniedError)
      expect(error.message).toContain(`${action} was denied on *`)
      expect(error.message).toContain(
        JSON.stringify({ Effect: 'Allow', Action: action, Resource: '*' })
      )
    }
  )
})

describe('publicRegistryPath', () => {
  test('is the URI without the host: alias and name', () => {
    expect(publicRegistryPath(URI)).toBe(`${ALIAS}/shop/api`)
  })

  test('a URI on another host is an error', () => {
    expect(() => publicRegistryPath('example.com/a/b')).toThrow(
      'which is not on public.ecr.aws'
    )
  })
})
