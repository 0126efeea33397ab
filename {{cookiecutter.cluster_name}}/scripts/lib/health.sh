# shellcheck shell=bash
# The cluster's health, one layer per function in dependency order (status.sh runs them):
# each ends with `layer NAME STATUS DETAIL [ITEM...]` (STATUS: OK, WARN or FAIL).

FLANNEL_KEY=/coreos.com/network/config
LAYER_JSON=()
LAYER_STATUS=""

# layer NAME STATUS DETAIL [ITEM...]: record a layer's result and show it under its step.
layer() {
  local name=$1 status=$2 detail=$3
  shift 3
  # shellcheck disable=SC2034 # read by status.sh after each check
  LAYER_STATUS=$status
  LAYER_JSON+=("$(jq -cn --arg n "$name" --arg s "$status" --arg d "$detail" \
    '{layer: $n, status: $s, detail: $d, items: $ARGS.positional}' --args "$@")")
  local item
  for item in "$@"; do
    log "    $item"
  done
  log "    $status: $detail"
}

# _one_line TEXT: the first 240 characters of TEXT on one line.
_one_line() {
  tr '\n' ' ' <<<"$1" | sed 's/  */ /g; s/ $//' | cut -c1-240
}

# expected_names: the droplets `make etcd controller worker` would leave, in order.
expected_names() {
  local nn
  etcd_names
  controller_names
  for ((nn = 1; nn <= 10#${WORKERS:-$WORKER_COUNT}; nn++)); do
    worker_name "$nn"
    echo
  done
}

check_droplets() {
  CLUSTER_LIST=$(cluster_droplets --duplicates-ok)
  local items=() bad=() missing=() name id pub priv status dupes
  dupes=$(duplicate_droplets "$CLUSTER_LIST" | paste -sd';')
  while IFS=$'\t' read -r name id status pub priv; do
    items+=("$(printf '%-28s %-10s %-7s %-15s %s' "$name" "$id" "$status" "${pub:--}" "${priv:--}")")
    [[ "$status" == active && -n "$pub" && -n "$priv" ]] || bad+=("$name ($status${pub:+, $pub}${pub:-, no IP yet})")
  done < <(jq -r '.[] | [.name, (.id | tostring), .status, .public_ip, .private_ip] | @tsv' <<<"$CLUSTER_LIST")
  while IFS= read -r name; do
    [[ -n "$(record_of "$CLUSTER_LIST" "$name")" ]] || missing+=("$name")
  done < <(expected_names)
  if ((${#items[@]} == 0)); then
    layer droplets FAIL "no droplets are tagged $CLUSTER_TAG: make etcd controller worker"
  elif [[ -n "$dupes" ]]; then
    layer droplets FAIL "$dupes: two applies at once? delete the extra one (doctl compute droplet\
 delete ID), or make destroy removes them all" "${items[@]}"
  elif ((${#bad[@]})); then
    layer droplets FAIL "not active with both IPs: ${bad[*]} (booting? look again in a minute)" "${items[@]}"
  elif ((${#missing[@]})); then
    layer droplets WARN "${#items[@]} active; missing: ${missing[*]}" "${items[@]}"
  else
    layer droplets OK "${#items[@]} active with public and private IPs" "${items[@]}"
  fi
}

check_ssh() {
  local dir name ip jobs=() items=() bad=() job
  dir=$(mktemp -d)
  while IFS=$'\t' read -r name ip; do
    remote "$ip" true >"$dir/$name" 2>&1 &
    jobs+=("$!:$name:$ip")
  done < <(jq -r '.[] | [.name, .public_ip] | @tsv' <<<"$CLUSTER_LIST")
  for job in "${jobs[@]}"; do
    IFS=: read -r _ name ip <<<"$job"
    if wait "${job%%:*}"; then
      items+=("$name: $SSH_USER@$ip answers")
    else
      bad+=("$name ($SSH_USER@$ip: $(_one_line "$(<"$dir/$name")"))")
    fi
  done
  rm -rf "$dir"
  if ((${#bad[@]})); then
    layer ssh FAIL "cannot log in: ${bad[*]}; is the key '$SSH_KEY_NAME' in your ssh-agent?" "${items[@]}"
  else
    layer ssh OK "${#items[@]} droplet(s) answer ssh as $SSH_USER" "${items[@]}"
  fi
}

# _ip_of NAME KIND: public_ip or private_ip of NAME in CLUSTER_LIST (empty if none).
_ip_of() {
  local rec
  rec=$(record_of "$CLUSTER_LIST" "$1")
  [[ -z "$rec" ]] || field "$rec" "$2"
}

# _etcdctl IP AS ARGS...: etcdctl on the droplet at IP with its etcd certificate AS (etcd on the
# member, etcd-client on a node): etcdctl lists the members through the local endpoint, then
# dials their https client URLs itself, where etcd wants a certificate (lock-down, issue 10).
_etcdctl() {
  local ip=$1 as=$2
  shift 2
  remote "$ip" sudo etcdctl --ca-file "$ETCD_SSL_DIR/ca.pem" --cert-file "$ETCD_SSL_DIR/$as.pem" \
    --key-file "$ETCD_SSL_DIR/$as-key.pem" "$@"
}

# _etcd_members HEALTH LIST: the members as JSON [{name, id, health, leader}] from etcdctl's
# cluster-health and member list (etcd 2.2's formats: etcdctl/command/cluster_health.go,
# member_commands.go).
_etcd_members() {
  jq -nc --arg h "$1" --arg l "$2" '
    ($h | split("\n") | map(capture("^member (?<id>[0-9a-f]+) is (?<health>[a-z]+)"))
     | map({(.id): .health}) | add // {}) as $hs
    | [$l | split("\n")[] | capture("^(?<id>[0-9a-f]+): name=(?<name>[^ ]+) .*isLeader=(?<leader>[a-z]+)")
       | {name, id, health: ($hs[.id] // "unknown"), leader: (.leader == "true")}]'
}

# check_etcd: every member's health and the leader, asked of the first member that answers
# (cluster-health dials every member), then the controller's proxy. Sets ETCD_ASKED_IP.
ETCD_ASKED_IP=""
check_etcd() {
  local names=() name ip asked="" health="" list="" rc=0 out members leader count up items=()
  mapfile -t names < <(etcd_names)
  for name in "${names[@]}"; do
    ip=$(_ip_of "$name" public_ip)
    [[ -n "$ip" ]] || continue
    rc=0
    health=$(_etcdctl "$ip" etcd cluster-health 2>&1) || rc=$?
    if grep -q '^member ' <<<"$health"; then
      asked=$name ETCD_ASKED_IP=$ip
      break
    fi
  done
  if [[ -z "$asked" ]]; then
    local seen="no node to ask" ctl_ip missing=()
    for name in "${names[@]}"; do
      [[ -n "$(_ip_of "$name" public_ip)" ]] || missing+=("$name")
    done
    ctl_ip=$(_ip_of "$CONTROLLER_NAME" public_ip)
    if [[ -n "$ctl_ip" ]]; then
      out=$(_etcdctl "$ctl_ip" etcd-client cluster-health 2>&1) || true
      seen="the etcd proxy on $CONTROLLER_NAME says: $(_one_line "$out")"
    fi
    if ((${#missing[@]})); then
      layer etcd FAIL "${missing[*]} does not exist (deleted?): re-create it with make etcd;\
 flannel and the apiserver depend on it; $seen"
    else
      layer etcd FAIL "no etcd member answers (${names[*]}): $(_one_line "$health"); $seen"
    fi
    return 0
  fi
  list=$(_etcdctl "$ETCD_ASKED_IP" etcd member list 2>&1) || true
  members=$(_etcd_members "$health" "$list")
  leader=$(jq -r '[.[] | select(.leader) | .name][0] // ""' <<<"$members")
  count=$(jq length <<<"$members")
  up=$(jq '[.[] | select(.health == "healthy")] | length' <<<"$members")
  mapfile -t items < <(jq -r '.[] | "\(.name) (\(.id)): \(.health)\(if .leader then ", leader" else "" end)"' <<<"$members")
  mapfile -t -O "${#items[@]}" items <<<"$health"
  items+=("asked: $asked")
  if ((count == 0 || up * 2 <= count)) || [[ -z "$leader" ]]; then
    _etcd_layer FAIL "$up of $count member(s) healthy, leader: ${leader:-none}: no quorum;\
 $(_one_line "$health")" "$members" "$leader"
    return 0
  fi
  local ctl_ip
  ctl_ip=$(_ip_of "$CONTROLLER_NAME" public_ip)
  if [[ -n "$ctl_ip" ]]; then
    rc=0
    out=$(_etcdctl "$ctl_ip" etcd-client cluster-health 2>&1) || rc=$?
    if ! grep -qx 'cluster is \(healthy\|unhealthy\)' <<<"$out"; then
      _etcd_layer FAIL "the etcd members have a leader ($leader) but the etcd proxy on $CONTROLLER_NAME\
 does not reach them (exit $rc): $(_one_line "$out"); its initial-cluster must name the members'\
 private IPs" "$members" "$leader" "${items[@]}"
      return 0
    fi
    items+=("through the proxy on $CONTROLLER_NAME: $(tail -n1 <<<"$out")")
  fi
  if ((count != ETCD_COUNT)); then
    # e.g. a 5-member cluster that an interrupted restore left with 3: all healthy, too few
    _etcd_layer WARN "$up of $count member(s) healthy, leader $leader, but ETCD_COUNT=$ETCD_COUNT:\
 the membership differs from the settings (an interrupted make restore? re-run it)" \
      "$members" "$leader" "${items[@]}"
  elif ((up < count)); then
    _etcd_layer WARN "$up of $count member(s) healthy, leader $leader: the cluster keeps its quorum;\
 bring back $(jq -r '[.[] | select(.health != "healthy") | .name] | join(" ")' <<<"$members")\
 (a member whose droplet is gone: make etcd replaces just it, the other droplets stay)" \
      "$members" "$leader" "${items[@]}"
  else
    _etcd_layer OK "$up of $count member(s) healthy, leader $leader (etcdctl cluster-health, member list)" \
      "$members" "$leader" "${items[@]}"
  fi
}

# _etcd_layer STATUS DETAIL MEMBERS_JSON LEADER ITEM...: the etcd layer, its JSON with members
# and leader.
_etcd_layer() {
  local status=$1 detail=$2 members=$3 leader=$4
  shift 4
  layer etcd "$status" "$detail" "$@"
  LAYER_JSON[-1]=$({ printf '%s\n' "${LAYER_JSON[-1]}"; printf '%s\n' "$members"; } |
    jq -nc --arg l "$leader" 'input as $layer | input as $m
      | $layer + {members: $m, leader: (if $l == "" then null else $l end)}')
}

check_flannel() {
  local etcd_ip out rc=0
  etcd_ip=${ETCD_ASKED_IP:-$(_ip_of "$ETCD_NAME" public_ip)}
  out=$(_etcdctl "$etcd_ip" etcd get "$FLANNEL_KEY" 2>&1) || rc=$?
  if ((rc != 0)); then
    local why="flanneld on $CONTROLLER_NAME sets it at boot (ExecStartPre of its drop-in)"
    [[ -n "$(_ip_of "$CONTROLLER_NAME" public_ip)" ]] || why="$CONTROLLER_NAME does not exist: make controller"
    layer flannel FAIL "$FLANNEL_KEY is not set in etcd ($(_one_line "$out")); $why"
    return 0
  fi
  if [[ "$out" != *"\"$POD_NETWORK\""* ]]; then
    layer flannel FAIL "$FLANNEL_KEY is $out, not the pod network $POD_NETWORK of settings.env" "$out"
    return 0
  fi
  layer flannel OK "pod network $POD_NETWORK ($FLANNEL_KEY)" "$out"
}

check_apiserver() {
  if ! command -v kubectl >/dev/null 2>&1; then
    layer apiserver FAIL "kubectl is not installed"
    return 0
  fi
  if [[ ! -s "$KUBECONFIG_FILE" ]]; then
    layer apiserver FAIL "no ./kubeconfig: make controller"
    return 0
  fi
  local out rc=0 server
  server=$(grep -m1 'server:' "$KUBECONFIG_FILE" | awk '{print $2}')
  out=$(kube version 2>&1) || rc=$?
  if ((rc != 0)); then
    layer apiserver FAIL "$server does not answer: $(_one_line "$out")"
    return 0
  fi
  layer apiserver OK "$server answers ($(grep -m1 '^Server Version' <<<"$out" || echo version unknown))"
}

# check_nodes: the kubelets registered and Ready: every worker, and the controllers too where
# the profile's controllers run a kubelet (STATUS_CONTROLLER_NODE=yes in scripts/lib/profile.sh).
check_nodes() {
  local out rc=0 want ready items=() what="worker(s)" controllers
  want=$(jq --arg p "$WORKER_PREFIX-" '[.[] | select(.name | startswith($p))] | length' <<<"$CLUSTER_LIST")
  controllers=$(jq --arg p "$CONTROLLER_PREFIX-" '[.[] | select(.name | startswith($p))] | length' <<<"$CLUSTER_LIST")
  if [[ "${STATUS_CONTROLLER_NODE:-no}" == yes ]] && ((controllers > 0)); then
    want=$((want + controllers))
    what="node(s) (controller and workers)"
    ((controllers == 1)) || what="node(s) ($controllers controllers and workers)"
  fi
  out=$(kube get nodes -o json 2>&1) || rc=$?
  if ((rc != 0)); then
    layer nodes FAIL "kubectl get nodes: $(_one_line "$out")"
    return 0
  fi
  mapfile -t items < <(jq -r '.items[] | "\(.metadata.name) \([.status.conditions[]? | select(.type == "Ready")][0].status // "Unknown"
    | if . == "True" then "Ready" else "NotReady" end)"' <<<"$out")
  ready=$(jq '[.items[] | select(any(.status.conditions[]?; .type == "Ready" and .status == "True"))] | length' <<<"$out")
  if ((ready == 0)); then
    layer nodes FAIL "no node is Ready ($want ${what/(s)/ droplet(s)}); the kubelets register minutes after make worker" "${items[@]}"
  elif ((ready < want)); then
    layer nodes WARN "$ready of $want $what Ready" "${items[@]}"
  else
    layer nodes OK "$ready of $want $what Ready" "${items[@]}"
  fi
}

check_kube_dns() {
  local svc ep rc=0 ip count
  svc=$(kube get service kube-dns --namespace=kube-system -o json 2>&1) || rc=$?
  if ((rc != 0)); then
    layer kube-dns FAIL "no kube-dns service: make addons ($(_one_line "$svc"))"
    return 0
  fi
  ip=$(jq -r '.spec.clusterIP // ""' <<<"$svc")
  if [[ "$ip" != "$DNS_SERVICE_IP" ]]; then
    layer kube-dns FAIL "kube-dns has cluster IP $ip, not DNS_SERVICE_IP $DNS_SERVICE_IP (the kubelets' --cluster-dns)"
    return 0
  fi
  ep=$(kube get endpoints kube-dns --namespace=kube-system -o json 2>&1) || rc=$?
  count=0
  ((rc != 0)) || count=$(jq '[.subsets[]?.addresses[]?] | length' <<<"$ep")
  if ((count == 0)); then
    layer kube-dns FAIL "service $ip has no endpoints: its pods are not running\
 (kubectl --kubeconfig kubeconfig get pods --namespace=kube-system)"
    return 0
  fi
  layer kube-dns OK "service $ip with $count endpoint(s)" \
    "$(jq -r '[.subsets[].addresses[] | "\(.ip) (\(.targetRef.name // "-"))"] | join(", ")' <<<"$ep")"
}
