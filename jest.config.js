// Unit tests mock AWS and docker; e2e tests run the committed bundle against
// the local ECR (.ci/local-ecr.sh) and need it running.
const tsJest = [
  'ts-jest',
  {
    useESM: true,
    tsconfig: 'tsconfig.json',
    diagnostics: { ignoreCodes: [151002] }
  }
]
const shared = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': tsJest },
  testEnvironment: 'node'
}
export default {
  projects: [
    {
      ...shared,
      displayName: 'unit',
      testMatch: ['<rootDir>/__tests__/unit/**/*.test.ts']
    },
    {
      ...shared,
      displayName: 'e2e',
      testMatch: ['<rootDir>/__tests__/e2e/**/*.test.ts'],
      // What the tests build is removed from the engine after the run.
      globalSetup: '<rootDir>/__tests__/e2e/global-setup.ts',
      globalTeardown: '<rootDir>/__tests__/e2e/global-teardown.ts'
    }
  ]
}
