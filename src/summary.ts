import * as core from '@actions/core'

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
  failure?: string
}

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
  const text = summary.stringify()
  summary.emptyBuffer()
  return text
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
