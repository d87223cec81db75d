import * as core from '@actions/core'

import { run } from './main.js'
import { post } from './post.js'
import { State } from './state.js'

// One bundle serves both steps: the main step marks the state, which the
// runner hands to the post step of the same action.
if (core.getState(State.isPost)) {
  await post()
} else {
  core.saveState(State.isPost, 'true')
  await run()
}
