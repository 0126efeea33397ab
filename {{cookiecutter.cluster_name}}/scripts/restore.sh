#!/usr/bin/env bash
# make restore BACKUP=backups/<stamp> [FORCE=1]: the cluster's etcd brought back from a backup
# (the etcd v2 admin guide's procedure, scripts/lib/etcdbackup.sh): etcd2 stopped on every
# member; the first member's data dir replaced by the backup and started once with
# --force-new-cluster, then normally, its peer URL set back; each other member joins again with
# an empty data dir (member add, initial-cluster-state existing). Asks first (like destroy).
set -euo pipefail
shopt -s inherit_errexit
# shellcheck source=scripts/lib/usage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/usage.sh"
usage_check "$@"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# wait_member NAME IP WHAT COMMAND: run COMMAND on NAME until it succeeds, bounded by
# APPLY_TIMEOUT_SECONDS (etcd2 needs a moment to start or to be joined). Prints its output.
wait_member() {
  local name=$1 ip=$2 what=$3 cmd=$4 deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS)) out
  while true; do
    if out=$(remote "$ip" "$cmd" 2>&1); then
      printf '%s\n' "$out"
      return 0
    fi
    ((SECONDS < deadline)) ||
      die "$name: $what did not happen within ${APPLY_TIMEOUT_SECONDS}s: $(tr '\n' ' ' <<<"$out");" \
        "etcd2 is stopped or partly restored: fix the cause and re-run 'make restore BACKUP=$BACKUP'"
    sleep "$APPLY_POLL_SECONDS"
  done
}

# on NAME IP WHAT COMMAND: COMMAND on NAME or stop.
on() {
  ssh_retry "$1" "$2" remote "$2" "$4" || die "$1: $3 failed; re-run 'make restore BACKUP=$BACKUP'"
}

confirm() {
  log "the etcd data of $CLUSTER_NAME on $* will be REPLACED by $BACKUP" \
    "($(jq -r '"\(.keys) keys, taken \(.taken_at) from \(.member)"' "$BACKUP/backup.json"))"
  [[ "${FORCE:-}" != 1 ]] || return 0
  [[ -t 0 ]] || die "not restoring: no terminal to confirm on; run 'make restore BACKUP=$BACKUP FORCE=1'"
  local answer=""
  read -r -p "Replace the etcd data of $CLUSTER_NAME? Type the cluster name ($CLUSTER_NAME) to confirm: " answer
  [[ "$answer" == "$CLUSTER_NAME" ]] || die "not confirmed: nothing changed"
}

main() {
  [[ -n "${BACKUP:-}" ]] || die "which backup? make restore BACKUP=$BACKUP_ROOT/<stamp> (see ls $BACKUP_ROOT)"
  BACKUP=${BACKUP%/}
  [[ -s "$BACKUP/$ETCD_ARCHIVE" && -s "$BACKUP/backup.json" ]] ||
    die "$BACKUP has no $ETCD_ARCHIVE and backup.json: not a backup made by make backup"
  apply_lock restore
  preflight --no-key
  # shellcheck disable=SC2034 # read by need_droplet
  CLUSTER_LIST=$(cluster_droplets)
  local names=() ips=() privates=() name rec
  mapfile -t names < <(etcd_names)
  for name in "${names[@]}"; do
    rec=$(need_droplet "$name" etcd)
    ips+=("$(field "$rec" public_ip)")
    privates+=("$(field "$rec" private_ip)")
  done
  confirm "${names[@]}"

  local nn
  step "stopping etcd2 on ${names[*]}"
  for nn in "${!names[@]}"; do
    on "${names[nn]}" "${ips[nn]}" "stopping etcd2" "sudo systemctl stop etcd2"
  done
  step_done

  local founder=${names[0]} ip=${ips[0]} dropin dir=$BUILD_DIR/etcd-restore
  step "restoring the backup on $founder (its data dir; started once with --force-new-cluster)"
  mkdir -p "$dir"
  dropin=$dir/$(basename "$ETCD_RESTORE_DROPIN")
  etcd_restore_dropin >"$dropin"
  ssh_retry "$founder" "$ip" copy_to "$ip" "$BACKUP/$ETCD_ARCHIVE" "$dropin" ||
    die "copying the backup to $founder failed; re-run 'make restore BACKUP=$BACKUP'"
  on "$founder" "$ip" "unpacking the backup" "$(etcd_unpack_cmd)"
  on "$founder" "$ip" "starting etcd2 with --force-new-cluster" \
    "sudo mkdir -p $(dirname "$ETCD_RESTORE_DROPIN") && sudo mv $(basename "$dropin") $ETCD_RESTORE_DROPIN && sudo systemctl daemon-reload && sudo systemctl start etcd2"
  wait_member "$founder" "$ip" "etcd2 serving the backup" "$(etcd_local_cmd member list)" >/dev/null
  on "$founder" "$ip" "restarting etcd2 normally" \
    "sudo rm -f $ETCD_RESTORE_DROPIN && sudo systemctl daemon-reload && sudo systemctl restart etcd2"
  local list id url initial
  list=$(wait_member "$founder" "$ip" "etcd2 restarted" "$(etcd_local_cmd member list)")
  id=$(head -n1 <<<"$list" | cut -d: -f1)
  url=$(etcd_peer_url "${privates[0]}")
  # --force-new-cluster reset the peer URL to http://localhost:2380 (admin guide)
  on "$founder" "$ip" "setting its peer URL" "$(etcd_local_cmd member update "$id" "$url")"
  initial="$(etcd_member_name "$founder")=$url"
  step_done "member $id at $url"

  local member env
  for ((nn = 1; nn < ${#names[@]}; nn++)); do
    name=${names[nn]}
    member=$(etcd_member_name "$name")
    url=$(etcd_peer_url "${privates[nn]}")
    step "$name joins again (empty data dir, member add, initial-cluster-state existing)"
    on "$name" "${ips[nn]}" "emptying its data dir" "sudo rm -rf $ETCD_DATA_DIR"
    on "$founder" "$ip" "member add $member" "$(etcd_local_cmd member add "$member" "$url")"
    initial+=",$member=$url"
    env=$dir/$name.env
    etcd_rejoin_env "$member" "$initial" >"$env"
    ssh_retry "$name" "${ips[nn]}" copy_to "${ips[nn]}" "$env" ||
      die "copying $env to $name failed; re-run 'make restore BACKUP=$BACKUP'"
    on "$name" "${ips[nn]}" "starting etcd2" "sudo mv $(basename "$env") $ETCD_CLUSTER_ENV &&
      sudo chown root:root $ETCD_CLUSTER_ENV && sudo chmod 644 $ETCD_CLUSTER_ENV && sudo systemctl start etcd2"
    wait_member "$name" "${ips[nn]}" "joining" "$(etcd_local_cmd member list)" >/dev/null
    step_done
  done

  local keys want
  keys=$(remote "$ip" "$(etcd_keys_cmd)" | key_count)
  want=$(jq -r .keys "$BACKUP/backup.json")
  summary "etcd of $CLUSTER_NAME restored from $BACKUP" \
    "members: ${names[*]} (founder $founder)" \
    "keys: $keys now; the backup listed $want" \
    "next: make status"
}

main "$@"
