#!/usr/bin/env bash
# make addons: the profile's add-ons (ADDON_MANIFESTS in scripts/lib/profile.sh; the tutorial's
# kube-dns Service, then its ReplicationController: step 11), created or updated in order, then
# those calling DigitalOcean's API with the cluster's own token (CLOUD_ADDON_MANIFESTS, only
# with DIGITALOCEAN_CLUSTER_TOKEN: scripts/lib/cloudtoken.sh).
set -euo pipefail
shopt -s inherit_errexit
# shellcheck source=scripts/lib/usage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/usage.sh"
usage_check "$@"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=scripts/lib/cloudtoken.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/cloudtoken.sh"

main() {
  apply_lock addons
  require_kubectl
  need_kubeconfig
  wait_apiserver
  local manifest manifests=("${ADDON_MANIFESTS[@]}")
  CLOUD_ADDONS_DONE=""
  if cloud_addons_ready; then
    manifests+=("${CLOUD_ADDON_MANIFESTS[@]}")
  fi
  for manifest in "${manifests[@]}"; do
    step "create or update $manifest"
    kube_apply "$manifest" || die "$manifest was not applied (see above); fix it and re-run 'make addons'"
    step_done
  done
  kube get pods --namespace=kube-system -l "$ADDONS_PODS_SELECTOR" >&2 || true
  summary "$ADDONS_SUMMARY" ${CLOUD_ADDONS_DONE:+"$CLOUD_ADDONS_DONE"} \
    "its pods take a minute to pull images: kubectl --kubeconfig kubeconfig get pods --namespace=kube-system" \
    "next: make smoke"
}

main "$@"
