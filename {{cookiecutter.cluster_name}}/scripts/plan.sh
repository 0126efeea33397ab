#!/usr/bin/env bash
# make plan [WORKERS=N] [OUTPUT=json]: what the next `make etcd controller worker` would create
# and what it would leave alone, read from the live account with doctl, with the monthly price
# of each droplet size and its vCPUs and memory (doctl compute size list: price_monthly, vcpus,
# memory) and the totals. Changes nothing.
# usage: scripts/plan.sh [-o text|json]
set -euo pipefail
shopt -s inherit_errexit
# shellcheck source=scripts/lib/usage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/usage.sh"
usage_check "$@"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# One function per kind of resource, in apply order; each prints rows
# "kind<TAB>name<TAB>action<TAB>size<TAB>detail" (size empty when it costs nothing itself).
# The load balancer's price joins the totals through its size column (LB_SIZE, priced from
# LB_NODE_MONTHLY_USD: there is no load balancer size listing to ask).
PLAN_KINDS=(droplets load_balancer certificates)
# make plan KUBERNETES_VERSION=X.Y.Z: what make upgrade would change (the current profile's)
if declare -F plan_upgrade >/dev/null; then PLAN_KINDS+=(upgrade); fi

# wanted: "role<TAB>name<TAB>size" of every droplet the create targets would leave.
wanted() {
  local nn name
  while IFS= read -r name; do
    printf 'etcd\t%s\t%s\n' "$name" "$ETCD_SIZE"
  done < <(etcd_names)
  controller_names | sed "s/^/controller\t/; s/\$/\t$CONTROLLER_SIZE/"
  for ((nn = 1; nn <= WANT_WORKERS; nn++)); do
    printf 'worker\t%s\t%s\n' "$(worker_name "$nn")" "$WORKER_SIZE"
  done
}

plan_droplets() {
  local role name size rec have
  while IFS=$'\t' read -r role name size; do
    rec=$(jq -c --arg n "$name" '[.[] | select(.name == $n)]' <<<"$LIVE")
    case $(jq length <<<"$rec") in
      0) printf 'droplet\t%s\tcreate\t%s\tmake %s (%s, %s)%s\n' "$name" "$size" "$role" "$REGION" \
        "$(image_label)" "$([[ " ${LOST_MEMBERS[*]-} " != *" $name "* ]] ||
          echo "; replaces a lost member: it joins the running etcd cluster, no other droplet changes")" ;;
      1)
        have=$(jq -r '.[0].size' <<<"$rec")
        printf 'droplet\t%s\tleave\t%s\t%s, id %s, %s%s%s\n' "$name" "$have" \
          "$(jq -r '.[0].status' <<<"$rec")" "$(jq -r '.[0].id' <<<"$rec")" \
          "$(jq -r '.[0].public_ip // "" | if . == "" then "no IP yet" else . end' <<<"$rec")" \
          "$([[ "$have" == "$size" ]] || echo "; settings say $size: user data and size are fixed, re-create it to change")" \
          "$(_stale_etcd_peer "$role" "$name")"
        ;;
      *) printf 'droplet\t%s\tblocked\t\t%s droplets share this name: the apply stops; delete the extra ones\n' \
        "$name" "$(jq length <<<"$rec")" ;;
    esac
  done < <(wanted)
  # tagged droplets no create target wants (workers beyond WORKERS): left alone, still billed
  jq -r --slurpfile want <(wanted | cut -f2 | jq -R .) \
    '.[] | select(.name as $n | $want | index($n) | not)
     | "droplet\t\(.name)\tleave\t\(.size)\tnot wanted (CONTROLLER_COUNT='"$CONTROLLER_COUNT"', WORKERS='"$WANT_WORKERS"'); left as it is and billed: delete it with doctl compute droplet delete \(.id), or make destroy removes the whole cluster"' \
    <<<"$LIVE"
}

# _stale_etcd_peer ROLE NAME: a warning when NAME's user data (build/user-data/, what it was
# created with) names another etcd peer than the etcd droplet has now (it was re-created).
_stale_etcd_peer() {
  local user_data=$USER_DATA_DIR/$2.yaml etcd_ip
  [[ "$1" != etcd && -s "$user_data" && -n "$(profile_etcd_ref "$1" 192.0.2.1)" ]] || return 0
  if ((ETCD_COUNT > 1)) && [[ -s "$ETCD_CLUSTER_FILE" ]]; then
    # a proxy that named a current or past membership learns the members from the cluster
    etcd_membership_known "$user_data" ||
      echo "; its etcd proxy (user data) names no membership the etcd cluster had: re-create $2"
    return 0
  fi
  etcd_ip=$(jq -r --arg n "$ETCD_NAME" '.[] | select(.name == $n) | .private_ip' <<<"$LIVE")
  if [[ -z "$etcd_ip" ]]; then
    echo "; its etcd proxy points at the etcd droplet about to be re-created with a new IP: re-create $2 after it"
  elif ! grep -qF "$(profile_etcd_ref "$1" "$etcd_ip")" "$user_data"; then
    echo "; its etcd proxy (user data) points at another etcd peer than $etcd_ip: re-create $2"
  fi
}

