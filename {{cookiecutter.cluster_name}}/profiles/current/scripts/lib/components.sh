# shellcheck shell=bash
# Certificates and keys of the current profile's components, issued with openssl by the apply
# (scripts/lib/pki.sh: keys 0600 and never replaced, no partial file left, a certificate
# signed only when missing), each from its request config openssl/<component>.cnf, signed by
# the CA the bake made in pki/. Sourced after common.sh (settings.env, pki.sh, etcdtls.sh).
#
# Every certificate is issued here in bash, also those that need no droplet address: one
# mechanism for all of them (the openssl configs are the one description of each), and
# re-issuing any of them (a rotation) needs only bash + openssl, no Python. Only the CA and
# the admin client certificate come from the bake (generator/pki.py): ./kubeconfig needs
# them first.
#
# Functions (run from the cluster repo root; files in PKI_DIR, default pki/):
#   pki_issue_apiserver PUBLIC_IP PRIVATE_IP   (pki.sh) apiserver.pem, CN kube-apiserver;
#       SANs: controller name, kubernetes[.default[.svc[.CLUSTER_DOMAIN]]], APISERVER_SERVICE_IP,
#       PUBLIC_IP, PRIVATE_IP, 127.0.0.1
#   pki_issue_etcd PRIVATE_IP [BASE CN]        (etcdtls.sh) etcd.pem (a cluster's: etcd-NN.pem),
#       CN ETCD_MEMBER (the member's name), server+peer; SANs: PRIVATE_IP, 127.0.0.1
#   pki_issue_kubelet NAME PRIVATE_IP PUBLIC_IP  kubelet-NAME.pem, CN system:node:NAME,
#       O system:nodes, client+server; SANs: NAME, PRIVATE_IP, PUBLIC_IP
#   pki_issue_kube_proxy                       kube-proxy.pem, CN system:kube-proxy (all nodes)
#   pki_issue_controller_clients               apiserver-kubelet-client.pem (CN
#       kube-apiserver-kubelet-client, O system:masters), apiserver-etcd-client.pem (CN
#       kube-apiserver-etcd-client), controller-manager.pem (CN system:kube-controller-manager),
#       scheduler.pem (CN system:kube-scheduler), front-proxy-client.pem (CN front-proxy-client,
#       signed by the bake's front-proxy CA pki/front-proxy-ca.pem: the apiserver's client
#       certificate towards metrics-server, the aggregation layer)
#   pki_issue_service_account                  service-account-key.pem (0600) and its public
#       key service-account.pub: the apiserver verifies and the controller-manager signs
#       service-account tokens with them
#   component_files ROLE [NODE_NAME]           what goes where on a droplet of ROLE (etcd,
#       controller, worker; an etcd member's NODE_NAME picks its pair): lines "LOCAL_FILE
#       REMOTE_PATH MODE", each file issued already
#   install_component_files NAME IP ROLE [NODE] those files copied and moved into place over
#       scp/ssh (skipped when the very same files were installed before)
# Each NAME-key.pem sits beside NAME.pem. A re-created droplet with other addresses: call
# ensure_cert_ips kubelet-NAME PRIVATE_IP PUBLIC_IP (pki.sh) before pki_issue_kubelet.

# shellcheck source=scripts/lib/nodeenv.sh
source scripts/lib/nodeenv.sh

# Where the nodes keep them (the contract of issue 11, shared with the cloud-configs).
NODE_PKI_DIR=/etc/kubernetes/pki
ETCD_PKI_DIR=/etc/etcd/pki

# Groups (O) the RBAC defaults and the Node authorizer know.
NODES_GROUP=system:nodes
MASTERS_GROUP=system:masters

pki_issue_kubelet() {
  local name=${1:-}
  [[ -n "$name" && -n "${2:-}" && -n "${3:-}" ]] ||
    die "pki_issue_kubelet NAME PRIVATE_IP PUBLIC_IP: got '$*'"
  NODE_NAME=$name NODE_PRIVATE_IP=$2 NODE_PUBLIC_IP=$3 \
    pki_sign "kubelet-$name" "system:node:$name" openssl/kubelet.cnf "$NODES_GROUP"
}

pki_issue_kube_proxy() {
  pki_sign kube-proxy system:kube-proxy openssl/kube-proxy.cnf
}

pki_issue_controller_clients() {
  pki_sign apiserver-kubelet-client kube-apiserver-kubelet-client \
    openssl/apiserver-kubelet-client.cnf "$MASTERS_GROUP"
  pki_sign apiserver-etcd-client kube-apiserver-etcd-client openssl/apiserver-etcd-client.cnf
  pki_sign controller-manager system:kube-controller-manager openssl/controller-manager.cnf
  pki_sign scheduler system:kube-scheduler openssl/scheduler.cnf
  [[ -s "$PKI_DIR/front-proxy-ca.pem" && -s "$PKI_DIR/front-proxy-ca-key.pem" ]] ||
    die "$PKI_DIR/front-proxy-ca{,-key}.pem missing: the bake makes them (re-bake this repo)"
  PKI_SIGNER=front-proxy-ca pki_sign front-proxy-client front-proxy-client \
    openssl/front-proxy-client.cnf
}

# The public half is derived from the key each time it is missing: the key is the one fact.
pki_issue_service_account() {
  local key="$PKI_DIR/service-account-key.pem" pub="$PKI_DIR/service-account.pub" tmp err
  pki_new_key "$key"
  [[ -s "$pub" ]] && return 0
  tmp="$pub.tmp.$BASHPID"
  if ! err=$(openssl rsa -in "$key" -pubout -out "$tmp" 2>&1); then
    rm -f "$tmp"
    die "deriving $pub from $key failed (openssl rsa -pubout): $(tr '\n' ' ' <<<"$err")"
  fi
  chmod 644 "$tmp"
  pki_place "$tmp" "$pub"
}

