import { describe, expect, test } from '@jest/globals'

import { InputError } from '../../src/errors.js'
import { describeDuration, readLimits } from '../../src/limits.js'

function read(values: Record<string, string>) {
  return readLimits(name => values[name] ?? '')
}

function errorOf(values: Record<string, string>): InputError {
  try {
    read(values)
  } catch (error) {
    if (error instanceof InputError) return error
    throw error
  }
  throw new Error('expected an InputError')
}

describe('readLimits', () => {
  test('empty inputs take the defaults', () => {
    expect(read({})).toEqual({
      maxAttempts: 3,
      networkTimeout: 60,
      buildTimeout: 60,
      pushTimeout: 30,
      scanTimeout: 10
    })
  })

  test('given values, spaces around them allowed', () => {
    expect(
      read({
        'max-attempts': '1',
        'network-timeout': ' 5 ',
        'build-timeout': '1440',
        'push-timeout': '\n90\n',
        'scan-timeout': '60'
      })
    ).toEqual({
      maxAttempts: 1,
      networkTimeout: 5,
      buildTimeout: 1440,
      pushTimeout: 90,
      scanTimeout: 60
    })
  })

  test.each([
    [
      'max-attempts',
      '0',
      'Input "max-attempts": "0" is out of range: give 1 to 10 attempts'
    ],
    [
      'max-attempts',
      '11',
      'Input "max-attempts": "11" is out of range: give 1 to 10 attempts'
    ],
    [
      'max-attempts',
      'three',
      'Input "max-attempts": "three" is not a whole number: give 1 to 10 attempts'
    ],
    [
      'scan-timeout',
      '61',
      'Input "scan-timeout": "61" is out of range: give 1 to 60 minutes'
    ],
    [
      'network-timeout',
      '1.5',
      'Input "network-timeout": "1.5" is not a whole number: give 1 to 3600 seconds'
    ],
    [
      'network-timeout',
      '-1',
      'Input "network-timeout": "-1" is not a whole number: give 1 to 3600 seconds'
    ],
    [
      'network-timeout',
      '60s',
      'Input "network-timeout": "60s" is not a whole number: give 1 to 3600 seconds'
    ],
    [
      'network-timeout',
      '3601',
      'Input "network-timeout": "3601" is out of range: give 1 to 3600 seconds'
    ],
    [
      'build-timeout',
      '0',
      'Input "build-timeout": "0" is out of range: give 1 to 1440 minutes ' +
        '(there is no "no limit": a stuck registry would hold the job)'
    ],
    [
      'push-timeout',
      '1441',
      'Input "push-timeout": "1441" is out of range: give 1 to 1440 minutes'
    ]
  ])('%s: %j is refused', (name, value, message) => {
    const error = errorOf({ [name]: value })
    expect(error.input).toBe(name)
    expect(error.value).toBe(value)
    expect(error.message).toBe(message)
  })
})

test.each([
  [3000, '3 s'],
  [1500, '1.5 s'],
  [60_000, '1 minute'],
  [90_000, '90 s'],
  [1_800_000, '30 minutes']
])('describeDuration(%i) is %j', (ms, text) => {
  expect(describeDuration(ms)).toBe(text)
})
