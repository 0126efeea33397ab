#!/usr/bin/env bash
# make scale [WORKERS=N] [FORCE=1]: scale the workers in to N (default WORKER_COUNT, so lowering
# it in settings.env and running make scale does the same; WORKERS=N below it is recorded there
# once the surplus is gone, so later targets keep N). The workers numbered above N go,
# highest first, one at a time: cordoned and drained (scripts/lib/drain.sh: evictions respect
# PodDisruptionBudgets), the droplet deleted (only this cluster's, by ID from the listing of
# CLUSTER_TAG), then its Node object, certificates, keys, user data and state. A drain that
# fails stops the run before anything of that worker is deleted; FORCE=1 deletes its pods
# regardless of their budgets. Re-run after an interruption: a worker whose droplet is already
# gone still loses its Node object and local files. Fewer than one worker is refused (the
# settings check); more than exist: make worker WORKERS=N adds them.
set -euo pipefail
shopt -s inherit_errexit
# shellcheck source=scripts/lib/usage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/usage.sh"
usage_check "$@"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# surplus_workers N: the workers numbered above N that the listing or the local files (state,
# user data, certificates: an interrupted run's leftovers) speak of, highest first.
surplus_workers() {
  local f
  {
    jq -r '.[].name' <<<"$CLUSTER_LIST"
    for f in "$DROPLET_STATE_DIR"/*.json "$USER_DATA_DIR"/*.yaml; do
      [[ -e "$f" ]] && basename "$f" | sed -E 's/\.(json|yaml)$//'
    done
    profile_pki_names
  } | sed -n "s/^$WORKER_PREFIX-\([0-9][0-9]*\)$/\1/p" | sort -u -n -r |
    while read -r nn; do
      ((10#$nn > $1)) && worker_name "$nn" && echo
    done
  return 0
}

# remove_worker NAME: drain, delete the droplet (if listed), the Node, the local files.
remove_worker() {
  local name=$1 rec id file removed=()
  rec=$(record_of "$CLUSTER_LIST" "$name")
  step "removing $name${rec:+ (id $(field "$rec" id))}"
  if [[ -n "$rec" ]]; then
    node_drain_or_die "$name" "nothing of it was deleted" "make scale WORKERS=$WANT"
    id=$(field "$rec" id)
    # the listing is of CLUSTER_TAG; the worker tag is checked too: never another's droplet
    jq -e --arg t "$WORKER_TAG" '.tags | index($t)' <<<"$rec" >/dev/null ||
      die "$name (id $id) lacks the tag $WORKER_TAG: not deleted; look at it with 'doctl compute droplet get $id'"
    local out rc=0
    out=$(doctl compute droplet delete "$id" --force 2>&1) || rc=$?
    ((rc == 0)) || die "deleting $name (id $id) failed: $out; re-run 'make scale WORKERS=$WANT'"
    wait_gone "[$id]"
    [[ -z "$STILL_LISTED" ]] ||
      die "$name is still listed after ${APPLY_TIMEOUT_SECONDS}s; re-run 'make scale WORKERS=$WANT'"
    forget_host "$(field "$rec" public_ip)"
  fi
  node_delete "$name" || die "the Node $name was not deleted (see above); re-run 'make scale WORKERS=$WANT'"
  while IFS= read -r file; do
    rm -f "$file"
    removed+=("$file")
  done < <(files_of "$name" | existing)
  step_done "${#removed[@]} local file(s): ${removed[*]:-none}"
}

# record_worker_count: WANT below WORKER_COUNT is recorded in settings.env, so that make
# worker, make replace and make plan keep the cluster at WANT (returns 1: nothing to record).
record_worker_count() {
  ((WANT < WORKER_COUNT)) || return 1
  settings_record WORKER_COUNT "$WANT"
}

main() {
  WANT=$((10#${WORKERS:-$WORKER_COUNT}))
  [[ -z "$NODE_OPS_REFUSAL" ]] || die "make scale: $NODE_OPS_REFUSAL"
  apply_lock scale
  preflight --no-key
  need_kubeconfig
  require_kubectl
  CLUSTER_LIST=$(cluster_droplets)
  local surplus=() name
  mapfile -t surplus < <(surplus_workers "$WANT")
  if ((${#surplus[@]} == 0)); then
    local have lines=()
    have=$(jq --arg p "$WORKER_PREFIX-" '[.[] | select(.name | startswith($p))] | length' <<<"$CLUSTER_LIST")
    ((have >= WANT)) || lines+=("make worker WORKERS=$WANT adds the missing ones")
    # an earlier run removed them but was cut before recording WANT
    ! record_worker_count || lines+=("settings.env: WORKER_COUNT=$WANT")
    summary "nothing to remove: $have worker(s), WORKERS=$WANT" "${lines[@]}"
    return 0
  fi
  log "scaling in to $WANT worker(s): ${surplus[*]} will be drained and DELETED, one at a time"
  for name in "${surplus[@]}"; do
    remove_worker "$name"
  done
  # their public IPs leave the load balancer's allow list
  if lb_wanted; then
    CLUSTER_LIST=$(cluster_droplets)
    LB_JSON=$(lb_find)
    [[ -z "$LB_JSON" ]] || lb_reconcile "$LB_JSON"
  fi
  local lines=("removed: ${surplus[*]} (droplets, Node objects, certificates, keys, state)")
  ! record_worker_count || lines+=("settings.env: WORKER_COUNT=$WANT (was $WORKER_COUNT)")
  summary "scaled in to $WANT worker(s)" "${lines[@]}"
}

main "$@"