# plan_load_balancer: with several controllers, their load balancer (ours: name and tag).
plan_load_balancer() {
  local lb
  if ! lb_wanted; then
    # one controller: a load balancer left from several is named, not removed
    lb=$(lb_find)
    [[ -z "$lb" ]] || printf 'load-balancer\t%s\tleave\t%s\tnot wanted (CONTROLLER_COUNT=%s): left as it is and billed; delete it with doctl compute load-balancer delete %s\n' \
      "$LOAD_BALANCER" "$LB_SIZE" "$CONTROLLER_COUNT" "$(jq -r .id <<<"$lb")"
    return 0
  fi
  lb=$(lb_find)
  if [[ -z "$lb" ]]; then
    printf 'load-balancer\t%s\tcreate\t%s\tmake controller (%s, tcp %s -> tag %s)\n' "$LOAD_BALANCER" \
      "$LB_SIZE" "$REGION" "$APISERVER_SECURE_PORT" "$CONTROLLER_TAG"
  else
    printf 'load-balancer\t%s\tleave\t%s\t%s, id %s, IP %s, %s droplet(s)\n' "$LOAD_BALANCER" "$LB_SIZE" \
      "$(jq -r .status <<<"$lb")" "$(jq -r .id <<<"$lb")" "$(jq -r '.ip // "" | if . == "" then "none yet" else . end' <<<"$lb")" \
      "$(jq '.droplet_ids // [] | length' <<<"$lb")"
  fi
}

plan_certificates() {
  local role name size cert pub priv
  while IFS=$'\t' read -r role name size; do
    cert=$(profile_node_cert "$role" "$name")
    [[ -n "$cert" ]] || continue
    IFS=$'\t' read -r pub priv < <(jq -r --arg n "$name" \
      '[(.[] | select(.name == $n)) // {} | .public_ip // "", .private_ip // ""] | @tsv' <<<"$LIVE")
    if [[ ! -s "$PKI_DIR/$cert.pem" ]]; then
      printf 'certificate\t%s\tcreate\t\tsigned by pki/ca.pem once %s has its IPs\n' "$PKI_DIR/$cert.pem" "$name"
    elif [[ -z "$pub$priv" ]]; then
      printf 'certificate\t%s\treplace\t\t%s does not exist: re-issued for its new IPs\n' "$PKI_DIR/$cert.pem" "$name"
    elif ! _sans_cover "$PKI_DIR/$cert.pem" "$role" "$pub" "$priv"; then
      printf 'certificate\t%s\treplace\t\tits IP SANs are not %s'"'"'s IPs (%s %s)\n' "$PKI_DIR/$cert.pem" "$name" "$pub" "$priv"
    else
      printf 'certificate\t%s\tleave\t\tmatches %s\n' "$PKI_DIR/$cert.pem" "$name"
    fi
  done < <(wanted)
}

# _sans_cover CERT ROLE PUBLIC PRIVATE: the IP SANs the apply would check (ensure_cert_ips).
_sans_cover() {
  local cert=$1 role=$2 want
  want=$(profile_cert_ips "$role" "$3" "$4" | sort | tr '\n' ' ')
  [[ "$(pki_cert_ips "$cert" | tr '\n' ' ')" == "$want" ]]
}

