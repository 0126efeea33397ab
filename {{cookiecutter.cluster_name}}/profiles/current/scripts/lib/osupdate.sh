# shellcheck shell=bash
# make os-update in the current profile (profile_os_update, called by the shared
# scripts/os-update.sh): each Flatcar node rebooted into the update it downloaded, one node at
# a time.
#
# Flatcar updates itself: update-engine downloads each release of its channel to the passive
# partition; the reboot that swaps the partitions is the reboot manager's, locksmithd, which
# follows REBOOT_STRATEGY in /etc/flatcar/update.conf: reboot, etcd-lock, or off (locksmithd
# exits; flatcar.org/docs/latest/setup/releases/update-strategies, update-conf). The
# cloud-configs set coreos.update.reboot_strategy: Flatcar's coreos-cloudinit writes it into
# /etc/coreos/update.conf (/etc/coreos is a link to /etc/flatcar) and, for "off", stops and
# masks locksmithd.service (flatcar/coreos-cloudinit system/update.go). An update then waits:
# `update_engine_client -status` says CURRENT_OP=UPDATE_STATUS_UPDATED_NEED_REBOOT
# (flatcar/update_engine update_engine_client.cc) until this reboots the node.
#
# Order: the etcd members one at a time (before each, the other members must keep a quorum
# without it; after, it must be healthy again), then each controller (its apiserver's /readyz
# and its Node Ready awaited), then each worker: cordoned, drained (scripts/lib/drain.sh:
# PodDisruptionBudgets respected; a drain that fails uncordons it again and stops the run),
# rebooted, Ready, uncordoned. A reboot is done when the node's boot id changed. Nodes without
# a waiting update are skipped; FORCE=1 reboots every node (and drains regardless of budgets).
# Resumable as make upgrade is: state/os-update holds the run, each finished node records it
# (state key "os-update"; "reboot:RUN:BOOT_ID" from just before its reboot, so a re-run
# finishes that node's waits and uncordon even though no update waits on it any more).

OS_UPDATE_FILE=$STATE_DIR/os-update
OS_UPDATE_NEED_REBOOT=UPDATE_STATUS_UPDATED_NEED_REBOOT
OS_BOOT_ID=/proc/sys/kernel/random/boot_id

# _os_waiting NAME IP: the NEW_VERSION an update waits with on NAME (exit 1: none waits).
_os_waiting() {
  local out
  out=$(ssh_retry "$1" "$2" remote "$2" update_engine_client -status) ||
    die "$1: update_engine_client -status failed (see above); nothing was rebooted by this step"
  grep -qx "CURRENT_OP=$OS_UPDATE_NEED_REBOOT" <<<"$out" || return 1
  sed -n 's/^NEW_VERSION=//p' <<<"$out"
}

_os_boot_id() {
  remote "$1" cat "$OS_BOOT_ID" 2>/dev/null
}

# _os_due NAME IP: NAME is rebooted in this run (an update waits, FORCE=1, or its reboot was
# under way when a run stopped); says why not.
_os_due() {
  local name=$1 ip=$2 version
  ! node_done "$name" os-update "$OS_RUN" || return 1
  [[ "$(state_get "$name" os-update)" != "reboot:$OS_RUN:"* ]] || return 0
  if version=$(_os_waiting "$name" "$ip"); then
    log "$name: Flatcar $version waits for a reboot"
    return 0
  fi
  if [[ "${FORCE:-}" == 1 ]]; then
    log "$name: no update waits; rebooted anyway (FORCE=1)"
    return 0
  fi
  log "$name: no update waits (update_engine_client -status): skipped"
  return 1
}

# _os_reboot NAME IP: reboot NAME and wait until it is back with a new boot id. The boot id
# it had is kept in its state first: a re-run after an interruption finds out whether the
# reboot happened (another boot id) instead of rebooting it again.
_os_reboot() {
  local name=$1 ip=$2 before now rc=0 deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS)) kept
  before=$(ssh_retry "$name" "$ip" _os_boot_id "$ip") || die "$name: cannot read $OS_BOOT_ID"
  kept=$(state_get "$name" os-update)
  if [[ "$kept" == "reboot:$OS_RUN:"* && "${kept##*:}" != "$before" ]]; then
    log "$name: rebooted before this run stopped (boot id $before)"
    return 0
  fi
  state_set "$name" os-update "reboot:$OS_RUN:$before"
  # the connection may close under the command (ssh exit 255) as the node goes down
  remote "$ip" "sudo systemctl reboot" 2>&1 | indent || rc=$?
  ((rc == 0 || rc == 255)) || die "$name: sudo systemctl reboot failed (exit $rc)"
  wait_begin "$name: back from its reboot (a new boot id)" "$APPLY_TIMEOUT_SECONDS"
  until now=$(_os_boot_id "$ip") && [[ -n "$now" && "$now" != "$before" ]]; do
    ((SECONDS < deadline)) ||
      die "$name: not back from its reboot after ${APPLY_TIMEOUT_SECONDS}s (its console:" \
        "the DigitalOcean control panel); re-run 'make os-update' (it resumes at $name)"
    wait_sleep "$APPLY_POLL_SECONDS"
  done
  log "$name: back (boot id $now)"
}

