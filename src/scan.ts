import type {
  DescribeImageScanFindingsCommandOutput,
  EnhancedImageScanFinding,
  ImageScanFinding
} from '@aws-sdk/client-ecr'
import * as core from '@actions/core'

import { ActionError, awsErrorName, errorMessage } from './errors.js'
import { SEVERITIES, type Severity } from './inputs.js'
import { describeDuration } from './limits.js'
import { explainDenial } from './policy.js'
import { ecrClientOf, loadSdk, type EcrSource } from './sdk-loader.js'

export { SEVERITIES, type Severity }

/** One finding, whichever scanner reported it. */
export interface ScanFinding {
  /** The CVE or vulnerability ID (basic: the finding's name). */
  id: string
  severity: Severity
  /** The vulnerable package, when enhanced scanning names it. */
  packageName?: string
  /** The CVSS score, when enhanced scanning gives one. */
  score?: number
  /** Where to read about it. */
  uri?: string
}

export interface ScanResult {
  /** Basic scanning (ECR's own) or enhanced (Amazon Inspector). */
  scanner: 'basic' | 'enhanced'
  /** Findings per severity, as the scan counted them. */
  counts: Record<Severity, number>
  /** The findings read, worst first; bounded by MAX_PAGES. */
  findings: ScanFinding[]
}

export interface ScanTarget {
  repository: string
  registryId: string | undefined
  digest: string
  /** `<repository-uri>@<digest>`, for messages. */
  imageUri: string
  /** For a denial's advice. */
  repositoryArn: string
}

/** How long and how often to ask; tests give a fake clock and sleep. */
export interface ScanWait {
  timeoutMs: number
  sleep: (ms: number) => Promise<void>
  now: () => number
}

// Scan-on-push starts a little after the push is accepted: until then
// ECR answers ScanNotFoundException. A minute covers that lag; past it,
// no scan is coming.
const NOT_STARTED_MS = 60_000
const FIRST_POLL_MS = 5_000
const MAX_POLL_MS = 30_000
// 1000 findings a page: ten pages are more than any image worth gating.
const MAX_PAGES = 10
const PAGE_SIZE = 1000

const DONE = new Set(['COMPLETE', 'ACTIVE'])
const WAITING = new Set(['IN_PROGRESS', 'PENDING'])

/**
 * Waits for the scan of the pushed digest and reads its findings. Throws
 * an ActionError that says why when there is no usable scan: not
 * enabled, failed, unsupported, or not finished within the timeout.
 */
export async function waitForScan(
  ecr: EcrSource,
  target: ScanTarget,
  wait: ScanWait
): Promise<ScanResult> {
  const started = wait.now()
  for (let attempt = 1; ; attempt++) {
    const elapsed = wait.now() - started
    const first = await describePage(ecr, target, undefined, elapsed, wait)
    const status = first?.imageScanStatus?.status ?? 'IN_PROGRESS'
    if (first && DONE.has(status)) {
      return readFindings(ecr, target, first)
    }
    if (first && !WAITING.has(status)) {
      throw scanUnusable(target, status, first.imageScanStatus?.description)
    }

    const delay = Math.min(MAX_POLL_MS, FIRST_POLL_MS * 2 ** (attempt - 1))
    if (wait.now() - started + delay > wait.timeoutMs) {
      throw new ActionError(
        `The scan of ${target.imageUri} did not finish within ` +
          `${describeDuration(wait.timeoutMs)} (last status: ` +
          `${first ? status : 'not started'}). Raise scan-timeout, or ` +
          'leave fail-on-severity empty to push without waiting.'
      )
    }
    core.info(
      `Scan of ${target.digest}: ${first ? status : 'not started yet'}; ` +
        `asking again in ${describeDuration(delay)}`
    )
    await wait.sleep(delay)
  }
}

/**
 * One page of findings; undefined while the scan has not started (within
 * NOT_STARTED_MS of the first ask).
 */
async function describePage(
  ecr: EcrSource,
  target: ScanTarget,
  nextToken: string | undefined,
  elapsed: number,
  wait: ScanWait
): Promise<DescribeImageScanFindingsCommandOutput | undefined> {
  try {
    const { DescribeImageScanFindingsCommand } = await loadSdk()
    const client = await ecrClientOf(ecr)
    return await client.send(
      new DescribeImageScanFindingsCommand({
        repositoryName: target.repository,
        imageId: { imageDigest: target.digest },
        maxResults: PAGE_SIZE,
        ...(target.registryId ? { registryId: target.registryId } : {}),
        ...(nextToken ? { nextToken } : {})
      })
    )
  } catch (error) {
    const name = awsErrorName(error)
    const grace = Math.min(NOT_STARTED_MS, wait.timeoutMs)
    if (name === 'ScanNotFoundException' && elapsed < grace) return undefined
    if (name === 'ScanNotFoundException') throw scanNotEnabled(target)
    if (name === 'ImageNotFoundException') {
      throw new ActionError(
        `ECR knows no image ${target.imageUri}, so it has no scan of it ` +
          `(ECR said: ${errorMessage(error)}). The gate cannot pass: check ` +
          'that the push went to this registry and repository.'
      )
    }
    throw explainDenial(
      error,
      'ecr:DescribeImageScanFindings',
      target.repositoryArn
    )
  }
}

