// What a CI step people trust must also get right: a matrix of jobs racing
// on one new repository, and the registry password never reaching an
// argument list, a log, an output or a file that outlives the step.
import { describe, expect, it } from '@jest/globals'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { chmod, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'

import { actionRuns, expectExit } from './runs.js'
import { getManifest, listTags, localEcr } from './registry-client.js'
import { makeApp, run, unique, withoutMasks } from './tools.js'

const runAction = actionRuns()

describe('parallel jobs on one new repository', () => {
  const jobs = 6

  it(`${jobs} runs at once all succeed, and exactly one created it`, async () => {
    const repository = `e2e/matrix-${unique()}`
    const workspaces = await Promise.all(
      Array.from({ length: jobs }, () => makeApp())
    )

    const results = await Promise.all(
      workspaces.map((cwd, job) =>
        runAction({
          inputs: { repository, tags: `job-${job},job-${job}-extra` },
          cwd,
          timeoutMs: 240_000
        })
      )
    )

    for (const result of results) {
      expectExit(result, 0)
    }
    const created = results.filter(
      result => result.outputs['repository-created'] === 'true'
    )
    expect(created).toHaveLength(1)

    const expectedTags = results.flatMap((_, job) => [
      `job-${job}`,
      `job-${job}-extra`
    ])
    expect(await listTags(repository)).toEqual(expectedTags.sort())
    for (const [job, result] of results.entries()) {
      for (const tag of [`job-${job}`, `job-${job}-extra`]) {
        const manifest = await getManifest(repository, tag)
        expect(manifest?.digest).toBe(result.outputs.digest)
      }
    }
  }, 300_000)
})

/**
 * A docker on PATH that records every argument list it is given, then
 * runs the real docker: the password must never be among the arguments.
 */
async function recordingDocker(): Promise<{ bin: string; log: string }> {
  const realDocker = (await run('bash', ['-c', 'command -v docker'])).trim()
  const bin = await mkdtemp(join(tmpdir(), 'ecr-push-e2e-bin-'))
  const log = join(bin, 'arguments.log')
  await writeFile(
    join(bin, 'docker'),
    '#!/usr/bin/env bash\n' +
      `printf '%s\\n' "$*" >> '${log}'\n` +
      `exec '${realDocker}' "$@"\n`
  )
  await chmod(join(bin, 'docker'), 0o755)
  return { bin, log }
}

/** Every regular file under a directory, with its text. */
function filesUnder(dir: string): [string, string][] {
  const found: [string, string][] = []
  for (const name of readdirSync(dir)) {
    const file = join(dir, name)
    const stats = statSync(file, { throwIfNoEntry: false })
    if (stats?.isDirectory()) found.push(...filesUnder(file))
    else if (stats?.isFile()) found.push([file, readFileSync(file, 'utf8')])
  }
  return found
}

describe('the registry password', () => {
  it.each([
    ['a push that succeeds', 'FROM scratch\nCOPY hello.txt /\n', 0],
    ['a build that fails', 'FROM scratch\nCOPY absent.txt /\n', 1]
  ])(
    'goes nowhere but docker login stdin: %s',
    async (_case, dockerfile, exitCode) => {
      const { password } = localEcr()
      const docker = await recordingDocker()
      const cwd = await makeApp({ Dockerfile: dockerfile })
      const jobDockerConfig = await mkdtemp(join(tmpdir(), 'ecr-push-e2e-'))

      const result = await runAction({
        inputs: { repository: `e2e/secret-${unique()}`, tags: 'a,b' },
        cwd,
        env: {
          PATH: `${docker.bin}:${process.env.PATH ?? ''}`,
          DOCKER_CONFIG: jobDockerConfig
        }
      })
      expectExit(result, exitCode)

      const recorded = readFileSync(docker.log, 'utf8')
      expect(recorded).toContain('login --username AWS --password-stdin')
      expect(recorded).not.toContain(password)

      // Masked before first use: the mask command precedes docker login.
      const mask = result.stdout.indexOf(`::add-mask::${password}`)
      expect(mask).toBeGreaterThanOrEqual(0)
      expect(mask).toBeLessThan(result.stdout.indexOf('Logged in'))
      expect(withoutMasks(result.stdout)).not.toContain(password)
      expect(result.post?.stdout ?? '').not.toContain(password)

      expect(Object.values(result.outputs).join('\n')).not.toContain(password)
      expect(result.summary).not.toContain(password)
      // The token is the password too, once base64-decoded.
      const token = Buffer.from(`AWS:${password}`).toString('base64')
      const leftBehind = [
        // RUNNER_TEMP and the runner's file-command files beside it.
        ...filesUnder(dirname(result.runnerTemp)),
        ...filesUnder(jobDockerConfig)
      ]
        // The harness keeps the step's log there; the runner reads the mask
        // commands in it and never shows them.
        .map(([file, text]): [string, string] => [file, withoutMasks(text)])
        .filter(([, text]) => text.includes(password) || text.includes(token))
      expect(leftBehind.map(([file]) => file)).toEqual([])
    },
    120_000
  )
})
