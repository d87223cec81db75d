import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import { InputError } from '../../src/errors.js'
import {
  partitionOf,
  readInputs,
  splitList,
  type Settings
} from '../../src/inputs.js'
import { removeTempDirs, tempDir } from '../fixtures/tmp.js'

const fixtures = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  'fixtures'
)
const KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab'
const HEX64 = 'a'.repeat(64)

let workspace: string

beforeAll(() => {
  workspace = tempDir('ecr-push-inputs-')
  const at = (...parts: string[]) => path.join(workspace, ...parts)
  writeFileSync(at('Dockerfile'), 'FROM alpine:3.20\n')
  mkdirSync(at('app'))
  writeFileSync(at('app', 'Dockerfile'), 'FROM node:22-alpine\n')
  mkdirSync(at('docker'))
  writeFileSync(at('docker', 'prod.Dockerfile'), 'FROM node:22-alpine\n')
  mkdirSync(at('empty'))
  mkdirSync(at('policies'))
  for (const name of [
    'lifecycle.json',
    'repository-policy.json',
    'array.json',
    'no-rules.json'
  ]) {
    copyFileSync(path.join(fixtures, 'policies', name), at('policies', name))
  }
  // Not a fixture file: prettier would refuse to check broken JSON.
  writeFileSync(at('policies', 'broken.json'), '{ "rules": [ { "a": 1, } ]\n')
})

afterAll(removeTempDirs)

type Values = Record<string, string>

const BASE: Values = { repository: 'shop/api' }
const ENV: NodeJS.ProcessEnv = { AWS_REGION: 'us-east-1' }

function read(values: Values = {}, env: NodeJS.ProcessEnv = ENV): Settings {
  const all: Values = { ...BASE, ...values }
  return readInputs(name => all[name] ?? '', env, workspace)
}

function errorOf(values: Values, env: NodeJS.ProcessEnv = ENV): InputError {
  let caught: unknown
  try {
    read(values, env)
  } catch (error) {
    caught = error
  }
  if (!(caught instanceof InputError)) {
    throw new Error(`expected an InputError, got ${String(caught)}`)
  }
  return caught
}

/**
 * Every input error names the input and quotes the value as JSON, so a
 * value with spaces or newlines is visible in the log.
 */
function expectInputError(
  values: Values,
  input: string,
  value: string,
  env: NodeJS.ProcessEnv = ENV
): InputError {
  const error = errorOf(values, env)
  expect(error.name).toBe('InputError')
  expect(error.input).toBe(input)
  expect(error.value).toBe(value)
  expect(error.message).toContain(`"${input}"`)
  expect(error.message).toContain(JSON.stringify(value))
  return error
}

describe('a valid full set of inputs', () => {
  test('reads every input into settings', () => {
    const repositoryPolicy = JSON.stringify(
      JSON.parse(
        readFileSync(
          path.join(fixtures, 'policies', 'repository-policy.json'),
          'utf8'
        )
      ),
      null,
      2
    )
    const settings = read({
      repository: ' shop/api ',
      tags: 'v1.2.3\nlatest, sha-0a1b2c3\nlatest',
      context: 'app',
      dockerfile: 'docker/prod.Dockerfile',
      'build-args': 'NODE_ENV=production\nURLS=a=1,b=2',
      target: 'runtime',
      labels: 'org.opencontainers.image.source=https://github.com/acme/shop',
      platforms: 'linux/amd64, linux/arm64\nlinux/amd64',
      attestations: 'true',
      'cache-tag': 'buildcache',
      'cache-from': 'type=gha\ntype=registry,ref=example.com/cache:main',
      'cache-to': 'type=gha,mode=max',
      push: 'true',
      region: 'eu-west-1',
      'registry-id': '123456789012',
      'create-repository': 'false',
      'image-tag-mutability': 'IMMUTABLE_WITH_EXCLUSION',
      'image-tag-mutability-exclusion-filters': 'latest, dev-*',
      'scan-on-push': 'False',
      'encryption-type': 'KMS',
      'kms-key': `arn:aws:kms:eu-west-1:123456789012:key/${KEY_ID}`,
      'repository-tags': 'team=shop\ncost-center = 42',
      'lifecycle-policy': 'policies/lifecycle.json',
      'repository-policy': repositoryPolicy,
      'keep-login': 'TRUE',
      'validate-permissions': 'true',
      'max-attempts': '5',
      'network-timeout': ' 30 ',
      'build-timeout': '120',
      'push-timeout': '45',
      'fail-on-severity': 'HIGH',
      'scan-timeout': '5'
    })

    const expected: Settings = {
      repository: 'shop/api',
      registryType: 'private',
      publicCatalog: undefined,
      tags: ['v1.2.3', 'latest', 'sha-0a1b2c3'],
      context: path.join(workspace, 'app'),
      dockerfile: path.join(workspace, 'docker', 'prod.Dockerfile'),
      buildArgs: ['NODE_ENV=production', 'URLS=a=1,b=2'],
      target: 'runtime',
      labels: ['org.opencontainers.image.source=https://github.com/acme/shop'],
      image: undefined,
      push: true,
      sourceTag: undefined,
      mergeSources: [],
      skipExisting: false,
      platforms: ['linux/amd64', 'linux/arm64'],
      attestations: true,
      cacheTag: 'buildcache',
      cacheFrom: ['type=gha', 'type=registry,ref=example.com/cache:main'],
      cacheTo: ['type=gha,mode=max'],
      versionTags: false,
      version: undefined,
      region: 'eu-west-1',
      partition: 'aws',
      registryId: '123456789012',
      createRepository: false,
      imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION',
      mutabilityExclusionFilters: ['latest', 'dev-*'],
      scanOnPush: false,
      encryptionType: 'KMS',
      kmsKey: `arn:aws:kms:eu-west-1:123456789012:key/${KEY_ID}`,
      repositoryTags: [
        { Key: 'team', Value: 'shop' },
        { Key: 'cost-center', Value: '42' }
      ],
      lifecyclePolicy: JSON.stringify(
        JSON.parse(
          readFileSync(
            path.join(fixtures, 'policies', 'lifecycle.json'),
            'utf8'
          )
        )
      ),
      repositoryPolicy: JSON.stringify(JSON.parse(repositoryPolicy)),
      keepLogin: true,
      validatePermissions: true,
      failOnSeverity: 'HIGH',
      maxAttempts: 5,
      networkTimeout: 30,
      buildTimeout: 120,
      pushTimeout: 45,
      scanTimeout: 5
    }
    expect(settings).toEqual(expected)
  })

  test('only the repository is needed: everything else has a default', () => {
    const expected: Settings = {
      repository: 'shop/api',
      registryType: 'private',
      publicCatalog: undefined,
      tags: ['latest'],
      context: workspace,
      dockerfile: path.join(workspace, 'Dockerfile'),
      buildArgs: [],
      target: undefined,
      labels: [],
      image: undefined,
      push: true,
      sourceTag: undefined,
      mergeSources: [],
      skipExisting: false,
      platforms: [],
      attestations: false,
      cacheTag: undefined,
      cacheFrom: [],
      cacheTo: [],
      versionTags: false,
      version: undefined,
      region: 'us-east-1',
      partition: 'aws',
      registryId: undefined,
      createRepository: true,
      imageTagMutability: 'MUTABLE',
      mutabilityExclusionFilters: [],
      scanOnPush: true,
      encryptionType: 'AES256',
      kmsKey: undefined,
      repositoryTags: [],
      lifecyclePolicy: undefined,
      repositoryPolicy: undefined,
      keepLogin: false,
      validatePermissions: false,
      failOnSeverity: undefined,
      maxAttempts: 3,
      networkTimeout: 60,
      buildTimeout: 60,
      pushTimeout: 30,
      scanTimeout: 10
    }
    expect(read()).toEqual(expected)
  })
})

