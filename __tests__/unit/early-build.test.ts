import {
  afterEach,
  beforeEach,
  describe,
  expect,
  jest,
  test
} from '@jest/globals'
import type { ExecOptions, ExecOutput } from '@actions/exec'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { Writable } from 'node:stream'

import { core, inputs, logged, resetCore } from '../fixtures/core.js'
import { IMAGE_ID } from '../fixtures/docker-output.js'
import { dockerCalls, exec, failed, ok } from '../fixtures/exec.js'
import { makeSettings } from '../fixtures/settings.js'
import { removeTempDirs, tempDir } from '../fixtures/tmp.js'

jest.unstable_mockModule('@actions/core', () => core)
jest.unstable_mockModule('@actions/exec', () => exec)

const { dockerfileBlocker, settingsBlocker, startEarlyBuild } =
  await import('../../src/early-build.js')

const ECR_BASE = '123456789012.dkr.ecr.us-east-1.amazonaws.com/base/node:20'

describe('settingsBlocker', () => {
  test('a plain build may start at once', () => {
    expect(settingsBlocker(makeSettings())).toBeUndefined()
  })

  test.each([
    [{ validatePermissions: true }, 'validate-permissions'],
    [{ image: 'my-app:1' }, 'image input'],
    [{ sourceTag: 'rc' }, 'source-tag'],
    [{ skipExisting: true }, 'skip-existing'],
    [{ mergeSources: ['a'] }, 'merge-sources'],
    [{ platforms: ['linux/arm64'] }, 'platforms'],
    [{ attestations: true }, 'attestations needs buildx'],
    [{ cacheTag: 'cache' }, 'cache-tag cache needs buildx'],
    [{ cacheFrom: ['type=gha'] }, 'cache-from needs buildx']
  ])('%j builds after the AWS calls: %s', (overrides, reason) => {
    expect(settingsBlocker(makeSettings(overrides))).toContain(reason)
  })
})

describe('dockerfileBlocker', () => {
  test.each([
    ['FROM scratch\nCOPY app /app\n'],
    ['FROM node:20 AS build\nRUN npm ci\nFROM build\n'],
    ['FROM --platform=$BUILDPLATFORM golang:1.23\n'],
    ['FROM public.ecr.aws/docker/library/alpine:3\n'],
    ['FROM alpine\nCOPY --from=build /out /out\n'],
    [`# FROM ${ECR_BASE}\nFROM scratch\n`],
    ['ARG VERSION=1\nFROM alpine:3\nRUN echo $VERSION\n']
  ])('%j needs no login to build', dockerfile => {
    expect(dockerfileBlocker(dockerfile)).toBeUndefined()
  })

  test.each([
    [`FROM ${ECR_BASE}\n`, 'is in ECR'],
    [`from ${ECR_BASE} as base\n`, 'is in ECR'],
    [`FROM --platform=linux/amd64 ${ECR_BASE}\n`, 'is in ECR'],
    [`FROM \\\n  ${ECR_BASE}\n`, 'is in ECR'],
    [`FROM scratch\nCOPY --from=${ECR_BASE} /x /x\n`, 'is in ECR'],
    [
      `FROM alpine\nRUN --mount=type=bind,from=${ECR_BASE},target=/m ls\n`,
      'is in ECR'
    ],
    [
      'FROM 123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/b\n',
      'is in ECR'
    ],
    ['FROM 123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/b\n', 'is in ECR'],
    ['ARG BASE\nFROM ${BASE}\n', 'comes from a build argument'],
    ['ARG BASE\nFROM $BASE:1\n', 'comes from a build argument'],
    ['FROM alpine\nCOPY --from=$STAGE /a /a\n', 'comes from a build argument']
  ])('%j builds after the login: %s', (dockerfile, reason) => {
    expect(dockerfileBlocker(dockerfile)).toContain(reason)
  })
})

