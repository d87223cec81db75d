import * as core from '@actions/core'
import { existsSync } from 'node:fs'

import * as dockerCli from './docker.js'
import { removePrivateDockerConfig } from './docker-config.js'
import { errorMessage } from './errors.js'
import { DEFAULT_NETWORK_TIMEOUT, seconds } from './limits.js'
import { State } from './state.js'

/**
 * The post step: undoes what the main step left for the job. It runs even
 * when the main step failed or was cancelled, and only ever warns: a
 * cleanup problem must not turn a good build red.
 */
export async function post(): Promise<void> {
  try {
    await undo()
  } catch (error) {
    core.warning(`Cleanup failed: ${errorMessage(error)}`)
  }
}

async function undo(): Promise<void> {
  const privateConfig = core.getState(State.privateDockerConfig)
  if (privateConfig && existsSync(privateConfig)) {
    try {
      removePrivateDockerConfig(privateConfig)
      core.info('Removed the docker config the main step left behind')
    } catch (error) {
      core.warning(`Could not remove ${privateConfig}: ${errorMessage(error)}`)
    }
  }

  const registry = core.getState(State.loggedInRegistry)
  if (registry) {
    const configDir = core.getState(State.loggedInDockerConfig) || undefined
    // A credential helper that waits for a prompt must not hold the job.
    const saved = Number(core.getState(State.logoutTimeoutMs))
    const deadline = {
      ms:
        Number.isInteger(saved) && saved > 0
          ? saved
          : seconds(DEFAULT_NETWORK_TIMEOUT),
      input: 'network-timeout'
    }
    try {
      await dockerCli.logout({ configDir }, registry, deadline)
      core.info(`Logged out of ${registry}`)
    } catch (error) {
      core.warning(`Could not log out of ${registry}: ${errorMessage(error)}`)
    }
  }
}
