# shellcheck shell=bash
# make up's first step where the nodes fill in the other droplets' addresses themselves
# (USER_DATA_FILLED_BY_NODE, the current profile): every droplet of a new cluster is created at
# once, etcd members, controllers and workers, with user data that names no address; then make
# etcd, controller and worker find them, wait for the IPs and ssh, and deliver each node's
# certificates and addresses. One droplet boot is on the critical path, not one per level.
#
# Only for a cluster none of whose droplets exists: a re-run, a resumed run or a repair goes
# through the level scripts' own checks (a lost etcd member's replacement, user data gone
# stale, a count changed), each level creating what it lacks. The tutorial's user data carries
# the addresses (sed at create), so its levels follow each other.

# create_all_droplets WORKERS: every droplet of the cluster created in one doctl call per role;
# ALL_CREATED: their names (empty when none was created here), ALL_CREATED_MS: when the first
# create went out (their boot clock).
ALL_CREATED=()
ALL_CREATED_MS=""
create_all_droplets() {
  local workers=$1 etcd=() controllers=() names=() nn
  if [[ "${USER_DATA_FILLED_BY_NODE:-no}" != yes ]]; then
    log "make up: each level's user data names the previous level's addresses:" \
      "etcd, controllers and workers are created one level after the other"
    return 0
  fi
  preflight
  CLUSTER_LIST=$(cluster_droplets)
  if [[ "$(jq length <<<"$CLUSTER_LIST")" != 0 ]]; then
    log "make up: $CLUSTER_TAG has droplets already: each level creates what it lacks"
    return 0
  fi
  etcd_check_count
  controller_check_count
  ensure_firewalls
  mapfile -t etcd < <(etcd_names)
  mapfile -t controllers < <(controller_names)
  for ((nn = 1; nn <= workers; nn++)); do
    names+=("$(worker_name "$nn")")
  done
  # shellcheck disable=SC2034 # read by scripts/up.sh
  ALL_CREATED_MS=$(_now_ms)
  CREATE_ONLY=yes ensure_droplets etcd "$ETCD_SIZE" cloud-config/etcd.yaml "${etcd[@]}"
  CREATE_ONLY=yes ensure_droplets controller "$CONTROLLER_SIZE" cloud-config/controller.yaml \
    "${controllers[@]}"
  CREATE_ONLY=yes ensure_droplets worker "$WORKER_SIZE" cloud-config/worker.yaml "${names[@]}"
  # shellcheck disable=SC2034 # read by scripts/up.sh
  ALL_CREATED=("${etcd[@]}" "${controllers[@]}" "${names[@]}")
  log "make up: ${#etcd[@]} etcd, ${#controllers[@]} controller and ${#names[@]} worker" \
    "droplet(s) booting at once"
}