describe('startEarlyBuild', () => {
  let context: string
  let held: { log: Writable; release: jest.Mock; written: string[] }

  function holdOutput() {
    const written: string[] = []
    held = {
      written,
      log: new Writable({
        write(chunk: Buffer, _encoding, next) {
          written.push(chunk.toString('utf8'))
          next()
        }
      }),
      release: jest.fn()
    }
    return held
  }

  /** docker build, as @actions/exec runs it: spawned, then done. */
  function dockerBuild(
    result: () => Promise<ExecOutput> = async () => ok('')
  ): void {
    exec.getExecOutput.mockImplementation(async (_command, args, options) => {
      const list = args ?? []
      options?.listeners?.debug?.('exec tool: /usr/bin/docker')
      const idFile = list[list.indexOf('--iidfile') + 1] ?? ''
      const output = await result()
      if (output.exitCode === 0) writeFileSync(idFile, `${IMAGE_ID}\n`)
      return output
    })
  }

  /** docker build that runs until the test finishes it. */
  function slowDockerBuild(): (output: ExecOutput) => void {
    let finish: (output: ExecOutput) => void = () => undefined
    dockerBuild(
      () =>
        new Promise<ExecOutput>(resolve => {
          finish = resolve
        })
    )
    return output => finish(output)
  }

  function start(
    dockerfile = 'FROM scratch\nCOPY a /a\n',
    registry?: Promise<string | undefined>
  ) {
    writeFileSync(path.join(context, 'Dockerfile'), dockerfile)
    return startEarlyBuild(
      {},
      context,
      {
        readDockerfile: file => {
          expect(file).toBe(path.join(context, 'Dockerfile'))
          return dockerfile
        },
        holdOutput
      },
      registry
    )
  }

  beforeEach(() => {
    resetCore()
    exec.getExecOutput.mockReset()
    context = tempDir('ecr-push-early-')
    inputs.repository = 'shop/api'
    inputs.tags = 'latest'
    inputs.context = context
    inputs.region = 'us-east-1'
  })

  afterEach(() => {
    removeTempDirs()
  })

  test('starts docker build with no tag, streaming to the log', async () => {
    dockerBuild()
    inputs['build-args'] = 'MODE=release'

    const early = await start()
    expect(early).toBeDefined()
    await expect(early?.imageId).resolves.toBe(IMAGE_ID)

    const [args] = dockerCalls()
    expect(args?.slice(0, 2)).toEqual(['build', '--file'])
    expect(args).not.toContain('--tag')
    expect(args).toEqual(
      expect.arrayContaining(['--build-arg', 'MODE=release', context])
    )
    const options = exec.getExecOutput.mock.calls[0]?.[2] as ExecOptions
    expect(options.outStream).toBe(held.log)
    expect(core.startGroup).toHaveBeenCalledWith('Build')
  })

  describe('with the registry host on its way', () => {
    const HOST = '123456789012.dkr.ecr.us-east-1.amazonaws.com'

    test('in time: docker tags the image with every reference', async () => {
      dockerBuild()
      inputs.tags = 'latest\n1.0'

      const early = await start(undefined, Promise.resolve(HOST))

      const references = [`${HOST}/shop/api:latest`, `${HOST}/shop/api:1.0`]
      expect(early?.references).toEqual(references)
      const [args] = dockerCalls()
      expect(args).toEqual(
        expect.arrayContaining(['--tag', references[0], '--tag', references[1]])
      )
    })

    test('never coming: the build starts untagged all the same', async () => {
      dockerBuild()

      const early = await start(undefined, new Promise<string>(() => undefined))

      expect(early?.references).toEqual([])
      expect(dockerCalls()[0]).not.toContain('--tag')
    })

    test.each([
      ['no host', Promise.resolve(undefined)],
      ['a failure', Promise.reject(new Error('offline'))]
    ])('%s: the build starts untagged', async (_name, registry) => {
      dockerBuild()

      const early = await start(undefined, registry)

      expect(early?.references).toEqual([])
      expect(dockerCalls()[0]).not.toContain('--tag')
    })
  })

  test('closes its group and lets held output through once built', async () => {
    dockerBuild()

    const early = await start()
    await early?.imageId
    await new Promise(resolve => setImmediate(resolve))

    expect(held.written.join('')).toBe(`Built ${IMAGE_ID}\n::endgroup::\n`)
    expect(held.release).toHaveBeenCalledTimes(1)
  })

  test('resolves as soon as docker is spawned, not when it is done', async () => {
    const finish = slowDockerBuild()

    const early = await start()
    const settled = jest.fn()
    void early?.imageId.then(settled)
    await new Promise(resolve => setImmediate(resolve))

    expect(settled).not.toHaveBeenCalled()
    expect(held.release).not.toHaveBeenCalled()
    finish(ok(''))
    await expect(early?.imageId).resolves.toBe(IMAGE_ID)
  })

  test("a failed build rejects with docker's words and releases the log", async () => {
    dockerBuild(async () => failed(1, 'COPY failed: file not found: a'))

    const early = await start()

    await expect(early?.imageId).rejects.toThrow(
      'COPY failed: file not found: a'
    )
    await new Promise(resolve => setImmediate(resolve))
    expect(held.written.join('')).toBe('::endgroup::\n')
    expect(held.release).toHaveBeenCalledTimes(1)
  })

  test('release ends the group first, once, before docker is done', async () => {
    const finish = slowDockerBuild()
    const early = await start()

    early?.release()
    expect(held.written.join('')).toBe('::endgroup::\n')
    expect(held.release).toHaveBeenCalledTimes(1)

    finish(failed(130, 'cancelled'))
    await expect(early?.imageId).rejects.toThrow('cancelled')
    await new Promise(resolve => setImmediate(resolve))
    expect(held.written.join('')).toBe('::endgroup::\n')
    expect(held.release).toHaveBeenCalledTimes(1)
  })

  test('stop waits for the build to end', async () => {
    const finish = slowDockerBuild()
    const early = await start()

    const stopped = jest.fn()
    const stopping = early?.stop().then(stopped)
    // Nothing named docker build runs below this test: stop only waits.
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(stopped).not.toHaveBeenCalled()

    finish(failed(143, 'terminated'))
    await stopping
    expect(stopped).toHaveBeenCalled()
    expect(held.release).toHaveBeenCalled()
  })

  test('bad inputs start nothing: the main step reports them', async () => {
    dockerBuild()
    inputs.repository = 'Shop/API'

    await expect(start()).resolves.toBeUndefined()
    expect(exec.getExecOutput).not.toHaveBeenCalled()
    expect(core.startGroup).not.toHaveBeenCalled()
  })

  test('validate-permissions starts nothing before the check', async () => {
    dockerBuild()
    inputs['validate-permissions'] = 'true'

    await expect(start()).resolves.toBeUndefined()
    expect(exec.getExecOutput).not.toHaveBeenCalled()
  })

  test('a base image in ECR waits for the login', async () => {
    dockerBuild()

    await expect(start(`FROM ${ECR_BASE}\n`)).resolves.toBeUndefined()
    expect(exec.getExecOutput).not.toHaveBeenCalled()
    expect(logged(core.debug)).toContain('is in ECR')
  })

  test('a Dockerfile it cannot read starts nothing', async () => {
    dockerBuild()
    inputs.context = context

    const early = await startEarlyBuild({}, context, {
      readDockerfile: () => {
        throw new Error('EACCES')
      },
      holdOutput
    })

    expect(early).toBeUndefined()
    expect(exec.getExecOutput).not.toHaveBeenCalled()
  })
})