describe('repository', () => {
  test.each([
    { value: 'Shop/API', reason: 'lower case' },
    { value: 'shop api', reason: 'not a valid ECR repository name' },
    { value: '..', reason: 'not a valid ECR repository name' },
    { value: 'shop/../api', reason: 'not a valid ECR repository name' },
    { value: '/shop/api', reason: 'not a valid ECR repository name' },
    { value: 'shop/api/', reason: 'not a valid ECR repository name' },
    { value: 'shop//api', reason: 'not a valid ECR repository name' },
    { value: '-api', reason: 'not a valid ECR repository name' },
    { value: 'api-', reason: 'not a valid ECR repository name' },
    { value: 'shop/api:latest', reason: 'not a valid ECR repository name' },
    { value: 'a', reason: 'is 1 characters long: ECR allows 2 to 256' },
    { value: 'a'.repeat(257), reason: 'is 257 characters long' },
    { value: '', reason: 'is empty: it is required' },
    { value: '   ', reason: 'is empty: it is required' }
  ])('refuses %j', ({ value, reason }) => {
    const error = expectInputError({ repository: value }, 'repository', value)
    expect(error.message).toContain(reason)
  })

  test('only names a lower-case rule when the name has upper case', () => {
    const error = errorOf({ repository: 'shop//api' })
    expect(error.message).not.toContain('lower case')
  })

  test.each(['ab', 'shop/api', 'a/b/c', 'api-v2.x_y', 'a'.repeat(256)])(
    'accepts %s',
    value => {
      expect(read({ repository: value }).repository).toBe(value)
    }
  )

  test('a bad repository is reported before a missing Dockerfile', () => {
    expectInputError(
      { repository: 'Shop', context: 'empty' },
      'repository',
      'Shop'
    )
  })
})

describe('tags', () => {
  test.each([
    { value: 'my tag', tag: 'my tag' },
    { value: '-lead', tag: '-lead' },
    { value: '.lead', tag: '.lead' },
    { value: 'a'.repeat(129), tag: 'a'.repeat(129) },
    { value: 'a;rm -rf /', tag: 'a;rm -rf /' },
    { value: '$(id)', tag: '$(id)' },
    { value: 'latest, v1:2', tag: 'v1:2' },
    { value: 'v1/beta', tag: 'v1/beta' }
  ])('refuses $value, quoting the bad tag', ({ value, tag }) => {
    const error = expectInputError({ tags: value }, 'tags', value)
    expect(error.message).toContain(`contains ${JSON.stringify(tag)}`)
  })

  test.each([',,', ' , \n , ', '\n', '  '])(
    'refuses %j, which has no tag',
    value => {
      const error = expectInputError({ tags: value }, 'tags', value)
      expect(error.message).toContain('has no tag')
    }
  )

  test('splits on newlines and commas, trims, and drops duplicates', () => {
    expect(read({ tags: '  v1 ,latest\nv1\n\n sha-1 ,latest,' }).tags).toEqual([
      'v1',
      'latest',
      'sha-1'
    ])
  })

  test.each(['a'.repeat(128), '_private', 'V1.0-rc_1', '2024.06.01'])(
    'accepts %s',
    tag => {
      expect(read({ tags: tag }).tags).toEqual([tag])
    }
  )

  test('an empty input means latest', () => {
    expect(read({ tags: '' }).tags).toEqual(['latest'])
  })

  test('splitList keeps commas when they are not separators', () => {
    expect(splitList(' A=1,2 \n\n B=3 ', false)).toEqual(['A=1,2', 'B=3'])
    expect(splitList(' A=1,2 \n\n B=3 ', true)).toEqual(['A=1', '2', 'B=3'])
  })
})

