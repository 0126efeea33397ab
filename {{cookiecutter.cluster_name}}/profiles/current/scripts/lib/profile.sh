# shellcheck shell=bash
# The current profile's own apply steps (Flatcar + current Kubernetes; sourced by
# scripts/lib/common.sh, called by the shared etcd.sh, controller.sh, worker.sh, addons.sh,
# status.sh and destroy.sh): the user data's placeholders, each component's certificate issued
# after its droplet exists (scripts/lib/components.sh) and installed over scp/ssh where
# component_files says (never in user data), the add-ons, the status layers, and which local
# files belong to which droplet.

# shellcheck source=scripts/lib/components.sh
source scripts/lib/components.sh
# shellcheck source=scripts/lib/staticpods.sh
source scripts/lib/staticpods.sh
# shellcheck source=scripts/lib/rotation.sh
source scripts/lib/rotation.sh
# shellcheck source=scripts/lib/upgrade.sh
source scripts/lib/upgrade.sh
# shellcheck source=scripts/lib/osupdate.sh
source scripts/lib/osupdate.sh
# shellcheck source=scripts/lib/etcd3.sh
source scripts/lib/etcd3.sh
# shellcheck source=scripts/lib/etcd3backup.sh
source scripts/lib/etcd3backup.sh
# shellcheck source=scripts/lib/encryption.sh
source scripts/lib/encryption.sh

# shellcheck disable=SC2034 # read by userdata.sh, addons.sh, status.sh and image.sh
{
  # the system the droplets' image must run (check_image: "DISTRIBUTION: NAME" matched
  # without case; make image's import is a custom image of distribution Unknown named
  # CLUSTER-flatcar-stable, DigitalOcean's Flatcar slug says Flatcar)
  IMAGE_OS="Flatcar Container Linux"
  IMAGE_OS_MATCH="flatcar"
  # the controller's files name the etcd member(s), every node's kubeconfigs the apiserver: the
  # user data keeps these placeholders, the node fills them in (fill-endpoints) from its
  # kubelet's EnvironmentFile (scripts/lib/nodeenv.sh); build/user-data/NAME.yaml records the
  # result
  USER_DATA_PLACEHOLDERS=(ETCD_ENDPOINTS APISERVER_ENDPOINT)
  USER_DATA_FILLED_BY_NODE=yes
  # kube-proxy and the pod network before the DNS that needs both; metrics-server (the
  # Metrics API of kubectl top) last
  ADDON_MANIFESTS=(manifests/addons/kube-proxy.yaml manifests/addons/flannel.yaml
    manifests/addons/coredns.yaml manifests/addons/metrics-server.yaml)
  # with DIGITALOCEAN_CLUSTER_TOKEN only (scripts/lib/cloudtoken.sh): DigitalOcean's
  # cloud-controller-manager (LoadBalancer Services get DigitalOcean load balancers) and CSI
  # driver (PersistentVolumeClaims get block storage volumes: default StorageClass)
  CLOUD_ADDON_MANIFESTS=(manifests/addons/digitalocean-ccm.yaml manifests/addons/digitalocean-csi.yaml)
  CLOUD_ADDONS_WHAT="DigitalOcean's cloud-controller-manager (LoadBalancer Services) and CSI driver (volumes, StorageClass do-block-storage)"
  ADDONS_SUMMARY="kube-proxy, flannel ($FLANNEL_BACKEND, pod network $POD_NETWORK), CoreDNS (cluster DNS $DNS_SERVICE_IP, domain $CLUSTER_DOMAIN) and metrics-server (kubectl top) deployed"
  ADDONS_PODS_SELECTOR="k8s-app in (kube-proxy, kube-dns, metrics-server)"
  # only the apiservers talk to etcd, with their own client certificate
  # (make diagram; generator/profiles.py's etcd_proxies says the same)
  ETCD_CLIENTS=apiservers
  # make status: every etcd member (etcdctl v3 on a member, scripts/lib/etcd3.sh), the
  # controllers (each apiserver asked at its own address, and the load balancer in front),
  # then etcd and the pod network as the apiserver sees them
  STATUS_LAYERS=(droplets ssh etcd-members controllers apiserver etcd-health nodes pod-network kube-dns
    metrics)
  # the cluster's state is in etcd's v3 store: make backup/restore take a v3 snapshot
  # (scripts/lib/etcd3backup.sh)
  ETCD_API=3
  # make smoke asks kubectl top nodes (metrics-server: scripts/lib/metrics.sh)
  SMOKE_METRICS=yes
  # the controller's kubelet registers it as a node (tainted: only DaemonSets run there)
  STATUS_CONTROLLER_NODE=yes
  # make destroy keeps kube-proxy's client certificate, every node's, like the admin's, and the
  # front-proxy CA the bake made (the next apply signs a new front-proxy-client with it)
  KEPT_PKI="$PKI_DIR/kube-proxy*.pem, $PKI_DIR/front-proxy-ca*.pem (the bake's)"
  # make scale, make replace, make os-update and REPLACE=1's drain: refused (skipped) with
  # this reason when not empty
  NODE_OPS_REFUSAL=""
  # make rotate-encryption-key: refused with this reason when not empty
  ROTATE_ENCRYPTION_REFUSAL=""
}
PROFILE_NOTES=()

