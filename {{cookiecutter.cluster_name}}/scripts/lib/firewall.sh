# shellcheck shell=bash
# Cloud firewalls by tag. A droplet in several firewalls gets the union of their rules, and a
# droplet in any firewall gets nothing else, so:
#   NODES_FIREWALL on every droplet of the cluster (ETCD_TAG, CONTROLLER_TAG, WORKER_TAG): ssh
#     from ADMIN_CIDRS, the NodePort range from NODEPORT_CIDRS, ICMP, every TCP/UDP port from
#     droplets carrying those tags; outbound all. With load balancers of LoadBalancer Services
#     (CCM_LB_IDS: the cloud-controller-manager's, tagged CLOUD_TAG, REGIONAL: they proxy, so
#     the nodes see connections from them) also the NodePort range and kube-proxy's health
#     port (their health check: digitalocean-cloud-controller-manager v0.1.68 loadbalancers.go
#     healthCheckPathAndPort) from each of them by ID (load_balancer_uid), from nothing else.
#   APISERVER_FIREWALL on the controllers (CONTROLLER_TAG): the apiserver's secure port from
#     ADMIN_CIDRS and, with several controllers, from their load balancer (load_balancer_uid:
#     LB_ID; a load balancer reaches its droplets only where their firewall lets it in).
# So etcd (2379/2380), the kubelet (10250, 10255), cAdvisor (4194), flannel's VXLAN (8472/udp) and
# the apiserver's insecure port (8080) answer only the cluster's own droplets.
# Rules are written in doctl's syntax (doctl commands/firewalls.go extractRule: rules separated
# by spaces, key:value pairs by commas, sources as address:/tag:); the API answers ports "all"
# and every ICMP rule with "0", so both sides are compared in one canonical form.

# _fw_addresses CIDRS: "address:A,address:B" for a comma-separated list.
_fw_addresses() {
  local cidr out=()
  local IFS=,
  for cidr in $1; do
    out+=("address:$cidr")
  done
  printf '%s' "${out[*]}"
}

_fw_cluster_sources() {
  printf 'tag:%s,tag:%s,tag:%s' "$ETCD_TAG" "$CONTROLLER_TAG" "$WORKER_TAG"
}

# _fw_lbs: "load_balancer_uid:A,load_balancer_uid:B" for CCM_LB_IDS (space-separated).
_fw_lbs() {
  local id out=()
  for id in ${CCM_LB_IDS:-}; do
    out+=("load_balancer_uid:$id")
  done
  local IFS=,
  printf '%s' "${out[*]}"
}

# firewall_spec KIND (nodes|apiserver): four lines: name, tags (comma-separated), inbound rules,
# outbound rules (doctl syntax; may be empty).
firewall_spec() {
  local anywhere="address:0.0.0.0/0,address:::/0" cluster lbs
  cluster=$(_fw_cluster_sources)
  lbs=$(_fw_lbs)
  case $1 in
    nodes)
      printf '%s\n' "$NODES_FIREWALL" "$ETCD_TAG,$CONTROLLER_TAG,$WORKER_TAG" \
        "protocol:tcp,ports:$SSH_PORT,$(_fw_addresses "$ADMIN_CIDRS") protocol:tcp,ports:$NODE_PORT_RANGE,$(_fw_addresses "$NODEPORT_CIDRS") protocol:udp,ports:$NODE_PORT_RANGE,$(_fw_addresses "$NODEPORT_CIDRS") protocol:icmp,$anywhere protocol:tcp,ports:all,$cluster protocol:udp,ports:all,$cluster${lbs:+ protocol:tcp,ports:$NODE_PORT_RANGE,$lbs protocol:udp,ports:$NODE_PORT_RANGE,$lbs protocol:tcp,ports:$KUBE_PROXY_HEALTH_PORT,$lbs}" \
        "protocol:tcp,ports:all,$anywhere protocol:udp,ports:all,$anywhere protocol:icmp,$anywhere"
      ;;
    apiserver)
      printf '%s\n' "$APISERVER_FIREWALL" "$CONTROLLER_TAG" \
        "protocol:tcp,ports:$APISERVER_SECURE_PORT,$(_fw_addresses "$ADMIN_CIDRS")${LB_ID:+,load_balancer_uid:$LB_ID}" ""
      ;;
    *) die "firewall_spec: unknown firewall kind '$1'" ;;
  esac
}

