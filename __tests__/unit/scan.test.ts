import { beforeEach, describe, expect, jest, test } from '@jest/globals'
import {
  DescribeImageScanFindingsCommand,
  type DescribeImageScanFindingsCommandOutput,
  ECRClient,
  ImageNotFoundException,
  ScanNotFoundException
} from '@aws-sdk/client-ecr'
import { mockClient } from 'aws-sdk-client-mock'

import { ACCOUNT, ARN, REGISTRY, accessDenied } from '../fixtures/aws.js'
import { core, logged, resetCore } from '../fixtures/core.js'

jest.unstable_mockModule('@actions/core', () => core)

const { ActionError, AccessDeniedError } = await import('../../src/errors.js')
const { SEVERITIES } = await import('../../src/inputs.js')
const { gateFailure, normaliseFindings, waitForScan } =
  await import('../../src/scan.js')
type ScanResult = import('../../src/scan.js').ScanResult

const ecrMock = mockClient(ECRClient)
const ecr = new ECRClient({ region: 'us-east-1' })

const DIGEST = `sha256:${'ab'.repeat(32)}`
const IMAGE_URI = `${REGISTRY}/shop/api@${DIGEST}`
const TARGET = {
  repository: 'shop/api',
  registryId: undefined,
  digest: DIGEST,
  imageUri: IMAGE_URI,
  repositoryArn: ARN
}

/** A clock that only moves when the code under test sleeps. */
function fakeClock(timeoutMs = 600_000) {
  let now = 0
  const sleeps: number[] = []
  return {
    sleeps,
    wait: {
      timeoutMs,
      now: () => now,
      sleep: async (ms: number) => {
        sleeps.push(ms)
        now += ms
      }
    }
  }
}

function status(
  value: string,
  description?: string
): DescribeImageScanFindingsCommandOutput {
  return {
    $metadata: {},
    imageScanStatus: {
      status: value as 'COMPLETE',
      ...(description ? { description } : {})
    }
  }
}

function basic(
  findings: { name: string; severity: string }[],
  counts?: Record<string, number>,
  nextToken?: string
): DescribeImageScanFindingsCommandOutput {
  return {
    ...status('COMPLETE'),
    imageScanFindings: {
      findings: findings.map(finding => ({
        ...finding,
        severity: finding.severity as 'HIGH',
        uri: `https://security-tracker.debian.org/tracker/${finding.name}`
      })),
      ...(counts ? { findingSeverityCounts: counts } : {})
    },
    ...(nextToken ? { nextToken } : {})
  }
}

function scanNotFound() {
  return new ScanNotFoundException({
    message: `Image scan does not exist for the image with '{imageDigest:'${DIGEST}'}'`,
    $metadata: { httpStatusCode: 400 }
  })
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (error) {
    return error as Error
  }
  throw new Error('expected a failure')
}

function result(counts: Partial<Record<string, number>>): ScanResult {
  const all = Object.fromEntries(
    SEVERITIES.map(severity => [severity, counts[severity] ?? 0])
  ) as ScanResult['counts']
  const findings = SEVERITIES.flatMap(severity =>
    Array.from({ length: all[severity] }, (_, index) => ({
      id: `CVE-${severity}-${index}`,
      severity
    }))
  )
  return { scanner: 'basic', counts: all, findings }
}

beforeEach(() => {
  resetCore()
  ecrMock.reset()
})

