// The e2e harness against a stand-in action that writes its file commands
// with the project's own @actions/core, so the format is the real one.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

import {
  inputVariable,
  parseFileCommands,
  projectRoot,
  readActionDefinition,
  runAction
} from '../e2e/harness.js'
import { parseEnvExports } from '../e2e/local-ecr.js'

const actionYml = `name: stand-in
inputs:
  repository:
    required: true
  tags:
    default: latest
  push:
    default: 'true'
  version:
    default: 1.10
  empty:
    default: ''
  no-default:
    description: nothing
  with space:
    default: "a b"
  behaviour:
    default: succeed
runs:
  using: node24
  main: dist/index.js
  post: dist/index.js
`

const coreUrl = pathToFileURL(
  join(projectRoot, 'node_modules/@actions/core/lib/core.js')
).href

// One bundle for both steps, as the real action does.
const standIn = `
import * as core from ${JSON.stringify(coreUrl)}
const behaviour = process.env.INPUT_BEHAVIOUR
if (core.getState('is-post')) {
  console.log('post sees', JSON.stringify({
    marker: core.getState('marker'),
    multi: core.getState('multi'),
    exported: process.env.FROM_MAIN ?? null,
    firstPath: process.env.PATH.split(':')[0],
    outputFile: process.env.GITHUB_OUTPUT
  }))
  process.exit(behaviour === 'post-fails' ? 4 : 0)
}
core.saveState('is-post', 'true')
const inputs = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => k.startsWith('INPUT_'))
)
console.log('inputs', JSON.stringify(inputs))
console.log('context', JSON.stringify({
  cwd: process.cwd(),
  workspace: process.env.GITHUB_WORKSPACE,
  runnerTemp: process.env.RUNNER_TEMP,
  ref: process.env.GITHUB_REF,
  refName: process.env.GITHUB_REF_NAME,
  refType: process.env.GITHUB_REF_TYPE,
  actions: process.env.GITHUB_ACTIONS,
  extra: process.env.EXTRA ?? null,
  leakedInput: process.env.INPUT_LEAKED ?? null,
  nodeOptions: process.env.NODE_OPTIONS ?? null
}))
process.stdout.write('out-1\\n')
process.stderr.write('err-1\\n')
process.stdout.write('out-2\\n')
core.setOutput('single', 'one')
core.setOutput('multi', 'line 1\\nline 2\\n')
core.setOutput('empty', '')
core.saveState('marker', 'from-main')
core.saveState('multi', 'a\\nb')
core.exportVariable('FROM_MAIN', 'exported value')
core.addPath('/opt/stand-in/bin')
await core.summary.addHeading('Pushed').addRaw('all good').write()
if (behaviour === 'fail') core.setFailed('it broke')
if (behaviour === 'hang' || behaviour === 'trap') {
  if (behaviour === 'trap') {
    process.on('SIGINT', () => {
      console.log('cancelled, cleaning up')
      process.exit(3)
    })
  }
  console.log('waiting')
  setInterval(() => {}, 1000)
}
`

let actionDir: string

beforeAll(async () => {
  actionDir = await mkdtemp(join(tmpdir(), 'harness-stand-in-'))
  await writeFile(join(actionDir, 'action.yml'), actionYml)
  await mkdir(join(actionDir, 'dist'))
  await writeFile(join(actionDir, 'dist/package.json'), '{"type":"module"}')
  await writeFile(join(actionDir, 'dist/index.js'), standIn)
})

afterAll(async () => {
  await rm(actionDir, { recursive: true, force: true })
})

function jsonAfter(stdout: string, prefix: string): Record<string, unknown> {
  const line = stdout.split('\n').find(l => l.startsWith(`${prefix} `))
  if (!line) throw new Error(`no "${prefix}" line in:\n${stdout}`)
  return JSON.parse(line.slice(prefix.length + 1)) as Record<string, unknown>
}

describe('readActionDefinition', () => {
  it('keeps defaults as the text the runner sees', () => {
    const definition = readActionDefinition(actionDir)
    expect(Object.fromEntries(definition.inputDefaults)).toEqual({
      repository: '',
      tags: 'latest',
      push: 'true',
      version: '1.10',
      empty: '',
      'no-default': '',
      'with space': 'a b',
      behaviour: 'succeed'
    })
    expect(definition.main).toBe(join(actionDir, 'dist/index.js'))
    expect(definition.post).toBe(join(actionDir, 'dist/index.js'))
    expect(definition.using).toBe('node24')
  })

  it('reads the project action.yml', () => {
    const definition = readActionDefinition(projectRoot)
    expect(definition.main.startsWith(projectRoot)).toBe(true)
    expect(definition.inputDefaults.has('repository')).toBe(true)
  })
})

describe('inputVariable', () => {
  it('upper-cases, keeps hyphens and turns spaces into underscores', () => {
    expect(inputVariable('registry-id')).toBe('INPUT_REGISTRY-ID')
    expect(inputVariable('with space')).toBe('INPUT_WITH_SPACE')
  })
})

describe('parseFileCommands', () => {
  it('reads heredoc blocks, one-line values and CRLF', () => {
    const text =
      'a<<ghadelimiter_1\nx\n\ny\nghadelimiter_1\n' +
      'b=c=d\r\n' +
      'e<<EOF\r\n\r\nEOF\r\n' +
      'a<<Z\nlast wins\nZ\n'
    expect(parseFileCommands(text)).toEqual({
      a: 'last wins',
      b: 'c=d',
      e: ''
    })
  })

  it('refuses a block that never closes', () => {
    expect(() => parseFileCommands('a<<EOF\nvalue\n')).toThrow(/never closes/)
  })
})

