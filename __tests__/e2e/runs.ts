// The action's runs in one e2e test file: the local ECR is up before the
// file's tests start, and every run's files are removed after they end.
import { afterAll, beforeAll, expect } from '@jest/globals'

import { runAction, type ActionRun, type RunActionOptions } from './harness.js'
import { ensureLocalEcr } from './local-ecr.js'
import { withoutMasks } from './tools.js'

/**
 * Called once at the top of a test file: registers the file's set-up and
 * clean-up, and returns runAction, whose runs that clean-up removes.
 */
export function actionRuns(): (
  options: RunActionOptions
) => Promise<ActionRun> {
  const runs: ActionRun[] = []
  // A cold start installs Debian packages, which can take minutes.
  beforeAll(ensureLocalEcr, 15 * 60_000)
  afterAll(async () => {
    await Promise.all(runs.map(run => run.cleanup()))
  })
  return async options => {
    const run = await runAction(options)
    runs.push(run)
    return run
  }
}

/**
 * Asserts a run's exit code. A mismatch fails with the run's whole log, which
 * is what tells a flaky run from a broken one.
 */
export function expectExit(run: ActionRun, code: number): void {
  if (run.exitCode !== code) {
    throw new Error(
      `the action exited with ${run.exitCode}, not ${code}; its log:\n` +
        withoutMasks(run.stdout)
    )
  }
  expect(run.exitCode).toBe(code)
}
