#!/usr/bin/env bash
# make smoke [KEEP=1]: busybox resolves kubernetes.default through kube-dns (step 11); the pod
# inspector answers on its NodePort on every worker (step 12); with the cloud add-ons (the
# current profile, make addons with DIGITALOCEAN_CLUSTER_TOKEN) it answers through a
# LoadBalancer Service's DigitalOcean load balancer and a claim binds to a new volume
# (scripts/lib/smokecloud.sh). Then all are deleted (kubectl delete -f), load balancer and volume
# included, pass or fail: the inspector prints its environment on a public NodePort (lock-down,
# issue 10). KEEP=1 leaves them running. Where the profile deploys metrics-server
# (SMOKE_METRICS), `kubectl top nodes` must answer for every node (scripts/lib/metrics.sh).
set -euo pipefail
shopt -s inherit_errexit
# shellcheck source=scripts/lib/usage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/usage.sh"
usage_check "$@"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=scripts/lib/metrics.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/metrics.sh"
# shellcheck source=scripts/lib/smokecloud.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/smokecloud.sh"
SMOKE_CLOUD_SUMMARY=()

# wait_pod NAME: bounded wait until the pod is Running.
wait_pod() {
  local name=$1 phase="" deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS))
  step "waiting for pod $name to be Running"
  wait_begin "pod $name to be Running" "$APPLY_TIMEOUT_SECONDS"
  while true; do
    phase=$(kube get pods "$name" -o 'jsonpath={.status.phase}' 2>/dev/null || true)
    [[ "$phase" == Running ]] && break
    if ((SECONDS >= deadline)); then
      die "timed out after ${APPLY_TIMEOUT_SECONDS}s: pod $name is '${phase:-absent}' (APPLY_TIMEOUT_SECONDS);" \
        "see kubectl --kubeconfig kubeconfig describe pod $name"
    fi
    wait_sleep "$APPLY_POLL_SECONDS"
  done
  step_done
}

# remove_smoke: delete the smoke workloads unless KEEP=1 (the EXIT trap: after a pass or a failure).
remove_smoke() {
  local status=$? manifest
  if [[ "${KEEP:-}" == 1 ]]; then
    log "KEEP=1: the smoke workloads stay (kubectl --kubeconfig kubeconfig delete -f manifests/smoke/ removes them)"
    return "$status"
  fi
  remove_smoke_cloud
  for manifest in manifests/smoke/busybox.yaml manifests/smoke/inspector.yaml; do
    smoke_delete "$manifest" || true
  done
  return "$status"
}

main() {
  apply_lock smoke
  require_kubectl
  need_kubeconfig
  wait_apiserver
  local failures=0 out
  trap remove_smoke EXIT

  step "create or update manifests/smoke/busybox.yaml"
  kube_apply manifests/smoke/busybox.yaml || die "manifests/smoke/busybox.yaml was not applied (see above)"
  step_done
  wait_pod busybox
  step "kubectl exec busybox -- nslookup kubernetes.default"
  out=$(kube exec busybox -- nslookup kubernetes.default 2>&1) || true
  indent <<<"$out"
  if grep -q "Address.*\b${APISERVER_SERVICE_IP//./\\.}\b" <<<"$out"; then
    step_done "kubernetes.default is $APISERVER_SERVICE_IP: DNS OK"
  else
    log "FAILED: kubernetes.default did not resolve to $APISERVER_SERVICE_IP (is kube-dns running? make addons)"
    failures=$((failures + 1))
  fi

  step "create or update manifests/smoke/inspector.yaml"
  kube_apply manifests/smoke/inspector.yaml || die "manifests/smoke/inspector.yaml was not applied (see above)"
  step_done
  local port
  port=$(kube get services inspector -o 'jsonpath={.spec.ports[0].nodePort}')
  [[ "$port" == "$INSPECTOR_NODE_PORT" ]] || {
    log "FAILED: the inspector service has NodePort '${port}', expected $INSPECTOR_NODE_PORT"
    failures=$((failures + 1))
  }
  wait_pod_label app=inspector

  local checked=0 ip deadline
  if ! command -v curl >/dev/null 2>&1; then
    warn "curl is not installed: the NodePort check is skipped"
  else
    require_token
    CLUSTER_LIST=$(cluster_droplets)
    for ip in $(jq -r --arg p "$WORKER_PREFIX-" '.[] | select(.name | startswith($p)) | .public_ip | select(. != "")' <<<"$CLUSTER_LIST"); do
      step "curl http://$ip:$INSPECTOR_NODE_PORT/env"
      deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS))
      wait_begin "the inspector on http://$ip:$INSPECTOR_NODE_PORT" "$APPLY_TIMEOUT_SECONDS"
      until curl -fsS --max-time 10 -o /dev/null "http://$ip:$INSPECTOR_NODE_PORT/env"; do
        if ((SECONDS >= deadline)); then
          log "FAILED: no answer from http://$ip:$INSPECTOR_NODE_PORT/env"
          failures=$((failures + 1))
          continue 2
        fi
        wait_sleep "$APPLY_POLL_SECONDS"
      done
      checked=$((checked + 1))
      step_done "inspector answers"
    done
  fi
  METRICS_NODES=""
  if [[ -n "${SMOKE_METRICS:-}" ]]; then
    smoke_metrics || failures=$((failures + 1))
  fi
  smoke_cloud
  failures=$((failures + SMOKE_CLOUD_FAILURES))
  trap - EXIT
  remove_smoke
  ((failures == 0)) || die "$failures smoke check(s) failed (see above; KEEP=1 keeps the workloads to look at)"
  summary "smoke tests passed" \
    "DNS: kubernetes.default -> $APISERVER_SERVICE_IP" \
    "inspector: NodePort $INSPECTOR_NODE_PORT answered on $checked worker(s)" \
    ${METRICS_NODES:+"metrics: kubectl top nodes answered for $METRICS_NODES node(s)"} \
    "${SMOKE_CLOUD_SUMMARY[@]}" \
    "workloads: $([[ "${KEEP:-}" == 1 ]] && echo "kept (KEEP=1)" || echo deleted)" \
    "next: make status"
}

# wait_pod_label SELECTOR: bounded wait until a pod with SELECTOR is Running.
wait_pod_label() {
  local selector=$1 phases="" deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS))
  step "waiting for a pod $selector to be Running"
  wait_begin "a pod $selector to be Running" "$APPLY_TIMEOUT_SECONDS"
  while true; do
    phases=$(kube get pods -l "$selector" -o 'jsonpath={.items[*].status.phase}' 2>/dev/null || true)
    [[ " $phases " == *" Running "* ]] && break
    if ((SECONDS >= deadline)); then
      die "timed out after ${APPLY_TIMEOUT_SECONDS}s waiting for a pod $selector (APPLY_TIMEOUT_SECONDS)"
    fi
    wait_sleep "$APPLY_POLL_SECONDS"
  done
  step_done
}

main "$@"
