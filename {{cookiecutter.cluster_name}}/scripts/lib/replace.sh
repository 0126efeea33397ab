# shellcheck shell=bash
# Re-creating droplets with the user data cloud-config renders now (user data cannot change on
# a droplet): the one mechanism behind REPLACE=1 (stale user data) and make replace NODE=NAME.
# A worker that is a registered node is drained first (scripts/lib/drain.sh), and once its new
# droplet is Ready again it is uncordoned (replaced_nodes_back, called by worker.sh).

# nodes make replace and REPLACE=1 drained: worker.sh waits for them and uncordons them
REPLACED_NODES=()

# replace_stale TARGET TEMPLATE: the droplets in STALE_USER_DATA run with other user data than
# cloud-config/TEMPLATE renders now (etcd or the controller was re-created, so ETCD_PEER or
# CONTROLLER_PUBLIC_IP changed; or the template was edited). They would never join the
# cluster, and user data cannot change: stop with the way out, or with REPLACE=1 re-create
# exactly these droplets (recreate_droplets).
replace_stale() {
  local target=$1 template=$2
  ((${#STALE_USER_DATA[@]})) || return 0
  local stale=("${STALE_USER_DATA[@]}") ids=() name
  for name in "${stale[@]}"; do
    ids+=("$(field "$(record_of "$CLUSTER_LIST" "$name")" id)")
  done
  if [[ "${REPLACE:-}" != 1 ]]; then
    die "${stale[*]} run with other user data than cloud-config/$template renders now" \
      "($(user_data_change "${stale[0]}") kept in $USER_DATA_DIR/): they cannot join this cluster" \
      "and user data cannot change. Re-create them: 'make $target REPLACE=1' deletes and re-creates" \
      "exactly these ${#stale[@]} droplet(s); or by hand: doctl compute droplet delete ${ids[*]} --force," \
      "then make $target"
  fi
  recreate_droplets "$target" "$template" REPLACE=1 "make $target REPLACE=1" "${stale[@]}"
}

# recreate_droplets TARGET TEMPLATE WHY RERUN NAME...: drain the NAMEs that are registered nodes
# (workers; FORCE=1: regardless of PodDisruptionBudgets), delete exactly these droplets (this
# cluster's, by ID from its listing) and render their user data anew, so that the caller
# creates them again. WHY heads the step; RERUN is the command that resumes after a failure.
recreate_droplets() {
  local target=$1 template=$2 why=$3 rerun=$4 name ids=()
  shift 4
  for name in "$@"; do
    ids+=("$(field "$(record_of "$CLUSTER_LIST" "$name")" id)")
  done
  if [[ "$target" == worker && -z "$NODE_OPS_REFUSAL" ]]; then
    for name in "$@"; do
      node_registered "$name" || continue
      step "draining $name before it is re-created"
      node_drain_or_die "$name" "so it was not re-created" "$rerun"
      REPLACED_NODES+=("$name")
      step_done
    done
  fi
  step "$why: deleting $* (id ${ids[*]}) to re-create them with the current user data"
  local out rc=0
  out=$(doctl compute droplet delete "${ids[@]}" --force 2>&1) || rc=$?
  ((rc == 0)) || die "deleting $* failed: $out; re-run '$rerun'"
  wait_gone "$(printf '%s\n' "${ids[@]}" | jq -sc .)"
  [[ -z "$STILL_LISTED" ]] ||
    die "still listed after ${APPLY_TIMEOUT_SECONDS}s: $STILL_LISTED; re-run '$rerun'"
  for name in "$@"; do
    rm -f "$USER_DATA_DIR/$name.yaml"
    render_user_data "$template" "$name" no
  done
  STALE_USER_DATA=()
  step_done
}

# replace_node NAME WORKER...: make replace NODE=NAME: NAME, one of the WORKERs and listed,
# re-created with the current user data, drained first.
replace_node() {
  local name=$1
  shift
  [[ -z "$NODE_OPS_REFUSAL" ]] || die "make replace: $NODE_OPS_REFUSAL"
  [[ " $* " == *" $name "* ]] ||
    die "NODE=$name: expected one of the workers $* (make replace re-creates a worker;" \
      "etcd members and controllers have their own replacement, see the README)"
  [[ -n "$(record_of "$CLUSTER_LIST" "$name")" ]] ||
    die "NODE=$name: no such droplet is tagged $CLUSTER_TAG; 'make worker' creates the missing workers"
  # make replace re-creates NODE alone: it must not also create workers that are missing
  local missing=() other
  for other in "$@"; do
    [[ -n "$(record_of "$CLUSTER_LIST" "$other")" ]] || missing+=("$other")
  done
  ((${#missing[@]} == 0)) ||
    die "make replace re-creates $name alone, but WORKER_COUNT=$WORKER_COUNT also wants ${missing[*]}," \
      "which do not exist: create them first (make worker) or scale in (make scale WORKERS=N); nothing was changed"
  local stale=()
  for other in "${STALE_USER_DATA[@]}"; do
    [[ "$other" == "$name" ]] || stale+=("$other")
  done
  STALE_USER_DATA=("${stale[@]}")
  recreate_droplets worker worker.yaml "make replace" "make replace NODE=$name" "$name"
  # an unregistered worker (its kubelet never joined) is waited for too
  [[ " ${REPLACED_NODES[*]-} " == *" $name "* ]] || REPLACED_NODES+=("$name")
}

# replaced_nodes_back: each node recreate_droplets drained is Ready again, then uncordoned
# (the Node object kept its spec.unschedulable while its droplet was away).
replaced_nodes_back() {
  ((${#REPLACED_NODES[@]})) || return 0
  local name
  step "waiting for the re-created node(s) ${REPLACED_NODES[*]} to be Ready, then uncordoning them"
  for name in "${REPLACED_NODES[@]}"; do
    node_wait_ready "$name"
    node_uncordon "$name" || die "uncordoning $name failed (see above): kubectl --kubeconfig kubeconfig uncordon $name"
  done
  step_done
}
