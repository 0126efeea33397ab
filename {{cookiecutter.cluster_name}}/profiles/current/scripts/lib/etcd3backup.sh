# shellcheck shell=bash
# make backup and make restore of the current profile (ETCD_API=3): an etcd v3 snapshot, the
# way etcd's disaster recovery guide takes and restores one
# (https://etcd.io/docs/v3.6/op-guide/recovery/); the remote commands are etcd3.sh's.
#
# backup: `etcdctl snapshot save` from the leader (else a healthy member), checked there with
# `etcdutl snapshot status`, its keys counted at the snapshot's revision, copied into
# backups/<stamp>/ (0700; files 0600, git-ignored) with backup.json: the cluster, the etcd
# version, the member count, the key count, whether it holds secrets and whether they are
# encrypted (the apiserver's k8s:enc: prefix), the snapshot's sha256.
# restore: everything checked before anything stops: the backup here (backup.json, size,
# sha256, the cluster it came from), then on every member the copied snapshot (etcdutl status:
# the same hash and revision) and its new data dir restored beside the live one (etcdutl
# checks the integrity hash). Only then, as Kubernetes' "Operating etcd clusters" asks, every
# controller's control plane stops (its static pods: staticpods.sh), etcd stops on every
# member, each data dir is moved aside and the restored one takes its place, every member
# starts; once the cluster is healthy the old data dirs go and the controllers' static pods and
# kubelets start again one at a time, each apiserver's /readyz awaited. A failure after the
# stop says how to put the old data and the control plane back.

ETCD3_METHOD="etcdctl snapshot save, etcdutl snapshot restore (https://etcd.io/docs/v3.6/op-guide/recovery/)"

# _etcd3_members_tsv: "NAME PUBLIC_IP PRIVATE_IP" of every member (each must exist).
_etcd3_members_tsv() {
  local name rec
  while IFS= read -r name; do
    rec=$(need_droplet "$name" etcd)
    printf '%s\t%s\t%s\n' "$name" "$(field "$rec" public_ip)" "$(field "$rec" private_ip)"
  done < <(etcd_names)
}

# _etcd3_source: "NAME PUBLIC_IP URL VERSION" of the member to snapshot: the leader as a
# member that answers sees it, else that member; empty when none answers.
_etcd3_source() {
  local name ip private url status leader rec
  while IFS= read -r name; do
    rec=$(record_of "$CLUSTER_LIST" "$name")
    [[ -n "$rec" ]] || continue
    ip=$(field "$rec" public_ip) private=$(field "$rec" private_ip)
    url=$(etcd3_client_url "$private")
    status=$(remote "$ip" "$(etcd3_status_cmd "$url")" 2>/dev/null) || true
    jq -e 'type == "array" and length > 0' <<<"$status" >/dev/null 2>&1 || {
      log "$name does not answer etcdctl endpoint status"
      continue
    }
    leader=$(jq -r '[.[] | select(.Status.leader == .Status.header.member_id) | .Endpoint][0] // ""' <<<"$status")
    [[ -n "$leader" ]] || leader=$url
    while IFS= read -r name; do
      rec=$(record_of "$CLUSTER_LIST" "$name")
      [[ -n "$rec" && "$(etcd3_client_url "$(field "$rec" private_ip)")" == "$leader" ]] || continue
      echo "$name $(field "$rec" public_ip) $leader $(jq -r --arg u "$leader" \
        '[.[] | select(.Endpoint == $u) | .Status.version][0] // "unknown"' <<<"$status")"
      return 0
    done < <(etcd_names)
    echo "$name $ip $url unknown"
    return 0
  done < <(etcd_names)
}

