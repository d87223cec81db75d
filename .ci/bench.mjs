#!/usr/bin/env node
// `npm run bench`: the bundled action against the seed document's manual
// steps, side by side in one run on the local ECR (see local-ecr.sh).
//
//   node .ci/bench.mjs [--pairs N (9)] [--profile-runs N] [--load-runs N]
//                      [--output FILE] [--ref GIT-REF] [--keep] [--markdown]
//
// --ref measures dist/ and action.yml as committed at that ref instead of
// the working tree, to compare a change with what it changes.
// --markdown also prints the figures as the README's Performance section
// shows them.
//
// Two cases, each timed in alternating pairs (action then manual, then
// manual then action, ...), after one untimed warm-up pair:
//   first   a first push of three tags to a new repository;
//   rerun   the same image again, already built and pushed.
// The figures that matter are ratios within one run: absolute times on a
// shared machine are noise. Missed targets are printed, never fatal: speed
// is measured here, not asserted. Besides the pairs it measures the
// action's own overhead (module load, start to first AWS call, round trips
// before the build) and, in separate profile runs with docker and aws
// wrapped to time each call, where each contestant's time goes.
//
// Fairness, decided once and the same for every pair:
//   - every run gets a new docker config; every first push a new repository
//     and a build context with new file content, so no one inherits a
//     login, a build cache hit or a cross-repository blob mount from the
//     other; each rerun goes back to the repository its contestant set up;
//   - the manual steps include `aws ecr create-repository` on a first push
//     (the seed's step 1, done in the console there), because the action
//     creates the repository in its own time too;
//   - both talk to moto through the same recording proxy, and both write
//     their output to a pipe this script reads;
//   - the ratio is of the action's main step; its post step (which the
//     runner also runs, at the end of the job) is timed and shown apart.
//
// Node built-ins only. The local ECR needs root on first start.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import {
  closeSync,
  cpSync,
  existsSync,
  fstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync
} from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

const TARGETS = {
  firstRatio: 0.3,
  rerunRatio: 0.25,
  roundTripsBeforeBuild: 1,
  distBytes: 1.5 * 1000 * 1000
}

// The seed pushes three tags; every run uses the same three names.
const TAGS = ['latest', '1.0.0', 'main']

const DOCKERFILE = 'FROM scratch\nCOPY message.txt /message.txt\n'

// Strings that only a given AWS client's own code contains (service and
// shape names, never the action names our messages quote), to tell which
// file of dist/ carries each client.
const CLIENT_MARKERS = {
  // The SDK's client: the entry names the API too, for its own calls.
  'ECR API': /ECRServiceException/,
  'STS GetCallerIdentity': /GetCallerIdentity(?:Request|Response)/,
  IAM: /AWSIdentityManagementV20100508/,
  'ECR Public': /SpencerFrontendService/
}
// Only some runs need these, so none of the bundles below should carry
// them: only chunks of their own.
const OPTIONAL_CLIENTS = ['IAM', 'ECR Public']
// The second bundle, which the entry loads after starting the build.
const MAIN_BUNDLE = path.join('main', 'index.js')
// The AWS SDK's bundle, which the main bundle loads for the first call
// the entry did not make itself (a rerun makes none).
const SDK_BUNDLE = path.join('sdk', 'index.js')

// When time is spent in several things at once, it counts for the first
// of these that is running (the pipe of the manual login runs the AWS CLI
// and docker login together; tag lookups run during the build).
const PRIORITY = [
  'docker build',
  'docker push',
  'aws ',
  'docker login',
  'docker tag',
  'docker ',
  'registry API',
  'AWS API'
]

const options = parseOptions()

async function main() {
  const work = mkdtempSync(path.join(os.tmpdir(), 'ecr-push-bench-'))
  const ctx = {
    work,
    runId: `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`,
    repositories: [],
    references: new Set(),
    recorder: undefined
  }
  try {
    await prepare(ctx)
    const results = await measure(ctx)
    report(results)
    writeResults(results)
    if (options.markdown) console.log(`\n${markdown(results)}`)
  } finally {
    await cleanUp(ctx)
  }
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      pairs: { type: 'string', default: process.env.BENCH_PAIRS || '9' },
      'profile-runs': { type: 'string', default: '3' },
      'load-runs': { type: 'string', default: '15' },
      output: {
        type: 'string',
        default: path.join(root, '.ci', 'bench-results.json')
      },
      ref: { type: 'string' },
      keep: { type: 'boolean', default: false },
      markdown: { type: 'boolean', default: false }
    }
  })
  const count = (name, minimum) => {
    const value = Number(values[name])
    if (!Number.isInteger(value) || value < minimum) {
      throw new Error(`--${name} must be a whole number >= ${minimum}`)
    }
    return value
  }
  return {
    pairs: count('pairs', 5),
    profileRuns: count('profile-runs', 1),
    loadRuns: count('load-runs', 3),
    output: path.resolve(values.output),
    ref: values.ref,
    keep: values.keep,
    markdown: values.markdown
  }
}

// --- set-up ------------------------------------------------------------------

async function prepare(ctx) {
  ctx.loadAverageAtStart = os.loadavg().map(value => round(value, 2))
  say('starting the local ECR (bash .ci/local-ecr.sh start)')
  execFileSync('bash', [path.join(root, '.ci/local-ecr.sh'), 'start'], {
    stdio: ['ignore', 'inherit', 'inherit']
  })
  ctx.ecr = localEcrEnv()
  ctx.tools = {
    docker: which('docker'),
    aws: which('aws'),
    node: process.execPath
  }

  ctx.actionDir = snapshotAction(ctx)
  ctx.entry = path.join(ctx.actionDir, 'dist', 'index.js')
  ctx.inputDefaults = readInputDefaults(path.join(ctx.actionDir, 'action.yml'))

  ctx.recorder = await startRecorder(ctx.ecr.AWS_ENDPOINT_URL)
  ctx.registryLog = new RegistryLog(
    path.join(ctx.ecr.LOCAL_ECR_DIR, 'logs', 'registry.log')
  )
  ctx.wrapDir = writeCallWrappers(ctx)
  ctx.traceHook = writeTraceHook(ctx.work)
  writeFileSync(path.join(ctx.work, 'manual.sh'), MANUAL_SCRIPT)
}