describe('region', () => {
  test.each([
    {
      input: 'eu-west-1',
      env: { AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'ap-south-1' },
      region: 'eu-west-1'
    },
    {
      input: '',
      env: { AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'ap-south-1' },
      region: 'us-east-1'
    },
    {
      input: '',
      env: { AWS_REGION: '', AWS_DEFAULT_REGION: 'ap-south-1' },
      region: 'ap-south-1'
    },
    {
      input: '  ',
      env: { AWS_DEFAULT_REGION: ' ap-south-1 ' },
      region: 'ap-south-1'
    }
  ])('input $input with $env gives $region', ({ input, env, region }) => {
    expect(read({ region: input }, env).region).toBe(region)
  })

  test('missing everywhere: the error names the input and both variables', () => {
    const error = expectInputError({ region: '' }, 'region', '', {})
    expect(error.message).toContain('AWS_REGION')
    expect(error.message).toContain('AWS_DEFAULT_REGION')
  })

  test.each(['US-EAST-1', 'us_east_1', 'us-east', 'useast1', 'us-east-1a'])(
    'refuses %s as input',
    value => {
      const error = expectInputError({ region: value }, 'region', value)
      expect(error.message).toContain('like us-east-1')
    }
  )

  test('a bad input is not replaced by a good AWS_REGION', () => {
    expectInputError({ region: 'US-EAST-1' }, 'region', 'US-EAST-1', {
      AWS_REGION: 'us-east-1'
    })
  })

  test.each(['AWS_REGION', 'AWS_DEFAULT_REGION'])(
    'a bad %s is named in the error',
    variable => {
      expect(() => read({}, { [variable]: 'US-EAST-1' })).toThrow(
        `Environment variable ${variable}: "US-EAST-1" is not`
      )
    }
  )

  test.each([
    ['us-east-1', 'aws'],
    ['eu-central-2', 'aws'],
    ['cn-north-1', 'aws-cn'],
    ['cn-northwest-1', 'aws-cn'],
    ['us-gov-west-1', 'aws-us-gov'],
    ['us-gov-east-1', 'aws-us-gov'],
    ['us-iso-east-1', 'aws-iso'],
    ['us-isob-east-1', 'aws-iso-b'],
    ['eu-isoe-west-1', 'aws-iso-e'],
    ['us-isof-south-1', 'aws-iso-f']
  ])('partitionOf(%s) is %s', (region, partition) => {
    expect(partitionOf(region)).toBe(partition)
  })

  test('settings carry the partition of the region', () => {
    expect(read({ region: 'cn-north-1' }).partition).toBe('aws-cn')
    expect(read({ region: 'us-gov-west-1' }).partition).toBe('aws-us-gov')
  })
})

describe('registry-id', () => {
  test.each(['12345678901', '1234567890123', 'acme', '12345678901O'])(
    'refuses %s',
    value => {
      const error = expectInputError(
        { 'registry-id': value },
        'registry-id',
        value
      )
      expect(error.message).toContain('12-digit')
    }
  )

  test('accepts 12 digits, trimmed', () => {
    expect(read({ 'registry-id': ' 123456789012 ' }).registryId).toBe(
      '123456789012'
    )
  })
})

describe('booleans', () => {
  const inputs = [
    { input: 'push', key: 'push', fallback: true },
    { input: 'create-repository', key: 'createRepository', fallback: true },
    { input: 'scan-on-push', key: 'scanOnPush', fallback: true },
    { input: 'keep-login', key: 'keepLogin', fallback: false }
  ] as const

  describe.each(inputs)('$input', ({ input, key, fallback }) => {
    test.each(['yes', 'maybe', '1', '0', 'on', 'ture', 'true false'])(
      'refuses %s',
      value => {
        const error = expectInputError({ [input]: value }, input, value)
        expect(error.message).toContain('use true or false')
      }
    )

    test.each([
      ['true', true],
      ['True', true],
      ['TRUE', true],
      [' true ', true],
      ['false', false],
      ['False', false],
      ['FALSE', false]
    ])('reads %j as %s', (value, expected) => {
      expect(read({ [input]: value })[key]).toBe(expected)
    })

    test(`empty is ${String(fallback)}`, () => {
      expect(read({ [input]: '' })[key]).toBe(fallback)
    })
  })
})

describe('enums', () => {
  test.each([
    { input: 'image-tag-mutability', value: 'mutable', hint: 'MUTABLE' },
    { input: 'image-tag-mutability', value: 'Immutable', hint: 'IMMUTABLE' },
    { input: 'encryption-type', value: 'kms', hint: 'KMS' },
    { input: 'encryption-type', value: 'aes256', hint: 'AES256' },
    { input: 'fail-on-severity', value: 'high', hint: 'HIGH' },
    { input: 'fail-on-severity', value: 'Critical', hint: 'CRITICAL' }
  ])('$input $value: did you mean $hint?', ({ input, value, hint }) => {
    const error = expectInputError({ [input]: value }, input, value)
    expect(error.message).toContain(`(did you mean ${hint}?)`)
  })

  test.each([
    { input: 'image-tag-mutability', value: 'MUTABLE_WITH_EXCLUSIONS' },
    { input: 'image-tag-mutability', value: 'READONLY' },
    { input: 'encryption-type', value: 'AES-256' },
    { input: 'encryption-type', value: 'SSE-KMS' },
    { input: 'fail-on-severity', value: 'SEVERE' },
    { input: 'fail-on-severity', value: 'UNTRIAGED' }
  ])('$input $value: lists the choices, no hint', ({ input, value }) => {
    const error = expectInputError({ [input]: value }, input, value)
    expect(error.message).toContain('is not one of')
    expect(error.message).not.toContain('did you mean')
  })

  test('the mutability error lists all four choices', () => {
    expect(errorOf({ 'image-tag-mutability': 'x' }).message).toContain(
      'MUTABLE, IMMUTABLE, MUTABLE_WITH_EXCLUSION, IMMUTABLE_WITH_EXCLUSION'
    )
  })

  test('values are trimmed', () => {
    const settings = read({
      'image-tag-mutability': ' IMMUTABLE ',
      'encryption-type': ' KMS_DSSE '
    })
    expect(settings.imageTagMutability).toBe('IMMUTABLE')
    expect(settings.encryptionType).toBe('KMS_DSSE')
  })
})

