# shellcheck shell=bash
# The DigitalOcean load balancer in front of the controllers when CONTROLLER_COUNT > 1.
#
# Backends by the controllers' tag (CONTROLLER_TAG), TCP APISERVER_SECURE_PORT -> the same port:
# TLS passes through, so clients verify the apiservers' own certificate (its SANs carry the
# LB's IP). Health check: TCP on that port. Not HTTPS /healthz: the tutorial's Kubernetes 1.1 has no
# anonymous access (the --anonymous-auth flag came in 1.5), so the LB's certificate-less probe
# would get 401 from every healthy apiserver.
# doctl syntax: doctl commands/load_balancers.go (--forwarding-rules: rules split on spaces,
# key:value pairs on commas; --health-check: key:value pairs on commas); fields and states
# ("new", "active", "errored") from godo load_balancers.go.
#
# Its own firewall (the allow list): without one the load balancer answers the whole internet
# on APISERVER_SECURE_PORT and hands every connection to an apiserver, whose droplet firewall
# admits the load balancer by its uid: ADMIN_CIDRS would no longer limit who reaches the
# apiservers. API: `firewall: {allow: [...], deny: [...]}`, rules "ip:1.2.3.4" or
# "cidr:1.2.0.0/16" (godo load_balancers.go LBFirewall; openapi lb_firewall.yml); doctl
# --allow-list, a comma-separated string slice (commands/load_balancers.go). `update` sends the
# whole object: the allow list rides along in LB_FLAGS every time.
#
# Ours = named LOAD_BALANCER *and* tagged CONTROLLER_TAG (both carry the cluster name, which no
# other cluster's can equal). Names are not unique at DigitalOcean: the apply lock serialises
# this repo's runs, and a create re-lists afterwards to undo a concurrent duplicate.

lb_wanted() {
  ((CONTROLLER_COUNT > 1))
}