# _component_pair NAME REMOTE_DIR AS: add the pair NAME.pem/NAME-key.pem, installed as
# AS.pem/AS-key.pem, to COMPONENT_LINES (dies, printing nothing, when one is not issued).
_component_pair() {
  local name=$1 dir=$2 as=$3 f
  for f in "$PKI_DIR/$name.pem" "$PKI_DIR/$name-key.pem"; do
    [[ -s "$f" ]] || die "$f is missing: issue it first (scripts/lib/components.sh)"
  done
  COMPONENT_LINES+=("$PKI_DIR/$name.pem $dir/$as.pem 0644"
    "$PKI_DIR/$name-key.pem $dir/$as-key.pem 0600")
}

component_files() {
  local role=${1:-} node=${2:-} name
  COMPONENT_LINES=()
  case "$role" in
    etcd)
      # the member's own pair (etcd_cert_base: etcd, or etcd-NN of a cluster), as etcd.pem
      COMPONENT_LINES+=("$PKI_DIR/ca.pem $ETCD_PKI_DIR/ca.pem 0644")
      _component_pair "$(if [[ -n "$node" ]]; then etcd_cert_base "$node"; else echo etcd; fi)" \
        "$ETCD_PKI_DIR" etcd
      ;;
    controller | worker)
      [[ -n "$node" ]] || die "component_files $role NODE_NAME: the node's name is missing"
      COMPONENT_LINES+=("$PKI_DIR/ca.pem $NODE_PKI_DIR/ca.pem 0644")
      _component_pair "kubelet-$node" "$NODE_PKI_DIR" kubelet
      _component_pair kube-proxy "$NODE_PKI_DIR" kube-proxy
      ;;
    *) die "component_files: unknown role '$role' (etcd, controller or worker)" ;;
  esac
  if [[ "$role" == controller ]]; then
    for name in apiserver apiserver-kubelet-client apiserver-etcd-client controller-manager \
      scheduler front-proxy-client; do
      _component_pair "$name" "$NODE_PKI_DIR" "$name"
    done
    # the aggregation layer's CA: the apiserver's and controller-manager's
    # --requestheader-client-ca-file (its key stays in pki/)
    COMPONENT_LINES+=("$PKI_DIR/front-proxy-ca.pem $NODE_PKI_DIR/front-proxy-ca.pem 0644")
    [[ -s "$PKI_DIR/service-account.pub" && -s "$PKI_DIR/service-account-key.pem" ]] ||
      die "$PKI_DIR/service-account{.pub,-key.pem} missing: run pki_issue_service_account first"
    COMPONENT_LINES+=("$PKI_DIR/service-account.pub $NODE_PKI_DIR/service-account.pem 0644"
      "$PKI_DIR/service-account-key.pem $NODE_PKI_DIR/service-account-key.pem 0600")
    # the apiserver's EncryptionConfiguration with its keys (encryption.sh)
    [[ -s "$PKI_DIR/encryption-config.yaml" ]] ||
      die "$PKI_DIR/encryption-config.yaml missing: run encryption_key_issue first"
    COMPONENT_LINES+=("$PKI_DIR/encryption-config.yaml $NODE_PKI_DIR/encryption-config.yaml 0600")
  fi
  printf '%s\n' "${COMPONENT_LINES[@]}"
}

# install_component_files NAME IP ROLE [NODE]: every file component_files lists for ROLE, copied
# to ~core with scp, then moved into place as root with its mode (root:root) in one ssh session.
# A node's kubelet cloud settings (kubelet_env, scripts/lib/nodeenv.sh) go first: moved
# into place before the certificates the kubelet waits for. Skipped when these very files were
# installed before (state key components_sha256).
install_component_files() {
  local name=$1 ip=$2 role=$3 node=${4:-} lines sha local_file remote mode cloud=""
  local files=() script="" dirs=()
  if [[ "$role" != etcd ]]; then
    cloud=$(kubelet_env "$name" "$role") || return 1
  fi
  lines=$(component_files "$role" "$node")
  [[ -z "$cloud" ]] || lines="$cloud"$'\n'"$lines"
  sha=$( {
    printf '%s\n' "$lines"
    while read -r local_file _; do cat "$local_file"; done <<<"$lines"
  } | sha256_of)
  if [[ "$(state_get "$name" components_sha256)" == "$sha" ]]; then
    log "$name: certificates and keys already installed"
    return 0
  fi
  while read -r local_file remote mode; do
    files+=("$local_file")
    [[ " ${dirs[*]-} " == *" ${remote%/*} "* ]] || dirs+=("${remote%/*}")
    script+=" && sudo mv $(basename "$local_file") $remote && sudo chown root:root $remote"
    script+=" && sudo chmod $mode $remote"
  done <<<"$lines"
  log "$name: copying ${#files[@]} file(s) to $SSH_USER@$ip:~ ($(basename -a "${files[@]}" | paste -sd " "))"
  ssh_retry "$name" "$ip" copy_to "$ip" "${files[@]}" || return 1
  log "$name: installing them into ${dirs[*]} (root:root, keys 0600)"
  ssh_retry "$name" "$ip" remote "$ip" "sudo mkdir -p ${dirs[*]}$script" || return 1
  state_set "$name" components_sha256 "$sha"
}
