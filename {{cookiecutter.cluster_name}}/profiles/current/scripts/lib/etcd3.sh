# shellcheck shell=bash
# etcd v3 on the current profile's members, over mTLS with the member's own certificate
# (clientAuth beside serverAuth): what make status, make backup and make restore run there.
# The release's etcdctl and etcdutl sit beside etcd in /opt/bin (etcd-install.service); etcd
# listens on the private IP only. Backup and restore follow etcd's v3 disaster recovery guide
# (https://etcd.io/docs/v3.6/op-guide/recovery/): `etcdctl snapshot save` from a healthy
# member, checked with `etcdutl snapshot status`; every member's data dir re-created from the
# same snapshot by `etcdutl snapshot restore --name --initial-cluster --initial-cluster-token
# --initial-advertise-peer-urls`, then every member started. One function per remote command,
# so the real-etcd tests run the very same text (tests/integration/test_current_etcd_backup.py).

# shellcheck disable=SC2034 # read by backup.sh, restore.sh and status.sh through the hooks
{
  ETCD3_ETCDCTL=/opt/bin/etcdctl
  ETCD3_ETCDUTL=/opt/bin/etcdutl
  # the unit's --data-dir; a restore writes the new one beside it and keeps the old one aside
  ETCD3_DATA_DIR=/var/lib/etcd
  ETCD3_RESTORED_SUFFIX=.restored
  ETCD3_ASIDE_SUFFIX=.before-restore
  # the snapshot's name in backups/<stamp>/ and in the login user's home on the members
  ETCD3_SNAPSHOT=etcd-snapshot.db
}

# etcd3_ctl ENDPOINTS ARGS...: etcdctl (v3) as root on a member, with its certificate.
etcd3_ctl() {
  local endpoints=$1
  shift
  echo "sudo $ETCD3_ETCDCTL --endpoints=$endpoints --cacert=$ETCD_PKI_DIR/ca.pem" \
    "--cert=$ETCD_PKI_DIR/etcd.pem --key=$ETCD_PKI_DIR/etcd-key.pem --dial-timeout=3s" \
    "--command-timeout=5s $*"
}

# etcd3_client_url PRIVATE_IP: a member's client URL (its --advertise-client-urls).
etcd3_client_url() {
  echo "https://$1:$ETCD_CLIENT_PORT"
}

# etcd3_member_list_cmd URL / etcd3_health_cmd URL / etcd3_status_cmd URL: the membership as
# the member at URL knows it, and every member's health and status (--cluster: the endpoints
# of that membership, so a member the droplets do not show is seen too). JSON on stdout; a
# member that does not answer is health false (health) or missing (status), exit status 1.
etcd3_member_list_cmd() {
  etcd3_ctl "$1" member list -w json
}

etcd3_health_cmd() {
  etcd3_ctl "$1" endpoint health --cluster -w json
}

etcd3_status_cmd() {
  etcd3_ctl "$1" endpoint status --cluster -w json
}