// dist/ may be rebuilt, and a ref may move, while this runs: every run
// uses one copy, and the figures name the commit it came from.
function snapshotAction(ctx) {
  const dir = path.join(ctx.work, 'action')
  mkdirSync(dir)
  ctx.commit = git(['rev-parse', `${options.ref ?? 'HEAD'}^{commit}`])
  if (options.ref) {
    if (!ctx.commit) throw new Error(`--ref ${options.ref}: no such commit`)
    const archive = execFileSync(
      'git',
      ['archive', ctx.commit, 'dist', 'action.yml'],
      { cwd: root, maxBuffer: 256 * 2 ** 20 }
    )
    execFileSync('tar', ['-x', '-C', dir], { input: archive })
  } else {
    for (const entry of ['action.yml', 'dist']) {
      cpSync(path.join(root, entry), path.join(dir, entry), {
        recursive: true
      })
    }
    warnIfDistLooksStale()
  }
  return dir
}

/** git's answer, or '' outside a repository. */
function git(args) {
  const result = spawnSync('git', args, { cwd: root, encoding: 'utf8' })
  return result.status === 0 ? result.stdout.trim() : ''
}

function localEcrEnv() {
  const text = execFileSync(
    'bash',
    [path.join(root, '.ci/local-ecr.sh'), 'env'],
    { encoding: 'utf8' }
  )
  const env = {}
  for (const line of text.split('\n')) {
    const match = /^export (\w+)='(.*)'$/.exec(line)
    if (match) env[match[1]] = match[2].replaceAll("'\\''", "'")
  }
  for (const name of ['AWS_ENDPOINT_URL', 'LOCAL_ECR_REGISTRY']) {
    if (!env[name]) throw new Error(`local-ecr.sh env printed no ${name}`)
  }
  return env
}

function which(tool) {
  const found = spawnSync('bash', ['-c', `command -v ${tool}`], {
    encoding: 'utf8'
  }).stdout.trim()
  if (!found) throw new Error(`${tool} is not on PATH`)
  return found
}

function warnIfDistLooksStale() {
  const newest = dir =>
    Math.max(
      ...readdirSync(dir, { recursive: true }).map(
        file => statSync(path.join(dir, file)).mtimeMs
      )
    )
  if (newest(path.join(root, 'src')) > newest(path.join(root, 'dist'))) {
    say('note: src/ is newer than dist/; this measures dist/ as it is')
  }
}

// The runner passes every input, with action.yml's default when unset.
function readInputDefaults(file) {
  const python = spawnSync(
    'python3',
    [
      '-c',
      'import json,sys,yaml\n' +
        'inputs = yaml.safe_load(open(sys.argv[1]))["inputs"]\n' +
        'print(json.dumps({k: str(v.get("default", "")) if v.get("default")' +
        ' is not None else "" for k, v in inputs.items()}))',
      file
    ],
    { encoding: 'utf8' }
  )
  if (python.status === 0) return JSON.parse(python.stdout)

  // Without PyYAML: the simple shape action.yml has today.
  const defaults = {}
  let name
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const input = /^ {2}([\w-]+):\s*$/.exec(line)
    if (input) {
      name = input[1]
      defaults[name] = ''
    }
    const value = /^ {4}default:\s*(.*)$/.exec(line)
    if (name && value) defaults[name] = value[1].replace(/^'(.*)'$/, '$1')
    if (/^outputs:/.test(line)) break
  }
  return defaults
}

// The seed document's commands, as a person pastes them into a job.
const MANUAL_SCRIPT = `#!/usr/bin/env bash
set -euo pipefail
if [ "$CREATE_REPOSITORY" = true ]; then
  aws ecr create-repository --repository-name "$REPOSITORY" --region "$REGION"
fi
aws ecr get-login-password --region "$REGION" |
  docker login --username AWS --password-stdin "$REGISTRY"
docker build -t my-app .
for tag in $TAGS; do
  docker tag my-app:latest "$REGISTRY/$REPOSITORY:$tag"
  docker push "$REGISTRY/$REPOSITORY:$tag"
done
`

// Profile runs put these first on PATH: each call of docker or aws is
// logged with its start and end. Timed runs never use them.
function writeCallWrappers(ctx) {
  const dir = path.join(ctx.work, 'wrappers')
  mkdirSync(dir)
  for (const [tool, real] of Object.entries({
    docker: ctx.tools.docker,
    aws: ctx.tools.aws
  })) {
    const file = path.join(dir, tool)
    writeFileSync(
      file,
      `#!/usr/bin/env bash
start=$EPOCHREALTIME
${JSON.stringify(real)} "$@"
status=$?
printf '%s\\t%s\\t%s\\t%s\\n' "$start" "$EPOCHREALTIME" ${tool} "$*" \\
  >>"$BENCH_CALL_LOG"
exit $status
`,
      { mode: 0o755 }
    )
  }
  return dir
}

// Logs every file node loads, CommonJS and ESM, to find which parts of
// dist/ a run really loads.
function writeTraceHook(work) {
  const file = path.join(work, 'trace-loads.cjs')
  const esmHook = `
import { appendFileSync } from 'node:fs'
export async function load(url, context, nextLoad) {
  if (url.startsWith('file:')) {
    appendFileSync(process.env.BENCH_TRACE_LOG, url + '\\n')
  }
  return nextLoad(url, context)
}`
  writeFileSync(
    file,
    `const fs = require('node:fs')
const Module = require('node:module')
for (const ext of ['.js', '.cjs']) {
  const load = Module._extensions[ext]
  if (!load) continue
  Module._extensions[ext] = function (module, filename) {
    fs.appendFileSync(process.env.BENCH_TRACE_LOG, filename + '\\n')
    return load.call(this, module, filename)
  }
}
Module.register(${JSON.stringify(
      'data:text/javascript,' + encodeURIComponent(esmHook)
    )})
`
  )
  return file
}

// --- the recording proxy in front of moto ------------------------------------

// Every AWS API call of both contestants passes here, so each call's
// start and end are known on this process's clock.
function startRecorder(upstreamUrl) {
  const upstream = new URL(upstreamUrl)
  const agent = new http.Agent({ keepAlive: true })
  const requests = []
  const server = http.createServer((request, response) => {
    const entry = {
      start: now(),
      end: Number.NaN,
      operation: '',
      userAgent: String(request.headers['user-agent'] ?? ''),
      status: 0
    }
    requests.push(entry)
    const chunks = []
    request.on('data', chunk => chunks.push(chunk))
    request.on('end', () => {
      const body = Buffer.concat(chunks)
      entry.operation = operationOf(request, body)
      const forwarded = http.request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: request.method,
          path: request.url,
          headers: request.headers,
          agent
        },
        answer => {
          entry.status = answer.statusCode ?? 0
          response.writeHead(entry.status, answer.headers)
          answer.pipe(response)
        }
      )
      forwarded.on('error', error => {
        response.writeHead(502)
        response.end(String(error))
      })
      forwarded.end(body)
    })
    response.on('close', () => {
      entry.end = now()
    })
  })
  return new Promise(resolve => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      resolve({
        url: `http://127.0.0.1:${port}`,
        requests,
        close: () => {
          server.closeAllConnections?.()
          server.close()
          agent.destroy()
        }
      })
    })
  })
}