# unwanted_control_plane LIST: "KIND<TAB>NAME<TAB>ID" of each controller in LIST (a droplet
# listing) beyond CONTROLLER_COUNT, and of this cluster's load balancer when CONTROLLER_COUNT is
# 1: no longer wanted, outside the apiserver certificate, left as they are (deleted only when
# the user asks, as make destroy does); make controller and make plan name them.
unwanted_control_plane() {
  jq -r --arg p "$CONTROLLER_PREFIX-" --argjson n "$CONTROLLER_COUNT" '.[]
    | select(.name | startswith($p)) | select((.name | ltrimstr($p) | tonumber? // 0) > $n)
    | "droplet\t\(.name)\t\(.id)"' <<<"$1"
  lb_wanted || lb_find | jq -r '"load-balancer\t\(.name)\t\(.id)"'
}

lb_rules() {
  printf 'entry_protocol:tcp,entry_port:%s,target_protocol:tcp,target_port:%s' \
    "$APISERVER_SECURE_PORT" "$APISERVER_SECURE_PORT"
}

lb_health_check() {
  printf 'protocol:tcp,port:%s' "$APISERVER_SECURE_PORT"
}

# lb_allow_list: the allow rules, sorted, comma-separated: ADMIN_CIDRS's IPv4 networks
# ("cidr:") and the public IP ("ip:") of every controller and worker in CLUSTER_LIST (they reach
# the apiservers through the load balancer's public IP; the etcd droplet never does). The droplets
# are listed even when ADMIN_CIDRS is everyone, so narrowing it later never locks the nodes out.
# IPv6 networks are left out: the load balancer has an IPv4 address only (network_stack defaults
# to IPV4; DUALSTACK is a private preview: openapi load_balancer_base.yml, doctl
# --network-stack), so an IPv6 rule admits nothing, and a user reports that a list holding IPv6
# ranges left the load balancer unfiltered (digitalocean-cloud-controller-manager#692).
lb_allow_list() {
  jq -r --arg admin "$ADMIN_CIDRS" --arg c "$CONTROLLER_TAG" --arg w "$WORKER_TAG" \
    '[($admin | split(",")[] | select(contains(":") | not) | "cidr:\(.)"),
      (.[] | select(any(.tags[]; . == $c or . == $w)) | select(.public_ip != "") | "ip:\(.public_ip)")]
     | unique | join(",")' <<<"$CLUSTER_LIST"
}

# _lb_ipv6_note: say once per run which ADMIN_CIDRS networks the load balancer cannot filter on.
_lb_ipv6_note() {
  local v6
  v6=$(tr ',' '\n' <<<"$ADMIN_CIDRS" | grep ':' | paste -sd, -) || return 0
  log "ADMIN_CIDRS' IPv6 networks ($v6) are not in the load balancer's allow list: it has an" \
    "IPv4 address only, so clients reach the apiservers through it over IPv4"
}

# _lb_ours LIST_JSON: ours among the listed load balancers, oldest first (JSON array).
_lb_ours() {
  jq -c --arg n "$LOAD_BALANCER" --arg t "$CONTROLLER_TAG" \
    '[.[] | select(.name == $n and (.tag // "") == $t)] | sort_by(.created_at, .id)' <<<"$1"
}

# lb_find: this cluster's load balancer as JSON (empty: none). Stops when two are ours, or when
# one named LOAD_BALANCER serves another tag (never guess, never touch another's).
lb_find() {
  local list ours
  list=$(do_json "listing the load balancers" compute load-balancer list)
  ours=$(_lb_ours "$list")
  if (($(jq length <<<"$ours") > 1)); then
    die "$(jq length <<<"$ours") load balancers are named $LOAD_BALANCER for $CONTROLLER_TAG" \
      "(ids: $(jq -r 'map(.id) | join(", ")' <<<"$ours")); delete the extra ones" \
      "(doctl compute load-balancer delete ID --force) and re-run"
  fi
  if jq -e --arg n "$LOAD_BALANCER" --arg t "$CONTROLLER_TAG" \
    'any(.[]; .name == $n and (.tag // "") != $t)' <<<"$list" >/dev/null; then
    die "a load balancer named $LOAD_BALANCER does not serve the tag $CONTROLLER_TAG (changed by" \
      "hand, or not this cluster's): it is left alone; rename or delete it, then re-run"
  fi
  jq -c '.[0] // empty' <<<"$ours"
}

# _lb_drift LB_JSON: one line per difference from the intended load balancer (empty: none).
_lb_drift() {
  jq -r --arg region "$REGION" --arg p "$APISERVER_SECURE_PORT" --arg allow "$(lb_allow_list)" \
    '($p | tonumber) as $port |
    (if .region.slug != $region then "region \(.region.slug), not \($region)" else empty end),
    (if [.forwarding_rules[] | {entry_protocol, entry_port, target_protocol, target_port}]
        != [{entry_protocol: "tcp", entry_port: $port, target_protocol: "tcp", target_port: $port}]
     then "forwarding rules \([.forwarding_rules[] | "\(.entry_protocol):\(.entry_port)->\(.target_protocol):\(.target_port)"] | join(" "))"
     else empty end),
    (if [.health_check.protocol, .health_check.port] != ["tcp", $port]
     then "health check \(.health_check.protocol):\(.health_check.port)" else empty end),
    ((.firewall.allow // []) as $have | ($allow | split(",")) as $want |
     if ($have | sort) != ($want | sort) then "allow list"
       + ($want - $have | if . == [] then "" else " lacks \(join(","))" end)
       + ($have - $want | if . == [] then "" else " has \(join(",")), not intended" end)
     else empty end),
    (if (.firewall.deny // []) != [] then "deny list \(.firewall.deny | join(","))" else empty end)' <<<"$1"
}

_lb_flags() {
  LB_FLAGS=(--name "$LOAD_BALANCER" --region "$REGION" --size-unit "$LB_SIZE_UNIT"
    --tag-name "$CONTROLLER_TAG" --forwarding-rules "$(lb_rules)" --health-check "$(lb_health_check)"
    --allow-list "$(lb_allow_list)")
}

# ensure_load_balancer: create this cluster's load balancer if it is missing, put a drifted one
# back, wait (bounded) until it is active with its IP. Sets LB_ID and LB_IP.
ensure_load_balancer() {
  step "load balancer $LOAD_BALANCER (tcp $APISERVER_SECURE_PORT -> the controllers tagged $CONTROLLER_TAG)"
  local lb
  [[ -v CLUSTER_LIST ]] || CLUSTER_LIST=$(cluster_droplets)
  _lb_ipv6_note
  _lb_flags
  lb=$(lb_find)
  if [[ -z "$lb" ]]; then
    log "cost: 1 load balancer of $LB_SIZE_UNIT node(s) at $(money "$LB_NODE_MONTHLY_USD")/node/month" \
      "= $(money "$(jq -n "$LB_NODE_MONTHLY_USD * $LB_SIZE_UNIT")")/month more"
    lb=$(do_json "creating the load balancer $LOAD_BALANCER" compute load-balancer create "${LB_FLAGS[@]}" |
      jq -c '.[0]')
    log "created load balancer $LOAD_BALANCER (id $(jq -r .id <<<"$lb"))"
    lb=$(_lb_keep_oldest "$(jq -r .id <<<"$lb")")
  else
    lb_reconcile "$lb"
  fi
  LB_ID=$(jq -r .id <<<"$lb")
  _lb_wait_active
  step_done "id $LB_ID, IP $LB_IP"
}

# lb_reconcile LB_JSON: put back what differs from the intended settings (one update call; none
# when nothing differs). An allow list that only lacks droplets is brought up to date (new
# workers or controllers, or a rule removed by hand); anything else is reported as drift.
lb_reconcile() {
  local drift id
  id=$(jq -r .id <<<"$1")
  [[ -v LB_FLAGS ]] || _lb_flags
  drift=$(_lb_drift "$1")
  if [[ "$drift" == region* ]]; then
    die "load balancer $LOAD_BALANCER (id $id) is in another $drift:" \
      "a load balancer cannot move; delete it and re-run"
  elif [[ -z "$drift" ]]; then
    log "load balancer $LOAD_BALANCER (id $id): as intended, unchanged"
    return 0
  elif [[ "$drift" == "allow list lacks "* && "$drift" != *$'\n'* && "$drift" != *", not intended" ]]; then
    log "load balancer $LOAD_BALANCER: its allow list ${drift#allow list }: updating it"
  else
    warn "load balancer $LOAD_BALANCER drifted from the intended settings: ${drift//$'\n'/; }"
  fi
  do_json "updating the load balancer $LOAD_BALANCER" \
    compute load-balancer update "$id" "${LB_FLAGS[@]}" >/dev/null
  log "restored load balancer $LOAD_BALANCER (allow list: $(lb_allow_list))"
}

# _lb_keep_oldest OUR_ID: a concurrent apply from another checkout may have created one too:
# the oldest stays (printed as JSON), a younger one that we created goes. created_at has a
# resolution of one second, so two creates in the same second tie (the id decides) and the other
# may not be listed yet: list once that second has passed, so that both runs see both.
_lb_keep_oldest() {
  local ours oldest
  wait_begin "another run's load balancer of the same second to be listed" 2
  wait_sleep 2
  ours=$(_lb_ours "$(do_json "listing the load balancers" compute load-balancer list)")
  oldest=$(jq -r '.[0].id // empty' <<<"$ours")
  if [[ -n "$oldest" && "$oldest" != "$1" ]]; then
    warn "another run created $LOAD_BALANCER (id $oldest) at the same time: deleting ours ($1)"
    do_json "deleting the duplicate load balancer $1" compute load-balancer delete "$1" --force >/dev/null
  fi
  jq -c '.[0] // empty' <<<"$ours"
}

# _lb_wait_active: poll LB_ID until it is active with an IP (sets LB_IP), bounded by
# APPLY_TIMEOUT_SECONDS; "errored" stops at once.
_lb_wait_active() {
  local deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS)) lb status
  wait_begin "load balancer $LOAD_BALANCER to be active" "$APPLY_TIMEOUT_SECONDS"
  while :; do
    lb=$(do_json "reading the load balancer $LB_ID" compute load-balancer get "$LB_ID" | jq -c '.[0]')
    status=$(jq -r .status <<<"$lb")
    LB_IP=$(jq -r '.ip // ""' <<<"$lb")
    [[ "$status" != active || -z "$LB_IP" ]] || return 0
    [[ "$status" != errored ]] ||
      die "load balancer $LOAD_BALANCER ($LB_ID) is errored: delete it and re-run 'make controller'"
    ((SECONDS < deadline)) ||
      die "timed out after ${APPLY_TIMEOUT_SECONDS}s waiting for load balancer $LB_ID to be active" \
        "(status $status); re-run 'make controller' (it is reused)"
    wait_sleep "$APPLY_POLL_SECONDS"
  done
}

# apiserver_address: where workers and kubectl reach the apiserver, in APISERVER_ADDRESS: the
# load balancer's IP when there are several controllers (it must exist and be active; LB_JSON
# keeps what was listed, for lb_reconcile), else the controller's public IP (from CLUSTER_LIST).
apiserver_address() {
  if ! lb_wanted; then
    local rec
    rec=$(need_droplet "$CONTROLLER_NAME" controller)
    # shellcheck disable=SC2034 # read by worker.sh
    APISERVER_ADDRESS=$(field "$rec" public_ip)
    return 0
  fi
  LB_JSON=$(lb_find)
  [[ -n "$LB_JSON" ]] || die "the load balancer $LOAD_BALANCER does not exist: run 'make controller' first"
  [[ "$(jq -r .status <<<"$LB_JSON")" == active && -n "$(jq -r '.ip // ""' <<<"$LB_JSON")" ]] ||
    die "the load balancer $LOAD_BALANCER is $(jq -r .status <<<"$LB_JSON") without an IP yet: re-run 'make controller'"
  # shellcheck disable=SC2034 # read by worker.sh
  APISERVER_ADDRESS=$(jq -r .ip <<<"$LB_JSON")
}

# remove_load_balancer: delete this cluster's load balancer(s) (name and tag ours), if any.
# Sets LB_REMOVED (a phrase for the summary; empty: none).
remove_load_balancer() {
  local list ids id
  # shellcheck disable=SC2034 # read by destroy.sh's summary
  LB_REMOVED=""
  list=$(do_json "listing the load balancers" compute load-balancer list)
  mapfile -t ids < <(_lb_ours "$list" | jq -r '.[].id')
  ((${#ids[@]})) || return 0
  # shellcheck disable=SC2034 # read by destroy.sh's summary
  LB_REMOVED="; the load balancer $LOAD_BALANCER"
  step "deleting the load balancer $LOAD_BALANCER (id ${ids[*]})"
  for id in "${ids[@]}"; do
    do_json "deleting the load balancer $id" compute load-balancer delete "$id" --force >/dev/null
  done
  step_done
}

# controller_name NN -> <cluster>-controller-NN (NN=1: CONTROLLER_NAME, the tutorial's one)
controller_name() {
  printf '%s-%02d\n' "$CONTROLLER_PREFIX" "$((10#$1))"
}

# controller_names: every controller's name, one a line.
controller_names() {
  local nn
  for ((nn = 1; nn <= CONTROLLER_COUNT; nn++)); do
    controller_name "$nn"
  done
}

# controller_check_count: stop when CONTROLLER_COUNT is not the count the repo was baked for
# (openssl/apiserver.cnf names the controllers in the apiserver certificate: a count changed by
# hand would fail its issue half-way; a re-bake renders both).
controller_check_count() {
  local baked
  baked=$(grep -c "= $CONTROLLER_PREFIX-[0-9]" openssl/apiserver.cnf || true)
  ((baked == 0 || baked == CONTROLLER_COUNT)) ||
    die "CONTROLLER_COUNT=$CONTROLLER_COUNT but this repo was baked for $baked controller(s)" \
      "(openssl/apiserver.cnf names them): re-bake with controller_count=$CONTROLLER_COUNT over" \
      "this repo (pki/ and state/ are kept); nothing was changed"
}

# apiserver_live_ips: the IP SANs pki/apiserver.pem must have by make plan's LIVE listing: the
# first service IP, every controller's public and private IP, the load balancer's (if wanted).
apiserver_live_ips() {
  echo "$APISERVER_SERVICE_IP"
  jq -r --arg p "$CONTROLLER_PREFIX-" \
    '.[] | select(.name | startswith($p)) | .public_ip, .private_ip' <<<"$LIVE"
  ! lb_wanted || lb_find | jq -r '.ip // empty'
}
