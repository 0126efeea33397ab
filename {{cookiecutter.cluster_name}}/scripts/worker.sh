#!/usr/bin/env bash
# make worker [WORKERS=N]: the missing workers in one doctl call, then per worker (in parallel)
# its own certificate (WORKER_IP = private IP) installed with the generic worker.pem and
# worker-key.pem symlinks (tutorial step 10).
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

KEYGEN_PIDS=""
KEYGEN_COUNT=0

# start_keygen: the workers' private keys (pki/worker-NN-key.pem, never replaced), in parallel.
start_keygen() {
  local nn
  for ((nn = 1; nn <= KEYGEN_COUNT; nn++)); do
    pki_new_key "$PKI_DIR/worker-$(printf '%02d' "$nn")-key.pem" &
    KEYGEN_PIDS+=" $!"
  done
}

main() {
  local count=${WORKERS:-$WORKER_COUNT}
  if ! [[ "$count" =~ ^[0-9]+$ ]] || ((10#$count < 1 || 10#$count > MAX_WORKERS)); then
    die "WORKERS=$count: expected a number of workers from 1 to $MAX_WORKERS"
  fi
  count=$((10#$count))
  apply_lock worker
  preflight
  pki_sweep
  CLUSTER_LIST=$(cluster_droplets)

  local etcd
  etcd=$(need_droplet "$ETCD_NAME" etcd)
  need_droplet "$CONTROLLER_NAME" controller >/dev/null
  ETCD_PEER=$(etcd_peer_url "$(field "$etcd" private_ip)")
  # the controller's public IP, or with several controllers their load balancer's
  apiserver_address
  CONTROLLER_PUBLIC_IP=$APISERVER_ADDRESS
  export ETCD_PEER CONTROLLER_PUBLIC_IP
  log "ETCD_PEER=$ETCD_PEER CONTROLLER_PUBLIC_IP=$CONTROLLER_PUBLIC_IP"

  local names=() nn name first_missing="" exists id
  for ((nn = 1; nn <= count; nn++)); do
    names+=("$(worker_name "$nn")")
  done
  while IFS=$'\t' read -r name id _; do
    exists=no
    [[ -n "$id" ]] && exists=yes
    render_user_data worker.yaml "$name" "$exists"
  done < <(records_tsv "${names[@]}")
  # workers pointing at an old controller or etcd never join: stop, or re-create with REPLACE=1
  replace_stale worker worker.yaml
  while IFS=$'\t' read -r name id _; do
    [[ -z "$id" ]] && { first_missing=$name; break; }
  done < <(records_tsv "${names[@]}")
  # The keys need no IP: generate them in the background while the droplets boot.
  KEYGEN_COUNT=$count
  AFTER_CREATE=start_keygen ensure_droplets worker "$WORKER_SIZE" \
    "$USER_DATA_DIR/${first_missing:-${names[0]}}.yaml" "${names[@]}"
  [[ -n "$KEYGEN_PIDS" ]] || start_keygen
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

  step "worker certificates and TLS assets for ${#names[@]} worker(s): each installed as soon as" \
    "it is signed, in parallel (logs: $LOG_DIR/<worker>.log)"
  local pid
  for pid in $KEYGEN_PIDS; do
    wait "$pid" || die "generating the worker keys in $PKI_DIR failed (openssl genrsa)"
  done
  mkdir -p "$LOG_DIR"
  local jobs=() NN
  for ((nn = 1; nn <= count; nn++)); do
    name=${names[nn - 1]}
    NN=$(printf '%02d' "$nn")
    ensure_cert_ips "worker-$NN" "${privates[nn - 1]}"
    pki_issue_worker "$NN" "${privates[nn - 1]}"
    {
      install_tls "$name" "${publics[nn - 1]}" "$PKI_DIR/worker-$NN.pem" "$PKI_DIR/worker-$NN-key.pem" worker &&
        install_etcd_tls "$name" "${publics[nn - 1]}" "$PKI_DIR/worker-$NN.pem" "$PKI_DIR/worker-$NN-key.pem" etcd-client
    } >"$LOG_DIR/$name.log" 2>&1 &
    jobs+=("$!:$name")
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

  local lines=()
  for ((nn = 0; nn < count; nn++)); do
    lines+=("${names[nn]}  id ${ids[nn]}  public ${publics[nn]}  private ${privates[nn]}")
  done
  summary "${#names[@]} worker(s) ready" "${lines[@]}" \
    "the kubelets register with https://$CONTROLLER_PUBLIC_IP within minutes: kubectl --kubeconfig kubeconfig get nodes" \
    "next: make addons"
}

main "$@"
