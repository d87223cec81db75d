import {
  afterEach,
  beforeEach,
  describe,
  expect,
  jest,
  test
} from '@jest/globals'
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { REGISTRY } from '../fixtures/aws.js'
import { core, logged, resetCore } from '../fixtures/core.js'
import { removeTempDirs, tempDir } from '../fixtures/tmp.js'

jest.unstable_mockModule('@actions/core', () => core)

const {
  createPrivateDockerConfig,
  removePrivateDockerConfig,
  userDockerConfigDir
} = await import('../../src/docker-config.js')

const USER_CONFIG = {
  auths: {
    'ghcr.io': { auth: 'dXNlcjpnaGNy' },
    [REGISTRY]: { auth: 'QVdTOm9sZA==' }
  },
  credsStore: 'desktop',
  credHelpers: {
    [REGISTRY]: 'ecr-login',
    'europe-docker.pkg.dev': 'gcloud'
  },
  currentContext: 'default',
  plugins: { buildx: { default: 'builder' } }
}

let userDir: string
let parent: string

beforeEach(() => {
  resetCore()
  userDir = path.join(tempDir('ecr-push-user-'), '.docker')
  parent = tempDir('ecr-push-runner-temp-')
})

afterEach(removeTempDirs)

function writeUserDir(config: unknown | string): void {
  mkdirSync(path.join(userDir, 'cli-plugins'), { recursive: true })
  writeFileSync(
    path.join(userDir, 'cli-plugins', 'docker-buildx'),
    '#!/bin/sh\n'
  )
  mkdirSync(path.join(userDir, 'buildx', 'instances'), { recursive: true })
  writeFileSync(path.join(userDir, 'buildx', 'current'), '{}')
  if (config !== undefined) {
    writeFileSync(
      path.join(userDir, 'config.json'),
      typeof config === 'string' ? config : JSON.stringify(config, null, 2)
    )
  }
}

function privateConfig(dir: string): unknown {
  return JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'))
}

describe('createPrivateDockerConfig', () => {
  test("is seeded from the user's config, without the ECR helper or store", () => {
    writeUserDir(USER_CONFIG)

    const dir = createPrivateDockerConfig(userDir, parent, REGISTRY)

    expect(path.dirname(dir)).toBe(parent)
    expect(path.basename(dir)).toMatch(/^ecr-push-/)
    expect(privateConfig(dir)).toEqual({
      auths: USER_CONFIG.auths,
      credHelpers: { 'europe-docker.pkg.dev': 'gcloud' },
      currentContext: 'default',
      plugins: { buildx: { default: 'builder' } }
    })
  })

  test("leaves the user's own config as it was", () => {
    writeUserDir(USER_CONFIG)
    const before = readFileSync(path.join(userDir, 'config.json'), 'utf8')

    createPrivateDockerConfig(userDir, parent, REGISTRY)

    expect(readFileSync(path.join(userDir, 'config.json'), 'utf8')).toBe(before)
  })

  test('a credential store is dropped with a warning naming it', () => {
    writeUserDir(USER_CONFIG)

    createPrivateDockerConfig(userDir, parent, REGISTRY)

    expect(core.warning).toHaveBeenCalledTimes(1)
    expect(logged(core.warning)).toContain('credential store "desktop"')
  })

  test('no credential store: no warning', () => {
    writeUserDir({ auths: {} })

    createPrivateDockerConfig(userDir, parent, REGISTRY)

    expect(core.warning).not.toHaveBeenCalled()
  })

  test("the other entries of the user's directory are linked", () => {
    writeUserDir(USER_CONFIG)

    const dir = createPrivateDockerConfig(userDir, parent, REGISTRY)

    for (const entry of ['cli-plugins', 'buildx']) {
      const link = path.join(dir, entry)
      expect(lstatSync(link).isSymbolicLink()).toBe(true)
      expect(readlinkSync(link)).toBe(path.join(userDir, entry))
    }
    expect(existsSync(path.join(dir, 'cli-plugins', 'docker-buildx'))).toBe(
      true
    )
    expect(lstatSync(path.join(dir, 'config.json')).isSymbolicLink()).toBe(
      false
    )
  })

  test('the directory is 0700 and the config 0600', () => {
    writeUserDir(USER_CONFIG)

    const dir = createPrivateDockerConfig(userDir, parent, REGISTRY)

    expect(statSync(dir).mode & 0o777).toBe(0o700)
    expect(statSync(path.join(dir, 'config.json')).mode & 0o777).toBe(0o600)
  })

  test('each call makes its own directory', () => {
    writeUserDir(USER_CONFIG)

    const first = createPrivateDockerConfig(userDir, parent, REGISTRY)
    const second = createPrivateDockerConfig(userDir, parent, REGISTRY)

    expect(first).not.toBe(second)
  })

  test('no user directory: an empty config, no warning', () => {
    const dir = createPrivateDockerConfig(userDir, parent, REGISTRY)

    expect(privateConfig(dir)).toEqual({})
    expect(core.warning).not.toHaveBeenCalled()
  })

  test('a user directory without config.json: {} and the links', () => {
    writeUserDir(undefined)

    const dir = createPrivateDockerConfig(userDir, parent, REGISTRY)

    expect(privateConfig(dir)).toEqual({})
    expect(lstatSync(path.join(dir, 'cli-plugins')).isSymbolicLink()).toBe(true)
    expect(core.warning).not.toHaveBeenCalled()
  })

  test.each([
    { name: 'broken JSON', text: '{ "auths": { ' },
    { name: 'a JSON array', text: '[]' },
    { name: 'a JSON string', text: '"x"' }
  ])('$name: a warning, and {}', ({ text }) => {
    writeUserDir(text)

    const dir = createPrivateDockerConfig(userDir, parent, REGISTRY)

    expect(privateConfig(dir)).toEqual({})
    expect(logged(core.warning)).toContain(
      `Ignoring ${path.join(userDir, 'config.json')}`
    )
  })
})

describe('removePrivateDockerConfig', () => {
  test('removes the links, not what they point to', () => {
    writeUserDir(USER_CONFIG)
    const dir = createPrivateDockerConfig(userDir, parent, REGISTRY)

    removePrivateDockerConfig(dir)

    expect(existsSync(dir)).toBe(false)
    expect(existsSync(path.join(userDir, 'cli-plugins', 'docker-buildx'))).toBe(
      true
    )
    expect(existsSync(path.join(userDir, 'buildx', 'current'))).toBe(true)
    expect(existsSync(path.join(userDir, 'config.json'))).toBe(true)
  })

  test('a directory already gone is no error', () => {
    expect(() =>
      removePrivateDockerConfig(path.join(parent, 'ecr-push-gone'))
    ).not.toThrow()
  })
})

describe('userDockerConfigDir', () => {
  test.each([
    [{ DOCKER_CONFIG: '/opt/docker' }, '/opt/docker'],
    [{ DOCKER_CONFIG: '' }, path.join(os.homedir(), '.docker')],
    [{}, path.join(os.homedir(), '.docker')]
  ])('%j is %s', (env, dir) => {
    expect(userDockerConfigDir(env)).toBe(dir)
  })
})
