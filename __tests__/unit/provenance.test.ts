import {
  afterAll,
  beforeEach,
  describe,
  expect,
  jest,
  test
} from '@jest/globals'
import { writeFileSync } from 'node:fs'
import path from 'node:path'

import { core, logged, resetCore } from '../fixtures/core.js'
import { removeTempDirs, tempDir } from '../fixtures/tmp.js'

jest.unstable_mockModule('@actions/core', () => core)

const { commitTime, provenanceLabels, withProvenance } =
  await import('../../src/provenance.js')

const SHA = '0123456789abcdef0123456789abcdef01234567'
const OTHER_SHA = 'fedcba9876543210fedcba9876543210fedcba98'

beforeEach(resetCore)
afterAll(removeTempDirs)

/** An event payload file, as the runner writes GITHUB_EVENT_PATH. */
function eventFile(payload: unknown): string {
  const file = path.join(tempDir('ecr-push-event-'), 'event.json')
  writeFileSync(file, JSON.stringify(payload))
  return file
}

function runEnv(payload: unknown, name = 'push'): NodeJS.ProcessEnv {
  return {
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_REPOSITORY: 'acme/shop',
    GITHUB_SHA: SHA,
    GITHUB_EVENT_NAME: name,
    GITHUB_EVENT_PATH: eventFile(payload)
  }
}

describe('commitTime', () => {
  test.each([
    {
      event: 'push (branch or tag)',
      payload: {
        after: SHA,
        head_commit: { id: SHA, timestamp: '2024-05-01T12:30:00+02:00' }
      },
      time: '2024-05-01T10:30:00Z'
    },
    {
      event: 'push, already in UTC',
      payload: { head_commit: { id: SHA, timestamp: '2024-05-01T10:30:00Z' } },
      time: '2024-05-01T10:30:00Z'
    },
    {
      event: 'merge_group',
      payload: {
        merge_group: {
          head_sha: SHA,
          head_commit: { id: SHA, timestamp: '2024-06-02T08:00:00Z' }
        }
      },
      time: '2024-06-02T08:00:00Z'
    },
    {
      event: 'workflow_run of this commit',
      payload: {
        workflow_run: {
          head_commit: { id: SHA, timestamp: '2024-06-03T09:00:00-05:00' }
        }
      },
      time: '2024-06-03T14:00:00Z'
    },
    {
      event: 'workflow_run of another commit',
      payload: {
        workflow_run: {
          head_commit: { id: OTHER_SHA, timestamp: '2024-06-03T09:00:00Z' }
        }
      },
      time: undefined
    },
    {
      event: 'release: its dates are not the commit time',
      payload: {
        release: {
          tag_name: 'v1.2.3',
          created_at: '2024-07-01T00:00:00Z',
          published_at: '2024-07-01T00:05:00Z'
        },
        repository: { pushed_at: 1719792000, updated_at: '2024-07-01' }
      },
      time: undefined
    },
    {
      event: 'workflow_dispatch',
      payload: { inputs: {}, ref: 'refs/heads/main' },
      time: undefined
    },
    {
      event: 'push that deleted a branch',
      payload: { deleted: true, head_commit: null },
      time: undefined
    },
    {
      event: 'push with a timestamp that is not a time',
      payload: { head_commit: { id: SHA, timestamp: 'yesterday' } },
      time: undefined
    }
  ])('$event', ({ payload, time }) => {
    expect(commitTime(eventFile(payload), SHA)).toBe(time)
  })

  test('no event file, or one that is not JSON: no time', () => {
    expect(commitTime(undefined, SHA)).toBeUndefined()
    expect(commitTime('/nonexistent/event.json', SHA)).toBeUndefined()
    const broken = path.join(tempDir(), 'event.json')
    writeFileSync(broken, '{ not json')
    expect(commitTime(broken, SHA)).toBeUndefined()
  })
})

describe('provenanceLabels', () => {
  test('source, revision, created and version from the run', () => {
    const env = runEnv({
      head_commit: { id: SHA, timestamp: '2024-05-01T10:30:00Z' }
    })

    expect([...provenanceLabels(env, '1.2.3')]).toEqual([
      ['org.opencontainers.image.source', 'https://github.com/acme/shop'],
      ['org.opencontainers.image.revision', SHA],
      ['org.opencontainers.image.created', '2024-05-01T10:30:00Z'],
      ['org.opencontainers.image.version', '1.2.3']
    ])
  })

  test('the same run twice gives the same labels, whatever the clock', () => {
    const env = runEnv({
      head_commit: { id: SHA, timestamp: '2024-05-01T10:30:00Z' }
    })
    const first = [...provenanceLabels(env, undefined)]
    jest.useFakeTimers({ now: new Date('2031-01-01T00:00:00Z') })
    try {
      expect([...provenanceLabels(env, undefined)]).toEqual(first)
    } finally {
      jest.useRealTimers()
    }
  })

  test('without a commit time, created is left out and that is said', () => {
    const env = runEnv({ release: { created_at: '2024-07-01T00:00:00Z' } })

    const labels = provenanceLabels(env, undefined)

    expect(labels.has('org.opencontainers.image.created')).toBe(false)
    expect(labels.has('org.opencontainers.image.version')).toBe(false)
    expect(logged(core.debug)).toContain(
      'org.opencontainers.image.created is left out'
    )
    expect(logged(core.debug)).toContain('(push)')
  })

  test('a GHES server URL with a trailing slash', () => {
    const env = {
      ...runEnv({}),
      GITHUB_SERVER_URL: 'https://github.example.com/'
    }
    expect(
      provenanceLabels(env, undefined).get('org.opencontainers.image.source')
    ).toBe('https://github.example.com/acme/shop')
  })

  test('outside a workflow run: no labels', () => {
    expect([...provenanceLabels({}, undefined)]).toEqual([])
  })
})

describe('withProvenance', () => {
  const provenance = new Map([
    ['org.opencontainers.image.source', 'https://github.com/acme/shop'],
    ['org.opencontainers.image.revision', SHA]
  ])

  test('adds each label after the user labels', () => {
    expect(withProvenance(['team=shop'], provenance)).toEqual([
      'team=shop',
      'org.opencontainers.image.source=https://github.com/acme/shop',
      `org.opencontainers.image.revision=${SHA}`
    ])
    expect(logged(core.info)).toContain('Provenance labels:')
  })

  test('a label the user set wins, even when empty', () => {
    const user = [
      'org.opencontainers.image.source=https://example.com/mirror',
      'org.opencontainers.image.revision='
    ]

    expect(withProvenance(user, provenance)).toEqual(user)
    expect(logged(core.debug)).toContain(
      'org.opencontainers.image.source is set in the labels input'
    )
    expect(core.info).not.toHaveBeenCalled()
  })
})
