# shellcheck shell=bash
# make status, layer "controllers": every controller and, with several, the load balancer in
# front of them. DigitalOcean's API does not say which droplets pass a load balancer's health
# check (godo's LoadBalancer has no such field), so each controller is asked what that TCP check
# on APISERVER_SECURE_PORT asks, one level up: kubectl at the controller's own public address
# (its SANs include it). A controller that answers but is not among the load balancer's
# droplet_ids gets no traffic.

# kube_at_output IP [ARGS...]: kubectl ARGS (default: version) against https://IP with
# ./kubeconfig's CA and admin certificate, its output printed (make upgrade: the version).
kube_at_output() {
  local ip=$1 tmp rc=0
  shift
  (($#)) || set -- version
  # beside ./kubeconfig: its pki/ paths are relative to the file
  tmp=$(mktemp "$CLUSTER_DIR/.kubeconfig.XXXXXX")
  sed -E "s|(server: https://)[^:/[:space:]]+|\1$ip|" "$KUBECONFIG_FILE" >"$tmp"
  kubectl --kubeconfig "$tmp" "$@" || rc=$?
  rm -f "$tmp"
  return "$rc"
}

# _kube_at IP [ARGS...]: whether kube_at_output succeeds (make rotate-certs: get --raw /readyz).
_kube_at() {
  kube_at_output "$@" >/dev/null 2>&1
}

check_controllers() {
  local names=() name rec id ip lb="" members="[]" items=() bad=() where
  mapfile -t names < <(controller_names)
  if lb_wanted; then
    lb=$(lb_find)
    if [[ -z "$lb" ]]; then
      layer controllers FAIL "the load balancer $LOAD_BALANCER does not exist: make controller"
      return 0
    fi
    members=$(jq -c '.droplet_ids // []' <<<"$lb")
    items+=("load balancer $LOAD_BALANCER  id $(jq -r .id <<<"$lb")  $(jq -r .status <<<"$lb")  IP $(jq -r '.ip // "-"' <<<"$lb")")
  fi
  local can_ask=yes
  [[ -s "$KUBECONFIG_FILE" ]] && command -v kubectl >/dev/null 2>&1 || can_ask=no
  for name in "${names[@]}"; do
    rec=$(record_of "$CLUSTER_LIST" "$name")
    if [[ -z "$rec" ]]; then
      items+=("$name: missing")
      bad+=("$name missing")
      continue
    fi
    id=$(field "$rec" id)
    ip=$(field "$rec" public_ip)
    where=""
    if [[ -n "$lb" ]]; then
      if jq -e --arg i "$id" 'map(tostring) | index($i) != null' <<<"$members" >/dev/null; then
        where="behind the load balancer, "
      else
        where="NOT behind the load balancer, "
        bad+=("$name not behind the load balancer")
      fi
    fi
    if [[ "$can_ask" == no ]]; then
      items+=("$name ($id, $ip): ${where}apiserver not asked (no kubectl or ./kubeconfig)")
    elif _kube_at "$ip"; then
      items+=("$name ($id, $ip): ${where}apiserver answers")
    else
      items+=("$name ($id, $ip): ${where}apiserver does not answer")
      bad+=("$name's apiserver does not answer")
    fi
  done
  if [[ -n "$lb" && "$(jq -r .status <<<"$lb")" != active ]]; then
    layer controllers FAIL "the load balancer is $(jq -r .status <<<"$lb"): re-run make controller" "${items[@]}"
  elif ((${#bad[@]} == ${#names[@]})); then
    layer controllers FAIL "no controller serves: ${bad[*]}" "${items[@]}"
  elif ((${#bad[@]})); then
    layer controllers WARN "${#bad[@]} of ${#names[@]} not serving: ${bad[*]}" "${items[@]}"
  else
    layer controllers OK "${#names[@]} controller(s) serving${lb:+ behind the load balancer}" "${items[@]}"
  fi
}