function operationOf(request, body) {
  const target = request.headers['x-amz-target']
  if (target) return String(target).split('.').pop()
  const action = /(?:^|&)Action=(\w+)/.exec(body.toString('utf8'))
  return action ? action[1] : `${request.method} ${request.url}`
}

// --- the registry's own log --------------------------------------------------

// docker-registry logs each request with its time, duration and user
// agent: enough to count the registry round trips of each run.
class RegistryLog {
  constructor(file) {
    this.file = file
    this.offset = existsSync(file) ? statSync(file).size : 0
  }

  /** Requests logged since the last call, for one repository. */
  takeRequests(repository, from, to) {
    if (!existsSync(this.file)) return []
    const fd = openSync(this.file, 'r')
    let text
    try {
      const size = fstatSync(fd).size
      if (size < this.offset) this.offset = 0
      const buffer = Buffer.alloc(size - this.offset)
      readSync(fd, buffer, 0, buffer.length, this.offset)
      text = buffer.toString('utf8')
      const complete = text.lastIndexOf('\n') + 1
      this.offset += Buffer.byteLength(text.slice(0, complete))
      text = text.slice(0, complete)
    } finally {
      closeSync(fd)
    }
    const requests = []
    for (const line of text.split('\n')) {
      const request = parseRegistryLine(line)
      if (!request || request.end < from || request.end > to) continue
      // /v2/ is docker login's check; it names no repository.
      if (request.repository !== repository && request.uri !== '/v2/') {
        continue
      }
      requests.push(request)
    }
    return requests
  }
}

function parseRegistryLine(line) {
  if (!line.startsWith('time=')) return undefined
  const fields = {}
  for (const match of line.matchAll(/([\w.]+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const raw = match[2]
    fields[match[1]] = raw.startsWith('"') ? raw.slice(1, -1) : raw
  }
  const completed = fields.msg?.startsWith('response completed')
  // A 401 challenge is logged as a warning and never "completed".
  const challenged =
    fields.level === 'warning' &&
    fields.msg?.startsWith('error authorizing context')
  if (!completed && !challenged) return undefined
  const end = Date.parse(fields.time) + fractionMs(fields.time)
  const duration = completed
    ? goDurationMs(fields['http.response.duration'])
    : 0
  const userAgent = fields['http.request.useragent'] ?? ''
  return {
    start: end - duration,
    end,
    method: fields['http.request.method'],
    uri: fields['http.request.uri'],
    status: completed ? Number(fields['http.response.status']) : 401,
    // Only some lines carry vars.name; every URI names the repository.
    repository:
      /^\/v2\/(.+?)\/(?:manifests|blobs|tags)\//.exec(
        fields['http.request.uri'] ?? ''
      )?.[1] ?? fields['vars.name'],
    client: userAgent.startsWith('docker/')
      ? 'docker'
      : userAgent === 'node'
        ? 'action'
        : 'other'
  }
}

// Date.parse keeps milliseconds only; the log has nanoseconds.
function fractionMs(time) {
  const fraction = /\.(\d+)Z$/.exec(time ?? '')
  if (!fraction) return 0
  return (Number(`0.${fraction[1]}`) * 1000) % 1
}

function goDurationMs(text) {
  const units = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60000 }
  let total = 0
  for (const [, value, unit] of String(text).matchAll(
    /([\d.]+)(ns|us|µs|ms|s|m)/g
  )) {
    total += Number(value) * units[unit]
  }
  return total
}

// --- running the contestants -------------------------------------------------

function now() {
  return performance.timeOrigin + performance.now()
}

function runProcess(command, args, { cwd, env }) {
  return new Promise((resolve, reject) => {
    const lines = []
    const partial = { stdout: '', stderr: '' }
    const start = now()
    const child = spawn(command, args, {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe']
    })
    for (const stream of ['stdout', 'stderr']) {
      child[stream].on('data', chunk => {
        const time = now()
        const parts = (partial[stream] + chunk.toString('utf8')).split('\n')
        partial[stream] = parts.pop() ?? ''
        for (const text of parts) lines.push({ time, text })
      })
    }
    child.on('error', reject)
    child.on('close', exitCode => {
      const end = now()
      for (const text of Object.values(partial)) {
        if (text) lines.push({ time: end, text })
      }
      resolve({ start, end, ms: end - start, exitCode, lines })
    })
  })
}

/** The environment both contestants share: tools, AWS, a docker config. */
function contestantEnv(ctx, dockerConfig, wrap) {
  const env = {
    PATH: wrap ? `${ctx.wrapDir}:${process.env.PATH}` : process.env.PATH,
    HOME: process.env.HOME ?? os.homedir(),
    LANG: 'C.UTF-8',
    DOCKER_CONFIG: dockerConfig,
    AWS_ENDPOINT_URL: ctx.recorder.url,
    AWS_ACCESS_KEY_ID: ctx.ecr.AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: ctx.ecr.AWS_SECRET_ACCESS_KEY,
    AWS_REGION: ctx.ecr.AWS_REGION,
    AWS_DEFAULT_REGION: ctx.ecr.AWS_DEFAULT_REGION,
    AWS_PAGER: '',
    NODE_EXTRA_CA_CERTS: ctx.ecr.NODE_EXTRA_CA_CERTS
  }
  if (process.env.DOCKER_HOST) env.DOCKER_HOST = process.env.DOCKER_HOST
  if (process.env.TMPDIR) env.TMPDIR = process.env.TMPDIR
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete env[name]
  }
  return env
}

/**
 * A run's own directory and docker config; a new repository and build
 * context unless the run reuses an existing image's (a rerun).
 */
function newJob(ctx, caseName, label, contestant, existing) {
  const dir = path.join(ctx.work, 'runs', `${caseName}-${label}-${contestant}`)
  mkdirSync(path.join(dir, 'runner'), { recursive: true })
  mkdirSync(path.join(dir, 'docker-config'))
  return {
    contestant,
    dir,
    repository:
      existing?.repository ??
      `bench/${ctx.runId}/${caseName}-${label}-${contestant}`,
    context: existing?.context ?? newContext(path.join(dir, 'app')),
    create: existing === undefined
  }
}

// New content for every first push: nobody gets a cached layer or a blob
// the registry already has from another run.
function newContext(dir) {
  mkdirSync(dir, { recursive: true })
  writeFileSync(path.join(dir, 'Dockerfile'), DOCKERFILE)
  writeFileSync(
    path.join(dir, 'message.txt'),
    `benchmark image ${randomBytes(16).toString('hex')}\n`
  )
  return dir
}

