# shellcheck shell=bash
# The tutorial profile's own apply steps (sourced by scripts/lib/common.sh; the shared scripts
# etcd.sh, controller.sh, worker.sh, addons.sh, status.sh and destroy.sh call these hooks):
# which placeholders the user data has, which TLS assets go to which node and where, what
# `make addons` applies and `make status` checks, which local files belong to which droplet.
# The tutorial's steps 3, 8-10 and 11, as before the profiles existed.

# The tutorial's sed placeholders in the cloud-configs (scripts/lib/userdata.sh).
# shellcheck disable=SC2034 # read by userdata.sh, addons.sh, status.sh and image.sh
{
  # the system the droplets' image must run (check_image: "DISTRIBUTION: NAME" matched
  # without case): the tutorial's cloud-config is CoreOS's coreos-cloudinit
  IMAGE_OS="CoreOS Container Linux"
  IMAGE_OS_MATCH="^CoreOS: "
  USER_DATA_PLACEHOLDERS=(ETCD_PEER CONTROLLER_PUBLIC_IP)
  # the addresses are sed into each droplet's user data (the tutorial's way): a level's droplets
  # are created once the previous level's exist
  USER_DATA_FILLED_BY_NODE=no
  # make addons: the kube-dns add-on, Service first, then its ReplicationController (step 11)
  ADDON_MANIFESTS=(manifests/addons/kube-dns-svc.yaml manifests/addons/kube-dns-rc.yaml)
  # Kubernetes 1.1 has no external cloud providers: no add-on needs a DigitalOcean token
  CLOUD_ADDON_MANIFESTS=()
  CLOUD_ADDONS_WHAT=""
  ADDONS_SUMMARY="kube-dns deployed (cluster DNS $DNS_SERVICE_IP, domain $CLUSTER_DOMAIN)"
  ADDONS_PODS_SELECTOR=k8s-app=kube-dns
  # make status: the layers in dependency order (scripts/lib/health.sh: check_<layer>)
  # every controller and worker reaches etcd through its local etcd2 proxy
  # (make diagram; generator/profiles.py's etcd_proxies says the same)
  ETCD_CLIENTS=proxies
  STATUS_LAYERS=(droplets ssh etcd flannel controllers apiserver nodes kube-dns)
  # etcd2 keeps the cluster's state in its v2 store: make backup/restore copy its data dir
  # (scripts/lib/etcdbackup.sh)
  ETCD_API=2
  # make scale, make replace, make os-update and REPLACE=1's drain: refused (skipped) with
  # this reason when not empty
  NODE_OPS_REFUSAL="the tutorial's Kubernetes release has neither kubectl cordon nor drain (not in its command list) nor the Eviction API, and its CoreOS images are gone; the current profile scales in, replaces and updates nodes"
  # make rotate-encryption-key: refused with this reason when not empty
  ROTATE_ENCRYPTION_REFUSAL="make rotate-encryption-key: the tutorial's Kubernetes 1.1 cannot encrypt Secrets at rest (the apiserver has no --encryption-provider-config); the current profile does"
}
PROFILE_NOTES=()

# profile_placeholders ROLE [ETCD_RECORD [CONTROLLER_RECORD]]: export the placeholders ROLE's
# user data needs: the controller ETCD_PEER (every member: etcd_proxy_peers), a worker also
# CONTROLLER_PUBLIC_IP (apiserver_address). The records are the current profile's to read.
profile_placeholders() {
  case $1 in
    controller)
      ETCD_PEER=$(etcd_proxy_peers)
      export ETCD_PEER
      log "ETCD_PEER=$ETCD_PEER"
      ;;
    worker)
      ETCD_PEER=$(etcd_proxy_peers)
      # the controller's public IP, or with several controllers their load balancer's (its
      # listing stays in LB_JSON for worker.sh's allow-list update)
      apiserver_address
      CONTROLLER_PUBLIC_IP=$APISERVER_ADDRESS
      export ETCD_PEER CONTROLLER_PUBLIC_IP
      log "ETCD_PEER=$ETCD_PEER CONTROLLER_PUBLIC_IP=$CONTROLLER_PUBLIC_IP"
      ;;
  esac
}

# profile_etcd_tls NAME PUBLIC_IP PRIVATE_IP: member NAME's certificate (SAN: its private IP;
# pki/etcd.pem, or pki/etcd-NN.pem in a cluster of 3 or 5), installed over scp/ssh into
# ETCD_SSL_DIR (lock-down, issue 10). The proxies' ETCD_PEER goes into the summary once.
profile_etcd_tls() {
  local name=$1 public=$2 private=$3 base
  base=$(etcd_cert_base "$name")
  [[ " ${PROFILE_NOTES[*]-} " == *" ETCD_PEER="* ]] || PROFILE_NOTES+=("ETCD_PEER=$(etcd_proxy_peers)")
  step "etcd certificate (SAN: $private) and TLS assets on $name"
  ensure_cert_ips "$base" "$private"
  pki_issue_etcd "$private" "$base" "$(etcd_member_name "$name")"
  install_etcd_tls "$name" "$public" "$PKI_DIR/$base.pem" "$PKI_DIR/$base-key.pem" etcd ||
    die "the etcd TLS assets are not installed on $name: fix the cause above and re-run 'make etcd'"
  step_done "pki/$base.pem in $ETCD_SSL_DIR"
}

