import {
  afterEach,
  beforeEach,
  describe,
  expect,
  jest,
  test
} from '@jest/globals'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'

import { REGISTRY } from '../fixtures/aws.js'
import { core, logged, resetCore } from '../fixtures/core.js'
import { DIGEST, IMAGE_ID } from '../fixtures/docker-output.js'
import { removeTempDirs, tempDir } from '../fixtures/tmp.js'

jest.unstable_mockModule('@actions/core', () => core)

const { renderSummary, writeSummary } = await import('../../src/summary.js')

const URI = `${REGISTRY}/shop/api`
const PUSHED = {
  repository: 'shop/api',
  repositoryUri: URI,
  repositoryCreated: true,
  region: 'us-east-1',
  imageId: IMAGE_ID,
  digest: DIGEST,
  pushedTags: ['v1.2.3', 'latest']
}

const savedSummary = process.env.GITHUB_STEP_SUMMARY

beforeEach(resetCore)

afterEach(() => {
  if (savedSummary === undefined) delete process.env.GITHUB_STEP_SUMMARY
  else process.env.GITHUB_STEP_SUMMARY = savedSummary
  removeTempDirs()
})

describe('renderSummary', () => {
  test('an index: its platforms, and no image ID', () => {
    const html = renderSummary({
      ...PUSHED,
      imageId: '',
      platforms: ['linux/amd64', 'linux/arm64']
    })

    expect(html).toContain(
      '<td>Platforms</td><td><code>linux/amd64</code> <code>linux/arm64</code></td>'
    )
    expect(html).not.toContain('Image ID')
  })

  test('success: tags, digest, and how to pull the exact image', () => {
    const html = renderSummary(PUSHED)

    expect(html).toContain('<h2>Pushed shop/api to ECR</h2>')
    expect(html).toContain(`<code>${URI}</code> (created by this run)`)
    expect(html).toContain('<code>v1.2.3</code> <code>latest</code>')
    expect(html).toContain(`<td>Digest</td><td><code>${DIGEST}</code></td>`)
    expect(html).toContain(`<td>Image ID</td><td><code>${IMAGE_ID}</code>`)
    expect(html).toContain(
      `<pre lang="text"><code>${URI}@${DIGEST}</code></pre>`
    )
    expect(html).toContain(`${URI}:v1.2.3\n${URI}:latest`)
    expect(html).toContain(
      'aws ecr get-login-password --region us-east-1 \\\n' +
        `  | docker login --username AWS --password-stdin ${REGISTRY}\n` +
        `docker pull ${URI}@${DIGEST}`
    )
    expect(html).not.toContain('failed')
  })

  test('an existing repository is not said to be created', () => {
    expect(
      renderSummary({ ...PUSHED, repositoryCreated: false })
    ).not.toContain('created by this run')
  })

  test('failure: the message in a code block, nothing to pull', () => {
    const failure =
      'docker push failed (exit code 1):\nunauthorized: authentication required'
    const html = renderSummary({
      repository: 'shop/api',
      repositoryUri: URI,
      region: 'us-east-1',
      failure
    })

    expect(html).toContain('<h2>ECR push failed: shop/api</h2>')
    expect(html).toContain(`<pre lang="text"><code>${failure}</code></pre>`)
    expect(html).toContain(`<code>${URI}</code>`)
    expect(html).not.toContain('docker pull')
  })

  test('failure before anything was known: heading and message only', () => {
    const html = renderSummary({ repository: 'Shop', failure: 'bad input' })

    expect(html).toContain('<h2>ECR push failed: Shop</h2>')
    expect(html).toContain('bad input')
    expect(html).not.toContain('<table>')
  })

  test('dry run: what would be pushed, and no pull line', () => {
    const html = renderSummary({
      repository: 'shop/api',
      repositoryUri: URI,
      region: 'us-east-1',
      imageId: IMAGE_ID,
      dryRunTags: ['pr-42']
    })

    expect(html).toContain('<h2>Built shop/api; nothing pushed</h2>')
    expect(html).toContain(
      '<td>Tags (not pushed: push is false)</td><td><code>pr-42</code></td>'
    )
    expect(html).not.toContain('docker pull')
    expect(html).not.toContain('Digest')
  })

  test('public: anyone can pull, no login line', () => {
    const uri = 'public.ecr.aws/a1b2c3d4/shop/api'
    const text = renderSummary({ ...PUSHED, repositoryUri: uri })

    expect(text).toContain('Anyone can pull it, without logging in:')
    expect(text).toContain(`docker pull ${uri}@${DIGEST}`)
    expect(text).not.toContain('get-login-password')
  })

  test('leaves the shared summary buffer empty', () => {
    core.summary.addRaw('left over')
    renderSummary(PUSHED)
    expect(core.summary.stringify()).toBe('')
    expect(core.summary.isEmptyBuffer()).toBe(true)
  })
})

