#!/usr/bin/env bash
# Every test: type check, format, dist check, unit tests, then end-to-end
# tests against the local ECR (Docker Engine, registry, moto), which this
# script starts. Under CI=true nothing may be skipped: a part that cannot
# start fails the run with its reason.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "::group::npm ci"
  npm ci --no-audit --no-fund
  echo "::endgroup::"
fi

echo "::group::Type check and format"
npx tsc --noEmit -p .
npx prettier --check . >/dev/null || { npx prettier --check .; exit 1; }
echo "::endgroup::"

echo "::group::dist/ is current"
bash .ci/check-dist.sh
echo "::endgroup::"

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

echo "::group::Unit tests"
npm run -s test:unit -- --json --outputFile="$results/unit.json"
echo "::endgroup::"

echo "::group::Local ECR"
bash .ci/local-ecr.sh start
eval "$(bash .ci/local-ecr.sh env)"
echo "::endgroup::"

echo "::group::End-to-end tests"
npm run -s test:e2e -- --json --outputFile="$results/e2e.json"
echo "::endgroup::"

# One closing line for both suites, in the plain form CI reads.
node -e '
  let passed = 0, failed = 0
  for (const file of process.argv.slice(1)) {
    const run = JSON.parse(require("fs").readFileSync(file, "utf8"))
    passed += run.numPassedTests
    failed += run.numFailedTests
  }
  console.log(`${passed} passed, ${failed} failed`)
' "$results/unit.json" "$results/e2e.json"
