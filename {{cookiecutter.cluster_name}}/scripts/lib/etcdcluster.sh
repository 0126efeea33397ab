# shellcheck shell=bash
# The etcd members: ETCD_COUNT=1 is the tutorial's single member (its user data names it and
# its initial cluster); 3 or 5 form a static cluster. Its members' peer URLs are private IPs
# that exist only once the droplets do, and user data cannot change: `make etcd` creates all
# members in one call, then delivers each its name and the initial cluster over ssh as
# ETCD_CLUSTER_ENV, which etcd2 waits for (etcd-cluster-ready.service). No discovery service.
# The size never changes (a changed ETCD_COUNT on an existing cluster is refused); a lost
# member is replaced by a new one joining the running cluster (scripts/lib/etcdmember.sh).

# The initial cluster as delivered (the cluster's membership since it formed).
ETCD_CLUSTER_FILE=$STATE_DIR/etcd-initial-cluster

# etcd_names: the members' droplet names, ETCD_PREFIX-01 .. ETCD_COUNT.
etcd_names() {
  local nn
  for ((nn = 1; nn <= ETCD_COUNT; nn++)); do
    printf '%s-%02d\n' "$ETCD_PREFIX" "$nn"
  done
}

# etcd_member_name DROPLET: its etcd name: the tutorial's ETCD_MEMBER for the single member,
# the droplet name in a static cluster.
etcd_member_name() {
  if ((ETCD_COUNT == 1)); then echo "$ETCD_MEMBER"; else echo "$1"; fi
}

# etcd_cert_base DROPLET: its certificate's name in pki/: etcd (single member), etcd-NN.
etcd_cert_base() {
  if ((ETCD_COUNT == 1)); then echo etcd; else echo "etcd-${1##*-}"; fi
}

# etcd_existing: the etcd members CLUSTER_LIST shows (ETCD_PREFIX-NN, whatever ETCD_COUNT).
etcd_existing() {
  jq -r --arg p "$ETCD_PREFIX-" '[.[] | select(.name | startswith($p))
    | select(.name | ltrimstr($p) | test("^[0-9]{2}$")) | .name] | sort | .[]' <<<"$CLUSTER_LIST"
}

# etcd_check_count: stop when the cluster's etcd has another size than ETCD_COUNT: a member
# that is not among etcd_names, a formed cluster (initial cluster delivered, or a single member
# that named itself at boot) of another size.
etcd_check_count() {
  local existing=() name formed="" want
  mapfile -t existing < <(etcd_existing)
  ((${#existing[@]})) || return 0
  if [[ -s "$ETCD_CLUSTER_FILE" ]]; then
    formed=$(tr ',' '\n' <"$ETCD_CLUSTER_FILE" | grep -c .)
  elif [[ -f "$USER_DATA_DIR/${existing[0]}.yaml" ]] &&
    grep -q '^ *initial-cluster:' "$USER_DATA_DIR/${existing[0]}.yaml"; then
    formed=1
  fi
  want=" $(etcd_names | tr '\n' ' ')"
  for name in "${existing[@]}"; do
    [[ "$want" == *" $name "* ]] || formed=${formed:-${#existing[@]}}
  done
  if [[ -n "$formed" ]] && ((formed != ETCD_COUNT)); then
    die "ETCD_COUNT=$ETCD_COUNT but the etcd cluster of $CLUSTER_NAME was formed with $formed" \
      "member(s) (${existing[*]}): members cannot be added or removed (a lost member is" \
      "replaced, the size is fixed). Keep etcd_count=$formed (re-bake with it over" \
      "this repo's pki/ and state/), or 'make backup', 'make destroy' and re-create the cluster"
  fi
}

# etcd_initial_cluster: every member's NAME=peer URL (their private IPs), comma-separated.
etcd_initial_cluster() {
  local name rec out=()
  while IFS= read -r name; do
    rec=$(need_droplet "$name" etcd)
    out+=("$(etcd_member_name "$name")=$(etcd_peer_url "$(field "$rec" private_ip)")")
  done < <(etcd_names)
  local IFS=,
  echo "${out[*]}"
}

# etcd_proxy_peers: what the proxies' ETCD_PEER becomes: the single member's peer URL (the
# template prefixes its name, as the tutorial does), else the whole initial cluster.
etcd_proxy_peers() {
  if ((ETCD_COUNT == 1)); then
    local rec
    rec=$(need_droplet "$ETCD_NAME" etcd)
    etcd_peer_url "$(field "$rec" private_ip)"
  else
    etcd_initial_cluster
  fi
}

# etcd_cluster_env MEMBER INITIAL_CLUSTER: the environment a static cluster's member starts
# etcd2 with (etcd's ETCD_<FLAG> variables).
etcd_cluster_env() {
  printf 'ETCD_NAME=%s\nETCD_INITIAL_CLUSTER=%s\n' "$1" "$2"
}

# deliver_initial_cluster NAME IP MEMBER INITIAL_CLUSTER [existing]: ETCD_CLUSTER_ENV on NAME
# (root, 0644), over scp/ssh; with `existing` for a member joining a running cluster
# (etcd_rejoin_env). Skipped when this very file was delivered before (etcd_cluster_sha256).
deliver_initial_cluster() {
  local name=$1 ip=$2 dir=$BUILD_DIR/etcd-cluster sha file
  mkdir -p "$dir"
  file=$dir/$name.env
  if [[ "${5:-}" == existing ]]; then
    etcd_rejoin_env "$3" "$4" >"$file"
  else
    etcd_cluster_env "$3" "$4" >"$file"
  fi
  sha=$(sha256_of "$file")
  if [[ "$(state_get "$name" etcd_cluster_sha256)" == "$sha" ]]; then
    log "$name: initial cluster already delivered"
    return 0
  fi
  log "$name: copying $(basename "$file") (member $3) to $SSH_USER@$ip:~"
  ssh_retry "$name" "$ip" copy_to "$ip" "$file" || return 1
  log "$name: installing it as $ETCD_CLUSTER_ENV (root, 0644): etcd2 starts with it"
  ssh_retry "$name" "$ip" remote "$ip" "sudo mv $(basename "$file") $ETCD_CLUSTER_ENV &&" \
    "sudo chown root:root $ETCD_CLUSTER_ENV && sudo chmod 644 $ETCD_CLUSTER_ENV" || return 1
  state_set "$name" etcd_cluster_sha256 "$sha"
}
