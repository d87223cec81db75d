#!/usr/bin/env bash
# A local stand-in for Amazon ECR, for the end-to-end tests and the demo.
#
#   bash .ci/local-ecr.sh start    install what is missing, start what is down
#   bash .ci/local-ecr.sh stop     stop what this script started
#   bash .ci/local-ecr.sh status   exit 0 only when everything answers
#   bash .ci/local-ecr.sh env      `export NAME='value'` lines to eval
#
# Pieces: moto_server answers the ECR and STS APIs on 127.0.0.1:$MOTO_PORT;
# Debian's docker-registry (distribution 2.8) serves the images over TLS on
# 127.0.0.1:443 under the real ECR host name, so the proxyEndpoint and
# repositoryUri that moto hands out work unchanged; a Docker engine (reused
# when one answers) builds and pushes.
#
# ECR Public, which moto lacks: .ci/fake-ecr-public.mjs answers its API on
# 127.0.0.1:$ECR_PUBLIC_PORT, and a second docker-registry serves
# public.ecr.aws on 127.0.0.3:443, with the same login. This machine then
# resolves public.ecr.aws to itself (an /etc/hosts line): fit for a test
# machine only, where nothing needs the real public.ecr.aws.
#
# Settings (read by `start`; the other commands use what `start` recorded):
#   LOCAL_ECR_ACCOUNT (123456789012), AWS_REGION (us-east-1),
#   MOTO_PORT (5000), ECR_PUBLIC_PORT (5101),
#   LOCAL_ECR_PUBLIC_ALIAS (localecr), LOCAL_ECR_DIR (<project>/.local-ecr).
set -euo pipefail

# dockerd lives in /usr/sbin, which a non-login PATH may lack.
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

readonly default_account=123456789012
readonly default_region=us-east-1
readonly default_moto_port=5000
readonly default_public_port=5101
readonly default_public_alias=localecr
readonly registry_user=AWS
readonly docker_wait_seconds=${LOCAL_ECR_DOCKER_WAIT:-30}
readonly service_wait_seconds=${LOCAL_ECR_SERVICE_WAIT:-30}

project_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state_dir=${LOCAL_ECR_DIR:-$project_dir/.local-ecr}
mkdir -p "$state_dir"
state_dir=$(cd "$state_dir" && pwd)
readonly project_dir state_dir
readonly run_dir=$state_dir/run
readonly log_dir=$state_dir/logs
readonly tls_dir=$state_dir/tls
readonly registry_dir=$state_dir/registry
readonly settings_file=$state_dir/settings
readonly password_file=$state_dir/registry-password

say() { printf 'local-ecr: %s\n' "$*" >&2; }

die() {
  say "ERROR: $*"
  exit 1
}

# Failing to start is always loud: the tail of the log says why.
die_with_log() {
  local log=$1
  shift
  say "ERROR: $*"
  if [[ -s $log ]]; then
    say "last lines of $log:"
    tail -n 30 "$log" | sed 's/^/    /' >&2
  fi
  exit 1
}

now_ms() { date +%s%3N; }

# --- settings ----------------------------------------------------------------

load_requested_settings() {
  account=${LOCAL_ECR_ACCOUNT:-$default_account}
  region=${AWS_REGION:-$default_region}
  moto_port=${MOTO_PORT:-$default_moto_port}
  public_port=${ECR_PUBLIC_PORT:-$default_public_port}
  public_alias=${LOCAL_ECR_PUBLIC_ALIAS:-$default_public_alias}
  [[ $public_port =~ ^[0-9]+$ ]] && ((public_port > 0 && public_port < 65536)) ||
    die "ECR_PUBLIC_PORT must be a port number, got '$public_port'"
  # ECR Public's rule for an alias, which every public URI names.
  [[ $public_alias =~ ^[a-z][a-z0-9]+([._-][a-z0-9]+)*$ && ${#public_alias} -le 50 ]] ||
    die "LOCAL_ECR_PUBLIC_ALIAS is not a registry alias: '$public_alias'"
  [[ $account =~ ^[0-9]{12}$ ]] ||
    die "LOCAL_ECR_ACCOUNT must be 12 digits, got '$account'"
  # The region becomes part of a host name, a file path and /etc/hosts.
  [[ $region =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]] ||
    die "AWS_REGION does not look like a region: '$region'"
  [[ $moto_port =~ ^[0-9]+$ ]] && ((moto_port > 0 && moto_port < 65536)) ||
    die "MOTO_PORT must be a port number, got '$moto_port'"
}

# env/status/stop must describe what is running, even when the caller's
# AWS_REGION has changed since `start`.
load_recorded_settings() {
  if [[ -f $settings_file ]]; then
    local key value
    while IFS='=' read -r key value; do
      case $key in
        account) account=$value ;;
        region) region=$value ;;
        moto_port) moto_port=$value ;;
        public_port) public_port=$value ;;
        public_alias) public_alias=$value ;;
      esac
    done <"$settings_file"
    # A state dir from before ECR Public was added records neither.
    public_port=${public_port:-$default_public_port}
    public_alias=${public_alias:-$default_public_alias}
  else
    load_requested_settings
  fi
}