async function runContestant(ctx, job, extras = {}) {
  const run =
    job.contestant === 'action'
      ? await runAction(ctx, job, extras)
      : await runManual(ctx, job, extras)
  if (run.exitCode !== 0) {
    const tail = run.lines
      .slice(-30)
      .map(line => `    ${line.text}`)
      .join('\n')
    throw new Error(
      `${job.contestant} failed on ${job.repository} ` +
        `(exit ${run.exitCode}):\n${tail}`
    )
  }
  return run
}

async function runAction(ctx, job, { wrap = false, trace = false } = {}) {
  const runner = path.join(job.dir, 'runner')
  const files = {
    GITHUB_OUTPUT: 'output',
    GITHUB_STATE: 'state',
    GITHUB_ENV: 'env',
    GITHUB_PATH: 'path',
    GITHUB_STEP_SUMMARY: 'summary'
  }
  const env = {
    ...contestantEnv(ctx, path.join(job.dir, 'docker-config'), wrap),
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKSPACE: job.dir,
    RUNNER_TEMP: runner
  }
  for (const [name, file] of Object.entries(files)) {
    env[name] = path.join(runner, file)
    writeFileSync(env[name], '')
  }
  const inputs = {
    ...ctx.inputDefaults,
    repository: job.repository,
    tags: TAGS.join('\n'),
    context: job.context
  }
  for (const [name, value] of Object.entries(inputs)) {
    env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value
  }
  const callLog = path.join(job.dir, 'calls.tsv')
  if (wrap) env.BENCH_CALL_LOG = callLog
  const traceLog = path.join(job.dir, 'loads.txt')
  if (trace) {
    env.BENCH_TRACE_LOG = traceLog
    env.NODE_OPTIONS = `--require ${ctx.traceHook}`
  }
  remember(ctx, job.repository)

  const awsFrom = ctx.recorder.requests.length
  const main = await runProcess(ctx.tools.node, [ctx.entry], {
    cwd: job.dir,
    env
  })
  const awsCalls = ctx.recorder.requests
    .slice(awsFrom)
    .filter(request => !request.userAgent.includes('aws-cli'))

  const state = readFileCommands(env.GITHUB_STATE)
  const postEnv = { ...env }
  for (const [name, value] of Object.entries(state)) {
    postEnv[`STATE_${name}`] = value
  }
  const post = await runProcess(ctx.tools.node, [ctx.entry], {
    cwd: job.dir,
    env: postEnv
  })

  return {
    ...main,
    exitCode: main.exitCode || post.exitCode,
    postMs: post.ms,
    outputs: readFileCommands(env.GITHUB_OUTPUT),
    awsCalls,
    registry: ctx.registryLog.takeRequests(
      job.repository,
      main.start,
      main.end
    ),
    calls: wrap ? readCalls(callLog) : [],
    loads: trace ? readLoads(traceLog, ctx.actionDir) : []
  }
}

async function runManual(ctx, job, { wrap = false } = {}) {
  const env = {
    ...contestantEnv(ctx, path.join(job.dir, 'docker-config'), wrap),
    CREATE_REPOSITORY: String(job.create),
    REPOSITORY: job.repository,
    REGION: ctx.ecr.AWS_REGION,
    REGISTRY: registryOf(ctx),
    TAGS: TAGS.join(' ')
  }
  const callLog = path.join(job.dir, 'calls.tsv')
  if (wrap) env.BENCH_CALL_LOG = callLog
  remember(ctx, job.repository)

  const run = await runProcess('bash', [path.join(ctx.work, 'manual.sh')], {
    cwd: job.context,
    env
  })
  return {
    ...run,
    registry: ctx.registryLog.takeRequests(job.repository, run.start, run.end),
    calls: wrap ? readCalls(callLog) : []
  }
}

function registryOf(ctx) {
  return ctx.ecr.LOCAL_ECR_REGISTRY
}

/** What the clean-up removes: the repository and the local image tags. */
function remember(ctx, repository) {
  ctx.repositories.push(repository)
  for (const tag of TAGS) {
    ctx.references.add(`${registryOf(ctx)}/${repository}:${tag}`)
  }
}

/** GITHUB_OUTPUT / GITHUB_STATE: `name<<delimiter` blocks or `name=value`. */
function readFileCommands(file) {
  const lines = readFileSync(file, 'utf8').split('\n')
  const values = {}
  for (let i = 0; i < lines.length; i++) {
    const heredoc = /^([^=<]+)<<(.+)$/.exec(lines[i])
    if (heredoc) {
      const end = lines.indexOf(heredoc[2], i + 1)
      values[heredoc[1]] = lines.slice(i + 1, end).join('\n')
      i = end
    } else if (lines[i].includes('=')) {
      const at = lines[i].indexOf('=')
      values[lines[i].slice(0, at)] = lines[i].slice(at + 1)
    }
  }
  return values
}

function readCalls(file) {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map(line => {
      const [start, end, tool, args = ''] = line.split('\t')
      const words = args.split(' ')
      const sub = tool === 'aws' ? words.slice(0, 2).join(' ') : words[0]
      return {
        start: Number(start) * 1000,
        end: Number(end) * 1000,
        label: `${tool} ${sub}`
      }
    })
}

function readLoads(file, actionDir) {
  if (!existsSync(file)) return []
  const dist = path.join(actionDir, 'dist')
  const files = readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map(entry => (entry.startsWith('file:') ? fileURLToPath(entry) : entry))
    .filter(file => file.startsWith(dist + path.sep))
    .map(file => path.relative(dist, file))
  return [...new Set(files)].sort()
}

// --- the measurements --------------------------------------------------------

async function measure(ctx) {
  say('measuring module load')
  const moduleLoad = await measureModuleLoad(ctx)
  const bundle = bundleFacts(path.join(ctx.actionDir, 'dist'))

  say(`first push of ${TAGS.length} tags: warm-up, then ${options.pairs} pairs`)
  const first = await measureCase(ctx, 'first')

  say(`rerun of an image already there: set-up, then ${options.pairs} pairs`)
  const rerun = await measureCase(ctx, 'rerun')

  return {
    schema: 1,
    date: new Date().toISOString(),
    machine: machineInfo(ctx),
    action: actionInfo(ctx),
    method: {
      pairs: options.pairs,
      order: 'alternating within pairs: action first in even pairs',
      tags: TAGS,
      image: 'FROM scratch with one new small file (first push)',
      manualSteps:
        'aws ecr create-repository (first push only, timed: the seed ' +
        'step 1), aws ecr get-login-password | docker login ' +
        '--password-stdin, docker build -t my-app ., then docker tag and ' +
        'docker push per tag',
      actionRun:
        'node dist/index.js with INPUT_* (action.yml defaults), file ' +
        'commands and RUNNER_TEMP as the runner sets them; the ratio is the ' +
        'main step, the post step is timed apart',
      isolation:
        'new repository and docker config per run; AWS calls of both ' +
        'through one recording proxy in front of moto'
    },
    bundle,
    moduleLoad,
    cases: { first, rerun },
    targets: targets(bundle, first, rerun)
  }
}

