// Small helpers the end-to-end tests share: unique names, throwaway apps to
// build, docker and ECR calls to check what a run left behind.
import { DescribeRepositoriesCommand, ECRClient } from '@aws-sdk/client-ecr'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// The registry outlives moto restarts: every test uses names of its own.
export const unique = (): string => randomBytes(4).toString('hex')

/** Runs a command without a shell; rejects with its stderr on failure. */
export function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string } = {}
): Promise<string> {
  return new Promise((resolveRun, rejectRun) => {
    const child = execFile(
      command,
      args,
      { env: options.env ?? process.env, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        if (error) {
          rejectRun(new Error(`${command} ${args.join(' ')}: ${stderr}`))
        } else {
          resolveRun(stdout)
        }
      }
    )
    child.stdin?.on('error', () => {})
    child.stdin?.end(options.input)
  })
}

/** The references an image has in the engine (RepoTags). */
export async function localTags(imageId: string): Promise<string[]> {
  const output = await run('docker', [
    'image',
    'inspect',
    '--format',
    '{{json .RepoTags}}',
    imageId
  ])
  return JSON.parse(output) as string[]
}

/**
 * A workspace with an app to build: a FROM scratch Dockerfile (no network
 * needed) and the files given, relative to the workspace root.
 */
export async function makeApp(
  files: Record<string, string> = {}
): Promise<string> {
  const workspace = await mkdtemp(join(tmpdir(), 'ecr-push-e2e-'))
  const all: Record<string, string> = {
    Dockerfile: 'FROM scratch\nCOPY hello.txt /\n',
    'hello.txt': `hello ${unique()}\n`,
    ...files
  }
  for (const [name, content] of Object.entries(all)) {
    await writeFile(join(workspace, name), content)
  }
  return workspace
}

/** A docker config directory of its own, logged in to the local ECR. */
export async function loggedInDockerConfig(
  registry: string,
  password: string
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ecr-push-e2e-docker-'))
  await run(
    'docker',
    ['login', '--username', 'AWS', '--password-stdin', registry],
    { env: { ...process.env, DOCKER_CONFIG: dir }, input: password }
  )
  return dir
}

export function ecrClient(): ECRClient {
  return new ECRClient({ region: process.env.AWS_REGION ?? 'us-east-1' })
}

/** The repository as the ECR API describes it, or undefined. */
export async function describeRepository(name: string) {
  try {
    const response = await ecrClient().send(
      new DescribeRepositoriesCommand({ repositoryNames: [name] })
    )
    return response.repositories?.[0]
  } catch (error) {
    if ((error as Error).name === 'RepositoryNotFoundException') {
      return undefined
    }
    throw error
  }
}

/** A step's log without the mask commands, which the runner never shows. */
export function withoutMasks(log: string): string {
  return log
    .split('\n')
    .filter(line => !line.startsWith('::add-mask::'))
    .join('\n')
}

/**
 * The write requests (blob uploads, manifest puts) the registry's access
 * log holds for one repository: proof of what was uploaded that does not
 * rely on the action's word.
 */
export function registryWrites(repository: string): string[] {
  const dir = process.env.LOCAL_ECR_DIR ?? ''
  const log = join(dir, 'logs', 'registry.log')
  if (!existsSync(log)) throw new Error(`no registry access log at ${log}`)
  const write = new RegExp(
    `"(?:PUT|POST|PATCH|DELETE) /v2/${repository.replace(/[.]/g, '\\.')}/`
  )
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter(line => write.test(line))
}

/** Command lines of running processes that mention `text`. */
export function processesMentioning(text: string): string[] {
  const found: string[] = []
  for (const pid of readdirSync('/proc').filter(name => /^\d+$/.test(name))) {
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        .split('\0')
        .join(' ')
      if (command.includes(text) && !command.includes('jest')) {
        found.push(`${pid}: ${command}`)
      }
    } catch {
      // Gone while we looked.
    }
  }
  return found
}

/** The pid of the action's node process running in a workspace. */
export function actionPid(workspace: string): number {
  for (const pid of readdirSync('/proc').filter(name => /^\d+$/.test(name))) {
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      if (
        command.includes('dist/index.js') &&
        readlinkSync(`/proc/${pid}/cwd`) === workspace
      ) {
        return Number(pid)
      }
    } catch {
      // Gone, or not ours to read.
    }
  }
  throw new Error(`no action process runs in ${workspace}`)
}
