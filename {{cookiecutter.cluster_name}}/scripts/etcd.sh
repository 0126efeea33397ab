#!/usr/bin/env bash
# make etcd: the cloud firewalls, the etcd droplet from cloud-config/etcd.yaml (tutorial step 3),
# its TLS certificate installed over scp/ssh (lock-down, issue 10).
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
  ETCD_PEER=$(etcd_peer_url "$private")

  step "etcd certificate (SAN: $private) and TLS assets on $ETCD_NAME"
  ensure_cert_ips etcd "$private"
  pki_issue_etcd "$private"
  install_etcd_tls "$ETCD_NAME" "$public" "$PKI_DIR/etcd.pem" "$PKI_DIR/etcd-key.pem" etcd ||
    die "the etcd TLS assets are not installed on $ETCD_NAME: fix the cause above and re-run 'make etcd'"
  step_done "pki/etcd.pem in $ETCD_SSL_DIR"
  summary "etcd ready" \
    "$ETCD_NAME  id $(field "$rec" id)  public $(field "$rec" public_ip)  private $(field "$rec" private_ip)" \
    "ETCD_PEER=$ETCD_PEER" \
    "user data: $USER_DATA_DIR/$ETCD_NAME.yaml" \
    "next: make controller"
}

main "$@"
