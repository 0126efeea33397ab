#!/usr/bin/env bash
# make worker [WORKERS=N]: the missing workers in one doctl call, then per worker (in parallel)
# its own certificate issued for its addresses and installed over scp/ssh (tutorial step 10;
# profile_worker_issue, profile_worker_install). make replace NODE=NAME (REPLACE_NODE) and
# REPLACE=1 re-create workers first (scripts/lib/replace.sh): drained, deleted, created again
# with the current user data, then Ready and uncordoned.
set -euo pipefail
shopt -s inherit_errexit
# shellcheck source=scripts/lib/usage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/usage.sh"
usage_check "$@"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

KEYGEN_COUNT=0

# start_keygen: the workers' private keys (never replaced), in parallel (ensure_droplets runs
# it right after its create, while the droplets boot).
start_keygen() {
  pki_worker_keys_start "$KEYGEN_COUNT"
}

# _worker_tls NN NAME PUBLIC_IP PRIVATE_IP: the worker's certificate signed (each signing has
# its own serial file: pki_sign) and installed.
_worker_tls() {
  profile_worker_issue "$@"
  profile_worker_install "$@"
}

main() {
  local count
  count=$(workers_wanted)
  apply_lock worker
  preflight
  pki_sweep
  CLUSTER_LIST=$(cluster_droplets)
  etcd_require_members worker

  local etcd controller
  etcd=$(need_droplet "$ETCD_NAME" etcd)
  controller=$(need_droplet "$CONTROLLER_NAME" controller)
  profile_placeholders worker "$etcd" "$controller"

  local names=() nn name first_missing="" exists id
  for ((nn = 1; nn <= count; nn++)); do
    names+=("$(worker_name "$nn")")
  done
  while IFS=$'\t' read -r name id _; do
    exists=no
    [[ -n "$id" ]] && exists=yes
    render_user_data worker.yaml "$name" "$exists"
  done < <(records_tsv "${names[@]}")
  # make replace NODE=NAME; workers pointing at an old controller or etcd never join: stop, or
  # re-create with REPLACE=1 (one mechanism: scripts/lib/replace.sh)
  [[ -z "${REPLACE_NODE:-}" ]] || replace_node "$REPLACE_NODE" "${names[@]}"
  replace_stale worker worker.yaml
  while IFS=$'\t' read -r name id _; do
    [[ -z "$id" ]] && { first_missing=$name; break; }
  done < <(records_tsv "${names[@]}")
  # The keys need no IP: generate them in the background while the droplets boot.
  KEYGEN_COUNT=$count
  AFTER_CREATE=start_keygen ensure_droplets worker "$WORKER_SIZE" \
    "$USER_DATA_DIR/${first_missing:-${names[0]}}.yaml" "${names[@]}"
  [[ -n "$PKI_KEYGEN_PIDS" ]] || start_keygen
  # the new workers' public IPs join the load balancer's allow list before their kubelets dial it
  if lb_wanted; then
    lb_reconcile "$LB_JSON"
  fi

  local extra
  extra=$(jq -r --arg p "$WORKER_PREFIX-" --argjson n "$count" \
    '[.[] | select(.name | startswith($p)) | select((.name | ltrimstr($p) | tonumber? // 0) > $n) | .name] | join(" ")' \
    <<<"$CLUSTER_LIST")
  [[ -z "$extra" ]] || warn "WORKERS=$count, so these workers are left as they are: $extra"

  local publics=() privates=() ids=() id public private
  while IFS=$'\t' read -r name id public private; do
    ids+=("$id")
    publics+=("$public")
    privates+=("$private")
  done < <(records_tsv "${names[@]}")

  step "worker certificates and TLS assets for ${#names[@]} worker(s): each signed and installed" \
    "in parallel (logs: $LOG_DIR/${names[0]}.log$( ((${#names[@]} == 1)) || echo " .. ${names[-1]}.log"))"
  pki_keys_wait
  mkdir -p "$LOG_DIR"
  # the first worker's certificates in the foreground: those every worker shares (the current
  # profile's kube-proxy.pem) are then signed once, not by every job at the same time
  profile_worker_issue 01 "${names[0]}" "${publics[0]}" "${privates[0]}"
  local jobs=() NN
  for ((nn = 1; nn <= count; nn++)); do
    NN=$(printf '%02d' "$nn")
    _worker_tls "$NN" "${names[nn - 1]}" "${publics[nn - 1]}" "${privates[nn - 1]}" \
      >"$LOG_DIR/${names[nn - 1]}.log" 2>&1 &
    jobs+=("$!:${names[nn - 1]}")
  done
  local job failed=()
  for job in "${jobs[@]}"; do
    if ! wait "${job%%:*}"; then
      failed+=("${job#*:}")
      log "${job#*:} failed; its log ($LOG_DIR/${job#*:}.log):"
      indent <"$LOG_DIR/${job#*:}.log"
    fi
  done
  ((${#failed[@]} == 0)) ||
    die "the TLS assets are not installed on: ${failed[*]}; fix the cause above and re-run 'make worker' (done workers are skipped)"
  step_done
  replaced_nodes_back

  local lines=()
  for ((nn = 0; nn < count; nn++)); do
    lines+=("${names[nn]}  id ${ids[nn]}  public ${publics[nn]}  private ${privates[nn]}")
  done
  summary "${#names[@]} worker(s) ready" "${lines[@]}" \
    "the kubelets register with the apiserver within minutes: kubectl --kubeconfig kubeconfig get nodes" \
    "next: make addons"
}

main "$@"