# etcd3_members LIST HEALTH STATUS: [{name, id, endpoint, healthy, leader, version, error}]
# from those three outputs (etcdctl's JSON: member list's members[].ID/name/clientURLs,
# endpoint health's [{endpoint, health, error}], endpoint status's [{Endpoint, Status: {header:
# {member_id}, leader, version}}]); a member without a client URL has not started yet.
etcd3_members() {
  jq -nc --arg l "$1" --arg h "$2" --arg s "$3" '
    def parsed($t): ($t | try fromjson catch null);
    (parsed($h) // [] | map({(.endpoint): .}) | add // {}) as $health
    | (parsed($s) // [] | map({(.Endpoint): .Status}) | add // {}) as $status
    | [parsed($l).members // [] | .[]
       | (.clientURLs // [])[0] as $url
       | {name: (.name | if . == "" then "(not started)" else . end), id: (.ID | tostring),
          endpoint: $url,
          healthy: ($health[$url // ""].health == true),
          leader: ($status[$url // ""] as $st | $st != null and $st.leader == $st.header.member_id),
          version: ($status[$url // ""].version // null),
          error: ($health[$url // ""].error // null)}]'
}

# etcd3_snapshot_save_cmd URL FILE: the member's keyspace saved to FILE (root, 0600: etcdctl
# writes it so), then made the login user's, for scp.
etcd3_snapshot_save_cmd() {
  echo "rm -f $2 && $(etcd3_ctl "$1" snapshot save "$2") >/dev/null && sudo chown $SSH_USER $2"
}

# etcd3_snapshot_status_cmd FILE: etcdutl's check of a snapshot (hash, revision, totalKey,
# totalSize; it fails on a file that is not an etcd v3 database).
etcd3_snapshot_status_cmd() {
  echo "sudo $ETCD3_ETCDUTL snapshot status $1 -w json"
}

# etcd3_count_cmd URL REVISION PREFIX: the keys under PREFIX at REVISION ("" and --prefix:
# every key), with the first one's value: the response's count is the range's whole size
# even with --limit (etcdserverpb RangeResponse.count; left out of the JSON when 0).
etcd3_count_cmd() {
  etcd3_ctl "$1" get "'$3'" --prefix --limit=1 --rev="$2" -w json
}

# etcd3_restore_cmd FILE MEMBER INITIAL_CLUSTER PEER_URL: the member's new data dir from the
# snapshot, beside the live one (ETCD3_DATA_DIR + ETCD3_RESTORED_SUFFIX; a leftover of an
# earlier attempt is removed first). etcdutl checks the snapshot's integrity hash; the live
# data dir is untouched, so this runs before anything is stopped.
etcd3_restore_cmd() {
  local target=$ETCD3_DATA_DIR$ETCD3_RESTORED_SUFFIX
  echo "sudo rm -rf $target && sudo $ETCD3_ETCDUTL snapshot restore $1 --name $2" \
    "--initial-cluster $3 --initial-cluster-token $CLUSTER_NAME" \
    "--initial-advertise-peer-urls $4 --data-dir $target >/dev/null &&" \
    "sudo chmod 700 $target && rm -f $1"
}

# etcd3_swap_cmd: with etcd stopped, the live data dir moved aside and the restored one in its
# place (a previous aside copy is replaced only once this one exists).
etcd3_swap_cmd() {
  local dir=$ETCD3_DATA_DIR
  echo "sudo test -d $dir$ETCD3_RESTORED_SUFFIX && sudo rm -rf $dir$ETCD3_ASIDE_SUFFIX &&" \
    "sudo mv $dir $dir$ETCD3_ASIDE_SUFFIX && sudo mv $dir$ETCD3_RESTORED_SUFFIX $dir"
}

# etcd3_undo_cmd: how to get a member's previous data back (told when a restore fails late).
etcd3_undo_cmd() {
  local dir=$ETCD3_DATA_DIR
  echo "sudo systemctl stop etcd && sudo rm -rf $dir && sudo mv $dir$ETCD3_ASIDE_SUFFIX $dir" \
    "&& sudo systemctl start --no-block etcd"
}

# etcd3_drop_aside_cmd: once the restored cluster is healthy, the old data dir goes.
etcd3_drop_aside_cmd() {
  echo "sudo rm -rf $ETCD3_DATA_DIR$ETCD3_ASIDE_SUFFIX"
}

# check_etcd_members: make status's etcd layer: every member's health, the leader and the
# member count against ETCD_COUNT, asked (etcdctl v3 over mTLS: member list, endpoint health
# and status --cluster) of the first member that answers.
check_etcd_members() {
  local name ip="" url="" list="" health status asked="" tried=() rc
  while IFS= read -r name; do
    ip=$(_ip_of "$name" public_ip)
    if [[ -z "$ip" ]]; then
      tried+=("$name: no droplet")
      continue
    fi
    url=$(etcd3_client_url "$(_ip_of "$name" private_ip)")
    rc=0
    list=$(remote "$ip" "$(etcd3_member_list_cmd "$url")" 2>&1) || rc=$?
    if ((rc == 0)); then
      asked=$name
      break
    fi
    tried+=("$name: $(_one_line "$list")")
  done < <(etcd_names)
  if [[ -z "$asked" ]]; then
    layer etcd-members FAIL "no etcd member answers etcdctl (make etcd creates or replaces" \
      "them; with none left, make restore)" "${tried[@]}"
    return 0
  fi
  health=$(remote "$ip" "$(etcd3_health_cmd "$url")" 2>/dev/null) || true
  status=$(remote "$ip" "$(etcd3_status_cmd "$url")" 2>/dev/null) || true
  local members count up leader version items=()
  members=$(etcd3_members "$list" "$health" "$status")
  count=$(jq length <<<"$members")
  up=$(jq '[.[] | select(.healthy)] | length' <<<"$members")
  leader=$(jq -r '[.[] | select(.leader) | .name][0] // ""' <<<"$members")
  version=$(jq -r '[.[] | .version // empty][0] // "?"' <<<"$members")
  mapfile -t items < <(jq -r '.[] | "\(.name) (\(.id)) \(.endpoint // "-"): \(if .healthy
    then "healthy" else "UNHEALTHY\(if .error then " (\(.error))" else "" end)" end)\(if .leader
    then ", leader" else "" end)"' <<<"$members")
  items+=("asked: $asked (etcdctl v3, its own certificate)")
  local status_word detail
  if ((up * 2 <= count)) || [[ -z "$leader" ]]; then
    status_word=FAIL
    detail="$up of $count member(s) healthy, leader: ${leader:-none}: no quorum; bring members back (make etcd), else make restore"
  elif ((count != ETCD_COUNT)); then
    status_word=FAIL
    detail="the cluster has $count member(s), ETCD_COUNT is $ETCD_COUNT ($up healthy, leader $leader): re-run make etcd, or make restore from a backup of $ETCD_COUNT"
  elif ((up < count)); then
    status_word=WARN
    detail="$up of $count member(s) healthy, leader $leader: the quorum holds; bring back $(jq -r '[.[] | select(.healthy | not) | .name] | join(" ")' <<<"$members") (make etcd)"
  else
    status_word=OK
    detail="$up of $ETCD_COUNT member(s) healthy, leader $leader (etcd $version)"
  fi
  layer etcd-members "$status_word" "$detail" "${items[@]}"
  LAYER_JSON[-1]=$(jq -c --argjson m "$members" --arg l "$leader" \
    '. + {members: $m, leader: (if $l == "" then null else $l end)}' <<<"${LAYER_JSON[-1]}")
}

# The hooks of scripts/lib/etcdmember.sh (a lost member replaced on its own), in etcd v3:
#
# profile_etcd_placeholders MEMBERSHIP: the controller's ETCD_ENDPOINTS for that membership
# (each member's client URL).
profile_etcd_placeholders() {
  local item urls=()
  while IFS= read -r item; do
    [[ -n "$item" ]] || continue
    item=${item#*=https://}
    urls+=("$(etcd3_client_url "${item%:*}")")
  done < <(tr ',' '\n' <<<"$1")
  local IFS=,
  ETCD_ENDPOINTS="${urls[*]}"
  export ETCD_ENDPOINTS
}

# profile_etcd_member_ready IP PRIVATE_IP: the member at IP (its etcdctl and certificate)
# finds the member whose client URL is at PRIVATE_IP healthy (a quorum read there).
profile_etcd_member_ready() {
  local out
  out=$(remote "$1" "$(etcd3_ctl "$(etcd3_client_url "$2")" endpoint health -w json)" 2>/dev/null) ||
    return 1
  jq -e 'type == "array" and length == 1 and .[0].health == true' <<<"$out" >/dev/null 2>&1
}

# profile_etcd_member_join NAME PUBLIC_IP PRIVATE_IP OLD_URL SURVIVOR_IP MEMBERSHIP: etcd's
# "replace a failed member" (https://etcd.io/docs/v3.6/op-guide/runtime-configuration/)
# through the survivor: the member at OLD_URL removed, NAME added at its peer URL (each step
# skipped when done before), NAME's ETCD_CLUSTER_ENV (MEMBERSHIP, initial-cluster-state
# existing) delivered, then a wait until the survivor finds it healthy.
profile_etcd_member_join() {
  local name=$1 public=$2 private=$3 old=$4 survivor=$5 membership=$6 member url list id at
  member=$(etcd_member_name "$name")
  url=$(etcd_peer_url "$private")
  at=$(etcd3_client_url "$(jq -r --arg ip "$survivor" \
    '[.[] | select(.public_ip == $ip) | .private_ip][0] // ""' <<<"$CLUSTER_LIST")")
  # etcdctl v3 member list -w simple: "ID, STATUS, NAME, PEER ADDRS, CLIENT ADDRS, IS LEARNER"
  # with the ID in hex, as member remove takes it
  list=$(remote "$survivor" "$(etcd3_ctl "$at" member list -w simple)") || return 1
  id=$(awk -F', ' -v u="$old" '$4 == u { print $1 }' <<<"$list")
  if [[ -n "$id" && "$old" != "$url" ]]; then
    log "$name: removing the lost member $id ($old)"
    remote "$survivor" "$(etcd3_ctl "$at" member remove "$id")" >/dev/null || return 1
  fi
  if ! awk -F', ' -v u="$url" '$4 == u { found = 1 } END { exit !found }' <<<"$list"; then
    log "$name: member add $member --peer-urls=$url"
    remote "$survivor" "$(etcd3_ctl "$at" member add "$member" --peer-urls="$url")" >/dev/null ||
      return 1
  fi
  deliver_initial_cluster "$name" "$public" "$member" "$membership" existing || return 1
  local deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS))
  until profile_etcd_member_ready "$survivor" "$private"; do
    if ((SECONDS >= deadline)); then
      log "ERROR: $name is not healthy after ${APPLY_TIMEOUT_SECONDS}s (on it: journalctl -u etcd)"
      return 1
    fi
    sleep "$APPLY_POLL_SECONDS"
  done
}
