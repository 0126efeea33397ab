#!/usr/bin/env bash
# Shared library of the apply scripts (scripts/<target>.sh): settings, logging with step
# durations, preflight, doctl/jq helpers, droplet state, ssh/scp wrappers.
#
# Sourcing it moves to the cluster repo root and loads settings.env. The API token is only
# ever read from the environment; nothing here writes or prints it.
# shellcheck source-path=SCRIPTDIR/../..

CLUSTER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$CLUSTER_DIR" || exit 1

# shellcheck source=settings.env
source settings.env
# shellcheck source=scripts/lib/pki.sh
source scripts/lib/pki.sh

STATE_DIR=state
DROPLET_STATE_DIR=$STATE_DIR/droplets
BUILD_DIR=build
USER_DATA_DIR=$BUILD_DIR/user-data
LOG_DIR=$BUILD_DIR/logs
KNOWN_HOSTS=$CLUSTER_DIR/$STATE_DIR/known_hosts
KUBECONFIG_FILE=$CLUSTER_DIR/kubeconfig

# Bounded waits (seconds), overridable from the environment.
APPLY_TIMEOUT_SECONDS=${APPLY_TIMEOUT_SECONDS:-600}
APPLY_POLL_SECONDS=${APPLY_POLL_SECONDS:-5}
# Before any boot was measured on this account, the first poll waits this long: a droplet is
# rarely active with its IPs sooner, and earlier polls only spend API requests.
APPLY_BOOT_SECONDS=${APPLY_BOOT_SECONDS:-20}
SSH_TIMEOUT_SECONDS=${SSH_TIMEOUT_SECONDS:-$APPLY_TIMEOUT_SECONDS}

# ssh/scp as SSH_USER with the repo's own known_hosts (plain host names, so the entry of a
# deleted droplet's IP can be dropped). The key comes from your ssh-agent, or from
# SSH_IDENTITY_FILE when set.
SSH_OPTS=(
  -o "UserKnownHostsFile=$KNOWN_HOSTS"
  -o StrictHostKeyChecking=accept-new
  -o HashKnownHosts=no
  -o LogLevel=ERROR
  -o BatchMode=yes
  -o ConnectTimeout=10
)
if [[ -n "${SSH_IDENTITY_FILE:-}" ]]; then
  SSH_OPTS+=(-i "$SSH_IDENTITY_FILE" -o IdentitiesOnly=yes)
fi

# ---------------------------------------------------------------- logging and timing

