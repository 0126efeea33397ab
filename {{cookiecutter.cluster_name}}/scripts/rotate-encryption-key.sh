#!/usr/bin/env bash
# make rotate-encryption-key: a new key for the Secrets the apiservers encrypt at rest, by the
# upstream procedure (kubernetes.io "Encrypting Confidential Data at Rest", "Rotating a
# decryption key"): 1. the new key added second on every controller and every apiserver
# restarted (each can then read what the new key writes); 2. the new key moved first, the
# apiservers restarted (it writes with it); 3. every Secret rewritten
# (kubectl get secrets -A -o json | kubectl replace -f -); 4. the old key removed, the
# apiservers restarted. pki/encryption-keys holds the keys (0600); state/encryption-rotation
# the step reached: an interrupted run is resumed by the next one, never started over with
# another key. An apiserver restarts as kubeadm documents for static pods: its manifest moved
# out of the kubelet's directory for APISERVER_RESTART_SECONDS, then back.
set -euo pipefail
shopt -s inherit_errexit
# shellcheck source=scripts/lib/usage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/usage.sh"
usage_check "$@"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ROTATION_STATE=$STATE_DIR/encryption-rotation
APISERVER_RESTART_SECONDS=${APISERVER_RESTART_SECONDS:-20}

# controllers: "NAME PUBLIC_IP" of every controller droplet.
controllers() {
  jq -r --arg p "$CONTROLLER_PREFIX-" '.[] | select(.name | startswith($p))
    | [.name, .public_ip] | @tsv' <<<"$CLUSTER_LIST" | sort
}

# install_and_restart WHAT: pki/encryption-config.yaml onto every controller, then each
# apiserver restarted one after the other and waited for (GET /readyz).
install_and_restart() {
  local name ip deadline out
  step "$1"
  while IFS=$'\t' read -r name ip; do
    install_component_files "$name" "$ip" controller "$name" ||
      die "$name: the encryption configuration is not installed; re-run 'make rotate-encryption-key'"
    ssh_retry "$name" "$ip" remote "$ip" "sudo mv $STATIC_POD_DIR/kube-apiserver.yaml $KUBERNETES_DIR/kube-apiserver.yaml.restart" ||
      die "$name: could not stop its apiserver; re-run 'make rotate-encryption-key'"
    wait_begin "$name: its apiserver to stop" "$APISERVER_RESTART_SECONDS"
    wait_sleep "$APISERVER_RESTART_SECONDS"
    ssh_retry "$name" "$ip" remote "$ip" "sudo mv $KUBERNETES_DIR/kube-apiserver.yaml.restart $STATIC_POD_DIR/kube-apiserver.yaml" ||
      die "$name: its apiserver manifest is in $KUBERNETES_DIR/kube-apiserver.yaml.restart; re-run 'make rotate-encryption-key'"
    deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS))
    wait_begin "$name: the apiserver ready again (GET /readyz)" "$APPLY_TIMEOUT_SECONDS"
    until out=$(kube get --raw /readyz 2>&1) && [[ "$out" == ok ]]; do
      ((SECONDS < deadline)) || die "$name: the apiserver is not ready again: $out"
      wait_sleep "$APPLY_POLL_SECONDS"
    done
    log "    $name: apiserver restarted and ready"
  done < <(controllers)
  step_done
}

# phase [NAME]: the step the rotation reached (empty: none under way); with NAME, record it.
phase() {
  if (($#)); then
    printf '%s\n' "$1" >"$ROTATION_STATE"
  elif [[ -s "$ROTATION_STATE" ]]; then
    cat "$ROTATION_STATE"
  fi
}

main() {
  [[ -z "$ROTATE_ENCRYPTION_REFUSAL" ]] || die "$ROTATE_ENCRYPTION_REFUSAL"
  apply_lock rotate-encryption-key
  preflight --no-key
  need_kubeconfig
  [[ -s "$ENCRYPTION_KEYS" ]] ||
    die "$ENCRYPTION_KEYS is missing: no key to rotate (run 'make controller' first)"
  CLUSTER_LIST=$(cluster_droplets)
  [[ -n "$(controllers)" ]] || die "no controller droplet: run 'make controller' first"
  local new out
  if [[ -z "$(phase)" ]]; then
    encryption_write_keys "$(cat "$ENCRYPTION_KEYS")"$'\n'"$(encryption_new_key)"
    phase added
  else
    log "resuming the rotation interrupted at step: $(phase)"
  fi
  if [[ "$(phase)" == added ]]; then
    new=$(tail -n 1 "$ENCRYPTION_KEYS" | cut -d' ' -f1)
    install_and_restart "1/4 new key $new added second on every controller (the old one still writes)"
    encryption_write_keys "$(grep "^$new " "$ENCRYPTION_KEYS"; grep -v "^$new " "$ENCRYPTION_KEYS")"
    phase primary
  fi
  new=$(head -n 1 "$ENCRYPTION_KEYS" | cut -d' ' -f1)
  if [[ "$(phase)" == primary ]]; then
    install_and_restart "2/4 new key $new first: the apiservers write with it"
    phase rewrite
  fi
  if [[ "$(phase)" == rewrite ]]; then
    # one pipe: the Secrets' plain text never lands in a file here
    step "3/4 every Secret rewritten with $new (kubectl get secrets -A -o json | kubectl replace -f -)"
    out=$(kube get secrets -A -o json | kube replace -f - 2>&1) ||
      die "rewriting the Secrets failed: $out; re-run 'make rotate-encryption-key'"
    step_done "$(grep -c ' replaced$' <<<"$out" || true) Secret(s) replaced"
    encryption_write_keys "$(head -n 1 "$ENCRYPTION_KEYS")"
    phase drop
  fi
  install_and_restart "4/4 the old key removed from every controller"
  rm -f "$ROTATION_STATE"
  summary "encryption key of $CLUSTER_NAME rotated" \
    "Secrets are encrypted with $new ($ENCRYPTION_PROVIDER); the old key is gone from the controllers" \
    "$ENCRYPTION_KEYS holds it (0600, git-ignored): keep it with your etcd backups, they need it"
}

main "$@"
