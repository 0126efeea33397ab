#!/usr/bin/env bash
# make restore BACKUP=backups/<stamp> [FORCE=1] [FORCE_OTHER_CLUSTER=1]: the cluster's etcd
# brought back from a backup (the etcd v2 admin guide's procedure, scripts/lib/etcdbackup.sh).
# First, while every member serves: backup.json and the archive checked here
# (scripts/lib/backupcheck.sh), the archive copied to every member and checked there. Only then
# etcd2 is stopped on every member; the first member's data dir kept aside and replaced by the
# backup, started once with --force-new-cluster, then normally, its peer URL set back; each
# other member's data dir kept aside, and it joins again (member add, initial-cluster-state
# existing). The kept data dirs go once the restored cluster is healthy; a failure after the
# stop prints the commands that put them back. Asks first (like destroy).
# The current profile (ETCD_API=3): every member's data dir from a v3 snapshot, everything
# checked before anything stops (scripts/lib/etcd3backup.sh).
set -euo pipefail
shopt -s inherit_errexit
# shellcheck source=scripts/lib/usage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/usage.sh"
usage_check "$@"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=scripts/lib/controllers_health.sh
source scripts/lib/controllers_health.sh

# wait_member NAME IP WHAT COMMAND: run COMMAND on NAME until it succeeds, bounded by
# APPLY_TIMEOUT_SECONDS (etcd2 needs a moment to start or to be joined). Prints its output.
wait_member() {
  local name=$1 ip=$2 what=$3 cmd=$4 deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS)) out
  wait_begin "$name: $what" "$APPLY_TIMEOUT_SECONDS"
  while true; do
    if out=$(remote "$ip" "$cmd" 2>&1); then
      printf '%s\n' "$out"
      return 0
    fi
    ((SECONDS < deadline)) ||
      fail "$name: $what did not happen within ${APPLY_TIMEOUT_SECONDS}s: $(tr '\n' ' ' <<<"$out")"
    wait_sleep "$APPLY_POLL_SECONDS"
  done
}

# STOPPED: etcd2 was stopped on the members (the way back is owed from then on).
STOPPED=0

# fail WHY: stop; once etcd2 was stopped, with the commands that put the data before the
# restore back on every member (its data dir was kept aside: ETCD_KEPT_DIR).
fail() {
  if ((STOPPED == 0)); then
    die "$1; nothing was stopped or changed: fix the cause and re-run 'make restore BACKUP=$BACKUP'"
  fi
  local nn back=()
  for nn in "${!NAMES[@]}"; do
    back+=("ssh -o UserKnownHostsFile=$STATE_DIR/known_hosts $SSH_USER@${IPS[nn]} '$(etcd_way_back_cmd)'")
  done
  die "$1. etcd2 is stopped or partly restored. Either fix the cause and re-run" \
    "'make restore BACKUP=$BACKUP', or get back to the data before the restore (kept in" \
    "$ETCD_KEPT_DIR on each member) with, for each member in turn: ${back[*]}"
}

# on NAME IP WHAT COMMAND: COMMAND on NAME or stop.
on() {
  ssh_retry "$1" "$2" remote "$2" "$4" || fail "$1: $3 failed"
}