etcd3_backup() {
  local source name ip url version
  source=$(_etcd3_source)
  [[ -n "$source" ]] ||
    die "no etcd member of $CLUSTER_NAME answers ($(etcd_names | tr '\n' ' ')): nothing to back up; see make status"
  read -r name ip url version <<<"$source"
  local stamp dir err
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  dir=$BACKUP_ROOT/$stamp
  umask 077
  mkdir -p "$dir" "$LOG_DIR"
  chmod 700 "$BACKUP_ROOT" "$dir"
  err=$LOG_DIR/backup.err
  step "etcd snapshot of $name ($url, etcd $version) into $dir"
  local snap members keys secrets
  if ! remote "$ip" "$(etcd3_snapshot_save_cmd "$url" "$ETCD3_SNAPSHOT")" 2>"$err" ||
    ! snap=$(remote "$ip" "$(etcd3_snapshot_status_cmd "$ETCD3_SNAPSHOT")" 2>>"$err") ||
    ! members=$(remote "$ip" "$(etcd3_member_list_cmd "$url")" 2>>"$err") ||
    ! keys=$(remote "$ip" "$(etcd3_count_cmd "$url" "$(jq -r .revision <<<"$snap")" "")" 2>>"$err") ||
    ! secrets=$(remote "$ip" "$(etcd3_count_cmd "$url" "$(jq -r .revision <<<"$snap")" /registry/secrets/)" 2>>"$err") ||
    ! scp -q "${SSH_OPTS[@]}" "$SSH_USER@$ip:$ETCD3_SNAPSHOT" "$dir/$ETCD3_SNAPSHOT" 2>>"$err"; then
    rm -rf "$dir"
    remote "$ip" "rm -f $ETCD3_SNAPSHOT" >/dev/null 2>&1 || true
    die "the snapshot on $name failed: $(tr '\n' ' ' <"$err" | cut -c1-600); nothing kept"
  fi
  remote "$ip" "rm -f $ETCD3_SNAPSHOT" >/dev/null 2>>"$err" || true
  jq -n --arg cluster "$CLUSTER_NAME" --arg t "$stamp" --arg m "$name" --arg v "$version" \
    --arg n "$ETCD_COUNT" \
    --argjson snap "$snap" --argjson members "$members" --argjson keys "$keys" \
    --argjson secrets "$secrets" --arg f "$ETCD3_SNAPSHOT" --arg method "$ETCD3_METHOD" \
    --arg sha "$(sha256_of "$dir/$ETCD3_SNAPSHOT")" --arg enc "$(profile_backup_encryption)" \
    --arg bytes "$(wc -c <"$dir/$ETCD3_SNAPSHOT" | tr -d ' ')" '
    {cluster: $cluster, taken_at: $t, member: $m, etcd_version: $v,
     etcd_count: ($n | tonumber), members: ($members.members | length),
     member_names: [$members.members[].name], keys: ($keys.count // 0),
     revision: $snap.revision, hash: $snap.hash, secrets: ($secrets.count // 0),
     secrets_encrypted: (if ($secrets.count // 0) == 0 then null
       else ($secrets.kvs[0].value | @base64d | startswith("k8s:enc:")) end),
     encryption: ($enc | fromjson), snapshot: $f, archive_bytes: ($bytes | tonumber), archive_sha256: $sha,
     method: $method}' >"$dir/backup.json"
  chmod 600 "$dir"/*
  local summary_line
  summary_line=$(jq -r '"\(.keys) keys at revision \(.revision), \(.secrets) secret(s)\(if .secrets_encrypted == false then " (NOT encrypted at rest: the snapshot holds them in clear)" elif .secrets_encrypted then " (encrypted)" else "" end), \(.members) member(s), etcd \(.etcd_version)"' "$dir/backup.json")
  step_done "$summary_line"
  summary "backup $dir" \
    "$ETCD3_SNAPSHOT  $(jq -r .archive_bytes "$dir/backup.json") bytes (etcdctl snapshot save on $name; etcdutl snapshot status: hash $(jq -r .hash "$dir/backup.json"))" \
    "$summary_line" \
    "restore with: make restore BACKUP=$dir"
}

# etcd3_verify_local: BACKUP checked here before anything is touched: backup.json as every
# profile's (backup_meta_verify, scripts/lib/backupcheck.sh: its fields, this cluster's unless
# FORCE_OTHER_CLUSTER=1), then what a snapshot backup adds (revision, hash, the snapshot's
# name), and the snapshot itself: a plain file of the size and sha256 recorded.
etcd3_verify_local() {
  [[ -d "$BACKUP" && ! -L "$BACKUP" ]] ||
    die "BACKUP=$BACKUP is not a directory: make restore BACKUP=$BACKUP_ROOT/<stamp> (ls $BACKUP_ROOT); nothing was changed"
  local json=$BACKUP/backup.json snap=$BACKUP/$ETCD3_SNAPSHOT why bytes sha
  [[ -f "$json" && -f "$snap" && ! -L "$snap" ]] ||
    die "$BACKUP has no backup.json and $ETCD3_SNAPSHOT: not a backup of make backup (current profile); nothing was changed"
  backup_meta_verify "$BACKUP"
  why=$(jq -r --arg f "$ETCD3_SNAPSHOT" '[
      (if (.revision | type) != "number" then "revision (a number)" else empty end),
      (if (.hash | type) != "number" then "hash (a number)" else empty end),
      (if (.archive_bytes | type) != "number" then "archive_bytes (a number)" else empty end),
      (if (.archive_sha256 | type) != "string" then "archive_sha256 (64 hex digits)" else empty end),
      (if .snapshot != $f then "snapshot (\($f))" else empty end)
    ] | join(", ")' <<<"$BACKUP_META")
  [[ -z "$why" ]] ||
    die "$json lacks or garbles: $why; nothing was changed (not an etcd v3 snapshot backup)"
  bytes=$(wc -c <"$snap" | tr -d ' ')
  [[ "$bytes" == "$(jq -r .archive_bytes <<<"$BACKUP_META")" ]] ||
    die "$snap has $bytes bytes, backup.json says $(jq -r .archive_bytes <<<"$BACKUP_META"): truncated or replaced; nothing was changed"
  sha=$(sha256_of "$snap")
  [[ "$sha" == "$(jq -r .archive_sha256 <<<"$BACKUP_META")" ]] ||
    die "$snap's sha256 is $sha, backup.json says $(jq -r .archive_sha256 <<<"$BACKUP_META"): damaged; nothing was changed"
}

_etcd3_line() {
  tr '\n' ' ' <<<"$1" | cut -c1-300
}

# _etcd3_on NAME IP WHAT COMMAND [AFTER]: COMMAND on NAME, else stop with what failed and
# AFTER (what state the cluster is in, how to get back).
_etcd3_on() {
  local out rc=0
  out=$(remote "$2" "$4" 2>&1) || rc=$?
  ((rc == 0)) || die "$1: $3 failed (exit $rc): $(_etcd3_line "$out")${5:+; $5}"
  printf '%s\n' "$out"
}

# _etcd3_wait_healthy IP URL: until every member of the cluster at URL answers healthy and
# their number is ETCD_COUNT, bounded by APPLY_TIMEOUT_SECONDS; prints the last health.
_etcd3_wait_healthy() {
  local deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS)) health
  wait_begin "every etcd member healthy" "$APPLY_TIMEOUT_SECONDS"
  while true; do
    health=$(remote "$1" "$(etcd3_health_cmd "$2")" 2>&1) || true
    if jq -e --argjson n "$ETCD_COUNT" 'type == "array" and length == $n and all(.health)' \
      <<<"$health" >/dev/null 2>&1; then
      return 0
    fi
    ((SECONDS < deadline)) || {
      printf '%s\n' "$health"
      return 1
    }
    wait_sleep "$APPLY_POLL_SECONDS"
  done
}

etcd3_restore() {
  etcd3_verify_local
  local member_rows=() names=() member_ips=() privates=() name ip private initial="" nn url
  local controllers=() aside="$NODE_MANIFEST_DIR.restoring"
  mapfile -t controllers < <(_role_tsv "$CONTROLLER_PREFIX")
  if ((${#controllers[@]})); then
    # their apiservers are awaited after the restore: what that needs is checked first
    require_kubectl
    need_kubeconfig
  fi
  mapfile -t member_rows < <(_etcd3_members_tsv)
  for nn in "${!member_rows[@]}"; do
    IFS=$'\t' read -r name ip private <<<"${member_rows[nn]}"
    names+=("$name") member_ips+=("$ip") privates+=("$private")
    initial+="${initial:+,}$(etcd_member_name "$name")=$(etcd_peer_url "$private")"
  done
  local json=$BACKUP/backup.json hash revision
  hash=$(jq -r .hash "$json") revision=$(jq -r .revision "$json")
  log "the etcd data of $CLUSTER_NAME on ${names[*]} will be REPLACED by $BACKUP" \
    "($(jq -r '"\(.keys) keys, revision \(.revision), \(.members) member(s), etcd \(.etcd_version), taken \(.taken_at) from \(.member) of \(.cluster)"' "$json"))"
  if [[ "${FORCE:-}" != 1 ]]; then
    [[ -t 0 ]] || die "not restoring: no terminal to confirm on; run 'make restore BACKUP=$BACKUP FORCE=1'"
    local answer=""
    read -r -p "Replace the etcd data of $CLUSTER_NAME? Type the cluster name ($CLUSTER_NAME) to confirm: " answer
    [[ "$answer" == "$CLUSTER_NAME" ]] || die "not confirmed: nothing changed"
  fi

  local untouched="nothing was stopped: etcd serves as before"
  step "copying $ETCD3_SNAPSHOT to ${names[*]} and restoring each member's new data dir beside the live one"
  for nn in "${!names[@]}"; do
    name=${names[nn]} ip=${member_ips[nn]}
    ssh_retry "$name" "$ip" copy_to "$ip" "$BACKUP/$ETCD3_SNAPSHOT" ||
      die "copying the snapshot to $name failed; $untouched"
    local got
    got=$(_etcd3_on "$name" "$ip" "etcdutl snapshot status" "$(etcd3_snapshot_status_cmd "$ETCD3_SNAPSHOT")" "$untouched")
    jq -e --argjson h "$hash" --argjson r "$revision" '.hash == $h and .revision == $r' \
      <<<"$got" >/dev/null 2>&1 ||
      die "$name: the copied snapshot reads as $(_etcd3_line "$got"), the backup recorded hash $hash, revision $revision; $untouched"
    _etcd3_on "$name" "$ip" "etcdutl snapshot restore" "$(etcd3_restore_cmd "$ETCD3_SNAPSHOT" \
      "$(etcd_member_name "$name")" "$initial" "$(etcd_peer_url "${privates[nn]}")")" \
      "$untouched" >/dev/null
    log "$name: snapshot checked (hash $hash, revision $revision), restored into $ETCD3_DATA_DIR$ETCD3_RESTORED_SUFFIX"
  done
  step_done "${#names[@]} member(s) ready to switch"

  local undo back
  back="on every controller: $(static_pods_back_cmd "$aside")"
  undo="on every member: $(etcd3_undo_cmd) (its data before the restore is in $ETCD3_DATA_DIR$ETCD3_ASIDE_SUFFIX); then $back"
  _etcd3_control_plane_stop "$aside" "$back" "${controllers[@]}"
  step "stopping etcd on ${names[*]}, switching the data dirs (the old ones kept aside), starting"
  for nn in "${!names[@]}"; do
    _etcd3_on "${names[nn]}" "${member_ips[nn]}" "stopping etcd" "sudo systemctl stop etcd" \
      "etcd may be stopped on some members: sudo systemctl start --no-block etcd there" >/dev/null
  done
  for nn in "${!names[@]}"; do
    _etcd3_on "${names[nn]}" "${member_ips[nn]}" "switching the data dir" "$(etcd3_swap_cmd)" "$undo" >/dev/null
  done
  # --no-block: a member is ready only with a quorum, so each start must not wait for it
  for nn in "${!names[@]}"; do
    _etcd3_on "${names[nn]}" "${member_ips[nn]}" "starting etcd" "sudo systemctl start --no-block etcd" "$undo" >/dev/null
  done
  url=$(etcd3_client_url "${privates[0]}")
  local health
  health=$(_etcd3_wait_healthy "${member_ips[0]}" "$url") ||
    die "the restored cluster is not healthy within ${APPLY_TIMEOUT_SECONDS}s: $(_etcd3_line "$health"); to put the old data back, $undo"
  step_done "${#names[@]} of $ETCD_COUNT member(s) healthy"

  local keys
  keys=$(_etcd3_on "${names[0]}" "${member_ips[0]}" "counting the keys" "$(etcd3_count_cmd "$url" 0 "")" | jq -r '.count // 0')
  for nn in "${!names[@]}"; do
    remote "${member_ips[nn]}" "$(etcd3_drop_aside_cmd)" >/dev/null 2>&1 ||
      log "${names[nn]}: the old data dir $ETCD3_DATA_DIR$ETCD3_ASIDE_SUFFIX stays (could not remove it)"
  done
  _etcd3_control_plane_start "$aside" "${controllers[@]}"
  summary "etcd of $CLUSTER_NAME restored from $BACKUP" \
    "members: ${names[*]} (each data dir from the same snapshot, initial cluster $initial)" \
    "keys: $keys now; the backup recorded $(jq -r .keys "$json") at revision $revision" \
    "control plane: ${#controllers[@]} controller(s) restarted one at a time, each apiserver ready" \
    "next: make status"
}

# _etcd3_control_plane_stop ASIDE BACK ROW...: every controller's static pods stopped (their
# manifests moved into ASIDE; BACK says how to start them again) before etcd stops.
_etcd3_control_plane_stop() {
  local aside=$1 back=$2 row name ip
  shift 2
  (($#)) || return 0
  step "stopping the control plane (static pods) on every controller: no apiserver serves or caches etcd while its data is replaced"
  for row in "$@"; do
    IFS=$'\t' read -r name ip _ <<<"$row"
    _etcd3_on "$name" "$ip" "stopping the static pods" "$(static_pods_aside_cmd "$aside")" \
      "etcd is untouched; start the control plane again $back, or re-run make restore" >/dev/null
  done
  static_pods_stopped "the controllers"
  step_done "$# controller(s): manifests in $aside"
}

# _etcd3_control_plane_start ASIDE ROW...: each controller's static pods and kubelet started
# again, one at a time, its apiserver's /readyz awaited before the next.
_etcd3_control_plane_start() {
  local aside=$1 row name ip
  shift
  for row in "$@"; do
    IFS=$'\t' read -r name ip _ <<<"$row"
    step "$name: control plane started again on the restored data"
    _etcd3_on "$name" "$ip" "starting the static pods" "$(static_pods_back_cmd "$aside")" \
      "etcd is restored; re-run make restore or start them by hand" >/dev/null
    await_readyz "$name" "$ip" ||
      die "$name: its apiserver is not ready after ${APPLY_TIMEOUT_SECONDS}s on the restored etcd; look at ssh core@$ip journalctl -u kubelet"
    step_done
  done
}
