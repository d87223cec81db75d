import { describe, expect, it } from '@jest/globals'
import {
  isTestReference,
  testDirsToRemove,
  testImagesToRemove
} from '../e2e/global-setup.js'

describe('what the e2e run removes after itself', () => {
  it('takes the tests’ own namespaces on any registry host', () => {
    for (const reference of [
      '123456789012.dkr.ecr.us-east-1.amazonaws.com/e2e/shop-1:latest',
      '210987654321.dkr.ecr.us-east-1.amazonaws.com/e2e/fault-2:v1',
      'public.ecr.aws/localecr/e2e/public-3:latest',
      'e2e-local-4:ci'
    ]) {
      expect(isTestReference(reference)).toBe(true)
    }
  })

  it('leaves everything else alone', () => {
    for (const reference of [
      'debian:12',
      'e2e/shop:latest',
      '123456789012.dkr.ecr.us-east-1.amazonaws.com/app/e2e:latest',
      'public.ecr.aws/other/e2e/x:latest',
      'my-e2e-local-thing:1'
    ]) {
      expect(isTestReference(reference)).toBe(false)
    }
  })

  it('removes untagged images the run made, not older ones nor tagged ones', () => {
    const plan = testImagesToRemove(new Set(['sha256:old']), [
      { id: 'sha256:old', references: [] },
      { id: 'sha256:new', references: [] },
      {
        id: 'sha256:tagged',
        references: [
          'debian:12',
          '123456789012.dkr.ecr.us-east-1.amazonaws.com/e2e/shop-1:latest'
        ]
      }
    ])
    expect(plan).toEqual({
      references: [
        '123456789012.dkr.ecr.us-east-1.amazonaws.com/e2e/shop-1:latest'
      ],
      ids: ['sha256:new']
    })
  })

  it('removes the test directories the run made, and no other', () => {
    expect(
      testDirsToRemove(new Set(['ecr-push-e2e-old1']), [
        'ecr-push-e2e-old1',
        'ecr-push-e2e-new2',
        'ecr-push-e2e-job-docker-new3',
        'ecr-push-result-x4',
        'local-ecr-test-y5',
        'systemd-private-z6'
      ])
    ).toEqual(['ecr-push-e2e-new2', 'ecr-push-e2e-job-docker-new3'])
  })
})