derive_names() {
  registry_host=$account.dkr.ecr.$region.amazonaws.com
  moto_url=http://127.0.0.1:$moto_port
  docker_ca_dir=/etc/docker/certs.d/$registry_host
}

write_settings() {
  printf 'account=%s\nregion=%s\nmoto_port=%s\npublic_port=%s\npublic_alias=%s\n' \
    "$account" "$region" "$moto_port" "$public_port" "$public_alias" \
    >"$settings_file"
}

# --- processes this script owns ----------------------------------------------

pid_file() { printf '%s/%s.pid' "$run_dir" "$1"; }

# A pid file only counts while its process still runs the expected program,
# so a recycled pid is never mistaken for ours (or killed).
owned_pid() {
  local name=$1 expected=$2 file pid
  file=$(pid_file "$name")
  [[ -f $file ]] || return 1
  pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$expected" || return 1
  printf '%s' "$pid"
}

# setsid keeps the services alive when the caller's terminal or process
# group is interrupted; fd 9 (the start lock) must not leak into them.
launch() {
  local name=$1
  shift
  local log=$log_dir/$name.log
  [[ -f $log ]] && mv -f "$log" "$log.prev"
  setsid "$@" >"$log" 2>&1 </dev/null 9>&- &
  printf '%s' "$!" >"$(pid_file "$name")"
}

# While a service starts, its command line is not to be trusted: the pid
# shows this script's until the fork execs, then goes through wrappers
# (pyenv's shims exec four times), and reads empty mid-exec. Whether the
# process just launched still lives is all the wait loops need.
launched_alive() {
  local pid state
  pid=$(cat "$(pid_file "$1")" 2>/dev/null) || return 1
  state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}

