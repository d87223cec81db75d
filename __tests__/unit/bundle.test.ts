import { describe, expect, test } from '@jest/globals'
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'

import {
  BearerCredentialHandler,
  HttpClient
} from '../../src/excluded/http-client.js'

const dist = path.join(import.meta.dirname, '..', '..', 'dist')
const read = (file: string): string =>
  readFileSync(path.join(dist, file), 'utf8')

// Strings only the code of these packages has.
// (The entry names ECR's API too, for the calls it signs itself.)
const ECR_CLIENT = 'ECRServiceException'
const UNDICI = 'undici'

describe('the bundle', () => {
  test('the entry starts docker without the AWS SDK in it', () => {
    const entry = read('index.js')
    expect(entry).not.toContain(ECR_CLIENT)
    expect(entry).toContain('--iidfile')
  })

  test('the main bundle, loaded from the entry, leaves the SDK out', () => {
    expect(read('main/index.js')).not.toContain(ECR_CLIENT)
    expect(read('index.js')).toContain('main')
  })

  test('the SDK bundle, loaded by the main bundle, has the ECR client', () => {
    expect(read('sdk/index.js')).toContain(ECR_CLIENT)
    expect(read('main/index.js')).toContain('sdk')
  })

  test('no file of it carries undici (OIDC is never asked for)', () => {
    const files = readdirSync(dist, {
      recursive: true,
      encoding: 'utf8'
    }).filter(file => file.endsWith('.js'))
    expect(files).toContain('index.js')
    for (const file of files) expect(read(file)).not.toContain(UNDICI)
  })
})

describe('the stand-in for @actions/http-client', () => {
  test('fails loudly if getIDToken is ever used', () => {
    expect(() => new HttpClient()).toThrow(
      'getIDToken is not used by ecr-push-action'
    )
    expect(() => new BearerCredentialHandler()).toThrow(
      '@actions/http-client is not in this bundle'
    )
  })
})
