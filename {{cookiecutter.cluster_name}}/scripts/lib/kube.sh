# shellcheck shell=bash
# kubectl against the cluster through ./kubeconfig.

kube() {
  kubectl --kubeconfig "$KUBECONFIG_FILE" "$@"
}

need_kubeconfig() {
  [[ -s "$KUBECONFIG_FILE" ]] || die "no ./kubeconfig: run 'make controller' first"
}

# wait_apiserver: bounded wait until the apiserver answers (it starts minutes after boot).
wait_apiserver() {
  local deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS)) err
  err=$(mktemp)
  step "waiting for the apiserver ($(grep -m1 'server:' "$KUBECONFIG_FILE" | awk '{print $2}'))"
  until kube version >/dev/null 2>"$err"; do
    if ((SECONDS >= deadline)); then
      log "ERROR: $(tr '\n' ' ' <"$err")"
      rm -f "$err"
      die "timed out after ${APPLY_TIMEOUT_SECONDS}s waiting for the apiserver (APPLY_TIMEOUT_SECONDS);" \
        "check 'make status' and journalctl on the controller"
    fi
    sleep "$APPLY_POLL_SECONDS"
  done
  rm -f "$err"
  step_done
}