describe('parseEnvExports', () => {
  it('undoes the quoting of local-ecr.sh env', () => {
    const text = "export A='plain'\nexport B='it'\\''s'\nexport C=''\n"
    expect(parseEnvExports(text)).toEqual({ A: 'plain', B: "it's", C: '' })
  })
})

describe('runAction', () => {
  it('runs main and post as the runner does', async () => {
    const previous = process.env.INPUT_LEAKED
    process.env.INPUT_LEAKED = 'from the test process'
    const run = await runAction({
      inputs: { repository: 'shop/api', push: 'false' },
      env: { EXTRA: 'x', GITHUB_REF: 'refs/tags/v1.2.3' },
      actionDir
    }).finally(() => {
      if (previous === undefined) delete process.env.INPUT_LEAKED
      else process.env.INPUT_LEAKED = previous
    })
    try {
      expect(run.exitCode).toBe(0)
      expect(jsonAfter(run.stdout, 'inputs')).toEqual({
        INPUT_REPOSITORY: 'shop/api',
        INPUT_TAGS: 'latest',
        INPUT_PUSH: 'false',
        INPUT_VERSION: '1.10',
        INPUT_EMPTY: '',
        'INPUT_NO-DEFAULT': '',
        INPUT_WITH_SPACE: 'a b',
        INPUT_BEHAVIOUR: 'succeed'
      })
      const context = jsonAfter(run.stdout, 'context')
      expect(context).toMatchObject({
        runnerTemp: run.runnerTemp,
        ref: 'refs/tags/v1.2.3',
        refName: 'v1.2.3',
        refType: 'tag',
        actions: 'true',
        extra: 'x',
        leakedInput: null,
        nodeOptions: null
      })
      expect(context.cwd).toBe(context.workspace)
      expect(run.stdout).toContain('out-1\nerr-1\nout-2\n')
      expect(run.outputs).toEqual({
        single: 'one',
        multi: 'line 1\nline 2\n',
        empty: ''
      })
      expect(run.state).toEqual({
        'is-post': 'true',
        marker: 'from-main',
        multi: 'a\nb'
      })
      expect(run.env).toEqual({ FROM_MAIN: 'exported value' })
      expect(run.summary).toContain('Pushed')
      expect(run.post?.exitCode).toBe(0)
      const post = jsonAfter(run.post?.stdout ?? '', 'post sees')
      expect(post).toMatchObject({
        marker: 'from-main',
        multi: 'a\nb',
        exported: 'exported value',
        firstPath: '/opt/stand-in/bin'
      })
      expect(existsSync(String(post.outputFile))).toBe(true)
      expect(existsSync(run.runnerTemp)).toBe(true)
    } finally {
      await run.cleanup()
    }
    expect(existsSync(run.runnerTemp)).toBe(false)
  })

  it('reports failure and still runs post', async () => {
    const run = await runAction({
      inputs: { repository: 'r', behaviour: 'fail' },
      actionDir
    })
    await run.cleanup()
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toContain('::error::it broke')
    expect(run.post?.exitCode).toBe(0)
  })

  it('skips post when asked', async () => {
    const run = await runAction({
      inputs: { repository: 'r' },
      runPost: false,
      actionDir
    })
    await run.cleanup()
    expect(run.post).toBeUndefined()
  })

  it('uses the given workspace and keeps it', async () => {
    const workspace = await mkdtemp(join(tmpdir(), 'harness-workspace-'))
    const run = await runAction({
      inputs: { repository: 'r' },
      cwd: workspace,
      runPost: false,
      actionDir
    })
    await run.cleanup()
    expect(jsonAfter(run.stdout, 'context').cwd).toBe(workspace)
    expect(existsSync(workspace)).toBe(true)
    await rm(workspace, { recursive: true })
  })

  it('refuses inputs that action.yml does not declare', async () => {
    await expect(
      runAction({ inputs: { repositry: 'typo' }, actionDir })
    ).rejects.toThrow(/unknown input\(s\) repositry/)
  })

  it('delivers a cancellation signal to main', async () => {
    const run = await runAction({
      inputs: { repository: 'r', behaviour: 'trap' },
      signalAfterMs: { signal: 'SIGINT', ms: 1000 },
      actionDir
    })
    await run.cleanup()
    expect(run.stdout).toContain('waiting\n')
    expect(run.stdout).toContain('cancelled, cleaning up')
    expect(run.exitCode).toBe(3)
    expect(run.post?.exitCode).toBe(0)
  })

  it('counts an unhandled signal as 128 + its number', async () => {
    const run = await runAction({
      inputs: { repository: 'r', behaviour: 'hang' },
      signalAfterMs: { signal: 'SIGTERM', ms: 1000 },
      runPost: false,
      actionDir
    })
    await run.cleanup()
    expect(run.exitCode).toBe(143)
  })

  it('gives up after the timeout, with the output so far', async () => {
    await expect(
      runAction({
        inputs: { repository: 'r', behaviour: 'hang' },
        timeoutMs: 1500,
        actionDir
      })
    ).rejects.toThrow(/did not finish within 1500 ms[^]*waiting/)
  })
})
