#!/usr/bin/env bash
# make up [WORKERS=N]: the whole cluster in one run, holding the cluster's lock throughout:
# make image (checks IMAGE, or imports Flatcar once), etcd, controller (and the load balancer
# when there are several), worker, then addons, each the very script its own target runs (a
# re-run creates nothing; a run cut anywhere resumes where it stopped). The levels still
# follow each other: a controller's user data names the etcd members' addresses and a worker's
# the apiserver's, so each level's droplets are created once the previous level's exist.
set -euo pipefail
shopt -s inherit_errexit
# shellcheck source=scripts/lib/usage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/usage.sh"
usage_check "$@"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

UP_STEPS=(image etcd controller worker addons)

main() {
  # the scripts below run with this lock's descriptor and hold it with us (apply_lock)
  apply_lock up
  export APPLY_LOCK_FD
  local dir target start
  dir=$(dirname "${BASH_SOURCE[0]}")
  for target in "${UP_STEPS[@]}"; do
    start=$(_now_ms)
    "$dir/$target.sh" ||
      die "make up stopped at make $target (see above): fix the cause and re-run 'make up'" \
        "(what exists is reused)"
    UP_LINES+=("make $target: $(_s_of $(($(_now_ms) - start))) s")
  done
  summary "cluster $CLUSTER_NAME up" "${UP_LINES[@]}" "next: make smoke, make status"
}

UP_LINES=()
main "$@"
