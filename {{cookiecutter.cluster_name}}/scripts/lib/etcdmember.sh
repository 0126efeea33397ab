# shellcheck shell=bash
# A lost member of a formed etcd cluster (its droplet deleted by hand, or re-created with a new
# private IP) is replaced on its own, the way the etcd runtime reconfiguration guide replaces a
# failed member: while the others keep the quorum, the old member is removed, the new droplet
# added (`member add`) and started with initial-cluster-state existing. Nothing else changes:
# the proxies of the controllers and workers learn the new membership from the cluster, so
# their user data, which named an earlier membership, is not stale (ETCD_PAST_FILE keeps every
# membership the cluster had). The profile does the etcd side through three hooks:
#   profile_etcd_member_ready IP PRIVATE_IP: true when the member at IP answers and reports
#     the member at PRIVATE_IP healthy (IP's own, or a survivor asking about a peer);
#   profile_etcd_member_join NAME PUBLIC_IP PRIVATE_IP OLD_URL SURVIVOR_IP MEMBERSHIP: remove
#     OLD_URL's member, add NAME's, deliver its settings (MEMBERSHIP, state existing), wait
#     until it serves;
#   profile_etcd_placeholders MEMBERSHIP: set the user-data placeholders a proxy had for that
#     membership (user_data_past compares a kept file with it).

# Every membership the cluster had before its current one (ETCD_CLUSTER_FILE), one a line.
ETCD_PAST_FILE=$STATE_DIR/etcd-past-clusters

# etcd_formed_url NAME: NAME's peer URL in the formed cluster (empty: not formed, not named).
etcd_formed_url() {
  [[ -s "$ETCD_CLUSTER_FILE" ]] || return 0
  tr ',' '\n' <"$ETCD_CLUSTER_FILE" | sed -n "s|^$(etcd_member_name "$1")=||p"
}

# etcd_lost_members LIST: members of the formed cluster whose droplet LIST (a droplet listing)
# lacks, or lists with another private IP than the membership has (not yet joined).
etcd_lost_members() {
  [[ -s "$ETCD_CLUSTER_FILE" ]] || return 0
  local list=$1 name url rec
  while IFS= read -r name; do
    url=$(etcd_formed_url "$name")
    [[ -n "$url" ]] || continue
    rec=$(record_of "$list" "$name")
    if [[ -z "$rec" || "$(etcd_peer_url "$(field "$rec" private_ip)")" != "$url" ]]; then
      echo "$name"
    fi
  done < <(etcd_names)
}

# etcd_formed_count: the members of the formed cluster.
etcd_formed_count() {
  tr ',' '\n' <"$ETCD_CLUSTER_FILE" | grep -c .
}

# etcd_lost_reason LOST...: why the cluster cannot run without make etcd, and the way out: a
# new member for each lost one while the others keep the quorum, else a restore.
etcd_lost_reason() {
  local formed left
  formed=$(etcd_formed_count)
  left=$((formed - $#))
  if ((left * 2 > formed)); then
    echo "etcd member(s) $* of the formed cluster are gone (deleted, or re-created and not" \
      "yet joined); the other $left of $formed keep the quorum and every other droplet is" \
      "fine: 'make etcd' replaces just $* (a new droplet joins the existing cluster:" \
      "member add, then etcd started with initial-cluster-state existing)"
  else
    echo "etcd member(s) $* of the formed cluster are gone: $left of $formed left, no quorum," \
      "so no member can join; bring etcd back from a backup: 'make destroy', 'make etcd" \
      "controller worker', then 'make restore BACKUP=$BACKUP_ROOT/<stamp>'"
  fi
}

# etcd_require_members TARGET: stop TARGET (controller, worker) while a member is lost: its
# proxies would be rendered with a member that has no address.
etcd_require_members() {
  local lost=()
  mapfile -t lost < <(etcd_lost_members "$CLUSTER_LIST")
  ((${#lost[@]} == 0)) || die "$(etcd_lost_reason "${lost[@]}"); then re-run 'make $1'"
}

# etcd_replace_check LOST...: before make etcd creates anything for the lost members: the
# survivors keep the quorum and one of them answers (ETCD_SURVIVOR_IP, read by etcd_replace).
ETCD_SURVIVOR_IP=""
etcd_replace_check() {
  local formed left name rec ip
  formed=$(etcd_formed_count)
  left=$((formed - $#))
  ((left * 2 > formed)) || die "$(etcd_lost_reason "$@")"
  declare -F profile_etcd_member_join >/dev/null ||
    die "$(etcd_lost_reason "$@"), but the $PROFILE profile cannot add a member yet"
  while IFS= read -r name; do
    [[ " $* " != *" $name "* ]] || continue
    rec=$(record_of "$CLUSTER_LIST" "$name")
    ip=$(field "$rec" public_ip)
    if profile_etcd_member_ready "$ip" "$(field "$rec" private_ip)"; then
      ETCD_SURVIVOR_IP=$ip
      log "replacing $*: $name answers and is healthy (it adds the new member)"
      return 0
    fi
  done < <(etcd_names)
  die "$(etcd_lost_reason "$@"), but no other member answers healthy now: see 'make status';" \
    "nothing was created"
}

# etcd_replace NAME: the new droplet NAME joins as a member (profile_etcd_member_join); the
# membership before it is kept in ETCD_PAST_FILE, the new one in ETCD_CLUSTER_FILE.
etcd_replace() {
  local name=$1 rec old new formed member
  rec=$(need_droplet "$name" etcd)
  old=$(etcd_formed_url "$name")
  member=$(etcd_member_name "$name")
  formed=$(<"$ETCD_CLUSTER_FILE")
  new=$(tr ',' '\n' <<<"$formed" |
    sed "s|^$member=.*|$member=$(etcd_peer_url "$(field "$rec" private_ip)")|" | paste -sd,)
  step "$name joins the etcd cluster as a new member (replacing $old)"
  profile_etcd_member_join "$name" "$(field "$rec" public_ip)" "$(field "$rec" private_ip)" \
    "$old" "$ETCD_SURVIVOR_IP" "$new" ||
    die "$name did not join the etcd cluster: fix the cause above and re-run 'make etcd'" \
      "(the other members keep serving)"
  grep -qxF "$formed" "$ETCD_PAST_FILE" 2>/dev/null || printf '%s\n' "$formed" >>"$ETCD_PAST_FILE"
  printf '%s\n' "$new" >"$ETCD_CLUSTER_FILE"
  step_done "membership now $new (the one before kept in $ETCD_PAST_FILE)"
}

# etcd_membership_known FILE: FILE (a node's kept user data) names the cluster's current or a
# past membership (a proxy learns the current one from the members).
etcd_membership_known() {
  local m
  while IFS= read -r m; do
    [[ -z "$m" ]] || ! grep -qF "$m" "$1" || return 0
  done < <(cat "$ETCD_CLUSTER_FILE" "$ETCD_PAST_FILE" 2>/dev/null)
  return 1
}

# user_data_past TEMPLATE FILE: FILE is TEMPLATE as rendered with a past membership of the
# cluster (and today's other placeholders): the droplet is not stale.
user_data_past() {
  local template=$1 file=$2 past
  [[ -s "$ETCD_PAST_FILE" ]] && declare -F profile_etcd_placeholders >/dev/null || return 1
  while IFS= read -r past; do
    if [[ "$(profile_etcd_placeholders "$past" && render_text "$template")" == "$(<"$file")" ]]; then
      return 0
    fi
  done <"$ETCD_PAST_FILE"
  return 1
}