describe('waitForScan', () => {
  test('IN_PROGRESS, then COMPLETE: waits with backoff, reads findings', async () => {
    ecrMock
      .on(DescribeImageScanFindingsCommand)
      .resolvesOnce(status('IN_PROGRESS'))
      .resolvesOnce(status('IN_PROGRESS'))
      .resolves(basic([{ name: 'CVE-2024-1', severity: 'HIGH' }], { HIGH: 1 }))
    const clock = fakeClock()

    const scan = await waitForScan(ecr, TARGET, clock.wait)

    expect(clock.sleeps).toEqual([5_000, 10_000])
    expect(scan.scanner).toBe('basic')
    expect(scan.counts.HIGH).toBe(1)
    expect(scan.findings).toEqual([
      {
        id: 'CVE-2024-1',
        severity: 'HIGH',
        uri: 'https://security-tracker.debian.org/tracker/CVE-2024-1'
      }
    ])
    const input = ecrMock.commandCalls(DescribeImageScanFindingsCommand)[0]
      ?.args[0].input
    expect(input).toEqual({
      repositoryName: 'shop/api',
      imageId: { imageDigest: DIGEST },
      maxResults: 1000
    })
    expect(logged(core.info)).toContain('IN_PROGRESS')
  })

  test('registry-id is passed on', async () => {
    ecrMock.on(DescribeImageScanFindingsCommand).resolves(basic([]))

    await waitForScan(ecr, { ...TARGET, registryId: ACCOUNT }, fakeClock().wait)

    expect(
      ecrMock.commandCalls(DescribeImageScanFindingsCommand)[0]?.args[0].input
        .registryId
    ).toBe(ACCOUNT)
  })

  test.each([
    ['FAILED', 'UnsupportedImageError: distroless', 'ECR could not scan it'],
    ['UNSUPPORTED_IMAGE', undefined, 'does not support this image'],
    ['SCAN_ELIGIBILITY_EXPIRED', undefined, 'no longer covers this image'],
    ['FINDINGS_UNAVAILABLE', undefined, 'has no findings']
  ])('%s: fails at once, says why', async (state, description, why) => {
    ecrMock
      .on(DescribeImageScanFindingsCommand)
      .resolves(status(state, description))
    const clock = fakeClock()

    const error = await failure(waitForScan(ecr, TARGET, clock.wait))

    expect(error).toBeInstanceOf(ActionError)
    expect(error.message).toContain(`ended ${state}`)
    expect(error.message).toContain(why)
    expect(error.message).toContain('fail-on-severity')
    if (description) expect(error.message).toContain(description)
    expect(clock.sleeps).toEqual([])
  })

  test('no scan yet: waits for scan-on-push to start it', async () => {
    ecrMock
      .on(DescribeImageScanFindingsCommand)
      .rejectsOnce(scanNotFound())
      .resolves(basic([]))
    const clock = fakeClock()

    const scan = await waitForScan(ecr, TARGET, clock.wait)

    expect(scan.counts.CRITICAL).toBe(0)
    expect(clock.sleeps).toEqual([5_000])
    expect(logged(core.info)).toContain('not started yet')
  })

  test('never a scan: a bounded wait, then says scanning is not enabled', async () => {
    ecrMock.on(DescribeImageScanFindingsCommand).rejects(scanNotFound())
    const clock = fakeClock()

    const error = await failure(waitForScan(ecr, TARGET, clock.wait))

    expect(error.message).toContain(
      `No scan of ${DIGEST}: scanning is not enabled for this repository ` +
        '(scan-on-push false'
    )
    expect(error.message).toContain('turn on scan-on-push')
    // A minute of grace for scan-on-push to start: 5 + 10 + 20 + 30 s.
    expect(clock.sleeps).toEqual([5_000, 10_000, 20_000, 30_000])
  })

  test('a scan that never finishes: stops at scan-timeout', async () => {
    ecrMock.on(DescribeImageScanFindingsCommand).resolves(status('IN_PROGRESS'))
    const clock = fakeClock(120_000)

    const error = await failure(waitForScan(ecr, TARGET, clock.wait))

    expect(error.message).toBe(
      `The scan of ${IMAGE_URI} did not finish within 2 minutes (last ` +
        'status: IN_PROGRESS). Raise scan-timeout, or leave ' +
        'fail-on-severity empty to push without waiting.'
    )
    expect(clock.sleeps.reduce((sum, ms) => sum + ms, 0)).toBeLessThanOrEqual(
      120_000
    )
  })

  test('an image ECR does not know: fails at once', async () => {
    ecrMock.on(DescribeImageScanFindingsCommand).rejects(
      new ImageNotFoundException({
        message: 'The image does not exist',
        $metadata: { httpStatusCode: 400 }
      })
    )
    const clock = fakeClock()

    const error = await failure(waitForScan(ecr, TARGET, clock.wait))

    expect(error.message).toContain(`ECR knows no image ${IMAGE_URI}`)
    expect(clock.sleeps).toEqual([])
  })

  test('a denial names the action and the statement that allows it', async () => {
    ecrMock
      .on(DescribeImageScanFindingsCommand)
      .rejects(accessDenied('ecr:DescribeImageScanFindings', ARN))

    const error = await failure(waitForScan(ecr, TARGET, fakeClock().wait))

    expect(error).toBeInstanceOf(AccessDeniedError)
    expect(error.message).toContain(
      `ecr:DescribeImageScanFindings was denied on ${ARN}`
    )
  })

  test('pages are read with nextToken, and joined', async () => {
    ecrMock
      .on(DescribeImageScanFindingsCommand)
      .resolvesOnce(
        basic(
          [{ name: 'CVE-2024-1', severity: 'LOW' }],
          { LOW: 1, CRITICAL: 1 },
          'page-2'
        )
      )
      .resolvesOnce(basic([{ name: 'CVE-2024-2', severity: 'CRITICAL' }]))

    const scan = await waitForScan(ecr, TARGET, fakeClock().wait)

    const calls = ecrMock.commandCalls(DescribeImageScanFindingsCommand)
    expect(calls).toHaveLength(2)
    expect(calls[1]?.args[0].input.nextToken).toBe('page-2')
    expect(scan.findings.map(finding => finding.id)).toEqual([
      'CVE-2024-2',
      'CVE-2024-1'
    ])
    expect(scan.counts).toMatchObject({ CRITICAL: 1, LOW: 1 })
  })

  test('pages are bounded: ten at most, with a warning', async () => {
    ecrMock
      .on(DescribeImageScanFindingsCommand)
      .resolves(basic([], { HIGH: 20_000 }, 'more'))

    const scan = await waitForScan(ecr, TARGET, fakeClock().wait)

    expect(ecrMock.commandCalls(DescribeImageScanFindingsCommand)).toHaveLength(
      10
    )
    expect(scan.counts.HIGH).toBe(20_000)
    expect(logged(core.warning)).toContain('more than 10000 findings')
  })
})

