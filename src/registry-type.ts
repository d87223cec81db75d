/**
 * registry-type: the one place a run picks between private ECR in the
 * job's region and ECR Public. Both ways give main.ts the same four
 * things, so the phases compose them alike.
 */
import type { Repository } from '@aws-sdk/client-ecr'

import { getRegistryLogin, type RegistryLogin } from './auth.js'
import { createRepository, type DirectCalls } from './direct-ecr.js'
import {
  createEcrPublicClient,
  ensurePublicRepository,
  findPublicRepository,
  getPublicLogin,
  publicRegistryPath
} from './ecr-public.js'
import { ActionError } from './errors.js'
import type { Settings } from './inputs.js'
import {
  ensureRepository,
  findRepository,
  type RepositoryState
} from './repository.js'
import { lazyEcrClient } from './sdk-loader.js'

/** Where the repository is, for docker and for the registry API. */
export interface RepositoryLocation {
  /** `<registry>/<path>`: what docker pushes to and the outputs name. */
  repositoryUri: string
  /** The repository as the registry API names it (`/v2/<path>/…`). */
  registryPath: string
}

export interface RegistryWay {
  /** The login, asked for the moment the way is opened. */
  login: Promise<RegistryLogin>
  /** The repository lookup, asked for beside the login. */
  lookup: Promise<Repository | undefined>
  /** Finds or creates the repository, from the lookup already made. */
  ensure(): Promise<RepositoryState>
  locate(login: RegistryLogin, repository: RepositoryState): RepositoryLocation
}

/**
 * Starts the login and the lookup of the registry the inputs name, or
 * takes them from the entry's direct calls, where it made them.
 */
export function openRegistry(
  settings: Settings,
  direct?: DirectCalls
): RegistryWay {
  return settings.registryType === 'public'
    ? openPublic(settings)
    : openPrivate(settings, direct)
}

function openPrivate(settings: Settings, direct?: DirectCalls): RegistryWay {
  // Made, and the SDK loaded, by the first call that needs it.
  const ecr = lazyEcrClient(settings.region, settings)
  const lookup = direct
    ? direct.repository.then(found =>
        found ? found.repository : findRepository(ecr, settings)
      )
    : findRepository(ecr, settings)
  const login = direct
    ? direct.login.then(
        got => got ?? getRegistryLogin(ecr, settings.registryId)
      )
    : getRegistryLogin(ecr, settings.registryId)
  return {
    login,
    lookup,
    ensure: () =>
      ensureRepository(
        ecr,
        settings,
        lookup,
        direct && (request => createRepository(direct, request))
      ),
    // The token names the registry host; the repository is the input.
    locate: login => ({
      repositoryUri: `${login.registry}/${settings.repository}`,
      registryPath: settings.repository
    })
  }
}

function openPublic(settings: Settings): RegistryWay {
  const ecr = createEcrPublicClient(settings)
  const lookup = ecr.then(client => findPublicRepository(client, settings))
  return {
    login: ecr.then(getPublicLogin),
    lookup,
    ensure: async () => ensurePublicRepository(await ecr, settings, lookup),
    // The URI names the registry's alias, which only ECR Public knows;
    // the registry API finds the repository under <alias>/<name>.
    locate: (_login, repository) => {
      if (!repository.uri) {
        throw new ActionError(
          `ECR Public gave no URI for repository ${settings.repository}`
        )
      }
      return {
        repositoryUri: repository.uri,
        registryPath: publicRegistryPath(repository.uri)
      }
    }
  }
}
