#!/usr/bin/env bash
# make rotate-certs: the current profile re-issues every certificate (profile_rotate_certs in
# its scripts/lib/rotation.sh). The tutorial profile's: re-issue the etcd member certificates
# (one member at a time, each healthy again before the next) and the node certificates
# (pki/apiserver.pem, pki/worker-NN.pem) with their existing keys and the same CA, then one node
# at a time: install the new certificate and restart the node's kubelet. pki/admin.pem is the
# bake's (the summary says how to renew it). The old certificates are kept in pki/retired/. The CA is
# never rotated here (CA=1 is refused: every certificate and kubeconfig trusts it).
set -euo pipefail
shopt -s inherit_errexit
# shellcheck source=scripts/lib/usage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/usage.sh"
usage_check "$@"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=scripts/lib/certs.sh
source scripts/lib/certs.sh
# shellcheck source=scripts/lib/controllers_health.sh
source scripts/lib/controllers_health.sh

# kubelet_unit ROLE: the kubelet's unit name as cloud-config/ROLE.yaml defines it.
kubelet_unit() {
  local unit
  unit=$(grep -oE 'name: "?[A-Za-z0-9@._-]*kubelet\.service' "cloud-config/$1.yaml" | head -n1 |
    sed -E 's/name: "?//')
  [[ -n "$unit" ]] || die "cloud-config/$1.yaml defines no kubelet unit"
  echo "$unit"
}

# reissue CERT_NAME ROLE ISSUE-COMMAND...: pki/CERT_NAME.pem moved to pki/retired/ (by its
# serial), ISSUE-COMMAND issues the new one with the same key; sets OLD_SERIAL, NEW_SERIAL.
reissue() {
  local cert=$1 role=$2
  shift 2
  [[ -s "$PKI_DIR/$cert-key.pem" ]] || die "$PKI_DIR/$cert-key.pem is missing: run 'make $role' first"
  OLD_SERIAL=$(openssl x509 -in "$PKI_DIR/$cert.pem" -noout -serial 2>/dev/null | cut -d= -f2 || true)
  if [[ -n "$OLD_SERIAL" ]]; then
    mkdir -p "$PKI_DIR/retired"
    mv "$PKI_DIR/$cert.pem" "$PKI_DIR/retired/$cert-$OLD_SERIAL.pem"
  fi
  "$@"
  NEW_SERIAL=$(openssl x509 -in "$PKI_DIR/$cert.pem" -noout -serial | cut -d= -f2)
}

# rotate_node NAME IP CERT_NAME ROLE ISSUE-COMMAND... : retire pki/CERT_NAME.pem, issue a new one,
# install it on NAME, restart its kubelet.
rotate_node() {
  local name=$1 ip=$2 cert=$3 role=$4 link=()
  shift 4
  local unit
  step "$name: re-issue $PKI_DIR/$cert.pem, install it, restart the kubelet"
  reissue "$cert" "$role" "$@"
  [[ "$role" == controller ]] || link=(worker)
  install_tls "$name" "$ip" "$PKI_DIR/$cert.pem" "$PKI_DIR/$cert-key.pem" "${link[@]}" ||
    die "$name: the new certificate is in $PKI_DIR/$cert.pem but not installed; re-run 'make rotate-certs'"
  unit=$(kubelet_unit "$role")
  ssh_retry "$name" "$ip" remote "$ip" "sudo systemctl restart $unit" ||
    die "$name: restarting $unit failed; the new certificate is installed"
  ROTATED+=("$name: $cert.pem serial ${OLD_SERIAL:-none} -> $NEW_SERIAL, $unit restarted")
  step_done
}