# _os_etcd_health ASK_IP URL: [{name, healthy, ...}] of every member, asked at ASK_IP.
_os_etcd_health() {
  local list health
  list=$(remote "$1" "$(etcd3_member_list_cmd "$2")" 2>/dev/null) || return 1
  health=$(remote "$1" "$(etcd3_health_cmd "$2")" 2>/dev/null) || true
  etcd3_members "$list" "$health" ""
}

# _os_etcd_quorum NAME: the members but NAME keep a quorum without it (asked of one of them),
# else die before NAME goes down. A single member has none to keep: warned.
_os_etcd_quorum() {
  local name=$1 other ip private members count up
  if ((ETCD_COUNT == 1)); then
    warn "$name is the only etcd member: the apiserver(s) fail until it is back"
    return 0
  fi
  while IFS=$'\t' read -r other ip private; do
    [[ "$other" != "$name" ]] || continue
    members=$(_os_etcd_health "$ip" "$(etcd3_client_url "$private")") || continue
    count=$(jq length <<<"$members")
    up=$(jq --arg n "$(etcd_member_name "$name")" \
      '[.[] | select(.healthy and .name != $n)] | length' <<<"$members")
    ((up * 2 <= count)) || return 0
    die "rebooting $name would leave $up of $count etcd member(s) healthy: no quorum (asked" \
      "$other; down: $(jq -r '[.[] | select(.healthy | not) | .name] | join(" ")' <<<"$members"))." \
      "Bring them back first (make status; make etcd replaces a lost one); nothing was" \
      "rebooted by this step"
  done < <(_role_tsv "$ETCD_PREFIX")
  die "no etcd member but $name answers: rebooting it would stop etcd; nothing was rebooted"
}

# _os_etcd_back NAME PRIVATE: the member is healthy again (asked of itself: it serves again).
_os_etcd_back() {
  local name=$1 ip=$2 private=$3 deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS))
  wait_begin "$name: etcd member healthy" "$APPLY_TIMEOUT_SECONDS"
  until profile_etcd_member_ready "$ip" "$private"; do
    ((SECONDS < deadline)) ||
      die "$name: its etcd member is not healthy ${APPLY_TIMEOUT_SECONDS}s after the reboot" \
        "(on it: journalctl -u etcd); the other members are untouched. Re-run 'make os-update'"
    wait_sleep "$APPLY_POLL_SECONDS"
  done
}

# _os_node NAME PUBLIC PRIVATE ROLE
_os_node() {
  local name=$1 ip=$2 private=$3 role=$4
  _os_due "$name" "$ip" || return 0
  step "$name ($role): reboot"
  case $role in
    etcd)
      _os_etcd_quorum "$name"
      _os_reboot "$name" "$ip"
      _os_etcd_back "$name" "$ip" "$private"
      ;;
    controller)
      _os_reboot "$name" "$ip"
      await_readyz "$name" "$ip" ||
        die "$name: its apiserver is not ready ${APPLY_TIMEOUT_SECONDS}s after the reboot;" \
          "look at ssh core@$ip journalctl -u kubelet, then re-run 'make os-update'"
      node_wait_ready "$name"
      ;;
    worker)
      node_drain_or_die "$name" "nor rebooted (uncordoned again)" "make os-update" uncordon
      _os_reboot "$name" "$ip"
      node_wait_ready "$name"
      node_uncordon "$name" || die "$name: kubectl uncordon failed; re-run (it resumes)"
      ;;
  esac
  state_set "$name" os-update "$OS_RUN"
  REBOOTED+=("$name ($role)")
  step_done
}

profile_os_update() {
  apply_lock os-update
  day_two_begin
  if [[ -s "$OS_UPDATE_FILE" ]]; then
    read -r _ _ OS_RUN <"$OS_UPDATE_FILE"
    log "resuming the OS update run $OS_RUN: finished nodes are skipped"
  else
    OS_RUN=$(date +%s)
    mkdir -p "$STATE_DIR"
    echo "# os-update $OS_RUN" >"$OS_UPDATE_FILE"
  fi
  REBOOTED=()
  local role prefix name public private
  for role in etcd controller worker; do
    prefix=$ETCD_PREFIX
    [[ "$role" != controller ]] || prefix=$CONTROLLER_PREFIX
    [[ "$role" != worker ]] || prefix=$WORKER_PREFIX
    while IFS=$'\t' read -r name public private; do
      _os_node "$name" "$public" "$private" "$role"
    done < <(_role_tsv "$prefix")
  done
  rm -f "$OS_UPDATE_FILE"
  summary "$CLUSTER_NAME: OS update" \
    "rebooted: ${REBOOTED[*]:-none (no update waited; FORCE=1 reboots every node)}" \
    "check: make status"
}
