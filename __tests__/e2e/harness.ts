// Runs the bundled action the way the GitHub runner does: inputs as INPUT_*
// variables with action.yml's defaults, file commands in fresh files, a
// RUNNER_TEMP of its own, then the post step with STATE_* from the main one.
import { execFileSync, spawn } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { constants, tmpdir } from 'node:os'
import { delimiter, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface ActionRun {
  exitCode: number
  stdout: string // combined stdout+stderr of the main step, in order
  outputs: Record<string, string> // parsed from GITHUB_OUTPUT
  state: Record<string, string> // parsed from GITHUB_STATE
  env: Record<string, string> // parsed from GITHUB_ENV
  summary: string // GITHUB_STEP_SUMMARY content
  post?: { exitCode: number; stdout: string } // when post ran
  runnerTemp: string // the RUNNER_TEMP dir used (kept until cleanup())
  cleanup(): Promise<void>
}

export interface RunActionOptions {
  inputs: Record<string, string> // kebab-case names as in action.yml
  env?: Record<string, string> // extra env, wins over everything else
  cwd?: string // workspace; default a fresh temp dir
  runPost?: boolean // default true
  timeoutMs?: number // per step; default 120000
  signalAfterMs?: { signal: NodeJS.Signals; ms: number }
  actionDir?: string // where action.yml is; default the project root
}

export interface ActionDefinition {
  using: string
  main: string // absolute path
  post?: string // absolute path
  postIf?: string
  inputDefaults: Map<string, string>
}

export const projectRoot = resolve(
  fileURLToPath(new URL('../..', import.meta.url))
)

const defaultTimeoutMs = 120_000

// PyYAML only reads the file here; with no implicit resolvers every scalar
// stays text, as the runner sees it ('true' is not True, 1.10 is not 1.1).
const yamlToJson = `
import json, sys, yaml
class TextScalars(yaml.SafeLoader):
    pass
TextScalars.yaml_implicit_resolvers = {}
with open(sys.argv[1], encoding="utf-8") as f:
    print(json.dumps(yaml.load(f, Loader=TextScalars)))
`

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function readActionDefinition(actionDir: string): ActionDefinition {
  const file = join(actionDir, 'action.yml')
  let parsed: unknown
  try {
    const json = execFileSync('python3', ['-c', yamlToJson, file], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe']
    })
    parsed = JSON.parse(json)
  } catch (error) {
    throw new Error(`cannot read ${file} (python3 with PyYAML): ${error}`)
  }
  if (!isRecord(parsed) || !isRecord(parsed.runs)) {
    throw new Error(`${file} has no runs: section`)
  }
  const { using, main, post } = parsed.runs
  const postIf = parsed.runs['post-if']
  if (typeof using !== 'string' || !/^node\d+$/.test(using)) {
    throw new Error(`${file}: runs.using is ${String(using)}, not nodeNN`)
  }
  if (typeof main !== 'string' || main === '') {
    throw new Error(`${file}: runs.main is missing`)
  }
  const inputDefaults = new Map<string, string>()
  const inputs = parsed.inputs ?? {}
  if (!isRecord(inputs)) throw new Error(`${file}: inputs is not a mapping`)
  for (const [name, spec] of Object.entries(inputs)) {
    const fallback = isRecord(spec) ? spec.default : undefined
    inputDefaults.set(name, typeof fallback === 'string' ? fallback : '')
  }
  return {
    using,
    main: resolve(actionDir, main),
    ...(typeof post === 'string' && post !== ''
      ? { post: resolve(actionDir, post) }
      : {}),
    ...(typeof postIf === 'string' ? { postIf } : {}),
    inputDefaults
  }
}