confirm() {
  log "the etcd data of $CLUSTER_NAME on $* will be REPLACED by $BACKUP" \
    "($(jq -r '"\(.keys) keys, taken \(.taken_at) from \(.member) of \(.cluster // "an unnamed cluster"),
      \(.members // .etcd_count) member(s), etcd \(.etcd_version // "of unrecorded version")"' <<<"$BACKUP_META" | tr -s ' \n' ' '))"
  [[ "${FORCE:-}" != 1 ]] || return 0
  [[ -t 0 ]] || die "not restoring: no terminal to confirm on; run 'make restore BACKUP=$BACKUP FORCE=1'"
  local answer=""
  read -r -p "Replace the etcd data of $CLUSTER_NAME? Type the cluster name ($CLUSTER_NAME) to confirm: " answer
  [[ "$answer" == "$CLUSTER_NAME" ]] || die "not confirmed: nothing changed"
}

# stage_archive: the archive on every member (home of SSH_USER), checked there against this
# copy's sha256; nothing is stopped before every member has it.
stage_archive() {
  local nn sha
  sha=$(sha256_of "$BACKUP/$ETCD_ARCHIVE")
  step "copying $ETCD_ARCHIVE to ${NAMES[*]} and checking it there (sha256 $sha)"
  for nn in "${!NAMES[@]}"; do
    ssh_retry "${NAMES[nn]}" "${IPS[nn]}" copy_to "${IPS[nn]}" "$BACKUP/$ETCD_ARCHIVE" ||
      fail "copying the backup to ${NAMES[nn]} failed"
    on "${NAMES[nn]}" "${IPS[nn]}" "checking the copied archive" "$(etcd_archive_check_cmd "$sha")"
  done
  step_done
}

main() {
  if [[ -z "${BACKUP:-}" ]]; then
    local latest
    latest=$(find "$BACKUP_ROOT" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sort | tail -n 1)
    [[ -n "$latest" ]] || die "which backup? there is none in $BACKUP_ROOT/: make backup makes one"
    die "which backup? e.g. the latest: make restore BACKUP=$latest (ls $BACKUP_ROOT lists them all)"
  fi
  BACKUP=${BACKUP%/}
  # the current profile's etcd v3 snapshot: checked here and on every member before anything
  # stops (scripts/lib/etcd3backup.sh)
  if ((ETCD_API == 3)); then
    apply_lock restore
    preflight --no-key
    # shellcheck disable=SC2034 # read by need_droplet
    CLUSTER_LIST=$(cluster_droplets)
    etcd3_restore
    return 0
  fi
  [[ -s "$BACKUP/$ETCD_ARCHIVE" && -s "$BACKUP/backup.json" ]] ||
    die "$BACKUP has no $ETCD_ARCHIVE and backup.json: not a backup made by make backup"
  backup_meta_verify "$BACKUP"
  backup_archive_verify "$BACKUP/$ETCD_ARCHIVE" member '^member/snap/' '^member/wal/[^/]+\.wal$'
  apply_lock restore
  preflight --no-key
  # shellcheck disable=SC2034 # read by need_droplet
  CLUSTER_LIST=$(cluster_droplets)
  NAMES=() IPS=()
  local privates=() name rec
  mapfile -t NAMES < <(etcd_names)
  for name in "${NAMES[@]}"; do
    rec=$(need_droplet "$name" etcd)
    IPS+=("$(field "$rec" public_ip)")
    privates+=("$(field "$rec" private_ip)")
  done
  confirm "${NAMES[@]}"
  stage_archive

  local nn
  step "stopping etcd2 on ${NAMES[*]}"
  STOPPED=1
  for nn in "${!NAMES[@]}"; do
    on "${NAMES[nn]}" "${IPS[nn]}" "stopping etcd2" "sudo systemctl stop etcd2"
  done
  step_done

  local founder=${NAMES[0]} ip=${IPS[0]} dropin dir=$BUILD_DIR/etcd-restore
  step "restoring the backup on $founder (its data dir kept aside; started once with --force-new-cluster)"
  mkdir -p "$dir"
  dropin=$dir/$(basename "$ETCD_RESTORE_DROPIN")
  etcd_restore_dropin >"$dropin"
  ssh_retry "$founder" "$ip" copy_to "$ip" "$dropin" || fail "copying the drop-in to $founder failed"
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
  for ((nn = 1; nn < ${#NAMES[@]}; nn++)); do
    name=${NAMES[nn]}
    member=$(etcd_member_name "$name")
    url=$(etcd_peer_url "${privates[nn]}")
    step "$name joins again (data dir kept aside, member add, initial-cluster-state existing)"
    on "$name" "${IPS[nn]}" "keeping its data dir aside" "$(etcd_keep_data_cmd)"
    on "$founder" "$ip" "member add $member" "$(etcd_local_cmd member add "$member" "$url")"
    initial+=",$member=$url"
    env=$dir/$name.env
    etcd_rejoin_env "$member" "$initial" >"$env"
    ssh_retry "$name" "${IPS[nn]}" copy_to "${IPS[nn]}" "$env" || fail "copying $env to $name failed"
    on "$name" "${IPS[nn]}" "starting etcd2" "sudo mv $(basename "$env") $ETCD_CLUSTER_ENV &&
      sudo chown root:root $ETCD_CLUSTER_ENV && sudo chmod 644 $ETCD_CLUSTER_ENV && sudo systemctl start etcd2"
    wait_member "$name" "${IPS[nn]}" "joining" "$(etcd_local_cmd member list)" >/dev/null
    step_done
  done

  # healthy again (every member, as the founder sees them): the kept data dirs and the
  # copies of the archive go
  local deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS))
  wait_begin "every member to be healthy" "$APPLY_TIMEOUT_SECONDS"
  for nn in "${!NAMES[@]}"; do
    until profile_etcd_member_ready "$ip" "${privates[nn]}"; do
      ((SECONDS < deadline)) || fail "${NAMES[nn]} is not healthy after ${APPLY_TIMEOUT_SECONDS}s"
      wait_sleep "$APPLY_POLL_SECONDS"
    done
  done
  for nn in "${!NAMES[@]}"; do
    on "${NAMES[nn]}" "${IPS[nn]}" "removing the kept data dir" \
      "sudo rm -rf $ETCD_KEPT_DIR && rm -f $ETCD_ARCHIVE"
  done
  local keys want
  keys=$(remote "$ip" "$(etcd_keys_cmd)" | key_count)
  want=$(jq -r .keys <<<"$BACKUP_META")
  summary "etcd of $CLUSTER_NAME restored from $BACKUP" \
    "members: ${NAMES[*]} (founder $founder)" \
    "keys: $keys now; the backup listed $want" \
    "next: make status"
}

main "$@"
