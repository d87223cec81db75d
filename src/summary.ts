import * as core from '@actions/core'

import { SEVERITIES, type Severity } from './inputs.js'
import { PUBLIC_REGISTRY, type CrossAccountPolicies } from './policy.js'
import type { ScanResult } from './scan.js'

/** What a run found out, as far as it got. */
export interface RunReport {
  repository: string
  repositoryUri?: string
  repositoryCreated?: boolean
  region?: string
  imageId?: string
  /** The platforms of a multi-platform build or a merged index. */
  platforms?: string[]
  digest?: string
  pushedTags?: string[]
  /** Set when push is off: what would have been pushed. */
  dryRunTags?: string[]
  /** The repository's ARN, once known. */
  repositoryArn?: string
  /** Set when the permission check found a denial: a policy for the run. */
  neededPolicy?: string
  /** The caller's ARN, when the permission check asked STS. */
  callerArn?: string
  /** A denial across accounts: the policies for both sides. */
  crossAccount?: CrossAccountPolicies
  /** The pushed image's scan, when fail-on-severity waited for it. */
  scan?: ScanResult & { threshold: Severity }
  failure?: string
}

// Enough to act on; the console lists the rest.
const WORST_FINDINGS = 10

function code(text: string): string {
  return `<code>${escapeHtml(text)}</code>`
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** The job summary: what was pushed where, and how to pull it. */
export function renderSummary(report: RunReport): string {
  const summary = core.summary.emptyBuffer()
  const heading = report.failure
    ? `ECR push failed: ${report.repository}`
    : report.pushedTags
      ? `Pushed ${report.repository} to ECR`
      : `Built ${report.repository}; nothing pushed`
  summary.addHeading(escapeHtml(heading), 2)

  if (report.failure) {
    summary.addCodeBlock(escapeHtml(report.failure), 'text')
  }
  if (report.neededPolicy) {
    summary.addRaw(
      'An identity policy that allows everything this run does, for the ' +
        'role or user the job runs as:',
      true
    )
    const policy = JSON.stringify(JSON.parse(report.neededPolicy), null, 2)
    summary.addCodeBlock(escapeHtml(policy), 'json')
  }
  if (report.crossAccount) addCrossAccount(summary, report.crossAccount)

  const rows: [string, string][] = []
  if (report.repositoryUri) {
    const created = report.repositoryCreated ? ' (created by this run)' : ''
    rows.push(['Repository', code(report.repositoryUri) + created])
  }
  if (report.pushedTags?.length) {
    rows.push(['Tags', report.pushedTags.map(code).join(' ')])
  }
  if (report.dryRunTags?.length) {
    rows.push([
      'Tags (not pushed: push is false)',
      report.dryRunTags.map(code).join(' ')
    ])
  }
  if (report.platforms?.length) {
    rows.push(['Platforms', report.platforms.map(code).join(' ')])
  }
  if (report.digest) rows.push(['Digest', code(report.digest)])
  if (report.imageId) rows.push(['Image ID', code(report.imageId)])
  if (rows.length) {
    summary.addTable([
      [
        { data: 'What', header: true },
        { data: 'Value', header: true }
      ],
      ...rows.map(([what, value]) => [what, value])
    ])
  }

  if (report.scan) addScan(summary, report.scan)

  if (report.repositoryUri && report.digest) {
    const reference = `${report.repositoryUri}@${report.digest}`
    summary.addRaw('Deploy this exact image by its digest:', true)
    summary.addCodeBlock(escapeHtml(reference), 'text')
    if (report.pushedTags?.length) {
      summary.addRaw('Image URIs by tag:', true)
      summary.addCodeBlock(
        escapeHtml(
          report.pushedTags
            .map(tag => `${report.repositoryUri}:${tag}`)
            .join('\n')
        ),
        'text'
      )
    }
    const registry = report.repositoryUri.split('/')[0] ?? ''
    if (registry === PUBLIC_REGISTRY) {
      summary.addRaw('Anyone can pull it, without logging in:', true)
      summary.addCodeBlock(escapeHtml(`docker pull ${reference}`), 'sh')
      return finish(summary)
    }
    summary.addRaw(
      'On an EC2 host whose instance role allows pulling from this ' +
        'repository:',
      true
    )
    summary.addCodeBlock(
      escapeHtml(
        `aws ecr get-login-password --region ${report.region ?? '<region>'} \\\n` +
          `  | docker login --username AWS --password-stdin ${registry}\n` +
          `docker pull ${reference}`
      ),
      'sh'
    )
  }
  return finish(summary)
}

type Summary = ReturnType<typeof core.summary.emptyBuffer>

/** The summary's text; the shared buffer is left empty for the next. */
function finish(summary: Summary): string {
  const text = summary.stringify()
  summary.emptyBuffer()
  return text
}

/** Both sides of a cross-account push, each where it belongs. */
function addCrossAccount(
  summary: Summary,
  policies: CrossAccountPolicies
): void {
  const pretty = (json: string) =>
    escapeHtml(JSON.stringify(JSON.parse(json), null, 2))
  summary.addRaw(
    `The registry belongs to account ${code(policies.registryAccount)}; ` +
      `this job runs as ${code(policies.callerArn)}. Both sides must ` +
      'allow the push. The identity policy of that role or user, in ' +
      `account ${code(policies.callerAccount)}:`,
    true
  )
  summary.addCodeBlock(pretty(policies.identityPolicy), 'json')
  summary.addRaw(
    `The repository policy, in account ${code(policies.registryAccount)}:`,
    true
  )
  summary.addCodeBlock(pretty(policies.repositoryPolicy), 'json')
}

/** Counts per severity, then the worst findings, worst first. */
function addScan(
  summary: Summary,
  scan: ScanResult & { threshold: Severity }
): void {
  summary.addHeading(
    escapeHtml(
      `Vulnerability scan (${scan.scanner}; fails at ${scan.threshold} ` +
        'and above)'
    ),
    3
  )
  summary.addTable([
    SEVERITIES.map(severity => ({ data: severity, header: true })),
    SEVERITIES.map(severity => String(scan.counts[severity]))
  ])
  const worst = scan.findings.slice(0, WORST_FINDINGS)
  if (!worst.length) return
  summary.addTable([
    [
      { data: 'Severity', header: true },
      { data: 'Finding', header: true },
      { data: 'Package', header: true },
      { data: 'Score', header: true }
    ],
    ...worst.map(finding => [
      finding.severity,
      // Only a web address becomes a link: a finding's text is not ours.
      finding.uri && /^https?:\/\//.test(finding.uri)
        ? `<a href="${escapeHtml(finding.uri).replace(/"/g, '&quot;')}">` +
          `${escapeHtml(finding.id)}</a>`
        : escapeHtml(finding.id),
      finding.packageName ? code(finding.packageName) : '',
      finding.score === undefined ? '' : String(finding.score)
    ])
  ])
}

/** Appends the summary to the job's; a summary that fails is a warning. */
export async function writeSummary(report: RunReport): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return
  try {
    await core.summary.addRaw(renderSummary(report), true).write()
  } catch (error) {
    core.warning(`Could not write the job summary: ${String(error)}`)
  }
}
