# shellcheck shell=bash
# What a node's kubelet needs for DigitalOcean's cloud-controller-manager (digitalocean-cloud-
# controller-manager v0.1.68 docs/getting-started.md: every kubelet runs --cloud-provider=external
# and --provider-id=digitalocean://<droplet ID>, the ID it looks droplets up by; node.cloudprovider.
# kubernetes.io/uninitialized taints the node until the CCM has initialized it). The droplet ID
# exists only after the create, so it cannot be in the user data: the apply writes it into
# KUBELET_ENV, which kubelet.service reads (EnvironmentFile), installed over ssh in the same
# session as, and before, the node's certificates (the kubelet starts only once they are there).
#
# Only when DIGITALOCEAN_CLUSTER_TOKEN is set (its presence; the value is not read here): without
# it make addons deploys no CCM, and an external cloud provider would leave every node tainted.
# Both values empty then: the kubelet's defaults (no cloud provider, no provider ID).

# The node file kubelet.service names (a test keeps it equal to facts.KUBELET_ENV).
KUBELET_ENV=/etc/kubernetes/kubelet.env

# _kept FILE KEY: KEY's value in the env FILE delivered before (empty without one).
_kept() {
  [[ -f "$1" ]] || return 0
  sed -n "s/^$2=//p" "$1" | tail -n 1
}

# kubelet_env NAME ROLE: write build/kubelet-env/NAME.env for droplet NAME (its recorded id; the
# apiserver's address and a controller's etcd client URLs: APISERVER_ENDPOINT and ETCD_ENDPOINTS
# as profile_placeholders set them, else as delivered before: make rotate-certs re-delivers
# them unchanged) and print its component line "LOCAL REMOTE MODE".
kubelet_env() {
  local name=$1 role=$2 id provider="" provider_id="" file apiserver etcd=""
  file="$BUILD_DIR/kubelet-env/$name.env"
  apiserver=${APISERVER_ENDPOINT:-$(_kept "$file" APISERVER_ENDPOINT)}
  [[ -n "$apiserver" ]] ||
    die "$name: no apiserver address to give its kubelet: run 'make $role' (it delivers one)"
  if [[ "$role" == controller ]]; then
    etcd=${ETCD_ENDPOINTS:-$(_kept "$file" ETCD_ENDPOINTS)}
    [[ -n "$etcd" ]] || die "$name: no etcd client URLs to give its apiserver: run 'make controller'"
  fi
  if [[ -n "${DIGITALOCEAN_CLUSTER_TOKEN:-}" ]]; then
    id=$(state_get "$name" id)
    [[ "$id" =~ ^[0-9]+$ ]] || die "no droplet id recorded for $name (state/droplets/$name.json): re-run the make target"
    provider=external
    provider_id="digitalocean://$id"
  else
    log "$name: kubelet without a cloud provider (no DIGITALOCEAN_CLUSTER_TOKEN: make addons deploys no cloud-controller-manager)"
  fi
  mkdir -p "${file%/*}"
  printf '%s\n' "# written by the apply (scripts/lib/nodeenv.sh) for droplet $name" \
    "KUBELET_CLOUD_PROVIDER=$provider" "KUBELET_PROVIDER_ID=$provider_id" \
    "APISERVER_ENDPOINT=$apiserver" ${etcd:+"ETCD_ENDPOINTS=$etcd"} |
    write_if_changed "$file" >/dev/null
  echo "$file $KUBELET_ENV 0644"
}
