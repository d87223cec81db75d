#!/usr/bin/env bash
# Rebuilds dist/ from src/. ncc writes into its output directory without
# emptying it, so the chunks of the lazily loaded AWS clients would pile
# up under new names; it builds elsewhere instead, and dist/ is replaced
# only when the build succeeded, so a failed build leaves the last one.
# licenses.txt comes from .ci/licenses.mjs: ncc's own lists the packages
# of one chunk only.
# The source maps are kept beside the bundle but not registered at start-up,
# which costs every step tens of milliseconds; node --enable-source-maps
# reads them when a stack trace is wanted.
# ncc minifies the entry file only: the chunks of the lazily loaded AWS
# clients are minified here, their source maps carried through, so that
# they count for what they need in dist/'s size.
set -euo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ncc build src/index.ts -o "$out" --minify --source-map --no-source-map-register
for chunk in "$out"/*.index.js; do
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
