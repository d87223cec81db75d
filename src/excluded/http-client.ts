/**
 * What the bundle has in place of @actions/http-client (tsconfig.json
 * "paths"; jest and type checks of our own code never see it).
 *
 * @actions/core imports the HTTP client, and undici with it, for one
 * function: getIDToken, which asks the runner for an OIDC token. This
 * action never calls it; credentials come from the AWS SDK's chain. Left
 * in, the client is 440 kB that every step parses before it can start
 * the build. Should a later change call getIDToken, it fails here, with
 * this message, instead of quietly doing nothing.
 */
const EXCLUDED =
  '@actions/http-client is not in this bundle: @actions/core getIDToken ' +
  'is not used by ecr-push-action (see src/excluded/http-client.ts)'

export class HttpClient {
  constructor() {
    throw new Error(EXCLUDED)
  }
}

export class BearerCredentialHandler {
  constructor() {
    throw new Error(EXCLUDED)
  }
}