async function measureModuleLoad(ctx) {
  const env = { PATH: process.env.PATH, HOME: process.env.HOME ?? '' }
  const cwd = mkdtempSync(path.join(ctx.work, 'load-'))
  const url = pathToFileURL(ctx.entry).href
  // No INPUT_REPOSITORY: the action stops at input validation, before any
  // network call, so what is left is node, the bundle and a failed input.
  const importScript =
    'const t = performance.now(); await import(' +
    JSON.stringify(url) +
    '); process.stderr.write(`BENCH_IMPORT ${performance.now() - t}\\n`)'
  const bare = []
  const action = []
  const inProcess = []
  for (let i = 0; i < options.loadRuns; i++) {
    bare.push((await runProcess(ctx.tools.node, ['-e', ''], { cwd, env })).ms)
    action.push(
      (await runProcess(ctx.tools.node, [ctx.entry], { cwd, env })).ms
    )
    const timed = await runProcess(
      ctx.tools.node,
      ['--input-type=module', '-e', importScript],
      { cwd, env }
    )
    const line = timed.lines.find(entry =>
      entry.text.startsWith('BENCH_IMPORT ')
    )
    if (line) inProcess.push(Number(line.text.split(' ')[1]))
  }
  return {
    runs: options.loadRuns,
    bareNodeMs: round(median(bare)),
    actionToInputErrorMs: round(median(action)),
    loadMs: round(median(action) - median(bare)),
    // Best of the runs: what the load costs when nothing else competes.
    loadMsBest: round(Math.min(...action) - Math.min(...bare)),
    inProcessImportMs: round(median(inProcess)),
    note:
      'action process with no inputs (fails at validation) minus a bare ' +
      'node -e ""; in-process: await import(dist/index.js) to its end'
  }
}

function bundleFacts(dist) {
  const files = readdirSync(dist, { recursive: true })
    .filter(file => /\.(c|m)?js$/.test(file))
    .map(file => ({
      file,
      bytes: statSync(path.join(dist, file)).size
    }))
    .sort((a, b) => b.bytes - a.bytes)
  const clients = {}
  for (const [client, marker] of Object.entries(CLIENT_MARKERS)) {
    const holders = files
      .filter(({ file }) =>
        marker.test(readFileSync(path.join(dist, file), 'utf8'))
      )
      .map(({ file }) => file)
    clients[client] = holders.includes('index.js')
      ? 'entry (loaded by every step)'
      : holders.includes(MAIN_BUNDLE)
        ? `${MAIN_BUNDLE} (loaded by every main step, once the build runs)`
        : holders.includes(SDK_BUNDLE)
          ? `${SDK_BUNDLE} (loaded by the first call that needs the SDK)`
          : holders.length
            ? `lazy: ${holders.join(', ')}`
            : 'not in the bundle'
  }
  return {
    jsBytes: files.reduce((sum, { bytes }) => sum + bytes, 0),
    indexJsBytes: files.find(({ file }) => file === 'index.js')?.bytes ?? 0,
    files,
    clients
  }
}

async function measureCase(ctx, caseName) {
  const existing = caseName === 'rerun' ? await setUpRerun(ctx) : undefined
  const job = (label, contestant) =>
    newJob(ctx, caseName, label, contestant, existing?.[contestant])

  // Untimed: moto, docker and the page cache warm up; the action's run is
  // traced to see which files of dist/ this case loads.
  const warmAction = await runContestant(ctx, job('warm', 'action'), {
    trace: true
  })
  await runContestant(ctx, job('warm', 'manual'))

  const pairs = []
  for (let i = 0; i < options.pairs; i++) {
    const order = i % 2 === 0 ? ['action', 'manual'] : ['manual', 'action']
    const runs = {}
    for (const contestant of order) {
      runs[contestant] = await runContestant(ctx, job(`pair${i}`, contestant))
    }
    pairs.push(pairFigures(order, runs.action, runs.manual))
    const last = pairs.at(-1)
    say(
      `  ${caseName} pair ${i + 1}/${options.pairs} (${order[0]} first): ` +
        `action ${ms(last.actionMs)}, manual ${ms(last.manualMs)}, ` +
        `ratio ${last.ratio.toFixed(3)}`
    )
  }

  // A rerun that pushes, or a first push that does not, measures
  // something else than this case: say so next to the figures.
  const expected = caseName === 'rerun' ? 'false' : 'true'
  const odd = pairs.filter(pair => pair.pushed !== expected).length
  if (odd) {
    say(`warning: ${odd} ${caseName} runs had pushed != ${expected}`)
  }

  const profile = { action: [], manual: [] }
  for (let i = 0; i < options.profileRuns; i++) {
    const order = i % 2 === 0 ? ['action', 'manual'] : ['manual', 'action']
    for (const contestant of order) {
      const run = await runContestant(ctx, job(`profile${i}`, contestant), {
        wrap: true
      })
      profile[contestant].push(attribute(run, contestant))
    }
  }

  const dist = path.join(ctx.actionDir, 'dist')
  return summarizeCase(caseName, pairs, profile, warmAction.loads, dist)
}

// The rerun's image is built and pushed once, untimed, by each contestant
// into its own repository, from one context; every timed rerun of that
// contestant then finds it there.
async function setUpRerun(ctx) {
  const context = newContext(path.join(ctx.work, 'rerun-app'))
  const existing = {}
  for (const contestant of ['action', 'manual']) {
    const job = newJob(ctx, 'rerun', 'setup', contestant)
    job.context = context
    await runContestant(ctx, job)
    existing[contestant] = { repository: job.repository, context }
  }
  return existing
}

