#!/usr/bin/env bash
# The demo: starts the local ECR, builds a small app with the bundled action
# exactly as the GitHub runner would run it, shows the outputs and the job
# summary, then pulls the image back by its digest with a clean docker
# config and reads a file out of it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

if [ "$(id -u)" != 0 ]; then
  echo "The demo needs root: it installs Debian packages when missing, adds an" >&2
  echo "/etc/hosts entry and a CA for docker, and may start dockerd." >&2
  echo "Run it as root (sudo npm run demo)." >&2
  exit 1
fi
for tool in node python3; do
  command -v "$tool" >/dev/null || { echo "The demo needs $tool on PATH." >&2; exit 1; }
done
[ -f "$root/dist/index.js" ] || { echo "dist/index.js is missing: run npm run bundle." >&2; exit 1; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Starting the local ECR (Docker Engine, registry, moto)"
bash "$root/.ci/local-ecr.sh" start
eval "$(bash "$root/.ci/local-ecr.sh" env)"

work=$(mktemp -d /tmp/ecr-push-demo.XXXXXX)
pull_config=$(mktemp -d /tmp/ecr-push-demo-pull.XXXXXX)
trap 'rm -rf "$work" "$pull_config"' EXIT

step "Writing the example app in $work/app"
mkdir -p "$work/app" "$work/runner"
cat >"$work/app/Dockerfile" <<'EOF'
# No base image to download: the app is one file in an empty image.
FROM scratch
ARG GREETING=hello
LABEL org.example.greeting=$GREETING
COPY message.txt /message.txt
EOF
echo "Built by ecr-push-action at $(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$work/app/message.txt"
cat "$work/app/Dockerfile"

# The runner's side: one file per file command, and the inputs as INPUT_*.
for file in output state env path summary; do : >"$work/runner/$file"; done
runner_env=(
  GITHUB_ACTIONS=true
  GITHUB_WORKSPACE="$work"
  RUNNER_TEMP="$work/runner"
  GITHUB_OUTPUT="$work/runner/output"
  GITHUB_STATE="$work/runner/state"
  GITHUB_ENV="$work/runner/env"
  GITHUB_PATH="$work/runner/path"
  GITHUB_STEP_SUMMARY="$work/runner/summary"
  DOCKER_CONFIG="$work/runner/job-docker-config"
  "INPUT_REPOSITORY=demo/hello"
  "INPUT_TAGS=demo-$(date +%s)
latest"
  "INPUT_CONTEXT=app"
  "INPUT_BUILD-ARGS=GREETING=hello from the demo"
  "INPUT_PUSH=true"
  "INPUT_CREATE-REPOSITORY=true"
  "INPUT_KEEP-LOGIN=false"
)

step "Running the action (node dist/index.js, as the runner does)"
status=0
(cd "$work" && env "${runner_env[@]}" node "$root/dist/index.js") || status=$?

step "Running the post step"
# The runner hands the main step's saved state to the post step as STATE_*.
mapfile -t state_env < <(python3 - "$work/runner/state" <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
i = 0
while i < len(lines):
    if "<<" in lines[i]:
        name, delim = lines[i].split("<<", 1)
        j = lines.index(delim, i + 1)
        print(f"STATE_{name}=" + "\n".join(lines[i + 1:j]))
        i = j
    i += 1
PY
)
(cd "$work" && env "${runner_env[@]}" "${state_env[@]}" node "$root/dist/index.js")

outputs_json=$(python3 - "$work/runner/output" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().split("\n")
out, i = {}, 0
while i < len(lines):
    if "<<" in lines[i]:
        name, delim = lines[i].split("<<", 1)
        j = lines.index(delim, i + 1)
        out[name] = "\n".join(lines[i + 1:j])
        i = j
    i += 1
print(json.dumps(out, indent=2))
PY
)
step "Outputs"
echo "$outputs_json"
step "Job summary (Markdown/HTML, as GitHub renders it on the run page)"
cat "$work/runner/summary"

if [ "$status" != 0 ]; then
  echo "The action failed (exit $status); see its log above." >&2
  exit "$status"
fi

output() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$outputs_json" "$1"; }
image_uri=$(output image-uri)
# Drop the local copy, so the pull below really comes from the registry.
docker image rm --force "$(output image-id)" >/dev/null
step "Pulling $image_uri with a clean docker config"
export DOCKER_CONFIG="$pull_config"
printf '%s' "$LOCAL_ECR_PASSWORD" | docker login --username AWS --password-stdin "$LOCAL_ECR_REGISTRY" >/dev/null
docker pull "$image_uri"
container=$(docker create "$image_uri" /none)
echo "message.txt in the pulled image:"
docker cp "$container:/message.txt" - | tar -xO
docker rm "$container" >/dev/null
echo "label org.example.greeting: $(docker image inspect --format '{{index .Config.Labels "org.example.greeting"}}' "$image_uri")"
docker logout "$LOCAL_ECR_REGISTRY" >/dev/null

step "Done"
echo "The local ECR keeps running; stop it with: bash .ci/local-ecr.sh stop"
