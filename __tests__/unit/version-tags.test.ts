import { describe, expect, test } from '@jest/globals'

import { describeVersionTags, versionTagsOf } from '../../src/version-tags.js'

describe('versionTagsOf', () => {
  test.each([
    {
      ref: 'refs/tags/v1.2.3',
      version: '1.2.3',
      tags: ['1.2.3', '1.2', '1', 'latest']
    },
    {
      ref: 'refs/tags/1.2.3',
      version: '1.2.3',
      tags: ['1.2.3', '1.2', '1', 'latest']
    },
    {
      ref: 'refs/tags/v10.20.30',
      version: '10.20.30',
      tags: ['10.20.30', '10.20', '10', 'latest']
    },
    {
      ref: 'refs/tags/v2.0.0',
      version: '2.0.0',
      tags: ['2.0.0', '2.0', '2', 'latest']
    },
    // Below 1.0 there is no bare 0.
    {
      ref: 'refs/tags/v0.4.1',
      version: '0.4.1',
      tags: ['0.4.1', '0.4', 'latest']
    },
    {
      ref: 'refs/tags/0.0.3',
      version: '0.0.3',
      tags: ['0.0.3', '0.0', 'latest']
    },
    // A pre-release gets its full version only, never latest.
    {
      ref: 'refs/tags/v1.2.3-rc.1',
      version: '1.2.3-rc.1',
      tags: ['1.2.3-rc.1']
    },
    {
      ref: 'refs/tags/1.0.0-alpha',
      version: '1.0.0-alpha',
      tags: ['1.0.0-alpha']
    },
    {
      ref: 'refs/tags/v0.1.0-beta.2',
      version: '0.1.0-beta.2',
      tags: ['0.1.0-beta.2']
    },
    {
      ref: 'refs/tags/v1.0.0-x-y.0a',
      version: '1.0.0-x-y.0a',
      tags: ['1.0.0-x-y.0a']
    },
    // Build metadata: docker tags cannot hold +.
    {
      ref: 'refs/tags/v1.2.3+build.7',
      version: '1.2.3+build.7',
      tags: ['1.2.3_build.7', '1.2', '1', 'latest']
    },
    {
      ref: 'refs/tags/v1.2.3-rc.1+sha.5114f85',
      version: '1.2.3-rc.1+sha.5114f85',
      tags: ['1.2.3-rc.1_sha.5114f85']
    }
  ])('$ref gives $tags', ({ ref, version, tags }) => {
    expect(versionTagsOf(ref)).toEqual({ version, tags })
  })

  test.each([
    'refs/heads/main',
    'refs/heads/v1.2.3', // a branch named like a version is not a release
    'refs/pull/7/merge',
    'refs/tags/v1.2',
    'refs/tags/v1',
    'refs/tags/v1.2.3.4',
    'refs/tags/release-1.2.3',
    'refs/tags/V1.2.3',
    'refs/tags/vv1.2.3',
    'refs/tags/v01.2.3',
    'refs/tags/v1.02.3',
    'refs/tags/v1.2.03',
    'refs/tags/v1.2.3-rc.01', // numeric pre-release identifiers: no leading 0
    'refs/tags/v1.2.3-',
    'refs/tags/v1.2.3-rc..1',
    'refs/tags/v1.2.3+',
    'refs/tags/v1.2.3 ',
    'refs/tags/',
    'v1.2.3', // not a ref
    '',
    undefined
  ])('%j is not a semantic version tag', ref => {
    expect(versionTagsOf(ref)).toBeUndefined()
  })
})

describe('describeVersionTags', () => {
  test('names the tags a version adds', () => {
    expect(describeVersionTags('refs/tags/v1.2.3')).toBe(
      'version-tags: refs/tags/v1.2.3 adds 1.2.3, 1.2, 1, latest'
    )
  })

  test('says that nothing is added elsewhere', () => {
    expect(describeVersionTags('refs/heads/main')).toBe(
      'version-tags: refs/heads/main is not a semantic version tag; no tags added'
    )
  })

  test('says when there is no ref at all', () => {
    expect(describeVersionTags(undefined)).toContain(
      'GITHUB_REF (not set) is not a semantic version tag; no tags added'
    )
  })
})
