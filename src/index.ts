import * as core from '@actions/core'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

import { startEarlyBuild } from './early-build.js'
import { errorMessage } from './errors.js'
import type { run as runMain } from './main.js'
import { post } from './post.js'
import { State } from './state.js'

// One action serves both steps: the main step marks the state, which the
// runner hands to the post step of the same action.
//
// dist/index.js is small on purpose: the post step needs nothing more,
// and the main step starts the build from here, before it loads the rest
// (dist/main/index.js: the AWS SDK and everything after the inputs),
// which takes a Node process longer than starting docker does.
try {
  if (core.getState(State.isPost)) {
    await post()
  } else {
    core.saveState(State.isPost, 'true')
    const early = await startEarlyBuild()
    const { run } = await loadMain()
    await run(early)
  }
} catch (error) {
  // Nothing above should throw (run and post report their own failures);
  // this keeps a minified stack trace out of the log if something does.
  core.setFailed(`ecr-push-action stopped unexpectedly: ${errorMessage(error)}`)
}

async function loadMain(): Promise<{ run: typeof runMain }> {
  const here = path.dirname(fileURLToPath(import.meta.url))
  const main = pathToFileURL(path.join(here, 'main', 'index.js')).href
  // Loaded at run time, not bundled into this file: see .ci/bundle.sh.
  return (await import(/* webpackIgnore: true */ main)) as {
    run: typeof runMain
  }
}
