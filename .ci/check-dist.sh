#!/usr/bin/env bash
# Fails when dist/ is not what `npm run bundle` makes of src/: the runner
# executes dist/, so a stale bundle ships code nobody reviewed.
set -euo pipefail
cd "$(dirname "$0")/.."

npm run -s bundle >/dev/null 2>&1 || { npm run bundle; exit 1; }
changes=$(git status --porcelain -- dist)
if [ -n "$changes" ]; then
  echo "dist/ does not match src/. Run 'npm run bundle' and commit dist/:" >&2
  echo "$changes" >&2
  exit 1
fi
echo "dist/ matches src/"
