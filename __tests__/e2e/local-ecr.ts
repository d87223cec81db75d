// Brings up the local ECR (.ci/local-ecr.sh) for the e2e tests and puts its
// settings into process.env, where the harness passes them to the action.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const script = fileURLToPath(new URL('../../.ci/local-ecr.sh', import.meta.url))

// A cold start installs Debian packages, which can take minutes.
const startTimeoutMs = 15 * 60_000

function runScript(
  command: 'start' | 'env',
  timeoutMs: number
): Promise<{
  exitCode: number | string | null
  output: string
  stdout: string
}> {
  return new Promise((resolveRun, rejectRun) => {
    const child = spawn('bash', [script, command], {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
      killSignal: 'SIGKILL'
    })
    let output = ''
    let stdout = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
      output += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk
    })
    child.on('error', rejectRun)
    child.on('close', (code, signal) =>
      resolveRun({ exitCode: code ?? signal, output, stdout })
    )
  })
}

// Reads the `export NAME='value'` lines that `local-ecr.sh env` prints;
// values are single-quoted with ' written as '\''.
export function parseEnvExports(text: string): Record<string, string> {
  const values: Record<string, string> = {}
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    const match = /^export ([A-Za-z_][A-Za-z0-9_]*)='(.*)'$/.exec(line)
    if (!match?.[1] || match[2] === undefined) {
      throw new Error(`unexpected line from local-ecr.sh env: ${line}`)
    }
    values[match[1]] = match[2].replaceAll(`'\\''`, `'`)
  }
  return values
}

let started: Promise<void> | undefined

// Once per process; a failure throws with the script's output, so CI fails
// loudly instead of skipping the e2e tests. Give the caller's beforeAll or
// globalSetup a generous timeout for the first, cold start.
export function ensureLocalEcr(): Promise<void> {
  started ??= (async () => {
    const start = await runScript('start', startTimeoutMs)
    if (start.exitCode !== 0) {
      throw new Error(
        `bash .ci/local-ecr.sh start failed (exit ${start.exitCode}):\n` +
          start.output
      )
    }
    const env = await runScript('env', 30_000)
    if (env.exitCode !== 0) {
      throw new Error(
        `bash .ci/local-ecr.sh env failed (exit ${env.exitCode}):\n` +
          env.output
      )
    }
    Object.assign(process.env, parseEnvExports(env.stdout))
  })()
  return started
}

// Lets jest use this file directly as globalSetup.
export default ensureLocalEcr