function pairFigures(order, action, manual) {
  const buildLine = action.lines.find(line =>
    /^\[command\]\S*docker build /.test(line.text)
  )
  const buildStart = buildLine?.time ?? action.end
  // Counted: AWS calls and docker login's requests that had answered when
  // the build started. The action's own registry requests (tag lookups)
  // are meant to overlap the build; the profile timelines show if they do.
  // docker login's /v2/ checks name no repository, so another client
  // logging in at the same moment would be counted too.
  const beforeBuild = calls => calls.filter(call => call.end <= buildStart)
  const awsBefore = beforeBuild(action.awsCalls)
  const loginBefore = beforeBuild(
    action.registry.filter(request => request.client === 'docker')
  )
  return {
    order: order.join(','),
    actionMs: action.ms,
    manualMs: manual.ms,
    ratio: action.ms / manual.ms,
    actionPostMs: action.postMs,
    ratioWithPost: (action.ms + action.postMs) / manual.ms,
    pushed: action.outputs.pushed,
    firstAwsCallMs: action.awsCalls.length
      ? Math.min(...action.awsCalls.map(call => call.start)) - action.start
      : Number.NaN,
    buildStartMs: buildStart - action.start,
    awsCallsBeforeBuild: awsBefore.map(call => call.operation),
    awsRoundTripsBeforeBuild: chainDepth(awsBefore),
    networkRoundTripsBeforeBuild: chainDepth([...awsBefore, ...loginBefore]),
    roundTrips:
      `${chainDepth(awsBefore)}/` +
      `${chainDepth([...awsBefore, ...loginBefore])}`,
    registryRequests: {
      action: countBy(action.registry, 'action'),
      actionDocker: countBy(action.registry, 'docker'),
      manualDocker: countBy(manual.registry, 'docker')
    }
  }
}

/** `/v2/<repository>/manifests/latest` → `manifests/latest`. */
function lastSegments(uri) {
  return uri
    .split('?')[0]
    .split('/')
    .slice(-2)
    .join('/')
    .replace(/(sha256:[0-9a-f]{12})[0-9a-f]+/, '$1…')
}

function countBy(requests, client) {
  return requests.filter(request => request.client === client).length
}

/** The longest chain of requests each sent after the previous answered. */
function chainDepth(requests) {
  const sorted = [...requests].sort((a, b) => a.start - b.start)
  const depth = []
  let deepest = 0
  sorted.forEach((request, i) => {
    let before = 0
    for (let j = 0; j < i; j++) {
      if (sorted[j].end <= request.start) before = Math.max(before, depth[j])
    }
    depth[i] = before + 1
    deepest = Math.max(deepest, depth[i])
  })
  return deepest
}

/**
 * Splits a profile run's wall time into what was running: each docker or
 * aws call, the action's AWS and registry requests, and the contestant's
 * own work before, between and after them.
 */
function attribute(run, contestant) {
  const events = [
    ...run.calls,
    ...(run.awsCalls ?? []).map(call => ({
      ...call,
      label: 'AWS API',
      detail: `AWS ${call.operation}`
    })),
    ...run.registry
      .filter(request => request.client === 'action')
      .map(request => ({
        ...request,
        label: 'registry API (action)',
        detail: `registry ${request.method} ${lastSegments(request.uri)}`
      }))
  ].filter(event => event.end > run.start && event.start < run.end)
  const rank = label => {
    const index = PRIORITY.findIndex(prefix => label.startsWith(prefix))
    return index < 0 ? PRIORITY.length : index
  }
  const firstStart = Math.min(...events.map(event => event.start))
  const lastEnd = Math.max(...events.map(event => event.end))
  const own =
    contestant === 'action'
      ? [
          'node start + bundle load + inputs',
          'action between calls',
          'action after the last call (outputs, summary, exit)'
        ]
      : ['bash start', 'bash between calls', 'bash exit']

  const edges = [
    ...new Set([
      run.start,
      run.end,
      ...events.flatMap(event => [event.start, event.end])
    ])
  ]
    .filter(edge => edge >= run.start && edge <= run.end)
    .sort((a, b) => a - b)
  const phases = {}
  for (let i = 0; i + 1 < edges.length; i++) {
    const [from, to] = [edges[i], edges[i + 1]]
    const running = events
      .filter(event => event.start < to && event.end > from)
      .sort((a, b) => rank(a.label) - rank(b.label))
    const label =
      running[0]?.label ??
      (to <= firstStart ? own[0] : from >= lastEnd ? own[2] : own[1])
    phases[label] = (phases[label] ?? 0) + (to - from)
  }
  const counts = {}
  for (const event of events)
    counts[event.label] = (counts[event.label] ?? 0) + 1
  const timeline = events
    .sort((a, b) => a.start - b.start)
    .map(event => ({
      what: event.detail ?? event.label,
      fromMs: round(event.start - run.start),
      toMs: round(event.end - run.start)
    }))
  return { totalMs: run.ms, phases, counts, timeline }
}

function summarizeCase(caseName, pairs, profile, loads, dist) {
  const pick = key => pairs.map(pair => pair[key])
  const medianOf = key => round(median(pick(key)))
  const phaseMedians = runs => {
    const labels = new Set(runs.flatMap(run => Object.keys(run.phases)))
    const phases = {}
    for (const label of labels) {
      phases[label] = {
        ms: round(median(runs.map(run => run.phases[label] ?? 0))),
        calls: Math.max(...runs.map(run => run.counts[label] ?? 0))
      }
    }
    return { totalMs: round(median(runs.map(run => run.totalMs))), phases }
  }
  return {
    description:
      caseName === 'first'
        ? `first push of ${TAGS.length} tags to a new repository`
        : 'rerun: the same image, already built and pushed',
    median: {
      actionMs: medianOf('actionMs'),
      manualMs: medianOf('manualMs'),
      ratio: round(median(pick('ratio')), 3),
      ratioOfMedians: round(
        median(pick('actionMs')) / median(pick('manualMs')),
        3
      ),
      actionPostMs: medianOf('actionPostMs'),
      ratioWithPost: round(median(pick('ratioWithPost')), 3)
    },
    spread: {
      ratioMin: round(Math.min(...pick('ratio')), 3),
      ratioMax: round(Math.max(...pick('ratio')), 3)
    },
    overhead: {
      firstAwsCallMs: medianOf('firstAwsCallMs'),
      buildStartMs: medianOf('buildStartMs'),
      awsCallsBeforeBuild: pairs[0]?.awsCallsBeforeBuild ?? [],
      // Medians: a loaded machine can delay one of two parallel requests
      // until the other has answered, which makes one pair look serial.
      awsRoundTripsBeforeBuild: median(pick('awsRoundTripsBeforeBuild')),
      networkRoundTripsBeforeBuild: median(
        pick('networkRoundTripsBeforeBuild')
      ),
      // AWS only / all, pair by pair.
      roundTripsBeforeBuildPerPair: pick('roundTrips'),
      registryRequests: pairs[0]?.registryRequests
    },
    profile: {
      runs: profile.action.length,
      action: phaseMedians(profile.action),
      manual: phaseMedians(profile.manual)
    },
    // The profile run of median length of each, call by call.
    timeline: {
      action: medianRun(profile.action)?.timeline ?? [],
      manual: medianRun(profile.manual)?.timeline ?? []
    },
    loadedFiles: loads,
    loadedBytes: loads.reduce(
      (sum, file) => sum + statSync(path.join(dist, file)).size,
      0
    ),
    pairs: pairs.map(pair => ({
      order: pair.order,
      actionMs: round(pair.actionMs),
      manualMs: round(pair.manualMs),
      ratio: round(pair.ratio, 3),
      actionPostMs: round(pair.actionPostMs),
      pushed: pair.pushed
    }))
  }
}