describe('image-tag-mutability-exclusion-filters', () => {
  const input = 'image-tag-mutability-exclusion-filters'

  test.each(['MUTABLE_WITH_EXCLUSION', 'IMMUTABLE_WITH_EXCLUSION'])(
    'are required with %s',
    mutability => {
      for (const value of ['', ' , ']) {
        const error = expectInputError(
          { 'image-tag-mutability': mutability, [input]: value },
          input,
          value
        )
        expect(error.message).toContain(`${mutability} needs at least one`)
      }
    }
  )

  test.each(['MUTABLE', 'IMMUTABLE'])('are refused with %s', mutability => {
    const error = expectInputError(
      { 'image-tag-mutability': mutability, [input]: 'latest' },
      input,
      'latest'
    )
    expect(error.message).toContain(`not ${mutability}`)
  })

  test('are refused beyond 5', () => {
    const value = 'a,b,c,d,e,f'
    const error = expectInputError(
      { 'image-tag-mutability': 'IMMUTABLE_WITH_EXCLUSION', [input]: value },
      input,
      value
    )
    expect(error.message).toContain('5')
  })

  test.each(['release/*', 'dev?', 'a b', 'x'.repeat(129)])(
    'refuses the filter %s',
    filter => {
      const value = `latest,${filter}`
      const error = expectInputError(
        { 'image-tag-mutability': 'IMMUTABLE_WITH_EXCLUSION', [input]: value },
        input,
        value
      )
      expect(error.message).toContain(`contains ${JSON.stringify(filter)}`)
    }
  )

  test('are split, trimmed, and kept in order', () => {
    expect(
      read({
        'image-tag-mutability': 'MUTABLE_WITH_EXCLUSION',
        [input]: 'latest\n dev-* , pr-*.build'
      }).mutabilityExclusionFilters
    ).toEqual(['latest', 'dev-*', 'pr-*.build'])
  })
})

describe('kms-key', () => {
  test('is refused with AES256', () => {
    const error = expectInputError(
      { 'kms-key': 'alias/ecr' },
      'kms-key',
      'alias/ecr'
    )
    expect(error.message).toContain('KMS or KMS_DSSE')
  })

  test.each([
    'my key',
    'alias',
    'arn:aws:kms:us-east-1:12345:key/abc',
    'arn:aws:s3:::bucket',
    '1234ABCD-12AB-34CD-56EF-1234567890AB',
    'alias/my key'
  ])('refuses %j', value => {
    const error = expectInputError(
      { 'encryption-type': 'KMS', 'kms-key': value },
      'kms-key',
      value
    )
    expect(error.message).toContain('is not a KMS key')
  })

  test.each([
    ['KMS', `arn:aws:kms:us-east-1:123456789012:key/${KEY_ID}`],
    ['KMS', 'arn:aws:kms:us-east-1:123456789012:alias/ecr-images'],
    ['KMS', `arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/${KEY_ID}`],
    ['KMS', KEY_ID],
    ['KMS', `mrk-${'0123456789abcdef'.repeat(2)}`],
    ['KMS_DSSE', 'alias/ecr-images']
  ])('accepts %s key %s', (encryption, key) => {
    const settings = read({ 'encryption-type': encryption, 'kms-key': key })
    expect(settings.kmsKey).toBe(key)
  })

  test('is optional with KMS', () => {
    expect(read({ 'encryption-type': 'KMS' }).kmsKey).toBeUndefined()
  })
})

describe('repository-tags', () => {
  const input = 'repository-tags'

  test.each([
    { value: 'team', reason: 'each line must be key=value' },
    { value: '=shop', reason: 'each line must be key=value' },
    { value: 'team=shop\nowner', reason: '"owner"' },
    { value: `${'k'.repeat(129)}=v`, reason: 'keys up to 128' },
    { value: `k=${'v'.repeat(257)}`, reason: 'values up to 256' },
    { value: 'aws:cloudformation:stack-name=x', reason: 'reserved' },
    { value: 'AWS:team=x', reason: 'reserved' },
    { value: 'team=shop&co', reason: 'AWS tags allow' },
    { value: 'te$am=shop', reason: 'AWS tags allow' },
    { value: 'team=shop,owner=me', reason: 'AWS tags allow' }
  ])('refuses %j', ({ value, reason }) => {
    const error = expectInputError({ [input]: value }, input, value)
    expect(error.message).toContain(reason)
  })

  test('reads key=value lines, trimmed, values may be empty', () => {
    expect(
      read({
        [input]: `team=shop\n owner = platform team \nempty=\n${'k'.repeat(128)}=a=b`
      }).repositoryTags
    ).toEqual([
      { Key: 'team', Value: 'shop' },
      { Key: 'owner', Value: 'platform team' },
      { Key: 'empty', Value: '' },
      { Key: 'k'.repeat(128), Value: 'a=b' }
    ])
  })
})

describe.each([
  { input: 'lifecycle-policy', key: 'lifecyclePolicy', required: 'rules' },
  {
    input: 'repository-policy',
    key: 'repositoryPolicy',
    required: 'Statement'
  }
] as const)('$input', ({ input, key, required }) => {
  const valid =
    input === 'lifecycle-policy'
      ? { rules: [{ rulePriority: 1, action: { type: 'expire' } }] }
      : { Version: '2012-10-17', Statement: [] }
  const file =
    input === 'lifecycle-policy'
      ? 'policies/lifecycle.json'
      : 'policies/repository-policy.json'

  test('inline JSON comes back compact', () => {
    const inline = `\n${JSON.stringify(valid, null, 4)}\n`
    expect(read({ [input]: inline })[key]).toBe(JSON.stringify(valid))
  })

  test('a file path, relative to the workspace, is read', () => {
    const text = readFileSync(path.join(workspace, file), 'utf8')
    expect(text).toContain('\n  ')
    expect(read({ [input]: file })[key]).toBe(JSON.stringify(JSON.parse(text)))
  })

  test('an absolute file path is read', () => {
    expect(read({ [input]: path.join(workspace, file) })[key]).toBeDefined()
  })

  test('empty is undefined', () => {
    expect(read({ [input]: '  ' })[key]).toBeUndefined()
  })

  test.each([
    {
      value: 'policies/missing.json',
      reason: 'is neither JSON text nor a file'
    },
    { value: 'policies', reason: 'is neither JSON text nor a file' },
    { value: '{"rules": [}', reason: 'is not valid JSON' },
    { value: 'policies/broken.json', reason: 'is not valid JSON' },
    { value: 'policies/array.json', reason: 'is not a JSON object' }
  ])('refuses $value', ({ value, reason }) => {
    const error = expectInputError({ [input]: value }, input, value)
    expect(error.message).toContain(reason)
  })

  test('refuses an inline JSON array', () => {
    expectInputError({ [input]: '[{"a":1}]' }, input, '[{"a":1}]')
  })

  test(`refuses JSON without "${required}"`, () => {
    const value = JSON.stringify({ Version: '2012-10-17', rule: [] })
    const error = expectInputError({ [input]: value }, input, value)
    expect(error.message).toContain(`has no "${required}" key`)
  })
})