_now_ms() {
  if [[ -n "${EPOCHREALTIME:-}" ]]; then
    local t=${EPOCHREALTIME/[.,]/}
    echo $((10#$t / 1000))
  else
    echo $((SECONDS * 1000))
  fi
}

# fmt_ms MILLISECONDS -> "12.3s"
fmt_ms() {
  printf '%d.%ds' $(($1 / 1000)) $((($1 % 1000) / 100))
}

_RUN_START_MS=$(_now_ms)
_STEP_NAME=""
_STEP_START_MS=0

log() {
  printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2
}

warn() {
  log "WARNING: $*"
}

die() {
  log "ERROR: $*"
  exit 1
}

# step DESCRIPTION: announce what is created or waited for; step_done closes it with its duration.
step() {
  _STEP_NAME=$*
  _STEP_START_MS=$(_now_ms)
  log "==> $*"
}

step_done() {
  local detail=${1:-}
  log "    done in $(fmt_ms $(($(_now_ms) - _STEP_START_MS)))${detail:+: $detail}"
}

# indent < text: show command output under the current step.
indent() {
  sed 's/^/    /' >&2
}

run_elapsed() {
  fmt_ms $(($(_now_ms) - _RUN_START_MS))
}

# summary TITLE LINE...: the closing block of every target.
summary() {
  local title=$1
  shift
  {
    echo
    echo "---- $title ($(run_elapsed)) ----"
    local line
    for line in "$@"; do
      echo "  $line"
    done
  } >&2
}

# ---------------------------------------------------------------- preflight

# require_tools TOOL...: every tool must be on PATH.
require_tools() {
  local tool missing=()
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if ((${#missing[@]})); then
    die "missing tool(s): ${missing[*]} (needs bash, make, doctl v1, jq, openssl, ssh/scp, kubectl)"
  fi
}

# require_token: DIGITALOCEAN_ACCESS_TOKEN, or the tutorial's DIGITALOCEAN_API_KEY, in the
# environment only (exported for doctl in this process; never written, never echoed).
require_token() {
  if [[ -z "${DIGITALOCEAN_ACCESS_TOKEN:-}" ]]; then
    if [[ -n "${DIGITALOCEAN_API_KEY:-}" ]]; then
      DIGITALOCEAN_ACCESS_TOKEN=$DIGITALOCEAN_API_KEY
      export DIGITALOCEAN_ACCESS_TOKEN
    else
      die "no API token: export DIGITALOCEAN_ACCESS_TOKEN (or DIGITALOCEAN_API_KEY, as in the tutorial)"
    fi
  fi
}

# preflight [--no-key]: tools and token, then the ssh key registration (cached lookup).
preflight() {
  require_tools doctl jq openssl ssh scp sed
  require_token
  mkdir -p "$DROPLET_STATE_DIR" "$BUILD_DIR"
  if [[ "${1:-}" != "--no-key" ]]; then
    SSH_KEY_FINGERPRINT=$(ssh_key_fingerprint)
  fi
}

# ---------------------------------------------------------------- doctl helpers

# do_json WHAT DOCTL-ARGS...: run doctl with -o json, print its JSON; on failure log doctl's
# own error with WHAT and return its status (callers assign under errexit, so it stops).
do_json() {
  local what=$1
  shift
  local err out rc=0
  err=$(mktemp)
  out=$(doctl "$@" -o json 2>"$err") || rc=$?
  if ((rc != 0)); then
    # with -o json doctl reports API errors on stdout as {"errors":[{"detail":...}]}
    local detail
    detail=$(jq -r '.errors[]?.detail' <<<"$out" 2>/dev/null || printf '%s' "$out")
    log "ERROR: $what failed (doctl exit $rc): $(printf '%s %s' "$detail" "$(cat "$err")" |
      tr '\n' ' ' | sed 's/  */ /g')"
    rm -f "$err"
    return "$rc"
  fi
  rm -f "$err"
  printf '%s\n' "${out:-[]}"
}

# ssh_key_fingerprint: fingerprint of SSH_KEY_NAME at DigitalOcean (doctl --ssh-keys wants
# IDs or fingerprints, not names). Looked up once per run: `make etcd controller worker`
# shares one listing through APPLY_RUN_ID (set by the Makefile); the API allows 10 key
# listings a minute.
ssh_key_fingerprint() {
  local cache=$STATE_DIR/ssh-key.json keys fp run=${APPLY_RUN_ID:-}
  if [[ -n "$run" && -s "$cache" ]]; then
    fp=$(jq -r --arg n "$SSH_KEY_NAME" --arg run "$run" \
      'select(.name == $n and .run == $run) | .fingerprint' "$cache" 2>/dev/null || true)
    if [[ -n "$fp" ]]; then
      echo "$fp"
      return 0
    fi
  fi
  keys=$(do_json "listing the ssh keys" compute ssh-key list)
  fp=$(jq -r --arg n "$SSH_KEY_NAME" '[.[] | select(.name == $n)][0].fingerprint // empty' <<<"$keys")
  if [[ -z "$fp" ]]; then
    die "the ssh key '$SSH_KEY_NAME' is not registered at DigitalOcean; register it with" \
      "'doctl compute ssh-key import $SSH_KEY_NAME --public-key-file ~/.ssh/<key>.pub'"
  fi
  jq -n --arg n "$SSH_KEY_NAME" --arg f "$fp" --arg run "$run" \
    '{name: $n, fingerprint: $f, run: $run}' >"$cache"
  log "ssh key '$SSH_KEY_NAME' is registered ($fp)"
  echo "$fp"
}

forget_ssh_key() {
  rm -f "$STATE_DIR/ssh-key.json"
}

# JQ_RECORD: a droplet (doctl JSON) reduced to what the scripts use.
# shellcheck disable=SC2016 # jq program, not a shell expansion
JQ_RECORD='{id, name, status: (.status // ""), tags: (.tags // []),
  public_ip: ([(.networks.v4 // [])[] | select(.type == "public") | .ip_address][0] // ""),
  private_ip: ([(.networks.v4 // [])[] | select(.type == "private") | .ip_address][0] // "")}'

# cluster_droplets: the cluster's droplets (tag CLUSTER_NAME) as one JSON array of records;
# stops when two droplets share a name (never guess which one is ours).
cluster_droplets() {
  local raw list dupes
  raw=$(do_json "listing the droplets tagged $CLUSTER_NAME" \
    compute droplet list --tag-name "$CLUSTER_NAME")
  list=$(jq -c "[(. // [])[] | $JQ_RECORD]" <<<"$raw")
  dupes=$(jq -r 'group_by(.name)[] | select(length > 1)
    | "\(length) droplets are named \(.[0].name) (ids: \(map(.id | tostring) | join(", ")))"' <<<"$list")
  if [[ -n "$dupes" ]]; then
    die "$dupes; delete the extra ones (doctl compute droplet delete ID) and re-run"
  fi
  printf '%s\n' "$list"
}

# record_of LIST NAME: the record named NAME in LIST (empty if none).
record_of() {
  jq -c --arg n "$2" '.[] | select(.name == $n)' <<<"$1"
}

# records_tsv NAME...: one line per NAME, in order: name, id, public IP, private IP
# (empty fields for a droplet that does not exist). One jq run for any number of names.
records_tsv() {
  printf '%s\n' "$@" | jq -R . | jq -sr --argjson list "$CLUSTER_LIST" \
    '.[] as $n | ($list | map(select(.name == $n))[0] // {name: $n})
     | [.name, (.id // "" | tostring), (.public_ip // ""), (.private_ip // "")] | @tsv'
}

# field RECORD KEY
field() {
  jq -r --arg k "$2" '.[$k] // ""' <<<"$1"
}

# ---------------------------------------------------------------- state (a cache; the API is the truth)

state_file() {
  echo "$DROPLET_STATE_DIR/$1.json"
}

# save_record NAME [KEY VALUE]: state/droplets/NAME.json from CLUSTER_LIST; keeps the extra
# keys (tls_sha256, user_data_sha256) of the same droplet id, drops them when the droplet was
# re-created (and forgets the old and new IPs' host keys). Rewrites only what changed.
save_record() {
  local name=$1 key=${2:-} value=${3:-} file old out old_id merged
  file=$(state_file "$name")
  old='{}'
  [[ -s "$file" ]] && old=$(<"$file")
  out=$(jq -c --argjson old "$old" --arg n "$name" --arg k "$key" --arg v "$value" '
    (.[] | select(.name == $n)) as $rec
    | ($old.id // "" | tostring),
      (if $old.id == $rec.id then ($old + $rec) else $rec end
       | if $k != "" then .[$k] = $v else . end),
      ($old.public_ip // ""), $rec.public_ip, ($rec.id | tostring)' <<<"$CLUSTER_LIST")
  local lines=()
  while IFS= read -r line; do lines+=("$line"); done <<<"$out"
  old_id=${lines[0]//\"/}
  merged=${lines[1]}
  if [[ "$merged" != "$old" ]]; then
    printf '%s\n' "$merged" >"$file.tmp"
    mv "$file.tmp" "$file"
  fi
  if [[ "$old_id" != "${lines[4]//\"/}" ]]; then
    forget_host "${lines[3]//\"/}"
    forget_host "${lines[2]//\"/}"
  fi
}

# state_get NAME KEY: a value from state/droplets/NAME.json (empty if none)
state_get() {
  local file
  file=$(state_file "$1")
  [[ -s "$file" ]] || return 0
  jq -r --arg k "$2" '.[$k] // ""' "$file"
}

# state_set NAME KEY VALUE
state_set() {
  local file
  file=$(state_file "$1")
  jq -c --arg k "$2" --arg v "$3" '.[$k] = $v' "$file" >"$file.tmp"
  mv "$file.tmp" "$file"
}

# write_if_changed FILE < content: replace FILE only when the content differs (re-runs
# leave files untouched). Prints "created", "updated" or "unchanged".
write_if_changed() {
  local file=$1 tmp
  tmp=$(mktemp "$file.XXXXXX")
  cat >"$tmp"
  if [[ -f "$file" ]] && cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
    echo unchanged
  elif [[ -f "$file" ]]; then
    chmod 0644 "$tmp"
    mv "$tmp" "$file"
    echo updated
  else
    chmod 0644 "$tmp"
    mv "$tmp" "$file"
    echo created
  fi
}

# ---------------------------------------------------------------- user data

# render_user_data TEMPLATE NAME [EXISTS]: build/user-data/NAME.yaml from cloud-config/TEMPLATE
# with the tutorial's sed (ETCD_PEER, CONTROLLER_PUBLIC_IP from the environment). An existing
# droplet's file (EXISTS=yes) is its audit record and is kept; a difference is reported.
# The rendering of a template is done once per run (workers share theirs).
render_user_data() {
  local template=$1 name=$2 exists=${3:-no}
  local out=$USER_DATA_DIR/$name.yaml
  mkdir -p "$USER_DATA_DIR"
  if [[ "${_RENDERED_FOR:-}" != "$template|${ETCD_PEER:-}|${CONTROLLER_PUBLIC_IP:-}" ]]; then
    _RENDERED=$(sed -e "s|ETCD_PEER|${ETCD_PEER:-ETCD_PEER}|g;s|CONTROLLER_PUBLIC_IP|${CONTROLLER_PUBLIC_IP:-CONTROLLER_PUBLIC_IP}|g;" \
      "cloud-config/$template")
    if grep -qE '\b(ETCD_PEER|CONTROLLER_PUBLIC_IP)\b' <<<"$_RENDERED"; then
      die "cloud-config/$template: a placeholder is left unsubstituted for $name"
    fi
    if grep -q 'PRIVATE KEY' <<<"$_RENDERED"; then
      die "cloud-config/$template holds a private key: refusing to send it as user data"
    fi
    _RENDERED_FOR="$template|${ETCD_PEER:-}|${CONTROLLER_PUBLIC_IP:-}"
  fi
  if [[ -f "$out" ]] && [[ "$(<"$out")" == "$_RENDERED" ]]; then
    return 0
  fi
  if [[ "$exists" == yes && -f "$out" ]]; then
    warn "$name exists with other user data than cloud-config/$template renders now" \
      "(kept $out); user data cannot change: destroy and re-create $name to apply it"
    return 0
  fi
  printf '%s\n' "$_RENDERED" >"$out.tmp"
  mv "$out.tmp" "$out"
}

# ---------------------------------------------------------------- droplets

# ensure_droplets ROLE SIZE USER_DATA_FILE NAME...: create the missing NAMEs in ONE doctl call
# (doctl sends the creates concurrently; tags CLUSTER_NAME and CLUSTER_NAME-ROLE), then wait
# until every NAME has its public and private IP. Existing droplets are reused. Without
# DOCTL_WAIT=1 doctl returns at once: its --wait polls each droplet's create action (one API
# request per droplet per poll), where wait_for_ips lists them all in one request per poll.
# Sets CLUSTER_LIST (all records of the cluster).
ensure_droplets() {
  local role=$1 size=$2 user_data=$3
  shift 3
  local names=("$@") missing=() name id rest CREATE_START_MS=""
  while IFS=$'\t' read -r name id rest; do
    if [[ -n "$id" ]]; then
      log "reusing $name (id $id)"
    else
      missing+=("$name")
    fi
  done < <(records_tsv "${names[@]}")
  if ((${#missing[@]})); then
    step "creating ${#missing[*]} droplet(s) in $REGION ($size, $IMAGE): ${missing[*]}"
    local created rc=0 wait=()
    [[ "${DOCTL_WAIT:-0}" == 1 ]] && wait=(--wait)
    CREATE_START_MS=$(_now_ms)
    created=$(do_json "creating ${missing[*]}" compute droplet create "${missing[@]}" \
      --image "$IMAGE" --size "$size" --region "$REGION" \
      --ssh-keys "$SSH_KEY_FINGERPRINT" --user-data-file "$user_data" \
      --enable-private-networking --tag-names "$CLUSTER_NAME,$CLUSTER_NAME-$role" \
      "${wait[@]}") || rc=$?
    if ((rc != 0)); then
      forget_ssh_key
      die "creating ${missing[*]} did not complete; droplets created so far are kept" \
        "and reused: re-run 'make $role' to continue"
    fi
    if [[ -n "${AFTER_CREATE:-}" ]]; then
      "$AFTER_CREATE"
    fi
    CLUSTER_LIST=$(jq -c --argjson new "$created" \
      '. + [($new // [])[] | '"$JQ_RECORD"'] | unique_by(.id)' <<<"$CLUSTER_LIST")
    step_done "${#missing[*]} requested"
  fi
  wait_for_ips "${names[@]}"
  local sha
  sha=$(sha256_of "$user_data")
  for name in "${names[@]}"; do
    if [[ " ${missing[*]-} " == *" $name "* ]]; then
      save_record "$name" user_data_sha256 "$sha"
    else
      save_record "$name"
    fi
  done
}

# wait_for_ips NAME...: poll until every NAME has its public and private IP, with ONE droplet
# listing per poll for all of them (not one request per droplet, as doctl --wait does). The
# first poll comes after the boot time measured on this account before (state/boot_ms, else
# APPLY_BOOT_SECONDS), then after 1 s, doubling up to APPLY_POLL_SECONDS; bounded by
# APPLY_TIMEOUT_SECONDS.
wait_for_ips() {
  local names_json pending
  names_json=$(printf '%s\n' "$@" | jq -R . | jq -sc .)
  pending=$(_pending_ips "$names_json")
  [[ -z "$pending" ]] && return 0
  step "waiting for the public and private IPs of: $pending"
  local start_ms now_ms deadline_ms max_ms next_ms=1000 sleep_ms estimate
  local last_miss_ms=""
  start_ms=${CREATE_START_MS:-$(_now_ms)}
  deadline_ms=$(($(_now_ms) + APPLY_TIMEOUT_SECONDS * 1000))
  max_ms=$(_ms_of "$APPLY_POLL_SECONDS")
  estimate=$(cat "$STATE_DIR/boot_ms" 2>/dev/null || _ms_of "$APPLY_BOOT_SECONDS")
  [[ "$estimate" =~ ^[0-9]+$ ]] || estimate=0
  # the first sleep is the boot estimate (not capped: it replaces polls), later ones back off
  sleep_ms=$((start_ms + estimate - $(_now_ms)))
  ((sleep_ms > 0)) || sleep_ms=$((next_ms < max_ms ? next_ms : max_ms))
  while [[ -n "$pending" ]]; do
    now_ms=$(_now_ms)
    if ((now_ms >= deadline_ms)); then
      die "timed out after ${APPLY_TIMEOUT_SECONDS}s waiting for the IPs of: $pending" \
        "(APPLY_TIMEOUT_SECONDS); look with 'doctl compute droplet list --tag-name $CLUSTER_NAME'," \
        "then re-run: existing droplets are reused"
    fi
    ((now_ms + sleep_ms > deadline_ms)) && sleep_ms=$((deadline_ms - now_ms))
    sleep "$(_s_of "$sleep_ms")"
    CLUSTER_LIST=$(cluster_droplets)
    pending=$(_pending_ips "$names_json")
    [[ -z "$pending" ]] || last_miss_ms=$(_now_ms)
    sleep_ms=$((next_ms < max_ms ? next_ms : max_ms))
    next_ms=$((next_ms * 2))
  done
  if [[ -n "${CREATE_START_MS:-}" ]]; then
    # boot time estimate for the next wait: between the last miss and this hit (nearer the hit)
    now_ms=$(_now_ms)
    last_miss_ms=${last_miss_ms:-$now_ms}
    echo $((last_miss_ms + (now_ms - last_miss_ms) * 3 / 4 - CREATE_START_MS)) >"$STATE_DIR/boot_ms"
  fi
  step_done
}

# _ms_of SECONDS (may have a fraction) -> milliseconds; _s_of MILLISECONDS -> "S.mmm"
_ms_of() {
  local int=${1%%.*} frac=0
  [[ "$1" == *.* ]] && frac=${1#*.}
  frac=${frac}000
  echo $((10#${int:-0} * 1000 + 10#${frac:0:3}))
}

_s_of() {
  printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000))
}

_pending_ips() {
  jq -r --argjson names "$1" \
    '[$names[] as $n | (map(select(.name == $n))[0] // {name: $n})
      | select((.public_ip // "") == "" or (.private_ip // "") == "") | .name] | join(" ")' \
    <<<"$CLUSTER_LIST"
}

# need_droplet NAME WHAT: the record of NAME from CLUSTER_LIST, or stop with the make target.
need_droplet() {
  local rec
  rec=$(record_of "$CLUSTER_LIST" "$1")
  [[ -n "$rec" ]] || die "$1 does not exist: run 'make $2' first"
  [[ -n "$(field "$rec" private_ip)" ]] || die "$1 has no private IP yet: re-run 'make $2'"
  echo "$rec"
}

sha256_of() {
  openssl dgst -sha256 -r "$@" | cut -d' ' -f1 | tr -d '\n'
}

# ---------------------------------------------------------------- ssh / scp

# forget_host IP: drop IP from the repo's known_hosts (a re-created droplet has a new host key).
forget_host() {
  local ip=$1
  [[ -n "$ip" && -f "$KNOWN_HOSTS" ]] || return 0
  if grep -qE "^(\[?$ip\]?[ ,])" "$KNOWN_HOSTS"; then
    grep -vE "^(\[?$ip\]?[ ,])" "$KNOWN_HOSTS" >"$KNOWN_HOSTS.tmp" || true
    mv "$KNOWN_HOSTS.tmp" "$KNOWN_HOSTS"
  fi
}

remote() {
  local ip=$1
  shift
  # shellcheck disable=SC2029 # the command is meant to run on the droplet
  ssh "${SSH_OPTS[@]}" "$SSH_USER@$ip" "$@"
}

copy_to() {
  local ip=$1
  shift
  scp -q "${SSH_OPTS[@]}" "$@" "$SSH_USER@$ip:~"
}

# ssh_retry NAME IP COMMAND...: run COMMAND (remote or copy_to), retrying while ssh cannot
# connect (exit 255: sshd starts after the droplet is "active"), bounded by SSH_TIMEOUT_SECONDS.
ssh_retry() {
  local name=$1 ip=$2 deadline rc err
  shift 2
  deadline=$(($(_now_ms) + SSH_TIMEOUT_SECONDS * 1000))
  mkdir -p "$LOG_DIR"
  err=$LOG_DIR/$name.ssh-error
  while true; do
    rc=0
    "$@" 2>"$err" || rc=$?
    if ((rc == 0)); then
      return 0
    fi
    if ((rc != 255)); then
      log "ERROR: $1 on $name ($ip) failed (exit $rc): $(tr '\n' ' ' <"$err")"
      return 1
    fi
    if (($(_now_ms) >= deadline)); then
      log "ERROR: timed out after ${SSH_TIMEOUT_SECONDS}s waiting for ssh on $name ($ip):" \
        "$(tr '\n' ' ' <"$err")(SSH_TIMEOUT_SECONDS; is the key '$SSH_KEY_NAME' in your ssh-agent?)"
      return 1
    fi
    sleep 0.5
  done
}

# install_tls NAME IP CERT KEY [LINK_NAME]: the tutorial's scp to ~core, then over ssh: mkdir,
# mv into SSL_DIR, chown root:root, chmod 600 the keys, and (workers) the generic symlinks
# LINK_NAME.pem and LINK_NAME-key.pem. Skipped when these very files are already installed.
install_tls() {
  local name=$1 ip=$2 cert=$3 key=$4 link=${5:-} sha
  local certf keyf
  certf=$(basename "$cert")
  keyf=$(basename "$key")
  sha=$(cat "$cert" "$PKI_DIR/ca.pem" | sha256_of)
  if [[ "$(state_get "$name" tls_sha256)" == "$sha" ]]; then
    log "$name: TLS assets already installed ($certf)"
    return 0
  fi
  log "$name: copying $certf $keyf ca.pem to $SSH_USER@$ip:~"
  ssh_retry "$name" "$ip" copy_to "$ip" "$key" "$cert" "$PKI_DIR/ca.pem" || return 1
  local script="sudo mkdir -p $SSL_DIR && sudo mv $keyf $certf ca.pem $SSL_DIR/"
  script+=" && sudo chown root:root $SSL_DIR/$certf $SSL_DIR/$keyf $SSL_DIR/ca.pem"
  script+=" && sudo chmod 600 $SSL_DIR/$keyf"
  if [[ -n "$link" ]]; then
    script+=" && sudo ln -sf $SSL_DIR/$certf $SSL_DIR/$link.pem"
    script+=" && sudo ln -sf $SSL_DIR/$keyf $SSL_DIR/$link-key.pem"
  fi
  log "$name: installing into $SSL_DIR (root:root, keys 0600)"
  ssh_retry "$name" "$ip" remote "$ip" "$script" || return 1
  state_set "$name" tls_sha256 "$sha"
}

# ---------------------------------------------------------------- certificates

# ensure_cert_ips CERT_NAME EXPECTED_IP...: delete pki/CERT_NAME.pem when its IP SANs are not
# exactly EXPECTED_IP... (the droplet was re-created); the key stays, the cert is re-issued.
ensure_cert_ips() {
  local name=$1 cert have want
  shift
  cert=$PKI_DIR/$name.pem
  [[ -s "$cert" ]] || return 0
  have=$(pki_cert_ips "$cert" | tr '\n' ' ')
  want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
  if [[ "$have" != "$want" ]]; then
    log "pki/$name.pem is for ${have% } but the droplet has ${want% }: re-issuing it"
    rm -f "$cert"
  fi
}

# ---------------------------------------------------------------- kubectl

kube() {
  kubectl --kubeconfig "$KUBECONFIG_FILE" "$@"
}

need_kubeconfig() {
  [[ -s "$KUBECONFIG_FILE" ]] || die "no ./kubeconfig: run 'make controller' first"
}

# wait_apiserver: bounded wait until the apiserver answers (it starts minutes after boot).
wait_apiserver() {
  local deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS)) err
  err=$(mktemp)
  step "waiting for the apiserver ($(grep -m1 'server:' "$KUBECONFIG_FILE" | awk '{print $2}'))"
  until kube version >/dev/null 2>"$err"; do
    if ((SECONDS >= deadline)); then
      log "ERROR: $(tr '\n' ' ' <"$err")"
      rm -f "$err"
      die "timed out after ${APPLY_TIMEOUT_SECONDS}s waiting for the apiserver (APPLY_TIMEOUT_SECONDS);" \
        "check 'make status' and journalctl on the controller"
    fi
    sleep "$APPLY_POLL_SECONDS"
  done
  rm -f "$err"
  step_done
}

# worker_name NN -> <cluster>-worker-NN
worker_name() {
  printf '%s-%02d' "$WORKER_PREFIX" "$((10#$1))"
}
