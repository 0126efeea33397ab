# shellcheck shell=bash
# doctl and jq: API calls with doctl's own errors, the ssh key, the cluster's droplet listing.

# doctl ARGS...: every call of the scripts, in doctl's context CONTEXT when it is set (doctl
# --context: that context's token from doctl's config; else its default context, fed by
# DIGITALOCEAN_ACCESS_TOKEN).
doctl() {
  command doctl ${CONTEXT:+--context "$CONTEXT"} "$@"
}

# do_json WHAT DOCTL-ARGS...: run doctl with -o json, print its JSON; on failure log doctl's
# own error with WHAT and return its status (callers assign under errexit, so it stops).
# DigitalOcean's burst limit (250 requests a minute) answers 429; doctl already waits each
# retry-after and retries 5 times. When it still gives up, a list or get is sent again after
# RATE_LIMIT_WAIT_SECONDS, up to RATE_LIMIT_RETRIES times. Anything else (create, update,
# delete) is never repeated here: it returns RATE_LIMITED_RC, and a caller that can check
# by name what exists (ensure_droplets) decides.
RATE_LIMITED_RC=75
do_json() {
  local what=$1
  shift
  local out detail tries=0 rc
  while :; do
    rc=0
    _doctl_json "$@" || rc=$?
    ((rc == 0)) && break
    if [[ "$detail" != *": 429 "* ]]; then
      error "$what failed (doctl exit $rc): $detail"
      return "$rc"
    fi
    if [[ "${3:-}" != list && "${3:-}" != get ]]; then
      error "$what was refused by the API's rate limit (not sent again: not a read;" \
        "a re-run creates only what does not exist): $detail"
      return "$RATE_LIMITED_RC"
    fi
    if ((tries++ >= RATE_LIMIT_RETRIES)); then
      error "$what failed: still rate limited after $RATE_LIMIT_RETRIES waits of" \
        "${RATE_LIMIT_WAIT_SECONDS}s (RATE_LIMIT_RETRIES, RATE_LIMIT_WAIT_SECONDS): $detail"
      return "$rc"
    fi
    log "$what: rate limited by the API; waiting ${RATE_LIMIT_WAIT_SECONDS}s" \
      "(retry $tries of $RATE_LIMIT_RETRIES)"
    wait_begin "the API's rate limit to pass ($what)" "$RATE_LIMIT_WAIT_SECONDS"
    wait_sleep "$RATE_LIMIT_WAIT_SECONDS"
  done
  printf '%s\n' "${out:-[]}"
}

# _doctl_json DOCTL-ARGS...: one doctl run; sets out (its JSON) and, on failure, detail
# (doctl's error on one line) in the caller's scope.
_doctl_json() {
  local err rc=0
  err=$(mktemp)
  out=$(doctl "$@" -o json 2>"$err") || rc=$?
  if ((rc != 0)); then
    # with -o json doctl reports API errors on stdout as {"errors":[{"detail":...}]}
    detail=$(jq -r '.errors[]?.detail' <<<"$out" 2>/dev/null || printf '%s' "$out")
    detail=$(printf '%s %s' "$detail" "$(cat "$err")" | tr '\n' ' ' | sed 's/  */ /g')
  fi
  rm -f "$err"
  return "$rc"
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
      "'doctl compute ssh-key import $SSH_KEY_NAME --public-key-file ~/.ssh/id_ed25519.pub'" \
      "(your public key's file)"
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
JQ_RECORD='{id, name, status: (.status // ""), tags: (.tags // []), region: (.region.slug // ""),
  public_ip: ([(.networks.v4 // [])[] | select(.type == "public") | .ip_address][0] // ""),
  private_ip: ([(.networks.v4 // [])[] | select(.type == "private") | .ip_address][0] // "")}'

# cluster_droplets: the cluster's droplets (tag CLUSTER_TAG, which no other cluster's tag can
# equal) as one JSON array of records; stops when two droplets share a name (never guess
# which one is ours), unless --duplicates-ok (status and destroy, which name them by ID).
cluster_droplets() {
  local raw list dupes
  raw=$(do_json "listing the droplets tagged $CLUSTER_TAG" \
    compute droplet list --tag-name "$CLUSTER_TAG")
  list=$(jq -c "[(. // [])[] | $JQ_RECORD]" <<<"$raw")
  dupes=$(duplicate_droplets "$list")
  if [[ -n "$dupes" && "${1:-}" != --duplicates-ok ]]; then
    die "$dupes; delete the extra ones (doctl compute droplet delete ID; two applies at once?)" \
      "and re-run, or 'make destroy' removes them all"
  fi
  printf '%s\n' "$list"
}

# duplicate_droplets LIST: one line per name LIST has more than once, with the droplets' IDs
# (make status reports them, make destroy deletes them all: cluster_droplets --duplicates-ok).
duplicate_droplets() {
  jq -r 'group_by(.name)[] | select(length > 1)
    | "\(length) droplets are named \(.[0].name) (ids: \(map(.id | tostring) | join(", ")))"' <<<"$1"
}

# record_of LIST NAME: the record named NAME in LIST (empty if none).
record_of() {
  jq -c --arg n "$2" 'first(.[] | select(.name == $n)) // empty' <<<"$1"
}

# records_tsv NAME...: one line per NAME, in order: name, id, public IP, private IP
# (empty fields for a droplet that does not exist). One jq run for any number of names.
# JSON of unbounded size goes through stdin, never an argument (Linux caps one at 128 KiB).
records_tsv() {
  { printf '%s\n' "$CLUSTER_LIST"; printf '%s\n' "$@" | jq -R .; } | jq -nr \
    'input as $list | inputs as $n | ($list | map(select(.name == $n))[0] // {name: $n})
     | [.name, (.id // "" | tostring), (.public_ip // ""), (.private_ip // "")] | @tsv'
}

# field RECORD KEY
field() {
  jq -r --arg k "$2" '.[$k] // ""' <<<"$1"
}
