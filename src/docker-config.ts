import * as core from '@actions/core'
import { randomUUID } from 'node:crypto'
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/** The docker config directory docker uses when nothing overrides it. */
export function userDockerConfigDir(env: NodeJS.ProcessEnv): string {
  return env.DOCKER_CONFIG || path.join(os.homedir(), '.docker')
}

/**
 * Makes a docker config directory that only this step uses, so the
 * registry password lands in a file this step deletes, not in the job's
 * config where later steps and other jobs on the runner would find it.
 *
 * It is seeded from the user's config so that logins for base images keep
 * working, and links the rest of the user's directory (cli-plugins, buildx
 * builders, contexts) so docker behaves as it did.
 */
export function createPrivateDockerConfig(
  userDir: string,
  parentDir: string,
  registry: string
): string {
  const dir = path.join(parentDir, `ecr-push-${randomUUID()}`)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  try {
    seed(dir, userDir, registry)
  } catch (error) {
    removePrivateDockerConfig(dir)
    throw error
  }
  return dir
}

function seed(dir: string, userDir: string, registry: string): void {
  const config = readUserConfig(userDir)
  // A credential store would keep the password beyond the step, outside
  // the directory that is deleted: the private config stores it in a file.
  if (config.credsStore !== undefined) {
    core.warning(
      `Your docker config uses the credential store "${String(config.credsStore)}"; ` +
        'this step logs in without it, so the ECR password stays in a file ' +
        'deleted when the step ends. Logins held only in that store are not ' +
        'visible to this build.'
    )
    delete config.credsStore
  }
  const helpers = config.credHelpers
  if (helpers && typeof helpers === 'object') {
    delete (helpers as Record<string, unknown>)[registry]
  }
  writeFileSync(
    path.join(dir, 'config.json'),
    JSON.stringify(config, null, 2),
    { mode: 0o600 }
  )

  linkUserEntries(userDir, dir)
}

function readUserConfig(userDir: string): Record<string, unknown> {
  const file = path.join(userDir, 'config.json')
  if (!existsSync(file)) return {}
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'))
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return parsed as Record<string, unknown>
    }
  } catch {
    // Fall through: an unreadable config is as good as none for us.
  }
  core.warning(`Ignoring ${file}: it is not a JSON object`)
  return {}
}

function linkUserEntries(userDir: string, dir: string): void {
  if (!existsSync(userDir)) return
  for (const entry of readdirSync(userDir)) {
    if (entry === 'config.json') continue
    symlinkSync(path.join(userDir, entry), path.join(dir, entry))
  }
}

/** Removes a private config; links are removed, never what they point to. */
export function removePrivateDockerConfig(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}
