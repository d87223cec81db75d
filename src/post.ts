import * as core from '@actions/core'
import { existsSync } from 'node:fs'

import * as dockerCli from './docker.js'
import { removePrivateDockerConfig } from './docker-config.js'
import { errorMessage } from './errors.js'
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
    try {
      await dockerCli.logout({ configDir }, registry)
      core.info(`Logged out of ${registry}`)
    } catch (error) {
      core.warning(`Could not log out of ${registry}: ${errorMessage(error)}`)
    }
  }
}
