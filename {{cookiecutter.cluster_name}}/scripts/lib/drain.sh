# shellcheck shell=bash
# Taking one node out of service and back, with kubectl through ./kubeconfig (make scale,
# make replace, make os-update, the workers of make upgrade). kubectl drain evicts through the
# Eviction API (policy/v1), so PodDisruptionBudgets are respected: an eviction they forbid is
# answered 429 and kubectl retries every 5 s until --timeout (k8s.io/kubectl pkg/drain/drain.go
# evictPods, pkg/cmd/drain/drain.go). Needs a kubectl that has drain (1.2 on; require_kubectl).
#
# Contract (every function takes the Node's name, which is its droplet's name):
#   node_registered NODE        0 when the apiserver has a Node NODE, 1 when it has none
#                               (never registered, or deleted) or there is no ./kubeconfig
#                               yet; dies when the apiserver cannot be asked.
#   node_cordon NODE            spec.unschedulable=true (kubectl cordon); no Node: nothing to do.
#   node_drain NODE [force]     cordon, then evict every pod but DaemonSets' and static ones,
#                               bounded by DRAIN_TIMEOUT_SECONDS. Returns 0 when drained (or no
#                               Node), 1 after an `error` line naming the pods that stayed, why
#                               (a PodDisruptionBudget, a pod without a controller) and the
#                               timeout; the node stays cordoned. The caller dies with its own
#                               way out (make scale: FORCE=1). "force": pods are deleted, not
#                               evicted (--disable-eviction --force: budgets bypassed, pods
#                               without a controller deleted too).
#   node_drain_or_die NODE WHAT RERUN [uncordon]  node_drain, with "force" when FORCE=1; when
#                               it fails, die: NODE is not drained, WHAT ("nothing of it was
#                               deleted"), re-run RERUN, or RERUN FORCE=1 regardless of the
#                               budgets. "uncordon": NODE is uncordoned first (it stays in
#                               service as it was: make os-update).
#   node_uncordon NODE          spec.unschedulable=false (kubectl uncordon); no Node: nothing.
#   node_delete NODE            delete the Node object (a droplet deleted for good); none: fine.
#   node_wait_ready NODE [VER]  bounded by APPLY_TIMEOUT_SECONDS: the Node exists, is Ready and,
#                               with VER (v1.37.0), its kubelet reports that version
#                               (.status.nodeInfo.kubeletVersion); dies naming what it saw.
# Every kubectl call's output is shown indented under the current step.

# seconds kubectl drain keeps retrying evictions a budget refuses (its --timeout)
DRAIN_TIMEOUT_SECONDS=${DRAIN_TIMEOUT_SECONDS:-300}

node_registered() {
  local out rc=0
  [[ -s "$KUBECONFIG_FILE" ]] || return 1
  out=$(kube get node "$1" -o name 2>&1) || rc=$?
  ((rc == 0)) && return 0
  grep -q '(NotFound)' <<<"$out" && return 1
  die "cannot ask the apiserver for node $1: $(tr '\n' ' ' <<<"$out")"
}

# _node_kubectl VERB NODE [ARG...]: kubectl VERB node NODE, its output indented; no Node: 0.
_node_kubectl() {
  local verb=$1 node=$2 out rc=0
  shift 2
  node_registered "$node" || { log "    node $node is not registered: nothing to $verb"; return 0; }
  out=$(kube "$verb" "$node" "$@" 2>&1) || rc=$?
  indent <<<"$out"
  ((rc == 0)) || error "kubectl $verb $node failed"
  return "$rc"
}

node_cordon() {
  _node_kubectl cordon "$1"
}

node_uncordon() {
  _node_kubectl uncordon "$1"
}

node_delete() {
  local out rc=0
  node_registered "$1" || return 0
  out=$(kube delete node "$1" 2>&1) || rc=$?
  indent <<<"$out"
  ((rc == 0)) || error "kubectl delete node $1 failed"
  return "$rc"
}