# etcd_client_urls: every member's client URL (https://<private IP>:<client port>), comma-
# separated, as the apiserver's --etcd-servers takes them.
etcd_client_urls() {
  local name urls=() rec
  while IFS= read -r name; do
    rec=$(need_droplet "$name" etcd)
    urls+=("https://$(field "$rec" private_ip):$ETCD_CLIENT_PORT")
  done < <(etcd_names)
  local IFS=,
  echo "${urls[*]}"
}

# profile_placeholders ROLE [ETCD_RECORD [CONTROLLER_RECORD]]: the controller's ETCD_ENDPOINTS
# (every member's client URL) and APISERVER_ENDPOINT 127.0.0.1 (its kubelet and kube-proxy talk
# to the local apiserver, as kubeadm's control-plane kubelets do since ControlPlaneKubeletLocalMode,
# kubernetes/enhancements KEP 4471: no hairpin through the load balancer in front), a worker's
# APISERVER_ENDPOINT: the controller's private IP (node traffic stays on the private network),
# or with several controllers their load balancer's IP (apiserver_address; its listing stays in
# LB_JSON for worker.sh's allow-list update).
profile_placeholders() {
  local role=$1 controller=${3:-}
  case $role in
    controller)
      ETCD_ENDPOINTS=$(etcd_client_urls)
      APISERVER_ENDPOINT=127.0.0.1
      export ETCD_ENDPOINTS APISERVER_ENDPOINT
      log "ETCD_ENDPOINTS=$ETCD_ENDPOINTS APISERVER_ENDPOINT=$APISERVER_ENDPOINT"
      ;;
    worker)
      if lb_wanted; then
        apiserver_address
        APISERVER_ENDPOINT=$APISERVER_ADDRESS
      else
        APISERVER_ENDPOINT=$(field "$controller" private_ip)
      fi
      export APISERVER_ENDPOINT
      log "APISERVER_ENDPOINT=$APISERVER_ENDPOINT"
      ;;
  esac
}

# profile_etcd_tls NAME PUBLIC_IP PRIVATE_IP: member NAME's own server+peer certificate
# (pki/etcd.pem, or pki/etcd-NN.pem in a cluster of 3 or 5; CN its member name; SANs: its
# private IP, 127.0.0.1) and the CA into /etc/etcd/pki as etcd.pem: its peers and clients
# check the private IP they dialled against it.
profile_etcd_tls() {
  local name=$1 public=$2 private=$3 base
  base=$(etcd_cert_base "$name")
  PROFILE_NOTES+=("$name client URL https://$private:$ETCD_CLIENT_PORT (TLS, client certificates required)")
  step "etcd certificate (SANs: $private, 127.0.0.1) and TLS assets on $name"
  _issue_etcd "$name" "$public" "$private"
  install_component_files "$name" "$public" etcd "$name" ||
    die "the etcd TLS assets are not installed on $name: fix the cause above and re-run 'make etcd'"
  step_done "pki/$base.pem in $ETCD_PKI_DIR"
}

# _issue_etcd NAME PUBLIC_IP PRIVATE_IP: member NAME's certificate (make etcd, make rotate-certs).
_issue_etcd() {
  local base
  base=$(etcd_cert_base "$1")
  ensure_cert_ips "$base" "$3" 127.0.0.1
  pki_issue_etcd "$3" "$base" "$(etcd_member_name "$1")"
}

# _issue_node NAME PUBLIC_IP PRIVATE_IP: the node's kubelet certificate (CN system:node:NAME,
# O system:nodes; SANs NAME and both IPs: issued now that the droplet has them) and the shared
# kube-proxy client certificate.
_issue_node() {
  ensure_cert_ips "kubelet-$1" "$3" "$2"
  pki_issue_kubelet "$1" "$3" "$2"
  pki_issue_kube_proxy
}