test('a lifecycle policy in a file without rules is refused', () => {
  const error = expectInputError(
    { 'lifecycle-policy': 'policies/no-rules.json' },
    'lifecycle-policy',
    'policies/no-rules.json'
  )
  expect(error.message).toContain('has no "rules" key')
})

describe('context and dockerfile', () => {
  test('the default Dockerfile is inside the context', () => {
    const settings = read({ context: 'app' })
    expect(settings.context).toBe(path.join(workspace, 'app'))
    expect(settings.dockerfile).toBe(path.join(workspace, 'app', 'Dockerfile'))
  })

  test('a dockerfile path is relative to the workspace, not the context', () => {
    const settings = read({
      context: 'app',
      dockerfile: 'docker/prod.Dockerfile'
    })
    expect(settings.dockerfile).toBe(
      path.join(workspace, 'docker', 'prod.Dockerfile')
    )
  })

  test('paths are absolute', () => {
    const settings = read({ context: './app/', dockerfile: ' Dockerfile ' })
    expect(path.isAbsolute(settings.context)).toBe(true)
    expect(settings.context).toBe(path.join(workspace, 'app'))
    expect(settings.dockerfile).toBe(path.join(workspace, 'Dockerfile'))
  })

  test.each(['missing-dir', 'Dockerfile'])(
    'refuses the context %s, which is not a directory',
    value => {
      const error = expectInputError({ context: value }, 'context', value)
      expect(error.message).toContain(path.join(workspace, value))
    }
  )

  test.each(['docker/missing.Dockerfile', 'docker'])(
    'refuses the dockerfile %s, which is not a file',
    value => {
      const error = expectInputError({ dockerfile: value }, 'dockerfile', value)
      expect(error.message).toContain(path.join(workspace, value))
    }
  )

  test('a context without a Dockerfile names where it looked', () => {
    const error = expectInputError(
      { context: 'empty' },
      'dockerfile',
      'empty/Dockerfile'
    )
    expect(error.message).toContain(path.join(workspace, 'empty', 'Dockerfile'))
  })

  test.each(['run time', '--no-cache', '-x'])(
    'refuses the target %j',
    value => {
      expectInputError({ target: value }, 'target', value)
    }
  )

  test('accepts a target, trimmed', () => {
    expect(read({ target: ' build-stage.2 ' }).target).toBe('build-stage.2')
  })
})

describe('build-args and labels', () => {
  test.each([
    { input: 'build-args', value: 'FOO', line: 'FOO' },
    { input: 'build-args', value: '=x', line: '=x' },
    { input: 'build-args', value: 'A=1\n1FOO=x', line: '1FOO=x' },
    { input: 'build-args', value: 'FOO BAR=x', line: 'FOO BAR=x' },
    { input: 'build-args', value: '--network=host', line: '--network=host' },
    { input: 'labels', value: 'maintainer', line: 'maintainer' },
    { input: 'labels', value: '=x', line: '=x' },
    { input: 'labels', value: 'my label=x', line: 'my label=x' }
  ])('refuses %j', ({ input, value, line }) => {
    const error = expectInputError({ [input]: value }, input, value)
    expect(error.message).toContain(`has the line ${JSON.stringify(line)}`)
  })

  test('build-args keep commas and further = in values', () => {
    expect(
      read({
        'build-args': 'URLS=a=1,b=2\n\nEMPTY=\n  NODE_ENV=production  '
      }).buildArgs
    ).toEqual(['URLS=a=1,b=2', 'EMPTY=', 'NODE_ENV=production'])
  })

  test('labels keep commas, = and slashes', () => {
    expect(
      read({
        labels:
          'org.opencontainers.image.source=https://github.com/acme/shop\n' +
          'com.acme/teams=a,b=c'
      }).labels
    ).toEqual([
      'org.opencontainers.image.source=https://github.com/acme/shop',
      'com.acme/teams=a,b=c'
    ])
  })
})

describe('image', () => {
  test.each([
    { input: 'dockerfile', value: 'Dockerfile' },
    { input: 'build-args', value: 'A=1' },
    { input: 'target', value: 'runtime' },
    { input: 'labels', value: 'a=b' },
    { input: 'platforms', value: 'linux/arm64' },
    { input: 'attestations', value: 'true' },
    { input: 'cache-tag', value: 'buildcache' },
    { input: 'cache-from', value: 'type=gha' },
    { input: 'cache-to', value: 'type=gha' }
  ])('refuses $input with image', ({ input, value }) => {
    const error = expectInputError(
      { image: 'my-app:1.0', [input]: value },
      input,
      value
    )
    expect(error.message).toContain('"my-app:1.0"')
  })

  test.each([
    'My-App:1.0',
    '--help',
    '-q',
    'my app',
    'my-app:1.0 --push',
    'my-app:-x',
    'my-app@sha256:abc'
  ])('refuses the reference %j', value => {
    const error = expectInputError({ image: value }, 'image', value)
    expect(error.message).toContain('is not a local image reference')
  })

  test.each([
    'my-app:1.0',
    'my-app',
    'ghcr.io/acme/app:1.0',
    'localhost:5000/app',
    `my-app@sha256:${HEX64}`,
    `sha256:${HEX64}`,
    '0123456789ab'
  ])('accepts %s and builds nothing', value => {
    const settings = read({ image: value, context: 'missing-dir' })
    expect(settings.image).toBe(value)
    expect(settings.context).toBe('')
    expect(settings.dockerfile).toBe('')
    expect(settings.buildArgs).toEqual([])
    expect(settings.labels).toEqual([])
    expect(settings.target).toBeUndefined()
  })
})

