#!/usr/bin/env bash
# make up [WORKERS=N]: the whole cluster in one run, holding the cluster's lock throughout:
# make image (checks IMAGE, or imports Flatcar once), then every droplet of a new cluster
# created at once (scripts/lib/createall.sh: the current profile's user data names no other
# droplet's address), every key made and every IP awaited while they boot, then make etcd,
# controller (and the load balancer when there are several) and worker side by side, then
# addons: each the very script its own target runs, delivering each droplet's certificates and
# addresses as soon as it answers. A cluster that exists already, or whose user data names
# addresses (the tutorial's), goes through the levels one after the other. A re-run creates
# nothing; a run cut anywhere resumes where it stopped.
set -euo pipefail
shopt -s inherit_errexit
# shellcheck source=scripts/lib/usage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/usage.sh"
usage_check "$@"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=scripts/lib/createall.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/createall.sh"

UP_DIR=$(dirname "${BASH_SOURCE[0]}")
LEVELS=(etcd controller worker)

# _up_run TARGET: make TARGET's script; its seconds to UP_LINES.
_up_run() {
  local start
  start=$(_now_ms)
  "$UP_DIR/$1.sh" ||
    die "make up stopped at make $1 (see above): fix the cause and re-run 'make up'" \
      "(what exists is reused)"
  UP_LINES+=("make $1: $(_s_of $(($(_now_ms) - start))) s")
}

# _up_level TARGET: make TARGET's script with each line of its output headed by its name (run
# beside the other levels: one write per line, as it comes), its seconds to UP_TIMES.
_up_level() {
  local start rc=0 head line
  start=$(_now_ms)
  printf -v head '%-10s| ' "$1"
  "$UP_DIR/$1.sh" 2>&1 | while IFS= read -r line || [[ -n "$line" ]]; do
    printf '%s%s\n' "$head" "$line" >&2
  done || rc=$?
  echo "make $1: $(_s_of $(($(_now_ms) - start))) s" >>"$UP_TIMES"
  return "$rc"
}

# _up_side_by_side: make etcd, controller and worker at once (the workers after the
# controllers when a load balancer fronts them: its IP is their apiserver address, made by make
# controller). The levels share the lock, the sweep done here (PKI_SWEPT) and the firewalls
# create_all_droplets reconciled (FIREWALLS_ENSURED). Stops naming every level that failed,
# once all have ended.
_up_side_by_side() {
  local jobs=() job failed=() order="etcd, controller and worker at once"
  export PKI_SWEPT=yes FIREWALLS_ENSURED=yes
  UP_TIMES=$BUILD_DIR/up-times
  mkdir -p "$BUILD_DIR"
  : >"$UP_TIMES"
  lb_wanted && order="etcd beside controller then worker (the workers dial the load balancer)"
  step "make $order (each line headed by its target)"
  _up_level etcd &
  jobs+=("$!:etcd")
  if lb_wanted; then
    { _up_level controller && _up_level worker; } &
    jobs+=("$!:controller (then worker)")
  else
    _up_level controller &
    jobs+=("$!:controller")
    _up_level worker &
    jobs+=("$!:worker")
  fi
  for job in "${jobs[@]}"; do
    wait "${job%%:*}" || failed+=("make ${job#*:}")
  done
  mapfile -t -O "${#UP_LINES[@]}" UP_LINES <"$UP_TIMES"
  if ((${#failed[@]})); then
    printf -v job '%s, ' "${failed[@]}"
    die "make up stopped: ${job%, } failed (see above): fix the cause and re-run 'make up'" \
      "(what exists is reused)"
  fi
  step_done
}

main() {
  # the scripts below run with this lock's descriptor and hold it with us (apply_lock)
  apply_lock up
  export APPLY_LOCK_FD
  local start workers target
  _up_run image
  start=$(_now_ms)
  workers=$(workers_wanted)
  # partial files of an interrupted run go before any key job starts (the levels' own sweeps
  # would remove what those jobs are writing)
  pki_sweep
  create_all_droplets "$workers"
  UP_LINES+=("every droplet created: $(_s_of $(($(_now_ms) - start))) s")
  if ((${#ALL_CREATED[@]})); then
    # every key while the droplets boot (they need no address; a level needing one before it
    # is written waits for it: pki_new_key), and every IP in one wait: each level names the
    # others' addresses (the controllers' etcd endpoints, the workers' apiserver)
    pki_keys_start "${ALL_CREATED[@]}"
    start=$(_now_ms)
    CREATE_START_MS=$ALL_CREATED_MS wait_for_ips "${ALL_CREATED[@]}"
    UP_LINES+=("the droplets' IPs: $(_s_of $(($(_now_ms) - start))) s")
    _up_side_by_side
    pki_keys_wait
  else
    # the workers' keys while the first levels run, awaited before make worker needs them
    pki_worker_keys_start "$workers"
    export PKI_SWEPT=yes
    for target in "${LEVELS[@]}"; do
      [[ "$target" != worker ]] || pki_keys_wait
      _up_run "$target"
    done
  fi
  _up_run addons
  summary "cluster $CLUSTER_NAME up" "${UP_LINES[@]}" "next: make smoke, make status"
}

UP_LINES=()
main "$@"
