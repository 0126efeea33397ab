#!/usr/bin/env bash
# make up [WORKERS=N]: the whole cluster in one run, holding the cluster's lock throughout:
# make image (checks IMAGE, or imports Flatcar once), then every droplet of a new cluster
# created at once (scripts/lib/createall.sh: the current profile's user data names no other
# droplet's address), then etcd, controller (and the load balancer when there are several),
# worker and addons, each the very script its own target runs: they find the droplets booting
# and deliver each one's certificates and addresses as it answers (a re-run creates nothing; a
# run cut anywhere resumes where it stopped).
set -euo pipefail
shopt -s inherit_errexit
# shellcheck source=scripts/lib/usage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/usage.sh"
usage_check "$@"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=scripts/lib/createall.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/createall.sh"

UP_STEPS=(image create etcd controller worker addons)

main() {
  # the scripts below run with this lock's descriptor and hold it with us (apply_lock)
  apply_lock up
  export APPLY_LOCK_FD
  local dir target start workers
  dir=$(dirname "${BASH_SOURCE[0]}")
  for target in "${UP_STEPS[@]}"; do
    start=$(_now_ms)
    if [[ "$target" == create ]]; then
      workers=$(workers_wanted)
      create_all_droplets "$workers"
      UP_LINES+=("every droplet created: $(_s_of $(($(_now_ms) - start))) s")
      # the workers' keys while the droplets boot (make worker would make them after make
      # controller); done before make controller sweeps partial key files
      pki_worker_keys_start "$workers"
      continue
    fi
    [[ "$target" != controller ]] || pki_keys_wait
    "$dir/$target.sh" ||
      die "make up stopped at make $target (see above): fix the cause and re-run 'make up'" \
        "(what exists is reused)"
    UP_LINES+=("make $target: $(_s_of $(($(_now_ms) - start))) s")
  done
  summary "cluster $CLUSTER_NAME up" "${UP_LINES[@]}" "next: make smoke, make status"
}

UP_LINES=()
main "$@"
