#!/usr/bin/env bash
# make backup: a consistent etcd v2 backup (`etcdctl backup`, scripts/lib/etcdbackup.sh) of the
# leader (else a healthy member), over ssh, into backups/<UTC stamp>/ (0700, files
# 0600, git-ignored): the data dir archive, the list of its keys, and backup.json.
# The current profile (ETCD_API=3): an etcd v3 snapshot instead (scripts/lib/etcd3backup.sh).
set -euo pipefail
shopt -s inherit_errexit
# shellcheck source=scripts/lib/usage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/usage.sh"
usage_check "$@"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# backup_member: "NAME PUBLIC_IP" of the member to back up: the leader when a healthy member
# names one (it has persisted the commit index of every write it acknowledged; a follower's
# data dir can trail it by a heartbeat), else the first healthy member; empty when none is.
backup_member() {
  local name rec ip private out healthy="" leader
  while IFS= read -r name; do
    rec=$(record_of "$CLUSTER_LIST" "$name")
    [[ -n "$rec" ]] || continue
    ip=$(field "$rec" public_ip)
    private=$(field "$rec" private_ip)
    out=$(remote "$ip" sudo etcdctl --ca-file "$ETCD_SSL_DIR/ca.pem" --cert-file \
      "$ETCD_SSL_DIR/etcd.pem" --key-file "$ETCD_SSL_DIR/etcd-key.pem" cluster-health 2>&1) || true
    if grep -q "is healthy: got healthy result from https://$private:" <<<"$out"; then
      healthy="$name $ip"
      break
    fi
    log "$name is not healthy: $(tr '\n' ' ' <<<"$out" | cut -c1-200)"
  done < <(etcd_names)
  [[ -n "$healthy" ]] || return 0
  leader=$(remote "${healthy#* }" "$(etcd_local_cmd member list)" 2>/dev/null |
    sed -n 's/^[0-9a-f]*: name=\([^ ]*\) .*isLeader=true$/\1/p' | head -n1) || true
  while IFS= read -r name; do
    if [[ -n "$leader" && "$(etcd_member_name "$name")" == "$leader" ]]; then
      rec=$(record_of "$CLUSTER_LIST" "$name")
      echo "$name $(field "$rec" public_ip)"
      return 0
    fi
  done < <(etcd_names)
  echo "$healthy"
}

main() {
  apply_lock backup
  preflight --no-key
  CLUSTER_LIST=$(cluster_droplets)
  # the current profile's etcd v3 snapshot (scripts/lib/etcd3backup.sh)
  if ((ETCD_API == 3)); then
    etcd3_backup
    return 0
  fi
  local member name ip
  member=$(backup_member)
  [[ -n "$member" ]] ||
    die "no etcd member of $CLUSTER_NAME is healthy ($(etcd_names | tr '\n' ' ')): nothing to back up; see make status"
  read -r name ip <<<"$member"

  local stamp dir
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  dir=$BACKUP_ROOT/$stamp
  umask 077
  mkdir -p "$dir" "$LOG_DIR"
  chmod 700 "$BACKUP_ROOT" "$dir"
  step "etcd v2 backup of $name ($ETCD_DATA_DIR, etcdctl backup) into $dir"
  # the key list first, then a synced write, then the copy: every listed key is in the copy
  if ! remote "$ip" "$(etcd_keys_cmd)" >"$dir/$ETCD_KEY_LIST" 2>"$LOG_DIR/backup.err" ||
    ! remote "$ip" "$(etcd_sync_cmd "$stamp")" >/dev/null 2>>"$LOG_DIR/backup.err" ||
    ! remote "$ip" "$(etcd_backup_cmd)" >"$dir/$ETCD_ARCHIVE" 2>>"$LOG_DIR/backup.err" ||
    [[ ! -s "$dir/$ETCD_ARCHIVE" ]]; then
    rm -rf "$dir"
    die "the backup on $name failed: $(tr '\n' ' ' <"$LOG_DIR/backup.err"); nothing kept"
  fi
  local keys bytes members version
  keys=$(key_count <"$dir/$ETCD_KEY_LIST")
  bytes=$(wc -c <"$dir/$ETCD_ARCHIVE" | tr -d ' ')
  # what make restore checks before it stops anything: whose, which etcd, how many members
  members=$(remote "$ip" "$(etcd_local_cmd member list)" 2>/dev/null | grep -c '^[0-9a-f]' || true)
  version=$(remote "$ip" "$(etcd_version_cmd)" 2>/dev/null |
    sed -nE 's/^etcdctl version:? v?([0-9][0-9.]*).*/\1/p' | head -n1 || true)
  jq -n --arg m "$name" --arg t "$stamp" --arg k "$keys" --arg b "$bytes" \
    --arg n "$ETCD_COUNT" --arg c "$(cat "$ETCD_CLUSTER_FILE" 2>/dev/null || true)" \
    --arg enc "$(profile_backup_encryption)" \
    --arg cluster "$CLUSTER_NAME" --arg v "${version:-unknown}" --arg mc "$members" \
    --arg sha "$(sha256_of "$dir/$ETCD_ARCHIVE")" \
    '{cluster: $cluster, member: $m, taken_at: $t, keys: ($k | tonumber),
      members: ($mc | tonumber), etcd_version: $v, archive_bytes: ($b | tonumber),
      archive_sha256: $sha, etcd_count: ($n | tonumber), initial_cluster: $c, encryption: ($enc | fromjson),
      method: "etcdctl backup (etcd v2 admin guide)"}' >"$dir/backup.json"
  chmod 600 "$dir"/*
  step_done "$bytes bytes, $keys keys, $members member(s), etcd ${version:-unknown}"
  summary "backup $dir" \
    "of $CLUSTER_NAME: $members etcd member(s), etcd ${version:-of unknown version} (backup.json)" \
    "$ETCD_ARCHIVE  $bytes bytes (etcdctl backup of $name's $ETCD_DATA_DIR)" \
    "$ETCD_KEY_LIST  $keys keys (etcdctl ls --recursive on $name just before the copy)" \
    "Secrets: $(jq -r .note <<<"$(profile_backup_encryption)")" \
    "restore with: make restore BACKUP=$dir"
}

main "$@"
