import * as core from '@actions/core'
import { readFileSync } from 'node:fs'

import { errorMessage } from './errors.js'

const PREFIX = 'org.opencontainers.image'

/**
 * The OCI provenance labels for a build, from the run's context: where
 * the source is, which commit, when that commit was made and, for a
 * version tag, which version. Every value is fixed by the commit, never by
 * the clock, so rebuilding the same commit can give the same image and a
 * rerun can be recognised as identical.
 */
export function provenanceLabels(
  env: NodeJS.ProcessEnv,
  version: string | undefined
): Map<string, string> {
  const labels = new Map<string, string>()
  if (env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY) {
    labels.set(
      `${PREFIX}.source`,
      `${env.GITHUB_SERVER_URL.replace(/\/+$/, '')}/${env.GITHUB_REPOSITORY}`
    )
  }
  if (env.GITHUB_SHA) labels.set(`${PREFIX}.revision`, env.GITHUB_SHA)

  const created = commitTime(env.GITHUB_EVENT_PATH, env.GITHUB_SHA)
  if (created) {
    labels.set(`${PREFIX}.created`, created)
  } else {
    core.debug(
      `${PREFIX}.created is left out: the event payload ` +
        `(${env.GITHUB_EVENT_NAME || 'no event name'}) holds no time for ` +
        "this run's commit, and the time of the build would make every " +
        'rebuild a new image'
    )
  }

  if (version) labels.set(`${PREFIX}.version`, version)
  return labels
}

/**
 * The `--label` list for docker build: the user's labels, then each
 * provenance label the user did not set. A label the user set wins.
 */
export function withProvenance(
  userLabels: string[],
  provenance: Map<string, string>
): string[] {
  const named = new Set(userLabels.map(label => label.split('=')[0]))
  const added: string[] = []
  for (const [name, value] of provenance) {
    if (named.has(name)) {
      core.debug(`Label ${name} is set in the labels input; kept as given`)
    } else {
      added.push(`${name}=${value}`)
    }
  }
  if (added.length) core.info(`Provenance labels: ${added.join(', ')}`)
  return [...userLabels, ...added]
}

/**
 * The commit time of `sha` from the event payload, in UTC, or undefined.
 * A push names its head commit; a merge queue, a workflow_run or a check
 * suite name theirs under their own key, and those count only when they
 * are the commit this run builds. Times such as repository.pushed_at or
 * release.created_at are not the commit's, and are never used.
 */
export function commitTime(
  eventPath: string | undefined,
  sha: string | undefined
): string | undefined {
  const payload = readPayload(eventPath)
  if (!payload) return undefined

  const candidates: [unknown, boolean][] = [
    [payload.head_commit, false],
    [record(payload.merge_group)?.head_commit, true],
    [record(payload.workflow_run)?.head_commit, true],
    [record(payload.check_suite)?.head_commit, true]
  ]
  for (const [candidate, mustMatch] of candidates) {
    const commit = record(candidate)
    if (!commit || typeof commit.timestamp !== 'string') continue
    if (mustMatch && (commit.id !== sha || sha === undefined)) continue
    const time = new Date(commit.timestamp)
    if (Number.isNaN(time.getTime())) continue
    return time.toISOString().replace(/\.000Z$/, 'Z')
  }
  return undefined
}

function readPayload(
  eventPath: string | undefined
): Record<string, unknown> | undefined {
  if (!eventPath) return undefined
  try {
    return record(JSON.parse(readFileSync(eventPath, 'utf8')))
  } catch (error) {
    core.debug(`Could not read the event payload: ${errorMessage(error)}`)
    return undefined
  }
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined
}
