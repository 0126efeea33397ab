#!/usr/bin/env bash
# make controller: the controller droplet (its placeholders substituted: profile_placeholders),
# its TLS assets installed over scp/ssh (profile_controller_tls), and ./kubeconfig for the admin
# (tutorial steps 8 and 9).
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

main() {
  apply_lock controller
  preflight
  pki_sweep
  CLUSTER_LIST=$(cluster_droplets)
  local etcd rec exists=no
  etcd=$(need_droplet "$ETCD_NAME" etcd)
  profile_placeholders controller "$etcd"

  [[ -n "$(record_of "$CLUSTER_LIST" "$CONTROLLER_NAME")" ]] && exists=yes
  render_user_data controller.yaml "$CONTROLLER_NAME" "$exists"
  replace_stale controller controller.yaml
  ensure_droplets controller "$CONTROLLER_SIZE" "$USER_DATA_DIR/$CONTROLLER_NAME.yaml" "$CONTROLLER_NAME"
  rec=$(need_droplet "$CONTROLLER_NAME" controller)
  local public private
  public=$(field "$rec" public_ip)
  private=$(field "$rec" private_ip)

  profile_controller_tls "$CONTROLLER_NAME" "$public" "$private"

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