// The variable name @actions/core's getInput looks up.
export function inputVariable(name: string): string {
  return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`
}

export function inputEnv(
  definition: ActionDefinition,
  given: Record<string, string>
): Record<string, string> {
  const unknown = Object.keys(given).filter(
    name => !definition.inputDefaults.has(name)
  )
  // The runner only warns about these; in a test they are always a typo.
  if (unknown.length > 0) {
    const known = [...definition.inputDefaults.keys()].join(', ')
    throw new Error(`unknown input(s) ${unknown.join(', ')}; known: ${known}`)
  }
  const env: Record<string, string> = {}
  for (const [name, fallback] of definition.inputDefaults) {
    const value = given[name] ?? fallback
    // The runner would evaluate the expression; a literal '${{ ... }}' would
    // silently test something else.
    if (given[name] === undefined && fallback.includes('${{')) {
      throw new Error(
        `input ${name} defaults to the expression ${fallback}: ` +
          'pass it in inputs'
      )
    }
    env[inputVariable(name)] = value
  }
  return env
}

// Parses GITHUB_OUTPUT / GITHUB_STATE / GITHUB_ENV: `name<<DELIMITER` blocks
// as @actions/core writes them, and the runner's one-line `name=value`.
export function parseFileCommands(text: string): Record<string, string> {
  const values: Record<string, string> = {}
  const lines = text.split(/\r?\n/)
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] ?? ''
    if (line === '') continue
    const heredoc = line.indexOf('<<')
    const equals = line.indexOf('=')
    if (heredoc > 0 && (equals < 0 || heredoc < equals)) {
      const name = line.slice(0, heredoc)
      const end = line.slice(heredoc + 2)
      const valueLines: string[] = []
      let closed = false
      while (++index < lines.length) {
        const next = lines[index] ?? ''
        if (next === end) {
          closed = true
          break
        }
        valueLines.push(next)
      }
      if (!closed) {
        throw new Error(`file command ${name}: delimiter ${end} never closes`)
      }
      values[name] = valueLines.join('\n')
    } else if (equals > 0) {
      values[line.slice(0, equals)] = line.slice(equals + 1)
    } else {
      throw new Error(`malformed file command line: ${JSON.stringify(line)}`)
    }
  }
  return values
}

// Variables of an enclosing runner, of the test runner or of a previous
// step must not leak into the step under test.
function inheritedEnv(): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined) continue
    if (/^(INPUT_|STATE_|GITHUB_|RUNNER_|ACTIONS_)/.test(name)) continue
    // jest's --experimental-vm-modules is not how the runner starts node.
    if (name === 'NODE_OPTIONS') continue
    env[name] = value
  }
  return env
}

function refDetails(ref: string): Record<string, string> {
  const match = /^refs\/(heads|tags|pull)\/(.+)$/.exec(ref)
  if (!match) return {}
  const type = match[1] === 'tags' ? 'tag' : 'branch'
  return { GITHUB_REF_NAME: match[2] ?? '', GITHUB_REF_TYPE: type }
}

function runnerEnv(
  root: string,
  workspace: string,
  runnerTemp: string,
  extra: Record<string, string>
): Record<string, string> {
  const ref = extra.GITHUB_REF ?? 'refs/heads/main'
  return {
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKSPACE: workspace,
    GITHUB_REPOSITORY: 'octo-org/ecr-push-e2e',
    GITHUB_REPOSITORY_OWNER: 'octo-org',
    GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
    GITHUB_REF: ref,
    ...refDetails(ref),
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_API_URL: 'https://api.github.com',
    GITHUB_GRAPHQL_URL: 'https://api.github.com/graphql',
    GITHUB_RUN_ID: '1000001',
    GITHUB_RUN_NUMBER: '1',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_WORKFLOW: 'e2e',
    GITHUB_JOB: 'push',
    GITHUB_ACTION: 'ecr-push',
    GITHUB_ACTOR: 'e2e-bot',
    GITHUB_EVENT_NAME: 'push',
    GITHUB_EVENT_PATH: join(root, 'event.json'),
    RUNNER_TEMP: runnerTemp,
    RUNNER_OS: 'Linux',
    RUNNER_ARCH: 'X64',
    RUNNER_NAME: 'e2e-harness',
    RUNNER_TOOL_CACHE: join(root, 'tool-cache')
  }
}

interface FileCommands {
  GITHUB_OUTPUT: string
  GITHUB_STATE: string
  GITHUB_ENV: string
  GITHUB_PATH: string
  GITHUB_STEP_SUMMARY: string
}

// Each step gets fresh, empty files, as with the runner.
async function makeFileCommands(dir: string): Promise<FileCommands> {
  await mkdir(dir, { recursive: true })
  const files: FileCommands = {
    GITHUB_OUTPUT: join(dir, 'output'),
    GITHUB_STATE: join(dir, 'state'),
    GITHUB_ENV: join(dir, 'env'),
    GITHUB_PATH: join(dir, 'path'),
    GITHUB_STEP_SUMMARY: join(dir, 'step-summary.md')
  }
  for (const file of Object.values(files)) await writeFile(file, '')
  return files
}

interface StepResult {
  exitCode: number
  stdout: string
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null) {
  if (code !== null) return code
  // A shell's convention, so a signal death is still a non-zero exit.
  const number = signal ? constants.signals[signal] : undefined
  return 128 + (number ?? 0)
}

// One file as both stdout and stderr keeps the exact order of the writes,
// which two pipes would not.
async function runStep(
  script: string,
  env: Record<string, string>,
  cwd: string,
  logFile: string,
  timeoutMs: number,
  signalAfter?: { signal: NodeJS.Signals; ms: number }
): Promise<StepResult> {
  const log = openSync(logFile, 'w')
  let timedOut = false
  const exit = await new Promise<{
    code: number | null
    signal: NodeJS.Signals | null
  }>((resolveExit, rejectExit) => {
    const child = spawn(process.execPath, [script], {
      cwd,
      env,
      stdio: ['ignore', log, log],
      // Its own process group, so a timeout also ends docker children.
      detached: true
    })
    const timers: NodeJS.Timeout[] = []
    if (signalAfter) {
      // Like the runner on cancel: the node process only, not its children.
      timers.push(
        setTimeout(() => child.kill(signalAfter.signal), signalAfter.ms)
      )
    }
    timers.push(
      setTimeout(() => {
        timedOut = true
        if (child.pid !== undefined) {
          try {
            process.kill(-child.pid, 'SIGKILL')
          } catch {
            child.kill('SIGKILL')
          }
        }
      }, timeoutMs)
    )
    child.on('error', error => {
      timers.forEach(clearTimeout)
      rejectExit(error)
    })
    child.on('exit', (code, signal) => {
      timers.forEach(clearTimeout)
      resolveExit({ code, signal })
    })
  }).finally(() => closeSync(log))
  const stdout = await readFile(logFile, 'utf8')
  if (timedOut) {
    throw new Error(
      `${script} did not finish within ${timeoutMs} ms; its output:\n${stdout}`
    )
  }
  return { exitCode: exitCodeOf(exit.code, exit.signal), stdout }
}

function postShouldRun(postIf: string | undefined, mainExit: number): boolean {
  const condition = (postIf ?? 'always()').replace(/\s/g, '')
  if (condition === 'always()') return true
  if (condition === 'success()') return mainExit === 0
  if (condition === 'failure()') return mainExit !== 0
  throw new Error(`post-if: ${postIf} is not supported by the harness`)
}

// What a later step sees: GITHUB_ENV exports over the job's variables, the
// step's own env over both, and GITHUB_PATH additions in front of PATH (the
// last one added comes first).
function nextStepEnv(
  jobEnv: Record<string, string>,
  exported: Record<string, string>,
  stepEnv: Record<string, string>,
  pathText: string
): Record<string, string> {
  const added = pathText
    .split(/\r?\n/)
    .filter(line => line !== '')
    .reverse()
  const next = { ...jobEnv, ...exported, ...stepEnv }
  if (added.length > 0) {
    next.PATH = [...added, next.PATH ?? ''].join(delimiter)
  }
  return next
}

export async function runAction(opts: RunActionOptions): Promise<ActionRun> {
  const actionDir = opts.actionDir ?? projectRoot
  const definition = readActionDefinition(actionDir)
  const timeoutMs = opts.timeoutMs ?? defaultTimeoutMs
  const root = await mkdtemp(join(tmpdir(), 'ecr-push-e2e-'))
  const cleanup = () => rm(root, { recursive: true, force: true })
  try {
    const runnerTemp = join(root, 'runner-temp')
    const workspace = opts.cwd ?? join(root, 'workspace')
    await mkdir(runnerTemp)
    await mkdir(workspace, { recursive: true })
    await mkdir(join(root, 'tool-cache'))
    await writeFile(join(root, 'event.json'), '{}\n')
    const extra = opts.env ?? {}

    const mainFiles = await makeFileCommands(join(root, 'main'))
    const baseEnv = {
      ...inheritedEnv(),
      ...runnerEnv(root, workspace, runnerTemp, extra),
      ...inputEnv(definition, opts.inputs)
    }
    const mainEnv = { ...baseEnv, ...mainFiles, ...extra }
    const main = await runStep(
      definition.main,
      mainEnv,
      workspace,
      join(root, 'main', 'log'),
      timeoutMs,
      opts.signalAfterMs
    )
    const read = (file: string) => readFile(file, 'utf8')
    const outputs = parseFileCommands(await read(mainFiles.GITHUB_OUTPUT))
    const state = parseFileCommands(await read(mainFiles.GITHUB_STATE))
    const env = parseFileCommands(await read(mainFiles.GITHUB_ENV))
    const summary = await read(mainFiles.GITHUB_STEP_SUMMARY)

    let post: StepResult | undefined
    if (
      opts.runPost !== false &&
      definition.post !== undefined &&
      postShouldRun(definition.postIf, main.exitCode)
    ) {
      const postFiles = await makeFileCommands(join(root, 'post'))
      const stateEnv: Record<string, string> = {}
      for (const [name, value] of Object.entries(state)) {
        stateEnv[`STATE_${name}`] = value
      }
      const postEnv = {
        ...nextStepEnv(baseEnv, env, extra, await read(mainFiles.GITHUB_PATH)),
        ...stateEnv,
        ...postFiles
      }
      post = await runStep(
        definition.post,
        postEnv,
        workspace,
        join(root, 'post', 'log'),
        timeoutMs
      )
    }

    return {
      exitCode: main.exitCode,
      stdout: main.stdout,
      outputs,
      state,
      env,
      summary,
      ...(post ? { post } : {}),
      runnerTemp,
      cleanup
    }
  } catch (error) {
    await cleanup()
    throw error
  }
}
