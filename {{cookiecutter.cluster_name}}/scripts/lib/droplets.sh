# shellcheck shell=bash
# Droplets: create the missing ones in one call, wait for their IPs.

# ensure_droplets ROLE SIZE USER_DATA_FILE NAME...: create the missing NAMEs in ONE doctl call
# (doctl sends the creates concurrently; tags CLUSTER_TAG and the ROLE's tag), then wait
# until every NAME has its public and private IP. Existing droplets are reused; creates the
# API refused with 429 are sent again after RATE_LIMIT_WAIT_SECONDS for the NAMEs that still
# do not exist (looked up by name: never a second droplet). Without
# DOCTL_WAIT=1 doctl returns at once: its --wait polls each droplet's create action (one API
# request per droplet per poll), where wait_for_ips lists them all in one request per poll.
# With CREATE_ONLY=yes it returns once the creates are sent. Sets CLUSTER_LIST (all records of
# the cluster).
ensure_droplets() {
  local role=$1 size=$2 user_data=$3
  shift 3
  local names=("$@") missing=() requested=() name CREATE_START_MS="" role_tag=${role^^}_TAG
  user_data=$(user_data_sent "$role" "$user_data")
  _missing_droplets reusing "${names[@]}"
  if ((${#missing[@]})); then
    require_image
    step "creating ${#missing[*]} droplet(s) in $REGION ($size, $IMAGE): ${missing[*]}"
    local created rc tries=0 wait=()
    requested=("${missing[@]}")
    [[ "${DOCTL_WAIT:-0}" == 1 ]] && wait=(--wait)
    log_cost "$size" "${#missing[@]}"
    CREATE_START_MS=$(_now_ms)
    # an unfinished destroy's record must not outlive new droplets (their files are not its)
    rm -f "$DELETED_FILE"
    while :; do
      rc=0
      created=$(do_json "creating ${missing[*]}" compute droplet create "${missing[@]}" \
        --image "$IMAGE" --size "$size" --region "$REGION" \
        --ssh-keys "$SSH_KEY_FINGERPRINT" --user-data-file "$user_data" \
        --enable-private-networking --tag-names "$CLUSTER_TAG,${!role_tag}" \
        "${wait[@]}") || rc=$?
      ((rc == RATE_LIMITED_RC && tries++ < RATE_LIMIT_RETRIES)) || break
      # a refused create was not performed, but some of one call's creates may have been:
      # look by name, then create only what is still missing (never a second droplet)
      log "waiting ${RATE_LIMIT_WAIT_SECONDS}s, then creating what does not exist yet" \
        "(retry $tries of $RATE_LIMIT_RETRIES)"
      wait_begin "the API's rate limit to pass (creating droplets)" "$RATE_LIMIT_WAIT_SECONDS"
      wait_sleep "$RATE_LIMIT_WAIT_SECONDS"
      CLUSTER_LIST=$(cluster_droplets)
      _missing_droplets created "${requested[@]}"
      if ((${#missing[@]} == 0)); then
        created='[]'
        break
      fi
    done
    if ((rc != 0)); then
      forget_ssh_key
      die "creating ${missing[*]} did not complete; droplets created so far are kept" \
        "and reused: re-run 'make $role' to continue"
    fi
    if [[ -n "${AFTER_CREATE:-}" ]]; then
      "$AFTER_CREATE"
    fi
    CLUSTER_LIST=$(merge_created "$created")
    step_done "${#requested[*]} requested"
  fi
  # make up creates every level's droplets at once (create_all_droplets): the IPs and the
  # records are for the level scripts that follow
  [[ "${CREATE_ONLY:-no}" != yes ]] || return 0
  wait_for_ips "${names[@]}"
  local sha
  sha=$(sha256_of "$user_data")
  for name in "${names[@]}"; do
    if [[ " ${requested[*]-} " == *" $name "* ]]; then
      save_record "$name" user_data_sha256 "$sha"
    elif [[ -f "$USER_DATA_DIR/$name.yaml" ]]; then
      # kept since its create (render_user_data never rewrites an existing droplet's file):
      # records the hash a create interrupted before this loop never wrote
      save_record "$name" user_data_sha256 \
        "$(sha256_of "$(user_data_sent "$role" "$USER_DATA_DIR/$name.yaml")")" if-absent
    else
      save_record "$name"
    fi
  done
}

# _missing_droplets VERB NAME...: sets missing (the caller's array) to the NAMEs CLUSTER_LIST
# lacks; logs "VERB NAME (id ID)" for the others.
_missing_droplets() {
  local verb=$1 name id rest
  shift
  missing=()
  while IFS=$'\t' read -r name id rest; do
    if [[ -n "$id" ]]; then
      log "$verb $name (id $id)"
    else
      missing+=("$name")
    fi
  done < <(records_tsv "$@")
}

# merge_created CREATE_RESPONSE: CLUSTER_LIST plus the records of the droplets doctl created.
# Both go to jq on stdin: the response of 99 creates is far over the 128 KiB a single
# command-line argument may have ("Argument list too long").
merge_created() {
  { printf '%s\n' "$CLUSTER_LIST"; printf '%s\n' "$1"; } |
    jq -nc 'input as $list | input as $new | $list + [($new // [])[] | '"$JQ_RECORD"'] | unique_by(.id)'
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
  step "waiting for the droplets' IPs: $pending (public and private)"
  wait_begin "the IPs of $pending" "$APPLY_TIMEOUT_SECONDS"
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
        "(APPLY_TIMEOUT_SECONDS); look with 'doctl compute droplet list --tag-name $CLUSTER_TAG'," \
        "then re-run: existing droplets are reused"
    fi
    ((now_ms + sleep_ms > deadline_ms)) && sleep_ms=$((deadline_ms - now_ms))
    wait_sleep "$(_s_of "$sleep_ms")"
    CLUSTER_LIST=$(cluster_droplets)
    pending=$(_pending_ips "$names_json")
    _WAIT_WHAT="the IPs of $pending"
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

_pending_ips() {
  { printf '%s\n' "$CLUSTER_LIST"; printf '%s\n' "$1"; } | jq -nr \
    'input as $list | input as $names
     | [$names[] as $n | ($list | map(select(.name == $n))[0] // {name: $n})
        | select((.public_ip // "") == "" or (.private_ip // "") == "") | .name] | join(" ")'
}

# wait_gone IDS_JSON: list the cluster until none of the droplet ids IDS_JSON is listed any
# more, bounded by APPLY_TIMEOUT_SECONDS. Sets CLUSTER_LIST to the last listing and
# STILL_LISTED to the names of those still listed (empty: all gone).
wait_gone() {
  local ids=$1 deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS))
  wait_begin "the deleted droplets to leave the listing" "$APPLY_TIMEOUT_SECONDS"
  while true; do
    CLUSTER_LIST=$(cluster_droplets)
    STILL_LISTED=$({ printf '%s\n' "$CLUSTER_LIST"; printf '%s\n' "$ids"; } | jq -nr 'input as $list
      | input as $ids | [$list[] | select(.id as $i | $ids | index($i)) | .name] | join(" ")')
    if [[ -z "$STILL_LISTED" ]] || ((SECONDS >= deadline)); then
      return 0
    fi
    wait_sleep "$APPLY_POLL_SECONDS"
  done
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

# workers_wanted: WORKERS (make worker/up WORKERS=N) or else WORKER_COUNT, a number from 1 to
# MAX_WORKERS (else stop).
workers_wanted() {
  local count=${WORKERS:-$WORKER_COUNT}
  if ! [[ "$count" =~ ^[0-9]+$ ]] || ((10#$count < 1 || 10#$count > MAX_WORKERS)); then
    die "WORKERS=$count: expected a number of workers from 1 to $MAX_WORKERS"
  fi
  echo $((10#$count))
}

# worker_name NN -> <cluster>-worker-NN
worker_name() {
  printf '%s-%02d' "$WORKER_PREFIX" "$((10#$1))"
}

# read_controllers: CONTROLLER_NAMES, CONTROLLER_PUBLICS, CONTROLLER_PRIVATES (arrays, in
# order) and CONTROLLER_LINES (one summary line each) for every controller in CLUSTER_LIST
# (pki_issue_apiserver_shared and profile_controller_tls read them).
read_controllers() {
  local names=() name id public private
  mapfile -t names < <(controller_names)
  CONTROLLER_NAMES=() CONTROLLER_PUBLICS=() CONTROLLER_PRIVATES=() CONTROLLER_LINES=()
  while IFS=$'\t' read -r name id public private; do
    [[ -n "$id" ]] || continue
    CONTROLLER_NAMES+=("$name") CONTROLLER_PUBLICS+=("$public") CONTROLLER_PRIVATES+=("$private")
    CONTROLLER_LINES+=("$name  id $id  public $public  private $private")
  done < <(records_tsv "${names[@]}")
}

# day_two_begin: what a job that walks the running cluster's nodes needs first (make upgrade,
# make os-update): doctl and kubectl usable, ./kubeconfig, CLUSTER_LIST read, every controller
# there (read_controllers), else die before any change.
day_two_begin() {
  preflight
  require_kubectl
  need_kubeconfig
  CLUSTER_LIST=$(cluster_droplets)
  read_controllers
  ((${#CONTROLLER_NAMES[@]} == CONTROLLER_COUNT)) ||
    die "$((CONTROLLER_COUNT - ${#CONTROLLER_NAMES[@]})) of $CONTROLLER_COUNT controller(s) missing: run 'make controller' first"
}
