#!/usr/bin/env bash
# Rebuilds dist/ from src/. ncc writes into its output directory without
# emptying it, so the chunks of the lazily loaded AWS clients would pile
# up under new names; it builds elsewhere instead, and dist/ is replaced
# only when the build succeeded, so a failed build leaves the last one.
# licenses.txt comes from .ci/licenses.mjs: ncc's own lists the packages
# of one chunk only.
# Three bundles: dist/index.js, the entry, holds the post step and what
# the main step needs to start the build (inputs, docker) and to ask ECR
# for the token and the repository (src/direct-ecr.ts); dist/main/index.js
# holds the rest of the main step, which the entry loads once docker
# runs; dist/sdk/index.js holds the AWS SDK (src/sdk.ts), which the main
# step loads on the first call that needs it. Lazily loaded chunks would
# do the same, but webpack then puts the SDK in a chunk where it is not
# tree-shaken: twice the size. The entry's bundle also leaves out
# @actions/http-client (tsconfig.json "paths", src/excluded/).
# The source maps are kept beside the bundle but not registered at start-up,
# which costs every step tens of milliseconds; node --enable-source-maps
# reads them when a stack trace is wanted.
# ncc minifies the entry file only: the chunks of the lazily loaded AWS
# clients are minified here, their source maps carried through, so that
# they count for what they need in dist/'s size.
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ncc build src/index.ts -o "$out" --minify --source-map --no-source-map-register
ncc build src/main.ts -o "$out/main" --minify --source-map \
  --no-source-map-register
ncc build src/sdk.ts -o "$out/sdk" --minify --source-map \
  --no-source-map-register
for chunk in "$out"/*.index.js "$out"/main/*.index.js "$out"/sdk/*.index.js; do
  name=$(basename "$chunk")
  terser "$chunk" --module --compress --mangle --output "$chunk.min" \
    --source-map "content='$chunk.map',url='$name.map',includeSources"
  mv "$chunk.min" "$chunk"
  mv "$chunk.min.map" "$chunk.map"
done
node .ci/licenses.mjs "$out"
chmod 755 "$out"
rm -rf dist
mv "$out" dist
