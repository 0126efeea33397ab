#!/usr/bin/env bash
# make addons: the kube-dns add-on, Service first, then its ReplicationController (step 11).
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

main() {
  apply_lock addons
  require_kubectl
  need_kubeconfig
  wait_apiserver
  local manifest
  for manifest in manifests/addons/kube-dns-svc.yaml manifests/addons/kube-dns-rc.yaml; do
    step "create or update $manifest"
    kube_apply "$manifest" || die "$manifest was not applied (see above); fix it and re-run 'make addons'"
    step_done
  done
  kube get pods --namespace=kube-system -l k8s-app=kube-dns >&2 || true
  summary "kube-dns deployed (cluster DNS $DNS_SERVICE_IP, domain $CLUSTER_DOMAIN)" \
    "its pods take a minute to pull images: kubectl --kubeconfig kubeconfig get pods --namespace=kube-system" \
    "next: make smoke"
}

main "$@"
