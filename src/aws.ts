import { ECRClient } from '@aws-sdk/client-ecr'

export const USER_AGENT = 'ecr-push-action'

/**
 * The ECR API client. Credentials come from the SDK's default chain (the
 * environment that configure-aws-credentials sets, web identity, a
 * profile, an instance role), and AWS_ENDPOINT_URL is honoured by the SDK
 * itself, which is how tests point it at a local ECR.
 */
export function createEcrClient(region: string): ECRClient {
  return new ECRClient({
    region,
    customUserAgent: USER_AGENT
  })
}
