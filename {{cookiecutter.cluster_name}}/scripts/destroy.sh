#!/usr/bin/env bash
# make destroy [FORCE=1]: delete the droplets tagged with the cluster name (asks first unless
# FORCE=1; refuses without a terminal), then the apply state and the IP-bound certificates.
# The CA and the admin keys stay.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

main() {
  preflight --no-key
  CLUSTER_LIST=$(cluster_droplets)
  local count
  count=$(jq length <<<"$CLUSTER_LIST")
  if ((count > 0)); then
    log "droplets tagged $CLUSTER_NAME that will be DELETED with all their data:"
    jq -r '.[] | "    \(.name)  id \(.id)  public \(.public_ip)  private \(.private_ip)"' <<<"$CLUSTER_LIST" >&2
    if [[ "${FORCE:-}" != 1 ]]; then
      if [[ ! -t 0 ]]; then
        die "not deleting anything: no terminal to confirm on; run 'make destroy FORCE=1' to delete these $count droplet(s)"
      fi
      local answer=""
      read -r -p "Delete these $count droplet(s)? Type the cluster name ($CLUSTER_NAME) to confirm: " answer
      [[ "$answer" == "$CLUSTER_NAME" ]] || die "not confirmed: nothing deleted"
    fi
    step "deleting $count droplet(s) tagged $CLUSTER_NAME"
    local out rc=0
    out=$(doctl compute droplet delete --tag-name "$CLUSTER_NAME" --force 2>&1) || rc=$?
    ((rc == 0)) || die "deleting the droplets failed: $out; re-run 'make destroy'"
    step_done
  else
    log "no droplets are tagged $CLUSTER_NAME"
  fi
  # the firewalls go last: never leave a droplet of the cluster without them
  remove_firewalls || die "the cloud firewalls were kept; re-run 'make destroy'"

  step "removing the apply state and the IP-bound certificates"
  local ip removed=()
  for ip in $(jq -r '.[] | .public_ip | select(. != "")' <<<"$CLUSTER_LIST"); do
    forget_host "$ip"
  done
  rm -rf "$DROPLET_STATE_DIR" "$STATE_DIR/ssh-key.json" "$BUILD_DIR"
  local f
  for f in "$PKI_DIR"/apiserver*.pem "$PKI_DIR"/etcd*.pem "$PKI_DIR"/worker-*.pem "$PKI_DIR"/*.csr "$PKI_DIR"/*.srl "$KUBECONFIG_FILE"; do
    [[ -e "$f" ]] || continue
    rm -f "$f"
    removed+=("${f#"$CLUSTER_DIR"/}")
  done
  step_done "${#removed[@]} file(s): ${removed[*]:-none}"
  summary "cluster $CLUSTER_NAME destroyed" \
    "deleted: $count droplet(s), the cloud firewalls $NODES_FIREWALL and $APISERVER_FIREWALL; removed state/droplets, build/, the apiserver and worker certificates, ./kubeconfig" \
    "kept: $PKI_DIR/ca*.pem, $PKI_DIR/admin*.pem, $STATE_DIR/known_hosts" \
    "next: make etcd controller worker (to re-create it)"
}

main "$@"
