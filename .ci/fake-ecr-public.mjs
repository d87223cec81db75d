#!/usr/bin/env node
// A stand-in for the ECR Public API, for the end-to-end tests and the demo:
// moto has none. local-ecr.sh starts it and points the SDK at it with
// AWS_ENDPOINT_URL_ECR_PUBLIC. It speaks the API's JSON 1.1 protocol
// (POST /, X-Amz-Target: SpencerFrontendService.<Operation>), ignores the
// request signature as moto does, and keeps repositories in memory, so a
// restart forgets them while the registry keeps their images: tests use
// names of their own.
//
// The registry behind public.ecr.aws here is local-ecr.sh's second
// docker-registry, with the same htpasswd login as the private one, so
// GetAuthorizationToken hands out AWS:<that password>, read from a file
// (never from the command line, which other processes can read).
//
// Environment: FAKE_ECR_PUBLIC_PORT (5101), LOCAL_ECR_ACCOUNT
// (123456789012), LOCAL_ECR_PUBLIC_ALIAS (localecr),
// LOCAL_ECR_PASSWORD_FILE (required). One line per request goes to
// stdout: the operation and the repository name, for tests to check
// which calls a run made.
//
// Node built-ins only.
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import http from 'node:http'

const port = Number(process.env.FAKE_ECR_PUBLIC_PORT ?? 5101)
const account = process.env.LOCAL_ECR_ACCOUNT ?? '123456789012'
const alias = process.env.LOCAL_ECR_PUBLIC_ALIAS ?? 'localecr'
const passwordFile = process.env.LOCAL_ECR_PASSWORD_FILE
if (!passwordFile) {
  console.error('LOCAL_ECR_PASSWORD_FILE is not set')
  process.exit(2)
}

const HOST = 'public.ecr.aws'
const TARGET_PREFIX = 'SpencerFrontendService.'
// The API reference's rules for a repository name.
const NAME = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/
const CATALOG_LIMITS = { description: 1024, aboutText: 25600, usageText: 25600 }

/** name → { repository, catalogData } */
const repositories = new Map()

class ApiError extends Error {
  constructor(type, message) {
    super(message)
    this.type = type
  }
}

const seconds = date => date.getTime() / 1000

function repositoryOf(name) {
  const entry = repositories.get(name)
  if (!entry) {
    throw new ApiError(
      'RepositoryNotFoundException',
      `The repository with name '${name}' does not exist in the registry ` +
        `with id '${account}'`
    )
  }
  return entry
}

function checkName(name) {
  if (
    typeof name !== 'string' ||
    name.length < 2 ||
    name.length > 205 ||
    !NAME.test(name)
  ) {
    throw new ApiError(
      'InvalidParameterException',
      `Invalid parameter at 'repositoryName' failed to satisfy constraint: ` +
        `'must satisfy regular expression and be 2 to 205 characters'`
    )
  }
}

function checkCatalog(catalog = {}) {
  for (const [field, longest] of Object.entries(CATALOG_LIMITS)) {
    const text = catalog[field]
    if (text !== undefined && [...String(text)].length > longest) {
      throw new ApiError(
        'InvalidParameterException',
        `Invalid parameter at 'catalogData.${field}': longer than ${longest}`
      )
    }
  }
}

/** What a Get answers: only the fields set, and marketplaceCertified. */
function catalogAnswer(catalog) {
  return { ...catalog, marketplaceCertified: false }
}

function describedRepository({ repository }) {
  return { ...repository, createdAt: seconds(repository.createdAt) }
}

