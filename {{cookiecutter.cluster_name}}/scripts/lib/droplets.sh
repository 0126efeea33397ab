# shellcheck shell=bash
# Droplets: create the missing ones in one call, wait for their IPs.

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
    log_cost "$size" "${#missing[@]}"
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

# worker_name NN -> <cluster>-worker-NN
worker_name() {
  printf '%s-%02d' "$WORKER_PREFIX" "$((10#$1))"
}