FIREWALL_KINDS=(nodes apiserver)

# JQ_FW: canonical rules (sorted, ports "all"/"" instead of the API's "0") from doctl's rule
# syntax (fw_parse) or from the API's JSON (fw_api), and back to doctl's syntax (fw_text).
# shellcheck disable=SC2016 # jq program, not a shell expansion
JQ_FW='
def canon: {protocol: (.protocol // ""),
  ports: (if .protocol == "icmp" then "" elif (.ports // "") == "0" then "all" else (.ports // "") end),
  addresses: ((.addresses // []) | sort), tags: ((.tags // []) | sort),
  droplet_ids: ((.droplet_ids // []) | map(tostring) | sort),
  load_balancer_uids: ((.load_balancer_uids // []) | sort)};
def fw_parse: if . == "" then [] else split(" ") | map(
  split(",") | map(capture("^(?<k>[^:]*):(?<v>.*)$"))
  | reduce .[] as $p ({}; if $p.k == "address" then .addresses += [$p.v]
      elif $p.k == "tag" then .tags += [$p.v] elif $p.k == "droplet_id" then .droplet_ids += [$p.v]
      elif $p.k == "load_balancer_uid" then .load_balancer_uids += [$p.v] else .[$p.k] = $p.v end)
  | canon) | sort end;
def fw_api($side): (. // []) | map(. + (.[$side] // {}) | canon) | sort;
def fw_text: "protocol:\(.protocol)" + (if .ports == "" then "" else ",ports:\(.ports)" end)
  + ([(.addresses[] | ",address:\(.)"), (.tags[] | ",tag:\(.)"),
      (.droplet_ids[] | ",droplet_id:\(.)"), (.load_balancer_uids[] | ",load_balancer_uid:\(.)")]
     | join(""));
'

# _fw_drift CURRENT_JSON TAGS INBOUND OUTBOUND: one line per difference (empty: none).
_fw_drift() {
  jq -r --arg tags "$2" --arg in "$3" --arg out "$4" "$JQ_FW"'
    def diff($what; $want; $have):
      ($want - $have | .[] | "missing \($what) rule \(fw_text)"),
      ($have - $want | .[] | "unexpected \($what) rule \(fw_text)");
    diff("inbound"; $in | fw_parse; .inbound_rules | fw_api("sources")),
    diff("outbound"; $out | fw_parse; .outbound_rules | fw_api("destinations")),
    (if ($tags | split(",") | sort) != ((.tags // []) | sort)
     then "applies to tags \((.tags // []) | join(",")), not \($tags)" else empty end),
    (if (.droplet_ids // []) != [] then "also applies to droplet ids \(.droplet_ids | map(tostring) | join(","))" else empty end)
  ' <<<"$1"
}

# _fw_tags_exist: a firewall may only name existing tags (doctl: "A comma-separated list of
# existing tags"); create the missing ones, before any droplet carries them.
_fw_tags_exist() {
  local have tag
  have=$(do_json "listing the tags" compute tag list)
  for tag in "$ETCD_TAG" "$CONTROLLER_TAG" "$WORKER_TAG"; do
    if ! jq -e --arg t "$tag" 'any(.[]; .name == $t)' <<<"$have" >/dev/null; then
      do_json "creating the tag $tag" compute tag create "$tag" >/dev/null
      log "created the tag $tag"
    fi
  done
}

# ensure_firewalls [WHY]: create the missing firewalls, put drifted rules back; no changing call
# when every firewall already has its rules. Another cluster's firewalls (other names) are never
# touched. WHY: the caller changed what the rules must be (a differing firewall is then updated
# as expected, not reported as drift). FIREWALLS_ENSURED=yes (make up's levels side by side,
# after its own reconcile): only a call with WHY reconciles (two at once could put back an
# older rule set than the other's update).
ensure_firewalls() {
  local why=${1:-}
  [[ -n "$why" || "${FIREWALLS_ENSURED:-}" != yes ]] || return 0
  step "cloud firewalls: $NODES_FIREWALL, $APISERVER_FIREWALL"
  _fw_tags_exist
  if lb_wanted && [[ -z "${LB_ID:-}" ]]; then
    LB_ID=$(lb_find | jq -r '.id // empty')
  fi
  if [[ "$PROFILE" == current ]]; then # only its cloud-controller-manager makes load balancers
    cloud_lbs || die "the load balancers could not be listed (see above)"
    CCM_LB_IDS=$(jq -r 'map(.id) | join(" ")' <<<"$CLOUD_LBS")
  fi
  local list kind spec name tags inbound outbound current id drift flags lines created=0 restored=0
  list=$(do_json "listing the firewalls" compute firewall list)
  for kind in "${FIREWALL_KINDS[@]}"; do
    spec=$(firewall_spec "$kind")
    mapfile -t spec <<<"$spec"
    name=${spec[0]} tags=${spec[1]} inbound=${spec[2]} outbound=${spec[3]:-}
    flags=(--name "$name" --tag-names "$tags" --inbound-rules "$inbound")
    [[ -z "$outbound" ]] || flags+=(--outbound-rules "$outbound")
    current=$(jq -c --arg n "$name" '[.[] | select(.name == $n)][0] // empty' <<<"$list")
    if [[ -z "$current" ]]; then
      id=$(do_json "creating the firewall $name" compute firewall create "${flags[@]}" | jq -r '.[0].id')
      log "created firewall $name (id $id) for tags $tags"
      created=$((created + 1))
      continue
    fi
    id=$(jq -r .id <<<"$current")
    drift=$(_fw_drift "$current" "$tags" "$inbound" "$outbound")
    if [[ -z "$drift" ]]; then
      log "firewall $name (id $id): rules as intended, unchanged"
      continue
    fi
    if [[ -n "$why" ]]; then
      log "firewall $name (id $id): $why"
    else
      warn "firewall $name (id $id) drifted from the intended rules (changed by hand?):"
    fi
    mapfile -t lines <<<"$drift"
    printf '      %s\n' "${lines[@]}" >&2
    do_json "restoring the firewall $name" compute firewall update "$id" "${flags[@]}" >/dev/null
    log "restored firewall $name (id $id)"
    restored=$((restored + 1))
  done
  step_done "$created created, $restored restored"
}

# remove_firewalls: delete this cluster's firewalls once no droplet of the cluster is listed any
# more (polls up to APPLY_TIMEOUT_SECONDS: a deletion by tag takes a moment to show).
remove_firewalls() {
  step "removing the cloud firewalls once the droplets are gone"
  local deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS)) listed left
  wait_begin "the cluster's droplets to leave the listing" "$APPLY_TIMEOUT_SECONDS"
  while :; do
    listed=$(cluster_droplets)
    left=$(jq length <<<"$listed")
    ((left > 0)) || break
    if ((SECONDS >= deadline)); then
      warn "$left droplet(s) still listed after ${APPLY_TIMEOUT_SECONDS}s: the firewalls stay; re-run 'make destroy'"
      step_done "kept"
      return 1
    fi
    wait_sleep "$APPLY_POLL_SECONDS"
  done
  local list kind name id removed=()
  list=$(do_json "listing the firewalls" compute firewall list)
  for kind in "${FIREWALL_KINDS[@]}"; do
    name=$(firewall_spec "$kind" | head -n 1)
    for id in $(jq -r --arg n "$name" '.[] | select(.name == $n) | .id' <<<"$list"); do
      do_json "deleting the firewall $name" compute firewall delete "$id" --force >/dev/null
      removed+=("$name")
    done
  done
  step_done "${#removed[@]} removed: ${removed[*]:-none}"
}