# profile_controller_tls: the control plane's certificates (the apiserver's, shared by every
# controller: pki_issue_apiserver_shared; its kubelet and etcd clients, controller-manager,
# scheduler), the service-account key pair and each controller's own kubelet certificate and
# kube-proxy's, installed into /etc/kubernetes/pki one controller after the other. Reads
# CONTROLLER_NAMES, CONTROLLER_PUBLICS, CONTROLLER_PRIVATES and LB_IP (controller.sh).
profile_controller_tls() {
  local nn name public
  _issue_controllers
  step_done "pki/apiserver.pem, controller clients, service-account key, kubelet-<controller>.pem"

  for ((nn = 0; nn < ${#CONTROLLER_NAMES[@]}; nn++)); do
    name=${CONTROLLER_NAMES[nn]} public=${CONTROLLER_PUBLICS[nn]}
    step "TLS assets on $name"
    install_component_files "$name" "$public" controller "$name" ||
      die "the TLS assets are not installed on $name: fix the cause above and re-run 'make controller'"
    step_done "$NODE_PKI_DIR"
  done
}

# _issue_controllers: what profile_controller_tls issues (make rotate-certs too).
_issue_controllers() {
  local nn
  pki_issue_apiserver_shared 127.0.0.1
  pki_issue_controller_clients
  pki_issue_service_account
  encryption_key_issue
  for ((nn = 0; nn < ${#CONTROLLER_NAMES[@]}; nn++)); do
    _issue_node "${CONTROLLER_NAMES[nn]}" "${CONTROLLER_PUBLICS[nn]}" "${CONTROLLER_PRIVATES[nn]}"
  done
}

# profile_worker_issue NN NAME PUBLIC_IP PRIVATE_IP: pki/kubelet-NAME.pem (and kube-proxy.pem).
profile_worker_issue() {
  _issue_node "$2" "$3" "$4"
}

# profile_worker_install NN NAME PUBLIC_IP PRIVATE_IP: the CA, the kubelet's and kube-proxy's
# certificates into /etc/kubernetes/pki (the kubelet's path unit starts it then).
profile_worker_install() {
  install_component_files "$2" "$3" worker "$2"
}

# profile_node_cert ROLE NAME: the certificate (pki/<it>.pem) make plan checks for droplet NAME.
profile_node_cert() {
  case $1 in
    # one certificate for all controllers: its row speaks for the first
    controller) [[ "$2" != "$CONTROLLER_NAME" ]] || echo apiserver ;;
    worker) echo "kubelet-$2" ;;
  esac
}

# profile_cert_ips ROLE PUBLIC_IP PRIVATE_IP: the IP SANs that certificate must have (the
# controllers' shared one: every controller's and the load balancer's in make plan's LIVE
# listing, and 127.0.0.1).
profile_cert_ips() {
  if [[ "$1" == controller ]]; then
    apiserver_live_ips
    echo 127.0.0.1
  else
    printf '%s\n' "$2" "$3"
  fi
}

# profile_etcd_ref ROLE ETCD_PRIVATE_IP: what ROLE's user data says of the etcd member (the
# controller's ETCD_ENDPOINTS; the workers' never name it).
profile_etcd_ref() {
  [[ "$1" != controller ]] || echo "https://$2:$ETCD_CLIENT_PORT"
}

# profile_pki_files NAME: the local certificates and keys that belong to droplet NAME only
# (kube-proxy's, shared by every node, stays like the CA and the admin's).
profile_pki_files() {
  local name=$1 base
  local bases=("kubelet-$name")
  if [[ "$name" =~ ^"$ETCD_PREFIX"-[0-9]{2}$ ]]; then
    bases=("$(etcd_cert_base "$name")")
    ((ETCD_COUNT == 1)) || echo "$BUILD_DIR/etcd-cluster/$name.env"
  elif [[ "$name" == "$CONTROLLER_NAME" ]]; then
    bases+=(apiserver apiserver-kubelet-client apiserver-etcd-client controller-manager scheduler
      front-proxy-client)
    printf '%s\n' "$PKI_DIR/service-account-key.pem" "$PKI_DIR/service-account.pub"
  fi
  for base in "${bases[@]}"; do
    printf '%s\n' "$PKI_DIR/$base.pem" "$PKI_DIR/$base-key.pem"
  done
}

# profile_pki_names: the droplets the local certificates and keys speak of.
profile_pki_names() {
  local f base
  for f in "$PKI_DIR"/kubelet-*.pem; do
    [[ -e "$f" ]] || continue
    base=$(basename "$f" .pem)
    base=${base#kubelet-}
    echo "${base%-key}"
  done
  if [[ -e "$PKI_DIR/apiserver.pem" || -e "$PKI_DIR/apiserver-key.pem" ]]; then
    echo "$CONTROLLER_NAME"
  fi
  if [[ -e "$PKI_DIR/etcd.pem" || -e "$PKI_DIR/etcd-key.pem" ]]; then
    echo "$ETCD_NAME"
  fi
  for f in "$PKI_DIR"/etcd-[0-9][0-9].pem "$PKI_DIR"/etcd-[0-9][0-9]-key.pem; do
    [[ -e "$f" ]] || continue
    base=$(basename "$f" .pem)
    base=${base%-key}
    echo "$ETCD_PREFIX-${base#etcd-}"
  done
  return 0
}

# check_etcd_health: etcd as the apiserver sees it (GET /readyz/etcd over its client certificate).
check_etcd_health() {
  local out rc=0
  out=$(kube get --raw /readyz/etcd 2>&1) || rc=$?
  if ((rc != 0)) || [[ "$out" != ok ]]; then
    layer etcd-health FAIL "the apiserver's etcd check: $(_one_line "$out") (is $ETCD_NAME up? make etcd)"
    return 0
  fi
  layer etcd-health OK "the apiserver reaches etcd (GET /readyz/etcd: ok)"
}

# _ip_int A.B.C.D: the address as a number.
_ip_int() {
  local IFS=. a b c d
  read -r a b c d <<<"$1"
  echo $(((a << 24) + (b << 16) + (c << 8) + d))
}

# _cidr_in SUBNET NETWORK: SUBNET (a node's pod CIDR) lies inside NETWORK.
_cidr_in() {
  local bits=${2#*/} mask
  ((${1#*/} >= bits)) || return 1
  mask=$(((0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF))
  (($(($(_ip_int "${1%/*}") & mask)) == $(($(_ip_int "${2%/*}") & mask))))
}

# check_pod_network: every node has a pod CIDR inside POD_NETWORK (the controller-manager's
# --allocate-node-cidrs) and the flannel DaemonSet is ready on every node it schedules to.
check_pod_network() {
  local nodes ds rc=0 outside=() ready want items=() node cidr
  nodes=$(kube get nodes -o json 2>&1) || rc=$?
  if ((rc != 0)); then
    layer pod-network FAIL "kubectl get nodes: $(_one_line "$nodes")"
    return 0
  fi
  while read -r node cidr; do
    items+=("$node podCIDR ${cidr:-none}")
    if [[ -z "$cidr" ]] || ! _cidr_in "$cidr" "$POD_NETWORK"; then
      outside+=("$node")
    fi
  done < <(jq -r '.items[] | "\(.metadata.name) \(.spec.podCIDR // "")"' <<<"$nodes")
  if ((${#outside[@]})); then
    layer pod-network FAIL "nodes without a pod CIDR in $POD_NETWORK: ${outside[*]}" "${items[@]}"
    return 0
  fi
  rc=0
  ds=$(kube get daemonset kube-flannel-ds --namespace=kube-flannel -o json 2>&1) || rc=$?
  if ((rc != 0)); then
    layer pod-network FAIL "no flannel DaemonSet: make addons ($(_one_line "$ds"))" "${items[@]}"
    return 0
  fi
  ready=$(jq '.status.numberReady // 0' <<<"$ds")
  want=$(jq '.status.desiredNumberScheduled // 0' <<<"$ds")
  if ((want == 0 || ready < want)); then
    layer pod-network FAIL "flannel ready on $ready of $want node(s)" "${items[@]}"
    return 0
  fi
  layer pod-network OK "flannel ($FLANNEL_BACKEND) ready on $ready node(s); pod CIDRs in $POD_NETWORK" "${items[@]}"
}

# profile_backup_encryption: backup.json's "encryption" field (JSON): the Secrets in the backup
# are encrypted with these keys (pki/encryption-keys; the names, never the secrets): a restore
# needs that file, kept with the backup.
profile_backup_encryption() {
  local names=()
  [[ ! -s "$ENCRYPTION_KEYS" ]] || mapfile -t names < <(cut -d' ' -f1 "$ENCRYPTION_KEYS")
  jq -cn --arg p "$ENCRYPTION_PROVIDER" --arg f "$ENCRYPTION_KEYS" '$ARGS.positional as $k |
    {secrets_encrypted: ($k | length > 0), provider: $p, keys: $k, keys_file: $f,
     note: (if ($k | length) > 0 then "encrypted (\($p), key \($k | join(", "))): keep \($f) with this backup, a restore cannot read them without it"
            else "stored in plain text (no key in \($f) yet)" end)}' --args "${names[@]}"
}