main() {
  local output
  output=$(output_format "$@")
  preflight --no-key # checks WORKERS against the one worker limit, with the settings
  WANT_WORKERS=$((10#${WORKERS:-$WORKER_COUNT}))
  step "reading the account: droplets tagged $CLUSTER_TAG and the droplet sizes' prices"
  local raw prices specs
  raw=$(do_json "listing the droplets tagged $CLUSTER_TAG" compute droplet list --tag-name "$CLUSTER_TAG")
  LIVE=$(jq -c "[(. // [])[] | $JQ_RECORD + {size: (.size_slug // \"\")}]" <<<"$raw")
  mapfile -t LOST_MEMBERS < <(etcd_lost_members "$LIVE")
  prices=$(size_prices --fresh) || die "'doctl compute size list' failed: no prices to plan with"
  specs=$(size_specs)
  LB_SIZE="lb-$LB_SIZE_UNIT-node"
  prices=$(jq -c --arg k "$LB_SIZE" --arg v "$(jq -n "$LB_NODE_MONTHLY_USD * $LB_SIZE_UNIT")" '. + {($k): ($v | tonumber)}' <<<"$prices")
  step_done

  local kind rows=""
  for kind in "${PLAN_KINDS[@]}"; do
    rows+=$("plan_$kind")$'\n'
  done
  local plan
  plan=$(grep . <<<"$rows" | jq -R 'split("\t") | {kind: .[0], name: .[1], action: .[2], size: .[3], detail: .[4]}' |
    jq -s --slurpfile p <(printf '%s\n' "$prices") --slurpfile sp <(printf '%s\n' "$specs") \
      'map(. + {monthly: (if .size == "" then null else ($p[0][.size] // null) end),
        vcpus: ($sp[0][.size].vcpus // null), memory: ($sp[0][.size].memory // null)})')

  if [[ "$output" == json ]]; then
    jq --arg c "$CLUSTER_NAME" '{cluster: $c, items: .,
      to_create: map(select(.action == "create")) | length,
      monthly_new: (map(select(.action == "create") | .monthly // 0) | add // 0),
      monthly_after: (map(select((.kind == "droplet" or .kind == "load-balancer") and .action != "blocked") | .monthly // 0) | add // 0),
      unknown_prices: map(select(.size != "" and .monthly == null) | .size) | unique}' <<<"$plan"
  fi
  {
    printf '  %-13s %-34s %-8s %-20s %-15s %9s  %s\n' KIND NAME ACTION SIZE 'VCPUS/MEMORY' '$/MONTH' DETAIL
    jq -r '.[] | [.kind, .name, .action, (if .size == "" then "-" else .size end),
      (if .vcpus == null then "-" else "\(.vcpus) vCPU \(.memory / 1024) GB" end),
      (if .monthly == null then (if .size == "" then "-" else "unknown" end) else .monthly end),
      .detail] | @tsv' <<<"$plan" |
      while IFS=$'\t' read -r k n a s c m d; do
        [[ ! "$m" =~ ^[0-9.]+$ ]] || printf -v m '%.2f' "$m"
        printf '  %-13s %-34s %-8s %-20s %-15s %9s  %s\n' "$k" "$n" "$a" "$s" "$c" "$m" "$d"
      done
  } >&2

  local lines=() size count creates new after
  creates=$(jq -r 'map(select(.kind == "droplet" and .action == "create")) | group_by(.size)[] | "\(.[0].size)\t\(length)"' <<<"$plan")
  while IFS=$'\t' read -r size count; do
    [[ -z "$size" ]] || lines+=("$(cost_line "$prices" "$size" "$count")")
  done <<<"$creates"
  if jq -e 'any(.[]; .kind == "load-balancer" and .action == "create")' <<<"$plan" >/dev/null; then
    lines+=("cost: 1 load balancer of $LB_SIZE_UNIT node(s) at $(money "$LB_NODE_MONTHLY_USD")/node = $(money "$(jq -n "$LB_NODE_MONTHLY_USD * $LB_SIZE_UNIT")")/month more")
  fi
  new=$(jq 'map(select(.action == "create") | .monthly // 0) | add // 0' <<<"$plan")
  after=$(jq 'map(select((.kind == "droplet" or .kind == "load-balancer") and .action != "blocked") | .monthly // 0) | add // 0' <<<"$plan")
  if [[ -z "$creates" ]] && ! jq -e 'any(.[]; .action != "leave")' <<<"$plan" >/dev/null; then
    lines+=("nothing to do: every droplet and certificate exists")
  else
    lines+=("$(jq -r '"to create: \(map(select(.action == "create")) | length), to replace:
      \(map(select(.action == "replace")) | length), blocked: \(map(select(.action == "blocked")) | length),
      left alone: \(map(select(.action == "leave")) | length)"' <<<"$plan" | tr -s ' \n' ' ' | sed 's/ $//')")
  fi
  if jq -e 'any(.[]; .kind == "upgrade" and .action == "upgrade")' <<<"$plan" >/dev/null; then
    lines+=("upgrade to $UPGRADE_TO: $(jq 'map(select(.kind == "upgrade" and .action == "upgrade")) | length' <<<"$plan") step(s) above, one node at a time: make upgrade KUBERNETES_VERSION=$UPGRADE_TO")
  fi
  lines+=("monthly: +$(money "$new") new, $(money "$after") for the cluster's droplets$(! lb_wanted || echo " and load balancer") after the apply")
  if jq -e 'any(.[]; .size != "" and .monthly == null)' <<<"$plan" >/dev/null; then
    lines+=("unknown price: $(jq -r '[.[] | select(.size != "" and .monthly == null) | .size] | unique | join(", ")' <<<"$plan") (not in doctl compute size list)")
  fi
  # what the in-cluster add-ons created: billed too, not part of the apply (make destroy deletes them)
  cloud_resources || die "listing the load balancers and volumes failed (see above)"
  lines+=("in-cluster add-ons: $(cloud_resources_summary) (LoadBalancer Services, volumes; not in the totals)")
  # the CSI driver's published compatibility (settings.env, from its README at the pinned tag)
  if [[ -n "${CSI_RELEASE:-}" && ",$CSI_KUBERNETES_MINORS," != *",${KUBERNETES_VERSION%.*},"* ]]; then
    lines+=("warning: csi-digitalocean $CSI_RELEASE is published for Kubernetes ${CSI_KUBERNETES_MINORS//,/ }, not ${KUBERNETES_VERSION%.*} (KUBERNETES_VERSION $KUBERNETES_VERSION): volumes may not work; see the README's add-ons section")
  fi
  summary "plan for $CLUSTER_NAME in $REGION (WORKERS=$WANT_WORKERS)" "${lines[@]}" \
    "apply: make etcd controller worker"
}

main "$@"