stop_owned() {
  local name=$1 expected=$2 pid waited=0
  if ! pid=$(owned_pid "$name" "$expected"); then
    rm -f "$(pid_file "$name")"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && ((waited < 150)); do
    sleep 0.1
    waited=$((waited + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name (pid $pid) ignored SIGTERM for 15 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$(pid_file "$name")" "$run_dir/$name.fingerprint"
  say "stopped $name (pid $pid)"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

describe_listener() {
  if command -v ss >/dev/null; then
    ss -ltnpH "sport = :$1" 2>/dev/null | sed 's/^/    /' >&2 || true
  fi
}

# --- Debian packages ---------------------------------------------------------

install_packages() {
  local -a wanted=()
  # Only what is needed: an engine that already answers needs no dockerd,
  # and docker.io would conflict with a Docker CE installation.
  if ! command -v docker >/dev/null ||
    { ! command -v dockerd >/dev/null && ! docker_answers; }; then
    wanted+=(docker.io)
  fi
  command -v docker-registry >/dev/null || wanted+=(docker-registry)
  command -v htpasswd >/dev/null || wanted+=(apache2-utils)
  command -v openssl >/dev/null || wanted+=(openssl)
  command -v curl >/dev/null || wanted+=(curl ca-certificates)
  command -v python3 >/dev/null || wanted+=(python3)
  ((${#wanted[@]})) || return 0

  local log=$log_dir/apt.log started
  started=$(now_ms)
  say "installing ${wanted[*]} with apt-get"
  : >"$log"
  export DEBIAN_FRONTEND=noninteractive

  # Package scripts must not start system services: docker-registry's would
  # take port 5000 (moto's) with the distribution's own config.
  local made_policy=
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi

  local -a apt_opts=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=300)
  local need_update=
  local pkg
  for pkg in "${wanted[@]}"; do
    apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [^(]' ||
      need_update=1
  done
  local ok=
  if [[ -n $need_update ]]; then
    apt-get update -q >>"$log" 2>&1 || say "apt-get update reported errors"
  fi
  if apt-get install "${apt_opts[@]}" "${wanted[@]}" >>"$log" 2>&1; then
    ok=1
  elif [[ -z $need_update ]]; then
    # Stale package lists fail with 404s; one refresh is worth a retry.
    say "apt-get install failed; refreshing package lists and retrying"
    apt-get update -q >>"$log" 2>&1 || say "apt-get update reported errors"
    apt-get install "${apt_opts[@]}" "${wanted[@]}" >>"$log" 2>&1 && ok=1
  fi
  [[ -n $made_policy ]] && rm -f /usr/sbin/policy-rc.d
  [[ -n $ok ]] || die_with_log "$log" "apt-get install ${wanted[*]} failed"
  say "installed ${wanted[*]} in $(($(now_ms) - started)) ms"
}

# --- Docker engine -----------------------------------------------------------

docker_answers() { timeout 10 docker info >/dev/null 2>&1; }

start_docker() {
  if owned_pid dockerd dockerd >/dev/null || ! docker_answers; then
    if ! owned_pid dockerd dockerd >/dev/null; then
      [[ -z ${DOCKER_HOST:-} ]] ||
        die "DOCKER_HOST=$DOCKER_HOST does not answer; a local dockerd would not serve it"
      command -v dockerd >/dev/null || die "dockerd is not installed"
      say "starting dockerd (vfs storage, no iptables, no bridge)"
      rm -f "$run_dir/dockerd.reused"
      # A dockerd killed without notice leaves its pid file; if that pid is
      # reused by then, the new dockerd refuses to start.
      local stale
      stale=$(cat /var/run/docker.pid 2>/dev/null) || true
      if [[ -n $stale ]] &&
        ! tr '\0' ' ' <"/proc/$stale/cmdline" 2>/dev/null | grep -q dockerd; then
        rm -f /var/run/docker.pid
      fi
      launch dockerd dockerd --storage-driver=vfs --iptables=false \
        --bridge=none
    fi
    docker_pending=1
  else
    : >"$run_dir/dockerd.reused"
  fi
}

wait_for_docker() {
  [[ -n ${docker_pending:-} ]] || return 0
  local deadline=$((SECONDS + docker_wait_seconds))
  until docker_answers; do
    launched_alive dockerd ||
      die_with_log "$log_dir/dockerd.log" "dockerd exited during start"
    ((SECONDS < deadline)) ||
      die_with_log "$log_dir/dockerd.log" \
        "docker info did not answer within ${docker_wait_seconds} s"
    sleep 0.2
  done
}

docker_versions() {
  docker version --format \
    'client {{.Client.Version}} (API {{.Client.APIVersion}}), server {{.Server.Version}} (API {{.Server.APIVersion}})' \
    2>/dev/null || echo 'unknown'
}

# --- moto --------------------------------------------------------------------

find_moto_command() {
  local pyenv_shim=${PYENV_ROOT:-$HOME/.pyenv}/shims/moto_server
  if command -v moto_server >/dev/null; then
    moto_cmd=(moto_server)
  elif [[ -x $pyenv_shim ]]; then
    # moto comes with the machine's pyenv Python, off a minimal PATH.
    moto_cmd=("$pyenv_shim")
  elif python3 -c 'import moto.server' 2>/dev/null; then
    moto_cmd=(python3 -m moto.server)
  else
    die "moto is not installed (moto_server / python3 -m moto.server); the registries here cannot install it"
  fi
}

moto_answers() {
  curl -sf --noproxy '*' -o /dev/null --max-time 5 "$moto_url/moto-api/"
}

moto_post() {
  local target=$1 body=$2
  # moto reads the region from the credential scope and does not check the
  # signature, so an unsigned request with a plausible header is enough.
  curl -sS --noproxy '*' --max-time 10 -X POST "$moto_url/" \
    -H "X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.$target" \
    -H 'Content-Type: application/x-amz-json-1.1' \
    -H "Authorization: AWS4-HMAC-SHA256 Credential=testing/20200101/$region/ecr/aws4_request, SignedHeaders=host, Signature=0" \
    --data "$body"
}

start_moto() {
  local fingerprint="account=$account port=$moto_port"
  if owned_pid moto moto >/dev/null; then
    if [[ $(cat "$run_dir/moto.fingerprint" 2>/dev/null) == "$fingerprint" ]]; then
      return 0
    fi
    say "moto settings changed; restarting it"
    stop_owned moto moto
  fi
  if port_in_use "$moto_port"; then
    describe_listener "$moto_port"
    die "port $moto_port is taken by a process this script did not start; stop it or set MOTO_PORT"
  fi
  find_moto_command
  say "starting moto_server on 127.0.0.1:$moto_port"
  launch moto env MOTO_ACCOUNT_ID="$account" "${moto_cmd[@]}" \
    -H 127.0.0.1 -p "$moto_port"
  printf '%s' "$fingerprint" >"$run_dir/moto.fingerprint"
  moto_fresh=1
}

wait_for_moto() {
  local deadline=$((SECONDS + service_wait_seconds))
  until moto_answers; do
    launched_alive moto ||
      die_with_log "$log_dir/moto.log" "moto_server exited during start"
    ((SECONDS < deadline)) ||
      die_with_log "$log_dir/moto.log" \
        "moto_server did not answer within ${service_wait_seconds} s"
    sleep 0.2
  done
}

# The registry password is whatever moto's GetAuthorizationToken decodes to,
# so `docker login` with a token the action fetched from moto just works.
measure_registry_password() {
  local answer
  answer=$(moto_post GetAuthorizationToken '{}') ||
    die_with_log "$log_dir/moto.log" "GetAuthorizationToken failed"
  registry_password=$(
    EXPECTED_ENDPOINT="https://$registry_host" python3 -c '
import base64, json, os, sys
data = json.load(sys.stdin)["authorizationData"][0]
if data["proxyEndpoint"] != os.environ["EXPECTED_ENDPOINT"]:
    sys.exit("proxyEndpoint is %s, expected %s"
             % (data["proxyEndpoint"], os.environ["EXPECTED_ENDPOINT"]))
user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
if user != "AWS" or not password:
    sys.exit("token does not decode to AWS:<password>")
print(password)
' <<<"$answer"
  ) || die "unexpected GetAuthorizationToken answer from moto: $answer"
  printf '%s' "$registry_password" >"$password_file"
}

# Checked once per moto start: repositoryUri must name the registry we serve.
check_moto_repository_uri() {
  [[ -n ${moto_fresh:-} ]] || return 0
  local name="local-ecr-probe-$$" answer uri
  answer=$(moto_post CreateRepository "{\"repositoryName\":\"$name\"}")
  uri=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["repository"]["repositoryUri"])' \
    <<<"$answer") || die "unexpected CreateRepository answer from moto: $answer"
  moto_post DeleteRepository "{\"repositoryName\":\"$name\",\"force\":true}" \
    >/dev/null
  [[ $uri == "$registry_host/$name" ]] ||
    die "moto's repositoryUri is $uri, expected $registry_host/$name"
}

# --- TLS, names and the registry ---------------------------------------------

make_certificates() {
  local ca_crt=$tls_dir/ca.crt ca_key=$tls_dir/ca.key
  local crt=$tls_dir/server.crt key=$tls_dir/server.key
  mkdir -p "$tls_dir"
  chmod 700 "$tls_dir"
  local log=$log_dir/openssl.log
  if ! openssl x509 -in "$ca_crt" -noout -checkend 86400 >/dev/null 2>&1 ||
    [[ ! -s $ca_key ]]; then
    say "making a throwaway CA"
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
      -keyout "$ca_key" -out "$ca_crt" -days 3650 \
      -subj '/CN=local-ecr throwaway CA' \
      -addext 'basicConstraints=critical,CA:TRUE' \
      -addext 'keyUsage=critical,keyCertSign,cRLSign' >"$log" 2>&1 ||
      die_with_log "$log" "openssl could not make the CA"
    rm -f "$crt"
  fi
  if ! openssl x509 -in "$crt" -noout -checkend 86400 >/dev/null 2>&1 ||
    ! openssl x509 -in "$crt" -noout -checkhost "$registry_host" 2>/dev/null |
    grep -q 'does match' ||
    ! openssl verify -CAfile "$ca_crt" "$crt" >/dev/null 2>&1; then
    say "making a server certificate for $registry_host"
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
      -keyout "$key" -out "$tls_dir/server.csr" -subj "/CN=$registry_host" \
      >"$log" 2>&1 || die_with_log "$log" "openssl could not make a key"
    openssl x509 -req -in "$tls_dir/server.csr" -CA "$ca_crt" \
      -CAkey "$ca_key" -set_serial "0x$(openssl rand -hex 16)" -days 825 \
      -out "$crt" -extfile <(
        printf 'subjectAltName=DNS:%s,IP:127.0.0.1\n' "$registry_host"
        printf 'basicConstraints=critical,CA:FALSE\n'
        printf 'keyUsage=critical,digitalSignature,keyEncipherment\n'
        printf 'extendedKeyUsage=serverAuth\n'
      ) >>"$log" 2>&1 || die_with_log "$log" "openssl could not sign the cert"
    rm -f "$tls_dir/server.csr"
  fi
}

# dockerd reads certs.d on every connection, so this needs no restart. It
# is belt and braces: dockerd treats 127.0.0.0/8 as an insecure registry by
# default and would skip verification anyway, but an engine elsewhere won't.
install_docker_ca() {
  mkdir -p "$docker_ca_dir"
  cmp -s "$tls_dir/ca.crt" "$docker_ca_dir/ca.crt" ||
    cp "$tls_dir/ca.crt" "$docker_ca_dir/ca.crt"
}

map_host_name() {
  if ! awk -v host="$registry_host" '
      { sub(/#.*/, "") }
      $1 == "127.0.0.1" { for (i = 2; i <= NF; i++) if ($i == host) found = 1 }
      END { exit !found }' /etc/hosts; then
    # Appending (never rewriting) also works where /etc/hosts is bind-mounted.
    printf '127.0.0.1 %s # local-ecr\n' "$registry_host" >>/etc/hosts
    say "mapped $registry_host to 127.0.0.1 in /etc/hosts"
  fi
  local resolved
  resolved=$(getent hosts "$registry_host" | awk '{ print $1; exit }')
  [[ $resolved == 127.0.0.1 ]] ||
    die "$registry_host resolves to '${resolved}', not 127.0.0.1 (an earlier /etc/hosts line wins?)"
}

write_registry_config() {
  mkdir -p "$registry_dir/data"
  [[ -s $registry_dir/http-secret ]] ||
    openssl rand -hex 32 >"$registry_dir/http-secret"
  # htpasswd -B salts randomly, so only rewrite when the password changed;
  # otherwise the fingerprint below would restart the registry every time.
  if ! htpasswd -vb "$registry_dir/htpasswd" "$registry_user" \
    "$registry_password" >/dev/null 2>&1; then
    htpasswd -Bbn "$registry_user" "$registry_password" >"$registry_dir/htpasswd"
  fi
  registry_config "$registry_dir" 127.0.0.1 "$registry_host" server local-ecr
}

# The config of one docker-registry instance; both share the private one's
# secret and login (htpasswd).
#   registry_config DIR ADDRESS HOST CERT_NAME REALM
registry_config() {
  local dir=$1 address=$2 host=$3 cert=$4 realm=$5
  mkdir -p "$dir/data"
  cat >"$dir/config.yml.new" <<EOF
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $address:443
  host: https://$host
  secret: $(<"$registry_dir/http-secret")
  tls:
    certificate: $tls_dir/$cert.crt
    key: $tls_dir/$cert.key
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: $realm
    path: $registry_dir/htpasswd
EOF
  mv -f "$dir/config.yml.new" "$dir/config.yml"
}

# What a registry instance runs with; a change restarts it.
#   registry_fingerprint DIR CERT_NAME
registry_fingerprint() {
  cat "$1/config.yml" "$registry_dir/htpasswd" "$tls_dir/$2.crt" |
    sha256sum | cut -d' ' -f1
}

registry_status_code() {
  curl -s --noproxy '*' --max-time 5 -o /dev/null -w '%{http_code}' \
    --cacert "$tls_dir/ca.crt" "$@" "https://$registry_host/v2/" || true
}

start_registry() {
  local fingerprint
  fingerprint=$(registry_fingerprint "$registry_dir" server)
  if owned_pid registry docker-registry >/dev/null; then
    if [[ $(cat "$run_dir/registry.fingerprint" 2>/dev/null) == "$fingerprint" ]]; then
      return 0
    fi
    say "registry config, password or certificate changed; restarting it"
    stop_owned registry docker-registry
  fi
  command -v docker-registry >/dev/null || die "docker-registry is not installed"
  say "starting docker-registry on 127.0.0.1:443 as $registry_host"
  launch registry docker-registry serve "$registry_dir/config.yml"
  printf '%s' "$fingerprint" >"$run_dir/registry.fingerprint"
}

wait_for_registry() {
  local deadline=$((SECONDS + service_wait_seconds)) anonymous authorized
  while :; do
    anonymous=$(registry_status_code)
    authorized=$(registry_status_code -u "$registry_user:$registry_password")
    [[ $anonymous == 401 && $authorized == 200 ]] && return 0
    launched_alive registry ||
      die_with_log "$log_dir/registry.log" "docker-registry exited during start"
    ((SECONDS < deadline)) ||
      die_with_log "$log_dir/registry.log" \
        "https://$registry_host/v2/ answered $anonymous without auth and $authorized with it (want 401 and 200)"
    sleep 0.2
  done
}

# --- a second registry host, for fault injection -----------------------------

# The fault tests (__tests__/e2e/faults.test.ts) put a proxy of their own on
# 127.0.0.2:443 in front of the registry, under another account's host name
# (moto answers GetAuthorizationToken for any registryId). Here only the
# name, a certificate from the same CA and docker's trust are prepared;
# nothing listens there unless a test does.
readonly fault_account=210987654321
readonly fault_address=127.0.0.2

fault_names() {
  fault_host=$fault_account.dkr.ecr.$region.amazonaws.com
}

# A host the tests reach at a loopback address of its own: a certificate
# from the local CA, a line in /etc/hosts, and docker's trust of the CA.
#   serve_host NAME HOST ADDRESS [NOTE]  (certificate in $tls_dir/NAME.crt)
serve_host() {
  local name=$1 host=$2 address=$3 note=${4:-local-ecr}
  local crt=$tls_dir/$name.crt key=$tls_dir/$name.key
  local log=$log_dir/openssl.log
  if ! openssl verify -CAfile "$tls_dir/ca.crt" "$crt" >/dev/null 2>&1 ||
    ! openssl x509 -in "$crt" -noout -checkend 86400 >/dev/null 2>&1 ||
    ! openssl x509 -in "$crt" -noout -checkhost "$host" 2>/dev/null |
    grep -q 'does match'; then
    say "making a certificate for $host"
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
      -keyout "$key" -out "$tls_dir/$name.csr" -subj "/CN=$host" \
      >"$log" 2>&1 || die_with_log "$log" "openssl could not make a key"
    openssl x509 -req -in "$tls_dir/$name.csr" -CA "$tls_dir/ca.crt" \
      -CAkey "$tls_dir/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
      -days 825 -out "$crt" -extfile <(
        printf 'subjectAltName=DNS:%s,IP:%s\n' "$host" "$address"
        printf 'basicConstraints=critical,CA:FALSE\n'
        printf 'keyUsage=critical,digitalSignature,keyEncipherment\n'
        printf 'extendedKeyUsage=serverAuth\n'
      ) >>"$log" 2>&1 || die_with_log "$log" "openssl could not sign the cert"
    rm -f "$tls_dir/$name.csr"
  fi
  if ! awk -v host="$host" -v address="$address" '
      { sub(/#.*/, "") }
      $1 == address { for (i = 2; i <= NF; i++) if ($i == host) found = 1 }
      END { exit !found }' /etc/hosts; then
    printf '%s %s # %s\n' "$address" "$host" "$note" >>/etc/hosts
    say "mapped $host to $address in /etc/hosts"
  fi
  mkdir -p "/etc/docker/certs.d/$host"
  cmp -s "$tls_dir/ca.crt" "/etc/docker/certs.d/$host/ca.crt" ||
    cp "$tls_dir/ca.crt" "/etc/docker/certs.d/$host/ca.crt"
}

prepare_fault_host() {
  fault_names
  serve_host fault "$fault_host" "$fault_address"
}

# --- ECR Public: its API and registry ----------------------------------------

readonly public_host=public.ecr.aws
readonly public_address=127.0.0.3
readonly public_registry_dir=$state_dir/registry-public

public_api_url() { printf 'http://127.0.0.1:%s' "$public_port"; }

public_api_answers() {
  curl -sf --noproxy '*' -o /dev/null --max-time 5 -X POST "$(public_api_url)/" \
    -H 'X-Amz-Target: SpencerFrontendService.DescribeRegistries' \
    -H 'Content-Type: application/x-amz-json-1.1' --data '{}' 2>/dev/null
}

# The API's script is part of the fingerprint: a changed script restarts it.
start_public_api() {
  command -v node >/dev/null || die "node is not installed"
  local fingerprint
  fingerprint="port=$public_port alias=$public_alias account=$account $(
    sha256sum "$project_dir/.ci/fake-ecr-public.mjs" | cut -d' ' -f1
  )"
  if owned_pid public-api fake-ecr-public >/dev/null; then
    if [[ $(cat "$run_dir/public-api.fingerprint" 2>/dev/null) == "$fingerprint" ]]; then
      return 0
    fi
    say "ECR Public API settings or script changed; restarting it"
    stop_owned public-api fake-ecr-public
  fi
  if port_in_use "$public_port"; then
    describe_listener "$public_port"
    die "port $public_port is taken by a process this script did not start; stop it or set ECR_PUBLIC_PORT"
  fi
  say "starting the fake ECR Public API on 127.0.0.1:$public_port"
  # A copy in the state dir: a work tree that goes away does not take the
  # running API's code with it.
  cp "$project_dir/.ci/fake-ecr-public.mjs" "$run_dir/fake-ecr-public.mjs"
  launch public-api env FAKE_ECR_PUBLIC_PORT="$public_port" \
    LOCAL_ECR_ACCOUNT="$account" LOCAL_ECR_PUBLIC_ALIAS="$public_alias" \
    LOCAL_ECR_PASSWORD_FILE="$password_file" \
    node "$run_dir/fake-ecr-public.mjs"
  printf '%s' "$fingerprint" >"$run_dir/public-api.fingerprint"
}

wait_for_public_api() {
  local deadline=$((SECONDS + service_wait_seconds))
  until public_api_answers; do
    launched_alive public-api ||
      die_with_log "$log_dir/public-api.log" "the fake ECR Public API exited during start"
    ((SECONDS < deadline)) ||
      die_with_log "$log_dir/public-api.log" \
        "the fake ECR Public API did not answer within ${service_wait_seconds} s"
    sleep 0.2
  done
}

# A registry of its own under public.ecr.aws, with the private one's login:
# the private registry's host setting (which its upload URLs name) stays as
# its own tests expect.
prepare_public_host() {
  serve_host public "$public_host" "$public_address" \
    'local-ecr (test machine only)'
  local resolved
  resolved=$(getent hosts "$public_host" | awk '{ print $1; exit }')
  [[ $resolved == "$public_address" ]] ||
    die "$public_host resolves to '${resolved}', not $public_address (an earlier /etc/hosts line wins?)"

  registry_config "$public_registry_dir" "$public_address" "$public_host" \
    public local-ecr-public
}

start_public_registry() {
  local fingerprint
  fingerprint=$(registry_fingerprint "$public_registry_dir" public)
  if owned_pid public-registry registry-public >/dev/null; then
    if [[ $(cat "$run_dir/public-registry.fingerprint" 2>/dev/null) == "$fingerprint" ]]; then
      return 0
    fi
    say "public registry config, password or certificate changed; restarting it"
    stop_owned public-registry registry-public
  fi
  if (exec 3<>"/dev/tcp/$public_address/443") 2>/dev/null; then
    die "$public_address:443 is taken by a process this script did not start"
  fi
  say "starting docker-registry on $public_address:443 as $public_host"
  launch public-registry docker-registry serve "$public_registry_dir/config.yml"
  printf '%s' "$fingerprint" >"$run_dir/public-registry.fingerprint"
}

public_registry_status_code() {
  curl -s --noproxy '*' --max-time 5 -o /dev/null -w '%{http_code}' \
    --cacert "$tls_dir/ca.crt" "$@" "https://$public_host/v2/" || true
}

wait_for_public_registry() {
  local deadline=$((SECONDS + service_wait_seconds)) anonymous authorized
  while :; do
    anonymous=$(public_registry_status_code)
    authorized=$(public_registry_status_code -u "$registry_user:$registry_password")
    [[ $anonymous == 401 && $authorized == 200 ]] && return 0
    launched_alive public-registry ||
      die_with_log "$log_dir/public-registry.log" "the public docker-registry exited during start"
    ((SECONDS < deadline)) ||
      die_with_log "$log_dir/public-registry.log" \
        "https://$public_host/v2/ answered $anonymous without auth and $authorized with it (want 401 and 200)"
    sleep 0.2
  done
}

# --- commands ----------------------------------------------------------------

cmd_start() {
  local started
  started=$(now_ms)
  exec 9>"$state_dir/lock"
  flock -w 600 9 || die "another start/stop holds $state_dir/lock"
  mkdir -p "$run_dir" "$log_dir"

  load_requested_settings
  derive_names
  install_packages

  # The engine and moto take seconds to come up; start both, then wait.
  start_docker
  start_moto
  write_settings
  wait_for_moto
  measure_registry_password
  check_moto_repository_uri

  # Checked before anything shared (certs.d, /etc/hosts) is touched, so a
  # second state dir cannot clobber the CA of the registry that runs.
  if ! owned_pid registry docker-registry >/dev/null && port_in_use 443; then
    describe_listener 443
    die "port 443 is taken by a process this script did not start (another LOCAL_ECR_DIR?)"
  fi
  make_certificates
  map_host_name
  write_registry_config
  start_registry
  wait_for_registry
  install_docker_ca
  prepare_fault_host
  # The API hands out the registry password, measured from moto above.
  start_public_api
  prepare_public_host
  start_public_registry
  wait_for_public_registry
  wait_for_public_api
  wait_for_docker

  say "ready in $(($(now_ms) - started)) ms: registry $registry_host, API $moto_url, ECR Public $public_host/$public_alias via $(public_api_url), docker $(docker_versions)"
}

cmd_stop() {
  exec 9>"$state_dir/lock"
  flock -w 600 9 || die "another start/stop holds $state_dir/lock"
  # Each takes one to three seconds to exit; in parallel the wait is the
  # longest of them rather than their sum.
  stop_owned registry docker-registry &
  stop_owned public-registry registry-public &
  stop_owned public-api fake-ecr-public &
  stop_owned moto moto &
  if owned_pid dockerd dockerd >/dev/null; then
    stop_owned dockerd dockerd &
  elif [[ -f $run_dir/dockerd.reused ]]; then
    say "leaving the Docker engine running: this script did not start it"
  fi
  wait
  rm -f "$run_dir/dockerd.reused"
}

cmd_status() {
  load_recorded_settings
  derive_names
  local healthy=1 pid code
  registry_password=$(cat "$password_file" 2>/dev/null || true)

  if docker_answers; then
    if pid=$(owned_pid dockerd dockerd); then
      echo "docker:   up, started here (pid $pid); $(docker_versions)"
    else
      echo "docker:   up, reused (not started here); $(docker_versions)"
    fi
  else
    echo "docker:   down"
    healthy=
  fi

  if moto_answers; then
    if pid=$(owned_pid moto moto); then
      echo "moto:     up at $moto_url (pid $pid)"
    else
      echo "moto:     something answers at $moto_url, but not started here"
      healthy=
    fi
  else
    echo "moto:     down ($moto_url)"
    healthy=
  fi

  code=$(registry_status_code -u "$registry_user:$registry_password")
  if pid=$(owned_pid registry docker-registry) && [[ $code == 200 ]]; then
    echo "registry: up at https://$registry_host (pid $pid)"
  else
    echo "registry: down (https://$registry_host/v2/ answered ${code:-nothing})"
    healthy=
  fi
  code=$(public_registry_status_code -u "$registry_user:$registry_password")
  if pid=$(owned_pid public-registry registry-public) && [[ $code == 200 ]]; then
    echo "public:   registry up at https://$public_host (pid $pid)"
  else
    echo "public:   registry down (https://$public_host/v2/ answered ${code:-nothing})"
    healthy=
  fi
  if pid=$(owned_pid public-api fake-ecr-public) && public_api_answers; then
    echo "public:   API up at $(public_api_url) (pid $pid), alias $public_alias"
  else
    echo "public:   API down ($(public_api_url))"
    healthy=
  fi
  echo "state:    $state_dir"
  [[ -n $healthy ]]
}

# Single-quoted so any value survives eval, and simple for Node to parse.
print_export() {
  local value=${2//\'/\'\\\'\'}
  printf "export %s='%s'\n" "$1" "$value"
}

cmd_env() {
  load_recorded_settings
  derive_names
  [[ -s $password_file ]] ||
    die "not started: run 'bash .ci/local-ecr.sh start' first"
  print_export AWS_ENDPOINT_URL "$moto_url"
  print_export AWS_ACCESS_KEY_ID testing
  print_export AWS_SECRET_ACCESS_KEY testing
  print_export AWS_REGION "$region"
  print_export AWS_DEFAULT_REGION "$region"
  print_export LOCAL_ECR_REGISTRY "$registry_host"
  print_export LOCAL_ECR_ACCOUNT "$account"
  print_export LOCAL_ECR_PASSWORD "$(<"$password_file")"
  print_export NODE_EXTRA_CA_CERTS "$tls_dir/ca.crt"
  fault_names
  print_export LOCAL_ECR_FAULT_REGISTRY "$fault_host"
  print_export LOCAL_ECR_FAULT_ADDRESS "$fault_address"
  print_export AWS_ENDPOINT_URL_ECR_PUBLIC "$(public_api_url)"
  print_export LOCAL_ECR_PUBLIC_REGISTRY "$public_host"
  print_export LOCAL_ECR_PUBLIC_ALIAS "$public_alias"
  print_export LOCAL_ECR_DIR "$state_dir"
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *)
    echo "usage: bash .ci/local-ecr.sh start|stop|status|env" >&2
    exit 2
    ;;
esac