describe('version-tags', () => {
  const onTag = (ref: string): NodeJS.ProcessEnv => ({
    ...ENV,
    GITHUB_REF: ref
  })

  test.each([
    {
      ref: 'refs/tags/v1.2.3',
      tags: '',
      expected: ['latest', '1.2.3', '1.2', '1'],
      version: '1.2.3'
    },
    {
      ref: 'refs/tags/v1.2.3',
      tags: 'sha-0a1b2c3',
      expected: ['sha-0a1b2c3', '1.2.3', '1.2', '1', 'latest'],
      version: '1.2.3'
    },
    {
      ref: 'refs/tags/1.2.3',
      tags: 'latest, 1.2.3',
      expected: ['latest', '1.2.3', '1.2', '1'],
      version: '1.2.3'
    },
    // Not even the default latest: a pre-release never gets it.
    {
      ref: 'refs/tags/v1.2.3-rc.1',
      tags: '',
      expected: ['1.2.3-rc.1'],
      version: '1.2.3-rc.1'
    },
    {
      ref: 'refs/tags/v0.4.1',
      tags: '',
      expected: ['latest', '0.4.1', '0.4'],
      version: '0.4.1'
    },
    {
      ref: 'refs/heads/main',
      tags: 'sha-0a1b2c3',
      expected: ['sha-0a1b2c3'],
      version: undefined
    }
  ])('$ref with tags $tags', ({ ref, tags, expected, version }) => {
    const settings = read({ tags, 'version-tags': 'true' }, onTag(ref))

    expect(settings.versionTags).toBe(true)
    expect(settings.tags).toEqual(expected)
    expect(settings.version).toBe(version)
  })

  test('off by default: a version ref adds nothing', () => {
    const settings = read({}, onTag('refs/tags/v1.2.3'))

    expect(settings.versionTags).toBe(false)
    expect(settings.tags).toEqual(['latest'])
    expect(settings.version).toBeUndefined()
  })

  test('a pre-release drops even an explicit latest', () => {
    const settings = read(
      { tags: 'latest, edge', 'version-tags': 'true' },
      onTag('refs/tags/v2.0.0-beta.2')
    )
    expect(settings.tags).toEqual(['edge', '2.0.0-beta.2'])
  })

  test('on a branch the tags input applies as always, default latest', () => {
    const settings = read(
      { tags: '', 'version-tags': 'true' },
      onTag('refs/heads/main')
    )
    expect(settings.tags).toEqual(['latest'])
    expect(settings.version).toBeUndefined()
  })

  test('no tag at all: refused, naming the ref', () => {
    const error = expectInputError(
      { tags: ',,', 'version-tags': 'true' },
      'tags',
      ',,',
      onTag('refs/heads/main')
    )
    expect(error.message).toContain(
      'has no tag, and version-tags adds none: refs/heads/main is not a ' +
        'semantic version tag'
    )
  })

  test('the given tags are still checked', () => {
    expectInputError(
      { tags: 'bad tag', 'version-tags': 'true' },
      'tags',
      'bad tag',
      onTag('refs/tags/v1.2.3')
    )
  })

  test('a version too long for a tag is refused', () => {
    const ref = `refs/tags/v1.2.3-${'a'.repeat(130)}`
    const error = expectInputError(
      { tags: 'x', 'version-tags': 'true' },
      'version-tags',
      'true',
      onTag(ref)
    )
    expect(error.message).toContain('not a valid tag')
  })

  test('not a boolean: refused', () => {
    expectInputError({ 'version-tags': 'yes' }, 'version-tags', 'yes')
  })
})

describe('skip-existing', () => {
  test.each([
    ['', false],
    ['false', false],
    ['true', true]
  ])('%j reads as %s', (value, expected) => {
    expect(read({ 'skip-existing': value }).skipExisting).toBe(expected)
  })

  test('works with image', () => {
    const settings = read({ image: 'my-app:1.0', 'skip-existing': 'true' })
    expect(settings.skipExisting).toBe(true)
    expect(settings.image).toBe('my-app:1.0')
  })

  test('not a boolean: refused', () => {
    expectInputError({ 'skip-existing': '1' }, 'skip-existing', '1')
  })
})

describe('source-tag', () => {
  test('needs no context or Dockerfile, and builds nothing', () => {
    const settings = readInputs(
      name =>
        ({ repository: 'shop/api', tags: 'prod', 'source-tag': 'sha-1' })[
          name
        ] ?? '',
      ENV,
      tempDir('ecr-push-no-dockerfile-')
    )

    expect(settings.sourceTag).toBe('sha-1')
    expect(settings.tags).toEqual(['prod'])
    expect(settings.context).toBe('')
    expect(settings.dockerfile).toBe('')
    expect(settings.buildArgs).toEqual([])
    expect(settings.labels).toEqual([])
    expect(settings.target).toBeUndefined()
  })

  test.each(['', '  '])('%j is no source tag', value => {
    expect(read({ 'source-tag': value }).sourceTag).toBeUndefined()
  })

  test('action.yml defaults are no conflict', () => {
    const settings = read({
      'source-tag': 'sha-1',
      context: '.',
      'skip-existing': 'false',
      'version-tags': 'false'
    })
    expect(settings.sourceTag).toBe('sha-1')
  })

  test('version-tags promotes to the version tags', () => {
    const settings = read(
      { tags: '', 'source-tag': 'sha-1', 'version-tags': 'true' },
      { ...ENV, GITHUB_REF: 'refs/tags/v2.0.0' }
    )
    expect(settings.tags).toEqual(['latest', '2.0.0', '2.0', '2'])
  })

  test.each(['my tag', '-x', '.x', 'a'.repeat(129), 'repo:tag'])(
    'refuses the tag %j',
    value => {
      const error = expectInputError(
        { 'source-tag': value },
        'source-tag',
        value
      )
      expect(error.message).toContain('is not a valid tag')
    }
  )

  test.each([
    ['image', 'my-app:1.0'],
    ['dockerfile', 'docker/prod.Dockerfile'],
    ['build-args', 'NODE_ENV=production'],
    ['target', 'runtime'],
    ['labels', 'team=shop'],
    ['context', 'app'],
    ['skip-existing', 'true'],
    ['platforms', 'linux/amd64,linux/arm64'],
    ['attestations', 'true'],
    ['cache-tag', 'buildcache']
  ])('refuses %s, which would do nothing', (name, value) => {
    const error = expectInputError(
      { 'source-tag': 'sha-1', [name]: value },
      name,
      value
    )
    expect(error.message).toContain('cannot be used with source-tag "sha-1"')
  })
})