# profile_controller_tls: the apiserver certificate all controllers share (steps 8-9; SANs:
# every controller's name and IPs, the first service IP, the load balancer's IP when there is
# one), then on each controller the ABAC policy, the TLS assets and the etcd client certificate.
# Reads CONTROLLER_NAMES, CONTROLLER_PUBLICS, CONTROLLER_PRIVATES and LB_IP (controller.sh).
profile_controller_tls() {
  pki_issue_apiserver_shared
  step_done "pki/apiserver.pem"

  local nn name public
  for ((nn = 0; nn < ${#CONTROLLER_NAMES[@]}; nn++)); do
    name=${CONTROLLER_NAMES[nn]} public=${CONTROLLER_PUBLICS[nn]}
    step "TLS assets on $name"
    # the policy first: tls-ready.service starts the apiserver once the certificates are there
    install_policy "$name" "$public" ||
      die "the authorization policy is not installed on $name: fix the cause above and re-run 'make controller'"
    install_tls "$name" "$public" "$PKI_DIR/apiserver.pem" "$PKI_DIR/apiserver-key.pem" ||
      die "the TLS assets are not installed on $name: fix the cause above and re-run 'make controller'"
    install_etcd_tls "$name" "$public" "$PKI_DIR/apiserver.pem" "$PKI_DIR/apiserver-key.pem" etcd-client ||
      die "the etcd client certificate is not installed on $name: fix the cause above and re-run 'make controller'"
    step_done
  done
}

# profile_worker_issue NN NAME PUBLIC_IP PRIVATE_IP: pki/worker-NN.pem (WORKER_IP = private IP).
profile_worker_issue() {
  ensure_cert_ips "worker-$1" "$4"
  pki_issue_worker "$1" "$4"
}

# profile_worker_install NN NAME PUBLIC_IP PRIVATE_IP: the worker's certificate with the generic
# worker.pem/worker-key.pem symlinks (step 10), and as the etcd proxy's client certificate.
profile_worker_install() {
  local nn=$1 name=$2 public=$3
  install_tls "$name" "$public" "$PKI_DIR/worker-$nn.pem" "$PKI_DIR/worker-$nn-key.pem" worker &&
    install_etcd_tls "$name" "$public" "$PKI_DIR/worker-$nn.pem" "$PKI_DIR/worker-$nn-key.pem" etcd-client
}

# profile_node_cert ROLE NAME: the certificate (pki/<it>.pem) make plan checks for droplet NAME.
profile_node_cert() {
  case $1 in
    # one certificate for all controllers: its row speaks for the first
    controller) [[ "$2" != "$CONTROLLER_NAME" ]] || echo apiserver ;;
    worker) echo "worker-${2##*-}" ;;
  esac
}

# profile_cert_ips ROLE PUBLIC_IP PRIVATE_IP: the IP SANs that certificate must have: a worker's
# private IP; for the controllers' shared one every controller's addresses in make plan's LIVE
# listing (and the load balancer's when there are several).
profile_cert_ips() {
  if [[ "$1" == controller ]]; then
    apiserver_live_ips
  else
    printf '%s\n' "$3"
  fi
}

# profile_etcd_ref ROLE ETCD_PRIVATE_IP: what ROLE's user data says of the etcd member (its
# proxy's peer URL); make plan flags a droplet whose user data says otherwise.
profile_etcd_ref() {
  echo "=$(etcd_peer_url "$2")"
}

# profile_pki_files NAME: the local certificates and keys that belong to droplet NAME only.
profile_pki_files() {
  local name=$1
  if [[ "$name" =~ ^"$ETCD_PREFIX"-([0-9]{2})$ ]]; then
    # a static cluster's member certificate is etcd-NN, the single member's etcd
    printf '%s\n' "$PKI_DIR/etcd-${BASH_REMATCH[1]}.pem" "$PKI_DIR/etcd-${BASH_REMATCH[1]}-key.pem" \
      "$BUILD_DIR/etcd-cluster/$name.env"
    [[ "$name" != "$ETCD_NAME" ]] || printf '%s\n' "$PKI_DIR/etcd.pem" "$PKI_DIR/etcd-key.pem"
  elif [[ "$name" == "$CONTROLLER_NAME" ]]; then
    printf '%s\n' "$PKI_DIR/apiserver.pem" "$PKI_DIR/apiserver-key.pem"
  elif [[ "$name" =~ ^"$WORKER_PREFIX"-([0-9]{2})$ ]]; then
    printf '%s\n' "$PKI_DIR/worker-${BASH_REMATCH[1]}.pem" "$PKI_DIR/worker-${BASH_REMATCH[1]}-key.pem"
  fi
}

# profile_pki_names: the droplets the local certificates and keys speak of.
profile_pki_names() {
  local f
  for f in "$PKI_DIR"/worker-[0-9][0-9].pem "$PKI_DIR"/worker-[0-9][0-9]-key.pem; do
    [[ -e "$f" ]] && worker_name "$(basename "$f" | sed -E 's/^worker-([0-9]{2}).*/\1/')"
  done
  if [[ -e "$PKI_DIR/apiserver.pem" || -e "$PKI_DIR/apiserver-key.pem" ]]; then
    echo "$CONTROLLER_NAME"
  fi
  if [[ -e "$PKI_DIR/etcd.pem" || -e "$PKI_DIR/etcd-key.pem" ]]; then
    echo "$ETCD_NAME"
  fi
  for f in "$PKI_DIR"/etcd-[0-9][0-9].pem "$PKI_DIR"/etcd-[0-9][0-9]-key.pem; do
    [[ -e "$f" ]] && printf '%s-%s\n' "$ETCD_PREFIX" "$(basename "$f" | sed -E 's/^etcd-([0-9]{2}).*/\1/')"
  done
  return 0
}

# profile_etcd_placeholders MEMBERSHIP: the proxies' ETCD_PEER with that etcd membership (a
# cluster of several: the membership itself; scripts/lib/etcdmember.sh).
profile_etcd_placeholders() {
  ETCD_PEER=$1
}

# profile_etcd_member_ready IP PRIVATE_IP: etcdctl cluster-health on the member at IP (with its
# own certificate) reports the member whose client URL is at PRIVATE_IP healthy.
profile_etcd_member_ready() {
  local out
  out=$(remote "$1" sudo etcdctl --ca-file "$ETCD_SSL_DIR/ca.pem" --cert-file \
    "$ETCD_SSL_DIR/etcd.pem" --key-file "$ETCD_SSL_DIR/etcd-key.pem" cluster-health 2>&1) || true
  grep -q "is healthy: got healthy result from https://$2:" <<<"$out"
}

# profile_etcd_member_join NAME PUBLIC_IP PRIVATE_IP OLD_URL SURVIVOR_IP MEMBERSHIP: through the
# survivor's etcdctl (etcd v2 runtime reconfiguration): the member at OLD_URL removed, NAME
# added at its peer URL (each step skipped when done before), then NAME's ETCD_CLUSTER_ENV
# (MEMBERSHIP, initial-cluster-state existing), and a wait until the survivor reports it healthy.
profile_etcd_member_join() {
  local name=$1 public=$2 private=$3 old=$4 survivor=$5 membership=$6 member url list id
  member=$(etcd_member_name "$name")
  url=$(etcd_peer_url "$private")
  list=$(remote "$survivor" "$(etcd_local_cmd member list)") || return 1
  # etcdctl 2.2 member list: "ID: name=N peerURLs=U ..." or, added and not started, "ID[unstarted]: peerURLs=U"
  id=$(sed -nE "s|^([0-9a-f]+)(\[unstarted\])?: (name=[^ ]* )?peerURLs=$old( .*)?$|\1|p" <<<"$list")
  if [[ -n "$id" && "$old" != "$url" ]]; then
    log "$name: removing the lost member $id ($old)"
    remote "$survivor" "$(etcd_local_cmd member remove "$id")" >/dev/null || return 1
  fi
  if ! grep -qE "peerURLs=$url( |$)" <<<"$list"; then
    log "$name: member add $member $url"
    remote "$survivor" "$(etcd_local_cmd member add "$member" "$url")" >/dev/null || return 1
  fi
  deliver_initial_cluster "$name" "$public" "$member" "$membership" existing || return 1
  local deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS))
  wait_begin "$name to join as a healthy member" "$APPLY_TIMEOUT_SECONDS"
  until profile_etcd_member_ready "$survivor" "$private"; do
    if ((SECONDS >= deadline)); then
      error "$name is not healthy after ${APPLY_TIMEOUT_SECONDS}s (etcd2 on it: journalctl -u etcd2)"
      return 1
    fi
    wait_sleep "$APPLY_POLL_SECONDS"
  done
}

# profile_backup_encryption: backup.json's "encryption" field (JSON): Kubernetes 1.1 stores
# Secrets in etcd as they are.
profile_backup_encryption() {
  jq -cn '{secrets_encrypted: false, note: "stored in plain text (Kubernetes 1.1 has no encryption at rest): protect the backup like the Secrets themselves"}'
}
