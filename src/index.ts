import * as core from '@actions/core'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

import { markPhase, watchForCancellation } from './cancel.js'
import { startDirectCalls, type DirectCalls } from './direct-ecr.js'
import { releaseEarlyBuildOutput, startEarlyBuild } from './early-build.js'
import { errorMessage } from './errors.js'
import { readInputs } from './inputs.js'
import type { run as runMain } from './main.js'
import { post } from './post.js'
import { State } from './state.js'

// One action serves both steps: the main step marks the state, which the
// runner hands to the post step of the same action.
//
// dist/index.js is small on purpose: the post step needs nothing more,
// and the main step starts the build and asks ECR for the token and the
// repository from here (src/direct-ecr.ts), before it loads the rest
// (dist/main/index.js), which takes a Node process longer than starting
// docker does.
try {
  if (core.getState(State.isPost)) {
    await post()
  } else {
    core.saveState(State.isPost, 'true')
    // Until the main bundle watches for a cancellation itself, this does:
    // docker may be building already, and the log is held.
    const stopWatching = watchForCancellation(() => {
      releaseEarlyBuildOutput()
      return undefined
    })
    // Asked first: a token that comes back soon enough names the
    // registry, and the build tags the image with it as it builds.
    const direct = directCalls()
    const early = await startEarlyBuild(
      process.env,
      process.cwd(),
      undefined,
      direct?.login.then(login => login?.registry)
    )
    if (early) markPhase('Build')
    const { run } = await loadMain()
    // run() watches from its first line on; this watch ends only then,
    // since a signal that came while no listener was left would be lost.
    const running = run(early, direct)
    stopWatching()
    await running
  }
} catch (error) {
  // Nothing above should throw (run and post report their own failures);
  // this keeps a minified stack trace out of the log if something does.
  core.setFailed(`ecr-push-action stopped unexpectedly: ${errorMessage(error)}`)
}

/**
 * The token and the repository, asked for now when the inputs are good;
 * with bad ones nothing is asked, and the main step says what is wrong.
 */
function directCalls(): DirectCalls | undefined {
  try {
    const settings = readInputs(
      name => core.getInput(name),
      process.env,
      process.cwd()
    )
    return startDirectCalls(settings)
  } catch {
    return undefined
  }
}

async function loadMain(): Promise<{ run: typeof runMain }> {
  const here = path.dirname(fileURLToPath(import.meta.url))
  const main = pathToFileURL(path.join(here, 'main', 'index.js')).href
  // Loaded at run time, not bundled into this file: see .ci/bundle.sh.
  return (await import(/* webpackIgnore: true */ main)) as {
    run: typeof runMain
  }
}
