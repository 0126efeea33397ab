#!/usr/bin/env bash
# make controller: the controller droplet (ETCD_PEER substituted), its apiserver certificate
# installed over scp/ssh, and ./kubeconfig for the admin (tutorial steps 8 and 9).
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

main() {
  apply_lock controller
  preflight
  pki_sweep
  CLUSTER_LIST=$(cluster_droplets)
  local rec exists=no
  ETCD_PEER=$(etcd_proxy_peers)
  export ETCD_PEER
  log "ETCD_PEER=$ETCD_PEER"

  [[ -n "$(record_of "$CLUSTER_LIST" "$CONTROLLER_NAME")" ]] && exists=yes
  render_user_data controller.yaml "$CONTROLLER_NAME" "$exists"
  replace_stale controller controller.yaml
  ensure_droplets controller "$CONTROLLER_SIZE" "$USER_DATA_DIR/$CONTROLLER_NAME.yaml" "$CONTROLLER_NAME"
  rec=$(need_droplet "$CONTROLLER_NAME" controller)
  local public private
  public=$(field "$rec" public_ip)
  private=$(field "$rec" private_ip)

  step "apiserver certificate (SANs: $CONTROLLER_NAME, $APISERVER_SERVICE_IP, $public, $private)"
  ensure_cert_ips apiserver "$APISERVER_SERVICE_IP" "$public" "$private"
  pki_issue_apiserver "$public" "$private"
  step_done "pki/apiserver.pem"

  step "TLS assets on $CONTROLLER_NAME"
  # the policy first: tls-ready.service starts the apiserver once the certificates are there
  install_policy "$CONTROLLER_NAME" "$public" ||
    die "the authorization policy is not installed on $CONTROLLER_NAME: fix the cause above and re-run 'make controller'"
  install_tls "$CONTROLLER_NAME" "$public" "$PKI_DIR/apiserver.pem" "$PKI_DIR/apiserver-key.pem" ||
    die "the TLS assets are not installed on $CONTROLLER_NAME: fix the cause above and re-run 'make controller'"
  install_etcd_tls "$CONTROLLER_NAME" "$public" "$PKI_DIR/apiserver.pem" "$PKI_DIR/apiserver-key.pem" etcd-client ||
    die "the etcd client certificate is not installed on $CONTROLLER_NAME: fix the cause above and re-run 'make controller'"
  step_done

  local result
  result=$(sed -e "s|CONTROLLER_PUBLIC_IP|$public|g" client/admin-kubeconfig.yaml |
    write_if_changed "$KUBECONFIG_FILE")
  log "./kubeconfig $result (server https://$public; ~/.kube/config is not touched)"

  summary "controller ready" \
    "$CONTROLLER_NAME  id $(field "$rec" id)  public $public  private $private" \
    "user data: $USER_DATA_DIR/$CONTROLLER_NAME.yaml" \
    "kubeconfig: ./kubeconfig (export KUBECONFIG=\$PWD/kubeconfig)" \
    "next: make worker"
}

main "$@"
