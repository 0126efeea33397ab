#!/usr/bin/env bash
# make etcd: the cloud firewalls, the etcd droplet from cloud-config/etcd.yaml (tutorial step 3),
# its TLS certificate installed over scp/ssh (lock-down, issue 10; profile_etcd_tls).
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

main() {
  apply_lock etcd
  preflight
  ensure_firewalls
  CLUSTER_LIST=$(cluster_droplets)
  local exists=no
  [[ -n "$(record_of "$CLUSTER_LIST" "$ETCD_NAME")" ]] && exists=yes
  render_user_data etcd.yaml "$ETCD_NAME" "$exists"
  replace_stale etcd etcd.yaml
  ensure_droplets etcd "$ETCD_SIZE" "$USER_DATA_DIR/$ETCD_NAME.yaml" "$ETCD_NAME"

  local rec public private
  rec=$(need_droplet "$ETCD_NAME" etcd)
  public=$(field "$rec" public_ip)
  private=$(field "$rec" private_ip)
  profile_etcd_tls "$ETCD_NAME" "$public" "$private"
  summary "etcd ready" \
    "$ETCD_NAME  id $(field "$rec" id)  public $(field "$rec" public_ip)  private $(field "$rec" private_ip)" \
    "${PROFILE_NOTES[@]}" \
    "user data: $USER_DATA_DIR/$ETCD_NAME.yaml" \
    "next: make controller"
}

main "$@"
