# shellcheck shell=bash
# make smoke's cloud part (issue 21; manifests/smoke/cloud.yaml, the current profile): a
# LoadBalancer Service in front of the inspector, for which DigitalOcean's cloud-controller-
# manager creates a load balancer (the nodes' firewall is brought to admit it by ID:
# firewall.sh), fetched through; and a PersistentVolumeClaim the CSI driver binds to a new
# volume. Skipped, saying so, when make addons installed neither (no DIGITALOCEAN_CLUSTER_TOKEN).
# Deleted after unless KEEP=1, the volume waited out (its PersistentVolume gone).

SMOKE_CLOUD=manifests/smoke/cloud.yaml

# smoke_cloud_wanted: the cloud checks apply (the profile has them and the CCM runs).
smoke_cloud_wanted() {
  [[ -f "$SMOKE_CLOUD" ]] &&
    kube get deployment digitalocean-cloud-controller-manager -n kube-system -o name >/dev/null 2>&1
}

# _smoke_until WHAT COMMAND...: bounded wait (APPLY_TIMEOUT_SECONDS) until COMMAND succeeds;
# returns 1 when it did not.
_smoke_until() {
  local what=$1 deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS))
  shift
  wait_begin "$what" "$APPLY_TIMEOUT_SECONDS"
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    wait_sleep "$APPLY_POLL_SECONDS"
  done
}

_smoke_lb_ip() {
  SMOKE_LB_IP=$(kube get service inspector-lb -o 'jsonpath={.status.loadBalancer.ingress[0].ip}' 2>/dev/null) &&
    [[ -n "$SMOKE_LB_IP" ]]
}

_smoke_lb_answers() {
  curl -fsS --max-time 10 -o /dev/null "http://$SMOKE_LB_IP/"
}

_smoke_bound() {
  [[ "$(kube get pvc smoke-data -o 'jsonpath={.status.phase}' 2>/dev/null)" == Bound ]]
}

_smoke_pv_gone() {
  ! kube get pv "$1" -o name >/dev/null 2>&1
}

# smoke_cloud: the checks. Sets SMOKE_CLOUD_FAILURES and SMOKE_CLOUD_SUMMARY (lines).
smoke_cloud() {
  SMOKE_CLOUD_FAILURES=0
  SMOKE_CLOUD_SUMMARY=()
  [[ -f "$SMOKE_CLOUD" ]] || return 0 # a profile without them
  if ! smoke_cloud_wanted; then
    log "cloud checks skipped: no cloud-controller-manager or CSI driver runs (make addons installs them only with DIGITALOCEAN_CLUSTER_TOKEN): no LoadBalancer Service, no volume"
    SMOKE_CLOUD_SUMMARY=("cloud: skipped (make addons ran without DIGITALOCEAN_CLUSTER_TOKEN)")
    return 0
  fi
  require_token
  step "create or update $SMOKE_CLOUD"
  kube_apply "$SMOKE_CLOUD" || die "$SMOKE_CLOUD was not applied (see above)"
  step_done
  step "waiting for the load balancer of Service inspector-lb (the cloud-controller-manager's)"
  if _smoke_until "Service inspector-lb's ingress IP" _smoke_lb_ip; then
    step_done "$SMOKE_LB_IP"
    ensure_firewalls "the nodes admit the load balancer of Service inspector-lb"
    if ! command -v curl >/dev/null 2>&1; then
      warn "curl is not installed: the fetch through the load balancer is skipped"
    else
      step "curl http://$SMOKE_LB_IP/"
      if _smoke_until "the inspector through http://$SMOKE_LB_IP/" _smoke_lb_answers; then
        step_done "inspector answers"
        SMOKE_CLOUD_SUMMARY+=("LoadBalancer: inspector answered through http://$SMOKE_LB_IP/")
      else
        log "FAILED: no answer through the load balancer at http://$SMOKE_LB_IP/"
        SMOKE_CLOUD_FAILURES=$((SMOKE_CLOUD_FAILURES + 1))
      fi
    fi
  else
    log "FAILED: Service inspector-lb has no load balancer IP after ${APPLY_TIMEOUT_SECONDS}s (kubectl --kubeconfig kubeconfig describe service inspector-lb)"
    SMOKE_CLOUD_FAILURES=$((SMOKE_CLOUD_FAILURES + 1))
  fi
  step "waiting for PersistentVolumeClaim smoke-data to be Bound (the CSI driver's volume)"
  if _smoke_until "claim smoke-data to be Bound" _smoke_bound; then
    step_done "bound to $(kube get pvc smoke-data -o 'jsonpath={.spec.volumeName}')"
    SMOKE_CLOUD_SUMMARY+=("volume: claim smoke-data Bound")
  else
    log "FAILED: claim smoke-data is not Bound after ${APPLY_TIMEOUT_SECONDS}s (kubectl --kubeconfig kubeconfig describe pvc smoke-data)"
    SMOKE_CLOUD_FAILURES=$((SMOKE_CLOUD_FAILURES + 1))
  fi
}

# smoke_delete MANIFEST: kubectl delete -f MANIFEST (nothing there: fine); warns and returns 1
# when it was not deleted.
smoke_delete() {
  local manifest=$1 out
  step "delete -f $manifest"
  if out=$(kube delete -f "$manifest" 2>&1); then
    indent <<<"$out"
    step_done
  elif grep -q "not found" <<<"$out"; then
    step_done "nothing to delete"
  else
    indent <<<"$out"
    warn "$manifest was not deleted; delete it with kubectl --kubeconfig kubeconfig delete -f $manifest"
    return 1
  fi
}

# remove_smoke_cloud: delete the Service (its load balancer goes first: the CCM's finalizer)
# and the claim, wait until its PersistentVolume (and so the volume) is gone, and take the
# load balancer out of the nodes' firewall.
remove_smoke_cloud() {
  smoke_cloud_wanted || return 0
  local pv
  pv=$(kube get pvc smoke-data -o 'jsonpath={.spec.volumeName}' 2>/dev/null || true)
  if ! smoke_delete "$SMOKE_CLOUD"; then
    warn "its load balancer and volume are billed while they exist (make status lists them)"
    return 0
  fi
  if [[ -n "$pv" ]]; then
    step "waiting for the volume of claim smoke-data to be deleted"
    if _smoke_until "PersistentVolume $pv to be deleted" _smoke_pv_gone "$pv"; then
      step_done
    else
      warn "PersistentVolume $pv is still there after ${APPLY_TIMEOUT_SECONDS}s: make status lists the volume, make destroy deletes it"
    fi
  fi
  require_token
  ensure_firewalls "the load balancer of Service inspector-lb is gone"
}