describe('platforms', () => {
  test.each([
    ['', []],
    ['linux/amd64', ['linux/amd64']],
    [
      'linux/amd64, linux/arm64\nlinux/arm/v7',
      ['linux/amd64', 'linux/arm64', 'linux/arm/v7']
    ],
    ['linux/arm64,linux/arm64', ['linux/arm64']],
    ['linux/amd64/v2,windows/amd64', ['linux/amd64/v2', 'windows/amd64']]
  ])('%j reads as %j', (value, expected) => {
    expect(read({ platforms: value }).platforms).toEqual(expected)
  })

  test.each(['amd64', 'Linux/AMD64', 'linux/', 'linux/arm64/v8/x', '--push'])(
    'refuses %j',
    value => {
      const error = expectInputError({ platforms: value }, 'platforms', value)
      expect(error.message).toContain('not a platform like linux/amd64')
    }
  )
})

describe('attestations', () => {
  test.each([
    ['', false],
    ['false', false],
    ['true', true]
  ])('%j reads as %s', (value, expected) => {
    expect(read({ attestations: value }).attestations).toBe(expected)
  })

  test('not a boolean: refused', () => {
    expectInputError({ attestations: 'on' }, 'attestations', 'on')
  })
})

describe('cache-tag, cache-from and cache-to', () => {
  test('a cache tag of its own', () => {
    expect(read({ 'cache-tag': ' buildcache ' }).cacheTag).toBe('buildcache')
  })

  test('a cache tag that is also a tag is refused', () => {
    const error = expectInputError(
      { tags: 'v1, buildcache', 'cache-tag': 'buildcache' },
      'cache-tag',
      'buildcache'
    )
    expect(error.message).toContain('is also one of the tags')
  })

  test.each(['build cache', '-x', 'repo:tag'])(
    'refuses the cache tag %j',
    value => {
      const error = expectInputError({ 'cache-tag': value }, 'cache-tag', value)
      expect(error.message).toContain('is not a valid tag')
    }
  )

  test('raw values are passed line by line, commas and all', () => {
    const settings = read({
      'cache-from': 'type=gha,scope=api\n\ntype=local,src=/tmp/cache',
      'cache-to': 'type=gha,mode=max,scope=api'
    })
    expect(settings.cacheFrom).toEqual([
      'type=gha,scope=api',
      'type=local,src=/tmp/cache'
    ])
    expect(settings.cacheTo).toEqual(['type=gha,mode=max,scope=api'])
  })

  test.each(['cache-from', 'cache-to'])('%s refuses an option', name => {
    const value = 'type=gha\n--push'
    const error = expectInputError({ [name]: value }, name, value)
    expect(error.message).toContain('"--push"')
  })
})

describe('merge-sources', () => {
  const URI = '123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/api'
  const DIGEST = `sha256:${HEX64}`
  const OTHER = `sha256:${'b'.repeat(64)}`

  function merge(values: Values): Settings {
    return readInputs(
      name => ({ ...BASE, tags: 'v1', ...values })[name] ?? '',
      ENV,
      tempDir('ecr-push-no-dockerfile-')
    )
  }

  test('tags, digests and full references; nothing is built', () => {
    const settings = merge({
      'merge-sources': `amd64, ${DIGEST}\n${URI}:arm64\n${URI}@${OTHER}`
    })

    expect(settings.mergeSources).toEqual([
      'amd64',
      DIGEST,
      `${URI}:arm64`,
      `${URI}@${OTHER}`
    ])
    expect(settings.tags).toEqual(['v1'])
    expect(settings.context).toBe('')
    expect(settings.platforms).toEqual([])
  })

  test('empty: no merge', () => {
    expect(read({ 'merge-sources': ' ' }).mergeSources).toEqual([])
  })

  test('action.yml defaults are no conflict', () => {
    const settings = merge({
      'merge-sources': 'amd64, arm64',
      context: '.',
      'skip-existing': 'false',
      attestations: 'false'
    })
    expect(settings.mergeSources).toEqual(['amd64', 'arm64'])
  })

  test('one source is refused: an index needs two', () => {
    const error = expectInputError(
      { 'merge-sources': 'amd64' },
      'merge-sources',
      'amd64'
    )
    expect(error.message).toContain('at least two')
  })

  test('a source listed twice is refused', () => {
    const value = 'amd64\narm64\namd64'
    const error = expectInputError(
      { 'merge-sources': value },
      'merge-sources',
      value
    )
    expect(error.message).toContain('lists "amd64" twice')
  })

  test('an image of another repository is refused', () => {
    const value = `amd64, ${URI.replace('shop/api', 'shop/web')}:arm64`
    const error = expectInputError(
      { 'merge-sources': value },
      'merge-sources',
      value
    )
    expect(error.message).toContain('an image of shop/web, not of shop/api')
  })

  test.each(['bad tag', 'shop/api:arm64', 'sha256:abc', `${URI}`])(
    'refuses %j',
    source => {
      const value = `amd64, ${source}`
      const error = expectInputError(
        { 'merge-sources': value },
        'merge-sources',
        value
      )
      expect(error.message).toContain('neither a tag')
    }
  )

  test.each([
    ['source-tag', 'sha-1'],
    ['image', 'my-app:1.0'],
    ['skip-existing', 'true'],
    ['context', 'app'],
    ['dockerfile', 'docker/prod.Dockerfile'],
    ['build-args', 'A=1'],
    ['target', 'runtime'],
    ['labels', 'team=shop'],
    ['platforms', 'linux/amd64'],
    ['attestations', 'true'],
    ['cache-tag', 'buildcache'],
    ['cache-from', 'type=gha'],
    ['cache-to', 'type=gha']
  ])('refuses %s, which would do nothing', (name, value) => {
    const error = expectInputError(
      { 'merge-sources': 'amd64, arm64', [name]: value },
      name,
      value
    )
    expect(error.message).toContain('cannot be used with merge-sources')
  })

  test('version-tags tag the index', () => {
    const settings = read(
      { tags: '', 'merge-sources': 'amd64,arm64', 'version-tags': 'true' },
      { ...ENV, GITHUB_REF: 'refs/tags/v2.0.0' }
    )
    expect(settings.tags).toEqual(['latest', '2.0.0', '2.0', '2'])
  })
})

