/** The tags a semantic-version git tag stands for. */
export interface VersionTags {
  /** The version as semver writes it, without a leading v: `1.2.3-rc.1`. */
  version: string
  /** Most specific first: `1.2.3`, `1.2`, `1`, `latest`. */
  tags: string[]
}

// semver.org 2.0.0: no leading zeros in numbers, dot-separated pre-release
// and build identifiers. Numeric pre-release identifiers have no leading
// zeros either; build identifiers may.
const NUMBER = '0|[1-9]\\d*'
const PRERELEASE_ID = `(?:${NUMBER}|\\d*[A-Za-z-][0-9A-Za-z-]*)`
const SEMVER = new RegExp(
  `^v?(${NUMBER})\\.(${NUMBER})\\.(${NUMBER})` +
    `(?:-(${PRERELEASE_ID}(?:\\.${PRERELEASE_ID})*))?` +
    '(?:\\+([0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*))?$'
)

/**
 * The tags for a run on a git tag that is a semantic version (`v1.2.3` or
 * `1.2.3`), or undefined for any other ref. A release gets its version,
 * its minor and major lines and `latest`; a pre-release only its own
 * version, so it never moves a line people deploy from. A 0.x release
 * gets no bare `0`: below 1.0 every minor may break, so `0` would be a
 * line nobody can safely follow.
 */
export function versionTagsOf(
  ref: string | undefined
): VersionTags | undefined {
  const name = /^refs\/tags\/(.+)$/.exec(ref ?? '')?.[1]
  const match = name === undefined ? null : SEMVER.exec(name)
  if (!match) return undefined

  const [, major = '', minor = '', patch = '', prerelease, build] = match
  const core = `${major}.${minor}.${patch}`
  const version =
    core + (prerelease ? `-${prerelease}` : '') + (build ? `+${build}` : '')
  // Docker tags cannot hold `+`; `_` keeps the build metadata readable.
  const fullTag = version.replace('+', '_')

  if (prerelease) return { version, tags: [fullTag] }
  const lines = major === '0' ? [`0.${minor}`] : [`${major}.${minor}`, major]
  return { version, tags: [fullTag, ...lines, 'latest'] }
}

/** What version-tags did for this ref, in one sentence for the log. */
export function describeVersionTags(ref: string | undefined): string {
  const found = versionTagsOf(ref)
  if (!found) {
    return `version-tags: ${ref || 'GITHUB_REF (not set)'} is not a semantic version tag; no tags added`
  }
  const noLatest = found.tags.includes('latest')
    ? ''
    : '; a pre-release never gets latest'
  return `version-tags: ${ref} adds ${found.tags.join(', ')}${noLatest}`
}
