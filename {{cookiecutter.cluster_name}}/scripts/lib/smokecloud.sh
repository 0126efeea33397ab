# shellcheck shell=bash
# make smoke's cloud part (issue 21; manifests/smoke/cloud.yaml, the current profile): a
# LoadBalancer Service in front of the inspector, for which DigitalOcean's cloud-controller-
# manager creates a load balancer (the nodes' firewall is brought to admit it by ID:
# firewall.sh), fetched through; and a PersistentVolumeClaim the CSI driver binds to a new
# volume, which pod smoke-volume mounts (the driver attaches it to the pod's node) to write a
# file and read it back. Skipped, saying so, when make addons installed neither (no
# DIGITALOCEAN_CLUSTER_TOKEN). Deleted after unless KEEP=1, the volume waited out (its
# PersistentVolume gone).

SMOKE_CLOUD=manifests/smoke/cloud.yaml
SMOKE_FILE=/data/smoke.txt # on the claim, in pod smoke-volume (cloud.yaml mounts it at /data)

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

_smoke_pod_running() {
  [[ "$(kube get pod smoke-volume -o 'jsonpath={.status.phase}' 2>/dev/null)" == Running ]]
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
  if _smoke_check "Service inspector-lb's ingress IP" \
    "Service inspector-lb has no load balancer IP after ${APPLY_TIMEOUT_SECONDS}s (kubectl --kubeconfig kubeconfig describe service inspector-lb)" \
    _smoke_lb_ip; then
    step_done "$SMOKE_LB_IP"
    ensure_firewalls "the nodes admit the load balancer of Service inspector-lb"
    if ! command -v curl >/dev/null 2>&1; then
      warn "curl is not installed: the fetch through the load balancer is skipped"
    else
      step "curl http://$SMOKE_LB_IP/"
      if _smoke_check "the inspector through http://$SMOKE_LB_IP/" \
        "no answer through the load balancer at http://$SMOKE_LB_IP/" _smoke_lb_answers; then
        step_done "inspector answers"
        SMOKE_CLOUD_SUMMARY+=("LoadBalancer: inspector answered through http://$SMOKE_LB_IP/")
      fi
    fi
  fi
  step "waiting for PersistentVolumeClaim smoke-data to be Bound (the CSI driver's volume)"
  if _smoke_check "claim smoke-data to be Bound" \
    "claim smoke-data is not Bound after ${APPLY_TIMEOUT_SECONDS}s (kubectl --kubeconfig kubeconfig describe pvc smoke-data)" \
    _smoke_bound; then
    step_done "bound to $(kube get pvc smoke-data -o 'jsonpath={.spec.volumeName}')"
    SMOKE_CLOUD_SUMMARY+=("volume: claim smoke-data Bound")
    _smoke_volume_io
  fi
}

# _smoke_check WHAT FAILURE COMMAND...: a bounded wait for COMMAND (_smoke_until); when it
# never succeeds, logs FAILURE, counts it in SMOKE_CLOUD_FAILURES and returns 1.
_smoke_check() {
  local what=$1 failure=$2
  shift 2
  _smoke_until "$what" "$@" && return 0
  log "FAILED: $failure"
  SMOKE_CLOUD_FAILURES=$((SMOKE_CLOUD_FAILURES + 1))
  return 1
}

# _smoke_volume_io: pod smoke-volume runs once the claim's volume is attached to its node, then
# writes a line to SMOKE_FILE on it and reads it back.
_smoke_volume_io() {
  local line read_back
  step "waiting for pod smoke-volume to be Running (the claim's volume attached to its node)"
  _smoke_check "pod smoke-volume to be Running" \
    "pod smoke-volume is not Running after ${APPLY_TIMEOUT_SECONDS}s (kubectl --kubeconfig kubeconfig describe pod smoke-volume)" \
    _smoke_pod_running || return 0
  step_done
  line="make smoke wrote this at $(date -u +%Y-%m-%dT%H:%M:%SZ) ($$)"
  step "kubectl exec -i smoke-volume -- tee $SMOKE_FILE; kubectl exec smoke-volume -- cat $SMOKE_FILE"
  if kube exec -i smoke-volume -- tee "$SMOKE_FILE" <<<"$line" >/dev/null &&
    read_back=$(kube exec smoke-volume -- cat "$SMOKE_FILE") && [[ "$read_back" == "$line" ]]; then
    step_done "read back: $read_back"
    SMOKE_CLOUD_SUMMARY+=("volume: pod smoke-volume wrote $SMOKE_FILE on it and read it back")
  else
    log "FAILED: pod smoke-volume did not read back what it wrote to $SMOKE_FILE ('$line'; read '${read_back:-}')"
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
