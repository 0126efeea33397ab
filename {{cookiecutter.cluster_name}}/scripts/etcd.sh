#!/usr/bin/env bash
# make etcd: the etcd droplet from cloud-config/etcd.yaml (tutorial step 3).
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

main() {
  preflight
  ensure_firewalls
  CLUSTER_LIST=$(cluster_droplets)
  local exists=no
  [[ -n "$(record_of "$CLUSTER_LIST" "$ETCD_NAME")" ]] && exists=yes
  render_user_data etcd.yaml "$ETCD_NAME" "$exists"
  ensure_droplets etcd "$ETCD_SIZE" "$USER_DATA_DIR/$ETCD_NAME.yaml" "$ETCD_NAME"

  local rec
  rec=$(need_droplet "$ETCD_NAME" etcd)
  ETCD_PEER="http://$(field "$rec" private_ip):$ETCD_PEER_PORT"
  summary "etcd ready" \
    "$ETCD_NAME  id $(field "$rec" id)  public $(field "$rec" public_ip)  private $(field "$rec" private_ip)" \
    "ETCD_PEER=$ETCD_PEER" \
    "user data: $USER_DATA_DIR/$ETCD_NAME.yaml" \
    "next: make controller"
}

main "$@"