describe('writeSummary', () => {
  test('appends the summary to GITHUB_STEP_SUMMARY once', async () => {
    const file = path.join(tempDir(), 'summary.md')
    writeFileSync(file, '# earlier step\n')
    process.env.GITHUB_STEP_SUMMARY = file

    await writeSummary(PUSHED)

    const text = readFileSync(file, 'utf8')
    expect(text.startsWith('# earlier step\n')).toBe(true)
    expect(text.split('<h2>').length).toBe(2)
    expect(text).toContain(`docker pull ${URI}@${DIGEST}`)
    expect(core.warning).not.toHaveBeenCalled()
  })

  test('does nothing without GITHUB_STEP_SUMMARY', async () => {
    delete process.env.GITHUB_STEP_SUMMARY
    await writeSummary(PUSHED)
    expect(core.warning).not.toHaveBeenCalled()
  })

  test('a summary that cannot be written is only a warning', async () => {
    const missing = path.join(tempDir(), 'no', 'such', 'summary.md')
    process.env.GITHUB_STEP_SUMMARY = missing

    await expect(writeSummary(PUSHED)).resolves.toBeUndefined()

    expect(existsSync(missing)).toBe(false)
    expect(logged(core.warning)).toContain('Could not write the job summary')
  })
})

describe('the scan', () => {
  const counts = {
    CRITICAL: 1,
    HIGH: 0,
    MEDIUM: 0,
    LOW: 0,
    INFORMATIONAL: 0,
    UNDEFINED: 12
  }
  const findings = Array.from({ length: 13 }, (_, index) => ({
    id: index ? `CVE-2024-${index}` : 'CVE-<script>',
    severity: index ? ('UNDEFINED' as const) : ('CRITICAL' as const),
    ...(index === 1 ? { uri: 'javascript:alert(1)' } : {}),
    ...(index === 2 ? { uri: 'https://nvd.nist.gov/"x' } : {}),
    ...(index === 0 ? { packageName: 'lib<c>', score: 9.8 } : {})
  }))

  test('counts per severity and the ten worst, escaped', () => {
    const text = renderSummary({
      ...PUSHED,
      scan: { scanner: 'enhanced', counts, findings, threshold: 'HIGH' }
    })

    expect(text).toContain('Vulnerability scan (enhanced; fails at HIGH')
    expect(text).toContain('<th>CRITICAL</th>')
    expect(text).toContain('<td>12</td>')
    expect(text).toContain('CVE-&lt;script&gt;')
    expect(text).not.toContain('<script>')
    expect(text).toContain('<code>lib&lt;c&gt;</code>')
    expect(text).toContain('CVE-2024-9')
    expect(text).not.toContain('CVE-2024-10')
    // Only a web address becomes a link, with its quotes escaped.
    expect(text).not.toContain('javascript:')
    expect(text).toContain('<a href="https://nvd.nist.gov/&quot;x">')
  })
})
