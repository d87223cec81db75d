/**
 * The AWS SDK side of the main step, bundled on its own into
 * dist/sdk/index.js: most of the main step's code by size, and most of
 * its start-up time. The main step loads it through src/sdk-loader.ts on
 * the first call that needs the SDK. A run whose token and repository
 * lookup the entry got without it (src/direct-ecr.ts), and which needs no
 * other call, never loads it.
 *
 * Only what the main step uses is named here, so the rest of the ECR
 * client is left out of the bundle; the STS, IAM and ECR Public clients
 * are chunks of their own, loaded by the runs that use them.
 */
export {
  CreateRepositoryCommand,
  DescribeImageScanFindingsCommand,
  DescribeRepositoriesCommand,
  GetAuthorizationTokenCommand,
  GetLifecyclePolicyCommand,
  GetRepositoryPolicyCommand,
  PutLifecyclePolicyCommand,
  SetRepositoryPolicyCommand
} from '@aws-sdk/client-ecr'

export { awsClientConfig, createEcrClient } from './aws.js'

/** The STS client: the permission check and cross-account advice only. */
export const loadSts = () => import('@aws-sdk/client-sts')

/** The IAM client: the permission check only. */
export const loadIam = () => import('@aws-sdk/client-iam')

/** The ECR Public client: registry-type public only. */
export const loadEcrPublic = () => import('@aws-sdk/client-ecr-public')
