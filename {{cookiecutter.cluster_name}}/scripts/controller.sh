#!/usr/bin/env bash
# make controller: the CONTROLLER_COUNT controller droplets (ETCD_PEER substituted; one is the
# tutorial's), with several the load balancer in front of them, the apiserver certificate
# installed over scp/ssh, and ./kubeconfig for the admin (tutorial steps 8 and 9).
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# install_controller NAME PUBLIC_IP: the policy, the apiserver certificate and the etcd client
# certificate on one controller.
install_controller() {
  local name=$1 public=$2
  # the policy first: tls-ready.service starts the apiserver once the certificates are there
  install_policy "$name" "$public" ||
    die "the authorization policy is not installed on $name: fix the cause above and re-run 'make controller'"
  install_tls "$name" "$public" "$PKI_DIR/apiserver.pem" "$PKI_DIR/apiserver-key.pem" ||
    die "the TLS assets are not installed on $name: fix the cause above and re-run 'make controller'"
  install_etcd_tls "$name" "$public" "$PKI_DIR/apiserver.pem" "$PKI_DIR/apiserver-key.pem" etcd-client ||
    die "the etcd client certificate is not installed on $name: fix the cause above and re-run 'make controller'"
}

main() {
  apply_lock controller
  preflight
  pki_sweep
  # shellcheck disable=SC2034 # read by the library (records_tsv, need_droplet, ensure_droplets)
  CLUSTER_LIST=$(cluster_droplets)
  local names=() name id first_missing=""
  ETCD_PEER=$(etcd_proxy_peers)
  export ETCD_PEER
  log "ETCD_PEER=$ETCD_PEER"

  mapfile -t names < <(controller_names)
  while IFS=$'\t' read -r name id _; do
    render_user_data controller.yaml "$name" "$([[ -n "$id" ]] && echo yes || echo no)"
    [[ -n "$id" || -n "$first_missing" ]] || first_missing=$name
  done < <(records_tsv "${names[@]}")
  replace_stale controller controller.yaml
  ensure_droplets controller "$CONTROLLER_SIZE" "$USER_DATA_DIR/${first_missing:-${names[0]}}.yaml" "${names[@]}"

  local publics=() privates=() ids=() public private lines=() sans=()
  while IFS=$'\t' read -r name id public private; do
    ids+=("$id") publics+=("$public") privates+=("$private")
    sans+=("$public" "$private")
    lines+=("$name  id $id  public $public  private $private")
  done < <(records_tsv "${names[@]}")

  local server=${publics[0]}
  if lb_wanted; then
    ensure_load_balancer
    server=$LB_IP
    ensure_firewalls "the apiservers' port admits the load balancer $LB_ID"
  fi

  step "apiserver certificate (SANs: ${names[*]}, $APISERVER_SERVICE_IP, ${sans[*]}${LB_IP:+, load balancer $LB_IP})"
  ensure_cert_ips apiserver "$APISERVER_SERVICE_IP" "${sans[@]}" ${LB_IP:+"$LB_IP"}
  APISERVER_LB_IP=${LB_IP:-} pki_issue_apiserver "${sans[@]}"
  step_done "pki/apiserver.pem"

  local nn
  for ((nn = 0; nn < ${#names[@]}; nn++)); do
    step "TLS assets on ${names[nn]}"
    install_controller "${names[nn]}" "${publics[nn]}"
    step_done
  done

  local result
  result=$(sed -e "s|CONTROLLER_PUBLIC_IP|$server|g" client/admin-kubeconfig.yaml |
    write_if_changed "$KUBECONFIG_FILE")
  log "./kubeconfig $result (server https://$server; ~/.kube/config is not touched)"

  local title="controller ready"
  ((${#names[@]} == 1)) || title="${#names[@]} controllers ready"
  summary "$title" "${lines[@]}" \
    ${LB_IP:+"load balancer $LOAD_BALANCER  id $LB_ID  IP $LB_IP (tcp $APISERVER_SECURE_PORT to every controller)"} \
    "user data: $USER_DATA_DIR/<controller>.yaml" \
    "kubeconfig: ./kubeconfig (export KUBECONFIG=\$PWD/kubeconfig)" \
    "next: make worker"
}

main "$@"