describe('normaliseFindings', () => {
  test('basic: counts from ECR, findings by name', () => {
    const scan = normaliseFindings([
      basic(
        [
          { name: 'CVE-2024-3', severity: 'MEDIUM' },
          { name: 'CVE-2024-4', severity: 'CRITICAL' }
        ],
        { MEDIUM: 1, CRITICAL: 1 }
      )
    ])

    expect(scan.scanner).toBe('basic')
    expect(scan.counts).toEqual({
      CRITICAL: 1,
      HIGH: 0,
      MEDIUM: 1,
      LOW: 0,
      INFORMATIONAL: 0,
      UNDEFINED: 0
    })
    expect(scan.findings.map(finding => finding.id)).toEqual([
      'CVE-2024-4',
      'CVE-2024-3'
    ])
  })

  test('enhanced (Inspector): CVE, package, score; UNTRIAGED is UNDEFINED', () => {
    const scan = normaliseFindings([
      {
        ...status('ACTIVE'),
        imageScanFindings: {
          enhancedFindings: [
            {
              severity: 'HIGH',
              title: 'CVE-2023-5 - openssl',
              score: 7.5,
              packageVulnerabilityDetails: {
                vulnerabilityId: 'CVE-2023-5',
                sourceUrl: 'https://nvd.nist.gov/vuln/detail/CVE-2023-5',
                vulnerablePackages: [{ name: 'openssl' }]
              }
            },
            {
              severity: 'HIGH',
              title: 'CVE-2023-6 - zlib',
              score: 9.1,
              packageVulnerabilityDetails: {
                vulnerabilityId: 'CVE-2023-6',
                vulnerablePackages: [{ name: 'zlib' }]
              }
            },
            { severity: 'UNTRIAGED', title: 'GHSA-xxxx' }
          ]
        }
      }
    ])

    expect(scan.scanner).toBe('enhanced')
    expect(scan.counts).toMatchObject({ HIGH: 2, UNDEFINED: 1 })
    expect(scan.findings).toEqual([
      { id: 'CVE-2023-6', severity: 'HIGH', packageName: 'zlib', score: 9.1 },
      {
        id: 'CVE-2023-5',
        severity: 'HIGH',
        packageName: 'openssl',
        score: 7.5,
        uri: 'https://nvd.nist.gov/vuln/detail/CVE-2023-5'
      },
      { id: 'GHSA-xxxx', severity: 'UNDEFINED' }
    ])
  })
})

describe('gateFailure', () => {
  test.each([
    ['CRITICAL', { HIGH: 3 }, undefined],
    ['CRITICAL', { CRITICAL: 1 }, 1],
    ['HIGH', { CRITICAL: 1, HIGH: 2, MEDIUM: 5 }, 3],
    ['HIGH', { MEDIUM: 5 }, undefined],
    ['MEDIUM', { MEDIUM: 5 }, 5],
    ['LOW', { INFORMATIONAL: 2 }, undefined],
    ['INFORMATIONAL', { INFORMATIONAL: 2 }, 2],
    ['UNDEFINED', { UNDEFINED: 1 }, 1],
    ['UNDEFINED', {}, undefined]
  ] as const)('threshold %s, counts %j: %s failing', (threshold, counts, n) => {
    const error = gateFailure(result(counts), threshold, IMAGE_URI)

    if (n === undefined) {
      expect(error).toBeUndefined()
    } else {
      expect(error?.message).toMatch(
        new RegExp(`^${n} findings? at or above ${threshold} in `)
      )
    }
  })

  test('names the worst findings first', () => {
    const error = gateFailure(
      result({ CRITICAL: 1, HIGH: 1, LOW: 1 }),
      'HIGH',
      IMAGE_URI
    )

    expect(error?.message).toBe(
      `2 findings at or above HIGH in ${IMAGE_URI}: ` +
        'CVE-CRITICAL-0, CVE-HIGH-0'
    )
  })
})
