// fail-on-severity through the bundle, against the local ECR. moto's ECR
// API never sees what docker pushed to the registry, so it answers
// DescribeImageScanFindings for the pushed digest with
// ImageNotFoundException: the gate must say so at once and fail, after
// the outputs are set, instead of waiting out scan-timeout. Without a
// threshold the scan is never asked for.
import { beforeAll, describe, expect, it } from '@jest/globals'

import type { ActionRun } from './harness.js'
import { actionRuns, expectExit } from './runs.js'
import { makeApp, unique } from './tools.js'

const runAction = actionRuns()

async function act(inputs: Record<string, string>): Promise<ActionRun> {
  return runAction({ inputs, cwd: await makeApp() })
}

describe('fail-on-severity against the local ECR', () => {
  const repository = `e2e/scan-${unique()}/api`
  let gated: ActionRun
  let ungated: ActionRun
  let gatedMs: number

  beforeAll(async () => {
    const started = Date.now()
    gated = await act({
      repository,
      tags: 'gated',
      'fail-on-severity': 'HIGH',
      'scan-timeout': '1'
    })
    gatedMs = Date.now() - started
    ungated = await act({ repository, tags: 'ungated' })
  }, 120_000)

  it('fails with a clear message, without waiting for scan-timeout', () => {
    expectExit(gated, 1)
    expect(gated.stdout).toContain('::group::Scan')
    expect(gated.stdout).toMatch(
      /::error::ECR knows no image \S+@sha256:[a-f0-9]{64}, so it has no scan of it/
    )
    expect(gated.stdout).toContain('The gate cannot pass')
    expect(gatedMs).toBeLessThan(30_000)
  })

  it('sets the push outputs before failing, and no scan-findings', () => {
    expect(gated.outputs.pushed).toBe('true')
    expect(gated.outputs.digest).toMatch(/^sha256:[a-f0-9]{64}$/)
    expect(gated.outputs['scan-findings']).toBeUndefined()
    expect(gated.summary).toContain('ECR push failed')
  })

  it('without a threshold, the step never asks for the scan', () => {
    expectExit(ungated, 0)
    expect(ungated.stdout).not.toContain('::group::Scan')
    expect(ungated.outputs['scan-findings']).toBeUndefined()
  })
})
