# shellcheck shell=bash
# make rotate-certs in the current profile (profile_rotate_certs, called by the shared
# scripts/rotate-certs.sh): every certificate in pki/ but the CA re-issued with its own key by
# the same CA (the etcd member's, the apiserver's shared one, its kubelet and etcd clients, the
# controller-manager's, the scheduler's, kube-proxy's, every node's kubelet certificate and the
# admin's), by the functions the apply issues them with; then installed over ssh one node at a
# time: the etcd member(s) (etcd restarted), the controllers one after the other (static pods
# restarted, the kubelet restarted, the apiserver's /readyz awaited before the next, so a
# cluster with several controllers keeps answering through its load balancer), the workers
# (kubelet restarted), last kube-proxy's pods (rollout restart). The CAs (the cluster's and the
# front-proxy's, whose front-proxy-client certificate is re-issued with the rest), the
# service-account key pair and every other file on the nodes (an encryption key among them) are left alone.
#
# An interrupted rotation resumes: pki/rotation.tsv lists, when a rotation starts, every
# certificate and its serial; a re-run re-issues only those whose serial is still the listed
# one, and skips the nodes that finished this rotation (state key "rotation"). The list goes
# once every node is done.

ROTATION_FILE=$PKI_DIR/rotation.tsv

# _serial CERT: its serial, empty when CERT is missing or unreadable.
_serial() {
  openssl x509 -in "$1" -noout -serial 2>/dev/null | cut -d= -f2 || true
}