function targets(bundle, first, rerun) {
  const atMost = (name, limit, value) => ({
    name,
    target: `<= ${limit}`,
    value,
    pass: Number.isFinite(value) && value <= limit
  })
  const eager = OPTIONAL_CLIENTS.filter(
    client =>
      bundle.clients[client].startsWith('entry') ||
      bundle.clients[client].startsWith(MAIN_BUNDLE) ||
      bundle.clients[client].startsWith(SDK_BUNDLE)
  )
  const cases = [
    ['first push', first],
    ['rerun', rerun]
  ]
  return [
    ...cases.map(([name, figures]) =>
      atMost(
        `${name}: action / manual (main step)`,
        name === 'rerun' ? TARGETS.rerunRatio : TARGETS.firstRatio,
        figures.median.ratio
      )
    ),
    ...cases.flatMap(([name, figures]) => [
      atMost(
        `${name}: AWS round trips before build`,
        TARGETS.roundTripsBeforeBuild,
        figures.overhead.awsRoundTripsBeforeBuild
      ),
      atMost(
        `${name}: all round trips before build (AWS, registry, login)`,
        TARGETS.roundTripsBeforeBuild,
        figures.overhead.networkRoundTripsBeforeBuild
      )
    ]),
    {
      name: 'dist/ JavaScript bytes',
      target: `< ${TARGETS.distBytes}`,
      value: bundle.jsBytes,
      pass: bundle.jsBytes < TARGETS.distBytes
    },
    {
      name: 'IAM and ECR Public clients loaded only by runs that use them',
      target: 'none in index.js, main/index.js or sdk/index.js',
      value: eager.length
        ? `in a bundle most runs load: ${eager.join(', ')}`
        : 'none in index.js, main/index.js or sdk/index.js',
      pass: eager.length === 0
    }
  ]
}

// --- machine and bundle identity ---------------------------------------------

function machineInfo(ctx) {
  const cpu = /model name\s*:\s*(.+)/.exec(
    existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : ''
  )
  const docker = spawnSync(
    ctx.tools.docker,
    ['version', '--format', '{{.Client.Version}} {{.Server.Version}}'],
    { encoding: 'utf8' }
  )
    .stdout.trim()
    .split(' ')
  const aws = spawnSync(ctx.tools.aws, ['--version'], { encoding: 'utf8' })
  return {
    cpu: cpu?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    dockerClient: docker[0] ?? 'unknown',
    dockerServer: docker[1] ?? 'unknown',
    awsCli: (aws.stdout || aws.stderr).trim().split(' ')[0] ?? 'unknown',
    loadAverageAtStart: ctx.loadAverageAtStart,
    loadAverageAtEnd: os.loadavg().map(value => round(value, 2))
  }
}

function actionInfo(ctx) {
  return {
    source: options.ref ? `git ref ${options.ref}` : 'working tree',
    commit: ctx.commit,
    distChangedSinceCommit:
      !options.ref && git(['status', '--porcelain', '--', 'dist']) !== '',
    indexJsSha256: createHash('sha256')
      .update(readFileSync(ctx.entry))
      .digest('hex')
  }
}

// --- the report --------------------------------------------------------------

function report(results) {
  const { cases, bundle, moduleLoad, machine } = results
  console.log('')
  console.log(
    `ecr-push-action benchmark, ${results.date} on ${machine.cpu}, ` +
      `${machine.cores} cores, ${machine.memoryGiB} GiB, ` +
      `node ${machine.node}, ` +
      `docker ${machine.dockerServer}`
  )
  console.log(
    `Medians of ${results.method.pairs} alternating pairs; manual first push ` +
      'includes aws ecr create-repository (the seed step 1).'
  )
  console.log('')
  table(
    [
      'case',
      'action ms',
      'manual ms',
      'ratio',
      'min..max',
      'post ms',
      'ratio+post'
    ],
    Object.entries(cases).map(([name, figures]) => [
      name,
      ms(figures.median.actionMs),
      ms(figures.median.manualMs),
      figures.median.ratio.toFixed(3),
      [figures.spread.ratioMin, figures.spread.ratioMax]
        .map(ratio => ratio.toFixed(2))
        .join('..'),
      ms(figures.median.actionPostMs),
      figures.median.ratioWithPost.toFixed(3)
    ])
  )

  console.log('\nThe action before docker does its work:')
  table(
    [
      'case',
      'first AWS call',
      'build starts',
      'AWS calls before build',
      'AWS RTs',
      'all RTs'
    ],
    Object.entries(cases).map(([name, figures]) => [
      name,
      ms(figures.overhead.firstAwsCallMs),
      ms(figures.overhead.buildStartMs),
      figures.overhead.awsCallsBeforeBuild.join(' + ') || '-',
      String(figures.overhead.awsRoundTripsBeforeBuild),
      String(figures.overhead.networkRoundTripsBeforeBuild)
    ])
  )
  console.log(
    `Module load: bare node ${ms(moduleLoad.bareNodeMs)}, action to its ` +
      `input error ${ms(moduleLoad.actionToInputErrorMs)} (load ` +
      `${ms(moduleLoad.loadMs)}, best ${ms(moduleLoad.loadMsBest)}), ` +
      'in-process import ' +
      `${ms(moduleLoad.inProcessImportMs)}`
  )
  console.log(
    `Bundle: dist/ JavaScript ${kb(bundle.jsBytes)} ` +
      `(index.js ${kb(bundle.indexJsBytes)}, ${bundle.files.length} files)`
  )
  for (const [client, where] of Object.entries(bundle.clients)) {
    console.log(`  ${client}: ${where}`)
  }
  for (const [name, figures] of Object.entries(cases)) {
    console.log(
      `  a ${name} run loads ${kb(figures.loadedBytes)}: ` +
        (figures.loadedFiles.join(', ') || '(not traced)')
    )
  }

  for (const [name, figures] of Object.entries(cases)) {
    console.log(
      `\nWhere the time goes, ${name} (median of ${figures.profile.runs} ` +
        'profile runs with docker and aws timed per call; not in the ratios):'
    )
    const labels = [
      ...new Set([
        ...Object.keys(figures.profile.action.phases),
        ...Object.keys(figures.profile.manual.phases)
      ])
    ]
    table(
      ['phase', 'action ms', 'manual ms'],
      [
        ...labels.map(label => [
          label,
          cell(figures.profile.action.phases[label]),
          cell(figures.profile.manual.phases[label])
        ]),
        [
          'total',
          ms(figures.profile.action.totalMs),
          ms(figures.profile.manual.totalMs)
        ]
      ]
    )
  }

  for (const [name, figures] of Object.entries(cases)) {
    console.log(
      `\nThe action's median ${name} profile run, call by call ` +
        '(ms from start):'
    )
    table(
      ['call', 'from', 'to'],
      figures.timeline.action.map(event => [
        event.what,
        ms(event.fromMs),
        ms(event.toMs)
      ])
    )
  }

  console.log('\nTargets:')
  table(
    ['target', 'wanted', 'measured', ''],
    results.targets.map(target => [
      target.name,
      target.target,
      String(target.value),
      target.pass ? 'pass' : 'MISS'
    ])
  )
}