node_drain() {
  local node=$1 force=${2:-} out rc=0 args
  node_registered "$node" || { log "    node $node is not registered: nothing to drain"; return 0; }
  args=(--ignore-daemonsets --delete-emptydir-data "--timeout=${DRAIN_TIMEOUT_SECONDS}s")
  [[ "$force" != force ]] || args+=(--disable-eviction --force)
  out=$(mktemp)
  # kubectl prints each eviction and every 429 retry as it goes: the wait speaks for itself
  kube drain "$node" "${args[@]}" 2>&1 | tee "$out" | indent || rc=$?
  if ((rc == 0)); then
    rm -f "$out"
    return 0
  fi
  _drain_failure "$node" "$out"
  rm -f "$out"
  return 1
}

node_drain_or_die() {
  local node=$1 what=$2 rerun=$3 back=${4:-}
  if [[ "${FORCE:-}" == 1 ]]; then
    node_drain "$node" force && return 0
    [[ "$back" != uncordon ]] || node_uncordon "$node" || true
    die "deleting the pods of $node failed (see above); re-run '$rerun FORCE=1'"
  fi
  node_drain "$node" && return 0
  [[ "$back" != uncordon ]] || node_uncordon "$node" || true
  die "$node is not drained, $what: make room for those pods (or relax their" \
    "PodDisruptionBudget) and re-run '$rerun', or '$rerun FORCE=1' deletes them regardless" \
    "of their budgets"
}

# _drain_failure NODE OUTPUT_FILE: the error line: which pods stayed on NODE and why.
_drain_failure() {
  local node=$1 file=$2 budget="" bare="" other
  # evictPods: error when evicting pods/"NAME" -n "NS": global timeout reached: 5m0s
  budget=$(sed -n 's|^error when evicting pods/"\([^"]*\)" -n "\([^"]*\)": global timeout reached.*|\2/\1|p' \
    "$file" | sort -u | paste -sd' ')
  # the filters' error, alone on the last lines: cannot delete Pods declare no controller
  # (use --force to override): NS/NAME, NS/NAME
  bare=$(sed -n 's|^cannot delete Pods declare no controller (use --force to override): ||p' \
    "$file" | head -n1 | sed 's/,//g')
  if [[ -n "$budget" ]]; then
    error "draining $node stopped after ${DRAIN_TIMEOUT_SECONDS}s (DRAIN_TIMEOUT_SECONDS):" \
      "the PodDisruptionBudget of pod(s) $budget allowed no eviction in that time (429 on" \
      "every try; kubectl get pdb -A shows each budget's allowed disruptions); $node stays cordoned"
  elif [[ -n "$bare" ]]; then
    error "draining $node stopped: pod(s) $bare have no controller that would re-create them" \
      "elsewhere, so kubectl drain does not evict them; $node stays cordoned"
  else
    other=$(grep '^error' "$file" | tail -n1)
    error "draining $node failed within ${DRAIN_TIMEOUT_SECONDS}s (DRAIN_TIMEOUT_SECONDS): ${other:-see above}"
  fi
}

node_wait_ready() {
  local node=$1 version=${2:-} deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS)) seen out
  wait_begin "node $node to be Ready${version:+ with kubelet $version}" "$APPLY_TIMEOUT_SECONDS"
  while true; do
    seen="not registered"
    if out=$(kube get node "$node" -o json 2>/dev/null); then
      seen=$(jq -r '"\([.status.conditions[]? | select(.type == "Ready")][0].status // "Unknown"
        | if . == "True" then "Ready" else "NotReady" end), kubelet \(.status.nodeInfo.kubeletVersion // "unknown")"' \
        <<<"$out")
      [[ "$seen" != Ready,* ]] || [[ -n "$version" && "$seen" != "Ready, kubelet $version" ]] || return 0
    fi
    ((SECONDS < deadline)) ||
      die "node $node is not Ready${version:+ with kubelet $version} after ${APPLY_TIMEOUT_SECONDS}s" \
        "(APPLY_TIMEOUT_SECONDS): it is $seen; look with 'kubectl --kubeconfig kubeconfig describe node $node'" \
        "and journalctl -u kubelet on the droplet, then re-run"
    wait_sleep "$APPLY_POLL_SECONDS"
  done
}
