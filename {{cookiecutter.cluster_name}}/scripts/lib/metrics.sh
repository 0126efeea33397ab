# shellcheck shell=bash
# The Metrics API checks (issue 21.3): make smoke's (profiles with SMOKE_METRICS=yes in
# profile.sh) and make status's metrics layer (profiles listing it in STATUS_LAYERS):
# `kubectl top nodes` answers once metrics-server (make addons) runs behind the apiserver's
# aggregation layer and has scraped every kubelet over verified TLS. Sourced by smoke.sh and
# status.sh after common.sh (kube, step, wait_begin/wait_sleep).

# smoke_metrics: waits, bounded by APPLY_TIMEOUT_SECONDS, until `kubectl top nodes` prints a
# figure for every node (kubectl prints <unknown> for a node metrics-server could not scrape);
# prints the table, or says what failed and returns 1.
smoke_metrics() {
  local out="" deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS))
  step "kubectl top nodes"
  wait_begin "the Metrics API to answer kubectl top nodes" "$APPLY_TIMEOUT_SECONDS"
  until out=$(kube top nodes 2>&1) && ! grep -q '<unknown>' <<<"$out"; do
    if ((SECONDS >= deadline)); then
      indent <<<"$out"
      log "FAILED: kubectl top nodes did not answer for every node within ${APPLY_TIMEOUT_SECONDS}s" \
        "(make addons deploys metrics-server; kubectl --kubeconfig kubeconfig get pods" \
        "--namespace=kube-system -l k8s-app=metrics-server; kubectl --kubeconfig kubeconfig get" \
        "apiservice v1beta1.metrics.k8s.io)"
      return 1
    fi
    wait_sleep "$APPLY_POLL_SECONDS"
  done
  indent <<<"$out"
  METRICS_NODES=$(($(grep -c . <<<"$out") - 1))
  step_done "CPU and memory of $METRICS_NODES node(s)"
}

# check_metrics: make status's metrics layer (after kube-dns): `kubectl top nodes` answers for
# every node (WARN: some node's kubelet was not scraped; FAIL: no Metrics API). Needs health.sh.
check_metrics() {
  local out rc=0 count unknown items=()
  out=$(kube top nodes --no-headers 2>&1) || rc=$?
  if ((rc != 0)); then
    layer metrics FAIL "kubectl top nodes: $(_one_line "$out") (metrics-server: make addons;" \
      "kubectl --kubeconfig kubeconfig get apiservice v1beta1.metrics.k8s.io)"
    return 0
  fi
  mapfile -t items < <(tr -s ' ' <<<"$out" | sed 's/ $//')
  count=${#items[@]}
  unknown=$(grep -c '<unknown>' <<<"$out" || true)
  if ((unknown > 0)); then
    layer metrics WARN "$unknown of $count node(s) without metrics: metrics-server could not" \
      "scrape their kubelet (unreachable, or its serving certificate did not verify)" "${items[@]}"
    return 0
  fi
  layer metrics OK "kubectl top nodes answers for $count node(s)" "${items[@]}"
}
