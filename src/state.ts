/**
 * Names of what the main step leaves in GITHUB_STATE for the post step.
 * The post step runs even when the main step failed or was cancelled.
 */
export const State = {
  /** Set by the main step, so the same bundle knows it runs as post. */
  isPost: 'is-post',
  /** A private docker config the main step may not have removed. */
  privateDockerConfig: 'private-docker-config',
  /** Registry that keep-login left logged in. */
  loggedInRegistry: 'logged-in-registry',
  /** DOCKER_CONFIG of that login ('' for docker's default). */
  loggedInDockerConfig: 'logged-in-docker-config',
  /** network-timeout in milliseconds, which bounds that logout too. */
  logoutTimeoutMs: 'logout-timeout-ms'
} as const