# rotate_etcd_member NAME IP PRIVATE_IP: retire pki/etcd[-NN].pem, issue a new one (same key,
# SAN: the private IP), install it, restart etcd2 and wait until the member reports itself
# healthy before the next one (one member down at a time: the cluster keeps its quorum).
rotate_etcd_member() {
  local name=$1 ip=$2 private=$3 base deadline
  base=$(etcd_cert_base "$name")
  step "$name: re-issue $PKI_DIR/$base.pem, install it, restart etcd2"
  reissue "$base" etcd pki_issue_etcd "$private" "$base" "$(etcd_member_name "$name")"
  install_etcd_tls "$name" "$ip" "$PKI_DIR/$base.pem" "$PKI_DIR/$base-key.pem" etcd ||
    die "$name: the new certificate is in $PKI_DIR/$base.pem but not installed; re-run 'make rotate-certs'"
  ssh_retry "$name" "$ip" remote "$ip" "sudo systemctl restart etcd2" ||
    die "$name: restarting etcd2 failed; the new certificate is installed"
  deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS))
  wait_begin "$name: etcd2 healthy after the restart" "$APPLY_TIMEOUT_SECONDS"
  until profile_etcd_member_ready "$ip" "$private"; do
    ((SECONDS < deadline)) ||
      die "$name: etcd2 is not healthy ${APPLY_TIMEOUT_SECONDS}s after the restart with the new" \
        "certificate (the old one: $PKI_DIR/retired/); see make status before rotating further"
    wait_sleep "$APPLY_POLL_SECONDS"
  done
  ROTATED+=("$name: $base.pem serial ${OLD_SERIAL:-none} -> $NEW_SERIAL, etcd2 restarted, healthy")
  step_done
}

main() {
  if [[ "${CA:-}" == 1 ]]; then
    die "CA=1: rotating the CA is not done here. Every node certificate, the admin kubeconfig" \
      "and each node's ca.pem trust pki/ca.pem; a new CA means re-issuing and re-installing all of" \
      "them at once, with the cluster down. Re-create the cluster instead (make destroy, delete" \
      "pki/ca*.pem and pki/admin*.pem, re-bake or re-run the template's PKI, make etcd controller worker)."
  fi
  # the current profile re-issues every certificate (its scripts/lib/rotation.sh)
  if declare -F profile_rotate_certs >/dev/null; then
    profile_rotate_certs
    return 0
  fi
  # the controllers share one apiserver certificate: re-issuing it per node would drop the others' SANs
  ((CONTROLLER_COUNT == 1)) ||
    die "CONTROLLER_COUNT=$CONTROLLER_COUNT: rotating the shared apiserver certificate of several" \
      "controllers is not done here; move pki/apiserver.pem aside and re-run 'make controller'"
  preflight --no-key
  CLUSTER_LIST=$(cluster_droplets)
  ROTATED=()
  local ca_before rec public private name ip nn
  ca_before=$(sha256_of "$PKI_DIR/ca.pem")
  while IFS= read -r name; do
    rec=$(need_droplet "$name" etcd)
    rotate_etcd_member "$name" "$(field "$rec" public_ip)" "$(field "$rec" private_ip)"
  done < <(etcd_names)
  rec=$(need_droplet "$CONTROLLER_NAME" controller)
  public=$(field "$rec" public_ip)
  private=$(field "$rec" private_ip)
  rotate_node "$CONTROLLER_NAME" "$public" apiserver controller pki_issue_apiserver "$public" "$private"

  while IFS=$'\t' read -r name ip private; do
    nn=${name##*-}
    rotate_node "$name" "$ip" "worker-$nn" worker pki_issue_worker "$nn" "$private"
  done < <(jq -r --arg p "$WORKER_PREFIX-" '.[] | select(.name | startswith($p))
    | [.name, .public_ip, .private_ip] | @tsv' <<<"$CLUSTER_LIST" | sort)

  [[ "$(sha256_of "$PKI_DIR/ca.pem")" == "$ca_before" ]] || die "pki/ca.pem changed during the rotation"
  summary "rotated ${#ROTATED[@]} node certificate(s) of $CLUSTER_NAME" "${ROTATED[@]}" \
    "CA unchanged: $PKI_DIR/ca.pem ($(cert_record CA <"$PKI_DIR/ca.pem" | jq -r '"\(.days_left) days left"'))" \
    "old certificates: $PKI_DIR/retired/" \
    "not re-issued: $PKI_DIR/admin.pem ($(cert_record admin <"$PKI_DIR/admin.pem" | jq -r '"\(.days_left) days left"')):" \
    "  the bake issues it (this repo holds no openssl config for it); to renew it move" \
    "  $PKI_DIR/admin.pem and $PKI_DIR/admin-key.pem aside and re-bake over this repo" \
    "check: make certs"
}

main "$@"
