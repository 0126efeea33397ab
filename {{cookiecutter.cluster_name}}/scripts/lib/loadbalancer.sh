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
# Ours = named LOAD_BALANCER *and* tagged CONTROLLER_TAG (both carry the cluster name, which no
# other cluster's can equal). Names are not unique at DigitalOcean: the apply lock serialises
# this repo's runs, and a create re-lists afterwards to undo a concurrent duplicate.

lb_wanted() {
  ((CONTROLLER_COUNT > 1))
}

lb_rules() {
  printf 'entry_protocol:tcp,entry_port:%s,target_protocol:tcp,target_port:%s' \
    "$APISERVER_SECURE_PORT" "$APISERVER_SECURE_PORT"
}

lb_health_check() {
  printf 'protocol:tcp,port:%s' "$APISERVER_SECURE_PORT"
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
  jq -r --arg region "$REGION" --arg p "$APISERVER_SECURE_PORT" '($p | tonumber) as $port |
    (if .region.slug != $region then "region \(.region.slug), not \($region)" else empty end),
    (if [.forwarding_rules[] | {entry_protocol, entry_port, target_protocol, target_port}]
        != [{entry_protocol: "tcp", entry_port: $port, target_protocol: "tcp", target_port: $port}]
     then "forwarding rules \([.forwarding_rules[] | "\(.entry_protocol):\(.entry_port)->\(.target_protocol):\(.target_port)"] | join(" "))"
     else empty end),
    (if [.health_check.protocol, .health_check.port] != ["tcp", $port]
     then "health check \(.health_check.protocol):\(.health_check.port)" else empty end)' <<<"$1"
}

_lb_flags() {
  LB_FLAGS=(--name "$LOAD_BALANCER" --region "$REGION" --size-unit "$LB_SIZE_UNIT"
    --tag-name "$CONTROLLER_TAG" --forwarding-rules "$(lb_rules)" --health-check "$(lb_health_check)")
}

# ensure_load_balancer: create this cluster's load balancer if it is missing, put a drifted one
# back, wait (bounded) until it is active with its IP. Sets LB_ID and LB_IP.
ensure_load_balancer() {
  step "load balancer $LOAD_BALANCER (tcp $APISERVER_SECURE_PORT -> the controllers tagged $CONTROLLER_TAG)"
  local lb drift
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
    drift=$(_lb_drift "$lb")
    if [[ "$drift" == region* ]]; then
      die "load balancer $LOAD_BALANCER (id $(jq -r .id <<<"$lb")) is in another $drift:" \
        "a load balancer cannot move; delete it and re-run"
    elif [[ -n "$drift" ]]; then
      warn "load balancer $LOAD_BALANCER drifted from the intended settings: ${drift//$'\n'/; }"
      do_json "restoring the load balancer $LOAD_BALANCER" \
        compute load-balancer update "$(jq -r .id <<<"$lb")" "${LB_FLAGS[@]}" >/dev/null
      log "restored load balancer $LOAD_BALANCER"
    else
      log "load balancer $LOAD_BALANCER (id $(jq -r .id <<<"$lb")): as intended, unchanged"
    fi
  fi
  LB_ID=$(jq -r .id <<<"$lb")
  _lb_wait_active
  step_done "id $LB_ID, IP $LB_IP"
}

# _lb_keep_oldest OUR_ID: a concurrent apply from another checkout may have created one too:
# the oldest stays (printed as JSON), a younger one that we created goes.
_lb_keep_oldest() {
  local ours oldest
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
    sleep "$APPLY_POLL_SECONDS"
  done
}

# apiserver_address: where workers and kubectl reach the apiserver: the load balancer's IP when
# there are several controllers (it must exist and be active), else the controller's public IP
# (from CLUSTER_LIST).
apiserver_address() {
  if ! lb_wanted; then
    field "$(need_droplet "$CONTROLLER_NAME" controller)" public_ip
    return 0
  fi
  local lb
  lb=$(lb_find)
  [[ -n "$lb" ]] || die "the load balancer $LOAD_BALANCER does not exist: run 'make controller' first"
  [[ "$(jq -r .status <<<"$lb")" == active && -n "$(jq -r '.ip // ""' <<<"$lb")" ]] ||
    die "the load balancer $LOAD_BALANCER is $(jq -r .status <<<"$lb") without an IP yet: re-run 'make controller'"
  jq -r .ip <<<"$lb"
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
