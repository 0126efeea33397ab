# shellcheck shell=bash
# The apiserver's ABAC policy (lock-down, issue 10): policy/abac-policy.jsonl, generated at the
# bake, installed beside the apiserver's TLS assets in SSL_DIR (the apiserver pod mounts it)
# and named by --authorization-policy-file in manifests/controller/kube-controller.yaml.

POLICY_FILE=policy/abac-policy.jsonl

# install_policy NAME IP: scp the policy to ~, then as root into SSL_DIR (root:root, 0644).
# Skipped when this very policy is already installed.
install_policy() {
  local name=$1 ip=$2 sha base
  base=$(basename "$POLICY_FILE")
  sha=$(sha256_of "$POLICY_FILE")
  if [[ "$(state_get "$name" policy_sha256)" == "$sha" ]]; then
    log "$name: authorization policy already installed"
    return 0
  fi
  log "$name: copying $POLICY_FILE to $SSH_USER@$ip:~"
  ssh_retry "$name" "$ip" copy_to "$ip" "$POLICY_FILE" || return 1
  local script="sudo mkdir -p $SSL_DIR && sudo mv $base $SSL_DIR/$base"
  script+=" && sudo chown root:root $SSL_DIR/$base && sudo chmod 644 $SSL_DIR/$base"
  log "$name: installing into $SSL_DIR/$base (root:root, 0644)"
  ssh_retry "$name" "$ip" remote "$ip" "$script" || return 1
  state_set "$name" policy_sha256 "$sha"
}