function cell(phase) {
  if (!phase) return '-'
  return phase.calls > 1 ? `${ms(phase.ms)} (${phase.calls}x)` : ms(phase.ms)
}

function table(header, rows) {
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rows.map(row => String(row[i]).length))
  )
  const line = row =>
    row
      .map((value, i) =>
        i === 0
          ? String(value).padEnd(widths[i])
          : String(value).padStart(widths[i])
      )
      .join('  ')
  console.log(line(header))
  console.log(widths.map(width => '-'.repeat(width)).join('  '))
  for (const row of rows) console.log(line(row))
}

function writeResults(results) {
  mkdirSync(path.dirname(options.output), { recursive: true })
  writeFileSync(options.output, `${JSON.stringify(results, null, 2)}\n`)
  // The project's format check covers this file: leave it as prettier would.
  const prettier = path.join(root, 'node_modules', '.bin', 'prettier')
  if (existsSync(prettier)) {
    spawnSync(prettier, ['--write', '--log-level', 'warn', options.output], {
      stdio: 'inherit'
    })
  }
  console.log(
    `\nFigures written to ${path.relative(process.cwd(), options.output)}`
  )
}

/** The README's tables, from the same figures as the JSON. */
function markdown(results) {
  const { cases, machine, bundle, moduleLoad } = results
  const first = cases.first
  const rerun = cases.rerun
  const row = cells => `| ${cells.join(' | ')} |`
  const caseRow = (name, figures, target) =>
    row([
      name,
      `${ms(figures.median.actionMs)} ms`,
      `${ms(figures.median.manualMs)} ms`,
      `**${figures.median.ratio.toFixed(2)}**`,
      `≤ ${target.toFixed(2)}`
    ])
  const both = (name, pick) => row([name, pick(first), pick(rerun)])
  return [
    row(['Case', 'Action', 'Manual steps', 'Ratio', 'Target']),
    row(['---', '---:', '---:', '---:', '---:']),
    caseRow(
      `First push, ${TAGS.length} tags, new repository`,
      first,
      TARGETS.firstRatio
    ),
    caseRow('Rerun, image already there', rerun, TARGETS.rerunRatio),
    '',
    row(['The action alone', 'First push', 'Rerun']),
    row(['---', '---:', '---:']),
    both('Start to first AWS call', f => `${ms(f.overhead.firstAwsCallMs)} ms`),
    both('Start to `docker build`', f => `${ms(f.overhead.buildStartMs)} ms`),
    both(
      'Round trips before the build (AWS only / all, with `docker login`)',
      f =>
        `${f.overhead.awsRoundTripsBeforeBuild} / ` +
        `${f.overhead.networkRoundTripsBeforeBuild}`
    ),
    both('Post step', f => `${ms(f.median.actionPostMs)} ms`),
    '',
    `Bundle: ${kb(bundle.jsBytes)} of JavaScript in \`dist/\` ` +
      `(\`index.js\` ${kb(bundle.indexJsBytes)}); loading it takes ` +
      `${ms(moduleLoad.loadMs)} ms beyond a bare node start ` +
      `(${ms(moduleLoad.bareNodeMs)} ms; best run ` +
      `${ms(moduleLoad.loadMsBest)} ms).`,
    '',
    `Measured ${results.date.slice(0, 10)} on ${machine.cpu}, ` +
      `${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.kernel}, ` +
      `node ${machine.node}, Docker ${machine.dockerServer}, ` +
      `${machine.awsCli}; medians of ${results.method.pairs} pairs, ` +
      `commit ${results.action.commit.slice(0, 7)}` +
      (results.action.distChangedSinceCommit ? ' with dist/ changed.' : '.')
  ].join('\n')
}

// --- cleaning up -------------------------------------------------------------

async function cleanUp(ctx) {
  ctx.recorder?.close()
  if (ctx.ecr) {
    // Straight to moto: it reads the region from the credential scope and
    // does not check signatures.
    await Promise.all(
      [...new Set(ctx.repositories)].map(repository =>
        fetch(`${ctx.ecr.AWS_ENDPOINT_URL}/`, {
          method: 'POST',
          headers: {
            'X-Amz-Target':
              'AmazonEC2ContainerRegistry_V20150921.DeleteRepository',
            'Content-Type': 'application/x-amz-json-1.1',
            Authorization:
              'AWS4-HMAC-SHA256 Credential=testing/20200101/' +
              `${ctx.ecr.AWS_REGION}/ecr/aws4_request, ` +
              'SignedHeaders=host, Signature=0'
          },
          body: JSON.stringify({ repositoryName: repository, force: true })
        }).catch(() => undefined)
      )
    )
  }
  if (ctx.tools && ctx.references.size) {
    spawnSync(
      ctx.tools.docker,
      ['image', 'rm', '--force', ...ctx.references, 'my-app:latest'],
      { stdio: 'ignore' }
    )
  }
  if (options.keep) {
    say(`kept ${ctx.work}`)
  } else {
    rmSync(ctx.work, { recursive: true, force: true })
  }
}

// --- small helpers -----------------------------------------------------------

function median(values) {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (!sorted.length) return Number.NaN
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2
}

function medianRun(runs) {
  const sorted = [...runs].sort((a, b) => a.totalMs - b.totalMs)
  return sorted[Math.floor((sorted.length - 1) / 2)]
}

function round(value, digits = 1) {
  if (!Number.isFinite(value)) return null
  const factor = 10 ** digits
  return Math.round(value * factor) / factor
}

function ms(value) {
  return value === null || value === undefined ? '-' : `${Math.round(value)}`
}

function kb(bytes) {
  return `${(bytes / 1000).toFixed(0)} kB`
}

function say(message) {
  process.stderr.write(`bench: ${message}\n`)
}

// Last, so every class and constant above is initialised.
await main()