function scanNotEnabled(target: ScanTarget): ActionError {
  return new ActionError(
    `No scan of ${target.digest}: scanning is not enabled for this ` +
      "repository (scan-on-push false, or the registry's scanning " +
      'configuration has no rule for it). fail-on-severity cannot be ' +
      'checked without one: turn on scan-on-push for the repository (or ' +
      'an enhanced scanning rule that matches it), or leave ' +
      'fail-on-severity empty.'
  )
}

function scanUnusable(
  target: ScanTarget,
  status: string,
  description: string | undefined
): ActionError {
  const why = description ? `: ${description}` : ''
  const advice: Record<string, string> = {
    UNSUPPORTED_IMAGE: 'the scanner does not support this image or its OS',
    SCAN_ELIGIBILITY_EXPIRED:
      'enhanced scanning no longer covers this image (its scan duration ' +
      'ran out)',
    FINDINGS_UNAVAILABLE: 'the scanner has no findings for this image'
  }
  return new ActionError(
    `The scan of ${target.imageUri} ended ${status}${why}. ` +
      `${advice[status] ?? 'ECR could not scan it'}; fail-on-severity ` +
      'cannot be checked: fix the scan, or leave fail-on-severity empty.'
  )
}

async function readFindings(
  ecr: EcrSource,
  target: ScanTarget,
  first: DescribeImageScanFindingsCommandOutput
): Promise<ScanResult> {
  const pages = [first]
  let nextToken = first.nextToken
  while (nextToken && pages.length < MAX_PAGES) {
    const page = await describePage(ecr, target, nextToken, 0, {
      timeoutMs: 0,
      sleep: async () => undefined,
      now: () => 0
    })
    if (!page) break
    pages.push(page)
    nextToken = page.nextToken
  }
  if (nextToken) {
    core.warning(
      `The scan of ${target.digest} has more than ${MAX_PAGES * PAGE_SIZE} ` +
        'findings; the summary lists the worst of those read, and the ' +
        "gate uses the scan's own counts."
    )
  }
  return normaliseFindings(pages)
}

/** Basic and enhanced findings, in one shape. */
export function normaliseFindings(
  pages: DescribeImageScanFindingsCommandOutput[]
): ScanResult {
  const enhanced = pages.some(
    page => page.imageScanFindings?.enhancedFindings?.length
  )
  const findings = pages.flatMap(page => [
    ...(page.imageScanFindings?.findings ?? []).map(fromBasic),
    ...(page.imageScanFindings?.enhancedFindings ?? []).map(fromEnhanced)
  ])
  findings.sort(
    (a, b) =>
      rank(a.severity) - rank(b.severity) || (b.score ?? 0) - (a.score ?? 0)
  )

  // The scan's own counts cover every finding, also those on pages not
  // read; counting the list is the fallback when ECR gives none.
  const given = pages[0]?.imageScanFindings?.findingSeverityCounts
  const counts = emptyCounts()
  if (given && Object.keys(given).length) {
    for (const [severity, count] of Object.entries(given)) {
      counts[severityOf(severity)] += count
    }
  } else {
    for (const finding of findings) counts[finding.severity]++
  }
  return { scanner: enhanced ? 'enhanced' : 'basic', counts, findings }
}

function fromBasic(finding: ImageScanFinding): ScanFinding {
  return {
    id: finding.name ?? 'unnamed finding',
    severity: severityOf(finding.severity),
    ...(finding.uri ? { uri: finding.uri } : {})
  }
}

function fromEnhanced(finding: EnhancedImageScanFinding): ScanFinding {
  const details = finding.packageVulnerabilityDetails
  const packageName = details?.vulnerablePackages?.[0]?.name
  const uri = details?.sourceUrl
  return {
    id: details?.vulnerabilityId ?? finding.title ?? 'unnamed finding',
    severity: severityOf(finding.severity),
    ...(packageName ? { packageName } : {}),
    ...(finding.score !== undefined ? { score: finding.score } : {}),
    ...(uri ? { uri } : {})
  }
}

/** Inspector's UNTRIAGED, and anything new, rank with UNDEFINED. */
function severityOf(value: string | undefined): Severity {
  return SEVERITIES.find(severity => severity === value) ?? 'UNDEFINED'
}

function rank(severity: Severity): number {
  return SEVERITIES.indexOf(severity)
}

function emptyCounts(): Record<Severity, number> {
  return Object.fromEntries(SEVERITIES.map(s => [s, 0])) as Record<
    Severity,
    number
  >
}

/** The findings at or above the threshold, as a failure; else undefined. */
export function gateFailure(
  result: ScanResult,
  threshold: Severity,
  imageUri: string
): ActionError | undefined {
  const failing = SEVERITIES.filter(s => rank(s) <= rank(threshold))
  const count = failing.reduce((sum, s) => sum + result.counts[s], 0)
  if (count === 0) return undefined
  const named = result.findings
    .filter(finding => rank(finding.severity) <= rank(threshold))
    .slice(0, 10)
    .map(finding => finding.id)
  const more = count > named.length ? ', …' : ''
  return new ActionError(
    `${count} finding${count === 1 ? '' : 's'} at or above ${threshold} ` +
      `in ${imageUri}: ${named.join(', ')}${more}`
  )
}