# _rotation_begin: ROTATION_ID and the list of certificates to re-issue (written once).
_rotation_begin() {
  local f name tmp
  if [[ -s "$ROTATION_FILE" ]]; then
    ROTATION_ID=$(sed -n 's/^# rotation //p' "$ROTATION_FILE")
    [[ -n "$ROTATION_ID" ]] || die "$ROTATION_FILE has no '# rotation' line: move it aside and re-run"
    log "resuming the rotation $ROTATION_ID (interrupted before): finished nodes are skipped"
    return 0
  fi
  ROTATION_ID=$(date -u +%Y%m%dT%H%M%SZ)
  tmp=$ROTATION_FILE.tmp.$BASHPID
  {
    echo "# rotation $ROTATION_ID"
    for f in "$PKI_DIR"/*.pem; do
      name=$(basename "$f" .pem)
      [[ "$name" != *-key && "$name" != ca && "$name" != front-proxy-ca ]] || continue
      printf '%s\t%s\n' "$name" "$(_serial "$f")"
    done
  } >"$tmp"
  mv "$tmp" "$ROTATION_FILE"
  log "rotation $ROTATION_ID: $(($(wc -l <"$ROTATION_FILE") - 1)) certificate(s) to re-issue (list: $ROTATION_FILE)"
}

# _rotation_retire: move aside (pki/retired/NAME-SERIAL.pem) each listed certificate whose
# serial is still the listed one: the issuing functions then sign a new one with the same key.
_rotation_retire() {
  local name serial
  mkdir -p "$PKI_DIR/retired"
  while IFS=$'\t' read -r name serial; do
    [[ "$name" != "#"* && -n "$serial" ]] || continue
    if [[ "$(_serial "$PKI_DIR/$name.pem")" == "$serial" ]]; then
      mv "$PKI_DIR/$name.pem" "$PKI_DIR/retired/$name-$serial.pem"
    fi
  done <"$ROTATION_FILE"
}

# _rotation_issue: sign every missing certificate as the apply does (same keys, same SANs).
_rotation_issue() {
  local name public private nn
  step "re-issuing the certificates (same keys, CA $PKI_DIR/ca.pem)"
  while IFS=$'\t' read -r name public private; do
    _issue_etcd "$name" "$public" "$private"
  done < <(_role_tsv "$ETCD_PREFIX")
  _issue_controllers
  while IFS=$'\t' read -r name public private; do
    nn=${name##*-}
    profile_worker_issue "$nn" "$name" "$public" "$private"
  done < <(_role_tsv "$WORKER_PREFIX")
  pki_sign admin admin openssl/admin.cnf "$MASTERS_GROUP"
  # a listed certificate no droplet uses any more (a worker removed by hand): put back as it was
  local serial kept=()
  while IFS=$'\t' read -r name serial; do
    [[ "$name" != "#"* && -n "$serial" && ! -s "$PKI_DIR/$name.pem" ]] || continue
    mv "$PKI_DIR/retired/$name-$serial.pem" "$PKI_DIR/$name.pem"
    kept+=("$name.pem")
  done <"$ROTATION_FILE"
  ((${#kept[@]} == 0)) || warn "not re-issued, no droplet uses them: ${kept[*]} (left as they were)"
  step_done
}

# _role_tsv PREFIX: name, public and private IP of the droplets named PREFIX-NN, sorted.
_role_tsv() {
  jq -r --arg p "$1-" '.[] | select(.name | startswith($p)) | [.name, .public_ip, .private_ip]
    | @tsv' <<<"$CLUSTER_LIST" | sort
}

# _bounce_static_pods NAME IP: the controller's static pods stopped and started again.
_bounce_static_pods() {
  local name=$1 ip=$2 aside="$NODE_MANIFEST_DIR.rotating"
  ssh_retry "$name" "$ip" remote "$ip" "$(static_pods_aside_cmd "$aside")" || return 1
  log "$name: static pods stopped (manifests in $aside for ${STATIC_POD_SECONDS}s)"
  static_pods_stopped "$name"
  ssh_retry "$name" "$ip" remote "$ip" "$(static_pods_back_cmd "$aside")" || return 1
  log "$name: static pods and kubelet started again"
}

# _rotate_node NAME IP ROLE: install NAME's new files and restart what reads them.
_rotate_node() {
  local name=$1 ip=$2 role=$3
  ! node_done "$name" rotation "$ROTATION_ID" || return 0
  step "$name: new certificates installed, then restarted"
  install_component_files "$name" "$ip" "$role" "$name" ||
    die "$name: the new certificates are not installed; re-run 'make rotate-certs' (it resumes)"
  case $role in
    etcd)
      # Type=notify: systemctl returns once the member serves again, so the next member
      # goes down only then and the quorum holds
      ssh_retry "$name" "$ip" remote "$ip" "sudo systemctl restart etcd.service" ||
        die "$name: restarting etcd failed; re-run 'make rotate-certs' (it resumes)"
      ;;
    controller)
      _bounce_static_pods "$name" "$ip" ||
        die "$name: restarting the static pods failed (manifests may be in" \
          "$NODE_MANIFEST_DIR.rotating); re-run 'make rotate-certs': it puts them back"
      await_readyz "$name" "$ip" ||
        die "$name: its apiserver is not ready after ${APPLY_TIMEOUT_SECONDS}s; the other" \
          "controllers are untouched. Look at ssh core@$ip journalctl -u kubelet, then re-run"
      ;;
    worker)
      ssh_retry "$name" "$ip" remote "$ip" "sudo systemctl restart kubelet.service" ||
        die "$name: restarting the kubelet failed; re-run 'make rotate-certs' (it resumes)"
      ;;
  esac
  state_set "$name" rotation "$ROTATION_ID"
  ROTATED+=("$name ($role): installed, restarted")
  step_done
}

profile_rotate_certs() {
  apply_lock rotate-certs
  preflight
  pki_sweep
  require_kubectl
  need_kubeconfig
  CLUSTER_LIST=$(cluster_droplets)
  need_droplet "$ETCD_NAME" etcd >/dev/null
  read_controllers
  ((${#CONTROLLER_NAMES[@]} == CONTROLLER_COUNT)) ||
    die "$((CONTROLLER_COUNT - ${#CONTROLLER_NAMES[@]})) of $CONTROLLER_COUNT controller(s) missing: run 'make controller' first"
  # LB_IP: read by pki_issue_apiserver_shared
  LB_IP=""
  if lb_wanted; then
    apiserver_address
    # shellcheck disable=SC2034 # read by pki_issue_apiserver_shared
    LB_IP=$APISERVER_ADDRESS
  fi
  local ca_before name public private
  ca_before=$(sha256_of "$PKI_DIR/ca.pem")
  ROTATED=()
  _rotation_begin
  _rotation_retire
  _rotation_issue
  while IFS=$'\t' read -r name public private; do
    _rotate_node "$name" "$public" etcd
  done < <(_role_tsv "$ETCD_PREFIX")
  local nn
  for ((nn = 0; nn < ${#CONTROLLER_NAMES[@]}; nn++)); do
    _rotate_node "${CONTROLLER_NAMES[nn]}" "${CONTROLLER_PUBLICS[nn]}" controller
  done
  while IFS=$'\t' read -r name public private; do
    _rotate_node "$name" "$public" worker
  done < <(_role_tsv "$WORKER_PREFIX")
  if kube --namespace=kube-system get daemonset kube-proxy >/dev/null 2>&1; then
    step "kube-proxy's pods restarted (they read kube-proxy.pem at start)"
    kube --namespace=kube-system rollout restart daemonset/kube-proxy >/dev/null ||
      die "kubectl rollout restart daemonset/kube-proxy failed; re-run 'make rotate-certs'"
    step_done
  fi
  [[ "$(sha256_of "$PKI_DIR/ca.pem")" == "$ca_before" ]] || die "pki/ca.pem changed during the rotation"
  local count
  count=$(($(wc -l <"$ROTATION_FILE") - 1))
  rm -f "$ROTATION_FILE"
  summary "rotation $ROTATION_ID of $CLUSTER_NAME: $count certificate(s) re-issued" \
    "${ROTATED[@]:-every node had finished before}" \
    "CA unchanged: $PKI_DIR/ca.pem ($(cert_record CA <"$PKI_DIR/ca.pem" | jq -r '"\(.days_left) days left"'))" \
    "old certificates: $PKI_DIR/retired/" \
    "check: make certs"
}