const operations = {
  DescribeRepositories(input) {
    const names = input.repositoryNames
    const found = names
      ? names.map(name => repositoryOf(name))
      : [...repositories.values()]
    return { repositories: found.map(describedRepository) }
  },

  CreateRepository(input) {
    checkName(input.repositoryName)
    checkCatalog(input.catalogData)
    if (repositories.has(input.repositoryName)) {
      throw new ApiError(
        'RepositoryAlreadyExistsException',
        `The repository with name '${input.repositoryName}' already exists ` +
          `in the registry with id '${account}'`
      )
    }
    const entry = {
      repository: {
        repositoryArn: `arn:aws:ecr-public::${account}:repository/${input.repositoryName}`,
        registryId: account,
        repositoryName: input.repositoryName,
        repositoryUri: `${HOST}/${alias}/${input.repositoryName}`,
        createdAt: new Date()
      },
      catalogData: { ...(input.catalogData ?? {}) },
      tags: input.tags ?? []
    }
    repositories.set(input.repositoryName, entry)
    return {
      repository: describedRepository(entry),
      catalogData: catalogAnswer(entry.catalogData)
    }
  },

  GetRepositoryCatalogData(input) {
    return {
      catalogData: catalogAnswer(repositoryOf(input.repositoryName).catalogData)
    }
  },

  // The fields given replace the repository's; the others stay.
  PutRepositoryCatalogData(input) {
    checkCatalog(input.catalogData)
    const entry = repositoryOf(input.repositoryName)
    entry.catalogData = { ...entry.catalogData, ...(input.catalogData ?? {}) }
    return { catalogData: catalogAnswer(entry.catalogData) }
  },

  GetAuthorizationToken() {
    const password = readFileSync(passwordFile, 'utf8').trim()
    return {
      authorizationData: {
        authorizationToken: Buffer.from(`AWS:${password}`).toString('base64'),
        expiresAt: seconds(new Date(Date.now() + 12 * 3600 * 1000))
      }
    }
  },

  DescribeRegistries() {
    return {
      registries: [
        {
          registryId: account,
          registryArn: `arn:aws:ecr-public::${account}:registry/${account}`,
          registryUri: `${HOST}/${alias}`,
          verified: false,
          aliases: [
            {
              name: alias,
              status: 'ACTIVE',
              primaryRegistryAlias: true,
              defaultRegistryAlias: true
            }
          ]
        }
      ]
    }
  }
}

function answer(response, status, body, errorType) {
  const text = JSON.stringify(body)
  response.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
    ...(errorType ? { 'x-amzn-errortype': errorType } : {})
  })
  response.end(text)
}

const server = http.createServer((request, response) => {
  const chunks = []
  request.on('data', chunk => chunks.push(chunk))
  request.on('end', () => {
    const target = String(request.headers['x-amz-target'] ?? '')
    const operation = target.startsWith(TARGET_PREFIX)
      ? target.slice(TARGET_PREFIX.length)
      : ''
    let input = {}
    try {
      const text = Buffer.concat(chunks).toString('utf8')
      input = text ? JSON.parse(text) : {}
    } catch {
      answer(
        response,
        400,
        { __type: 'SerializationException' },
        'SerializationException'
      )
      return
    }
    const names = input.repositoryName ?? input.repositoryNames?.join(',') ?? ''
    console.log(`${new Date().toISOString()} ${operation || target} ${names}`)

    const handler = Object.hasOwn(operations, operation)
      ? operations[operation]
      : undefined
    if (request.method !== 'POST' || !handler) {
      const type = 'UnknownOperationException'
      answer(
        response,
        400,
        { __type: type, message: `${target} is not served here` },
        type
      )
      return
    }
    try {
      answer(response, 200, handler(input))
    } catch (error) {
      if (!(error instanceof ApiError)) {
        answer(
          response,
          500,
          { __type: 'ServerException', message: String(error) },
          'ServerException'
        )
        return
      }
      answer(
        response,
        400,
        { __type: error.type, message: error.message },
        error.type
      )
    }
  })
})

server.listen(port, '127.0.0.1', () => {
  console.log(
    `fake ECR Public API on http://127.0.0.1:${port} (alias ${alias})`
  )
})
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0))
    // The SDK keeps its connections open; they would hold close() back.
    server.closeAllConnections()
  })
}