describe('registry-type', () => {
  const PUBLIC: Values = { 'registry-type': 'public' }
  // What the runner passes for inputs the workflow leaves out.
  const DEFAULTS: Values = {
    'image-tag-mutability': 'MUTABLE',
    'scan-on-push': 'true',
    'encryption-type': 'AES256',
    'scan-timeout': '10'
  }

  test('is private by default, with no catalog', () => {
    const settings = read()
    expect(settings.registryType).toBe('private')
    expect(settings.publicCatalog).toBeUndefined()
  })

  test('public with action.yml defaults and no catalog', () => {
    const settings = read({ ...PUBLIC, ...DEFAULTS })
    expect(settings.registryType).toBe('public')
    expect(settings.publicCatalog).toBeUndefined()
  })

  test('public reads the catalog inputs, trimmed, lists without repeats', () => {
    const settings = read({
      ...PUBLIC,
      'public-description': ' The shop API ',
      'public-about': '# Shop API\n\nServes the shop.\n',
      'public-usage': 'docker run public.ecr.aws/acme/shop/api',
      'public-architectures': 'x86-64, ARM 64\nx86-64',
      'public-operating-systems': 'Linux'
    })
    expect(settings.publicCatalog).toEqual({
      description: 'The shop API',
      aboutText: '# Shop API\n\nServes the shop.',
      usageText: 'docker run public.ecr.aws/acme/shop/api',
      architectures: ['x86-64', 'ARM 64'],
      operatingSystems: ['Linux']
    })
  })

  test('only the catalog fields given are set', () => {
    const settings = read({ ...PUBLIC, 'public-usage': 'docker pull it' })
    expect(settings.publicCatalog).toEqual({ usageText: 'docker pull it' })
  })

  test('is private or public', () => {
    const error = expectInputError(
      { 'registry-type': 'gallery' },
      'registry-type',
      'gallery'
    )
    expect(error.message).toContain('private, public')
  })

  test.each([
    ['registry-id', '123456789012'],
    ['image-tag-mutability', 'IMMUTABLE'],
    ['image-tag-mutability-exclusion-filters', 'latest'],
    ['scan-on-push', 'false'],
    ['encryption-type', 'KMS'],
    ['kms-key', 'alias/ecr'],
    ['lifecycle-policy', '{"rules":[]}'],
    ['repository-policy', '{"Statement":[]}'],
    ['fail-on-severity', 'HIGH'],
    ['scan-timeout', '5']
  ])('public refuses %s %j, naming both inputs', (name, value) => {
    const error = expectInputError(
      { ...PUBLIC, ...DEFAULTS, [name]: value },
      name,
      value
    )
    expect(error.message).toContain('cannot be used with registry-type public')
  })

  test.each([
    ['public-description', 'The shop API'],
    ['public-about', '# Shop'],
    ['public-usage', 'docker pull'],
    ['public-architectures', 'ARM 64'],
    ['public-operating-systems', 'Linux']
  ])('private refuses %s', (name, value) => {
    const error = expectInputError({ [name]: value }, name, value)
    expect(error.message).toContain('registry-type public')
    expect(error.message).toContain('registry-type is private')
  })

  test('public refuses a region outside the aws partition', () => {
    const error = expectInputError(
      { ...PUBLIC, region: 'cn-north-1' },
      'registry-type',
      'public'
    )
    expect(error.message).toContain('aws partition only')
    expect(error.message).toContain('aws-cn')
  })

  test('public allows repository names up to 205 characters', () => {
    const name = `a/${'b'.repeat(203)}`
    expect(read({ ...PUBLIC, repository: name }).repository).toBe(name)
    const longer = `${name}c`
    const error = expectInputError(
      { ...PUBLIC, repository: longer },
      'repository',
      longer
    )
    expect(error.message).toContain('ECR Public allows 2 to 205')
    expect(read({ repository: longer }).repository).toBe(longer)
  })

  test.each([
    ['public-description', 1024],
    ['public-about', 25600],
    ['public-usage', 25600]
  ])('public allows %s up to %i characters', (name, longest) => {
    const most = 'é'.repeat(longest)
    expect(read({ ...PUBLIC, [name]: most }).publicCatalog).toBeDefined()
    const error = expectInputError(
      { ...PUBLIC, [name]: `${most}x` },
      name,
      `${most}x`
    )
    expect(error.message).toContain(`up to ${longest}`)
  })

  test('public refuses a badge over 50 characters, or over 50 badges', () => {
    const long = 'x'.repeat(51)
    expectInputError(
      { ...PUBLIC, 'public-architectures': long },
      'public-architectures',
      long
    )
    const many = Array.from({ length: 51 }, (_, i) => `os${i}`).join(',')
    const error = expectInputError(
      { ...PUBLIC, 'public-operating-systems': many },
      'public-operating-systems',
      many
    )
    expect(error.message).toContain('51 entries')
  })
})

describe('merge-sources with registry-type public', () => {
  test('full references carry the alias before the repository', () => {
    const uri = 'public.ecr.aws/a1b2c3d4/shop/api'
    const settings = read({
      'registry-type': 'public',
      'merge-sources': `${uri}:amd64, ${uri}@sha256:${HEX64}`
    })
    expect(settings.mergeSources).toEqual([
      `${uri}:amd64`,
      `${uri}@sha256:${HEX64}`
    ])
  })

  test('another repository under the alias is refused', () => {
    const value = 'public.ecr.aws/a1b2c3d4/shop/web:amd64, arm64'
    const error = expectInputError(
      { 'registry-type': 'public', 'merge-sources': value },
      'merge-sources',
      value
    )
    expect(error.message).toContain('an image of shop/web, not of shop/api')
  })
})
