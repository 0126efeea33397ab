#!/usr/bin/env bash
# make etcd: the cloud firewalls, the etcd member droplet(s) from cloud-config/etcd.yaml
# (tutorial step 3; ETCD_COUNT of them, all in one call), each member's TLS certificate (SAN:
# its private IP) installed over scp/ssh (lock-down, issue 10; profile_etcd_tls), and for a
# static cluster of 3 or 5 each member's name and the initial cluster (scripts/lib/etcdcluster.sh).
set -euo pipefail
shopt -s inherit_errexit
# shellcheck source=scripts/lib/usage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/usage.sh"
usage_check "$@"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

main() {
  apply_lock etcd
  preflight
  # shellcheck disable=SC2034 # read by etcd_check_count, records_tsv, ensure_droplets
  CLUSTER_LIST=$(cluster_droplets)
  etcd_check_count
  # a lost member of the formed cluster: refused before anything is created unless the others
  # keep the quorum and answer; then only it is replaced (scripts/lib/etcdmember.sh)
  local lost=()
  mapfile -t lost < <(etcd_lost_members "$CLUSTER_LIST")
  ((${#lost[@]} == 0)) || etcd_replace_check "${lost[@]}"
  ensure_firewalls
  local names=() name id
  mapfile -t names < <(etcd_names)
  while IFS=$'\t' read -r name id _; do
    render_user_data etcd.yaml "$name" "$([[ -n "$id" ]] && echo yes || echo no)"
  done < <(records_tsv "${names[@]}")
  if ((ETCD_COUNT > 1 && ${#STALE_USER_DATA[@]})) && [[ -s "$ETCD_CLUSTER_FILE" ]]; then
    die "${STALE_USER_DATA[*]} run with other user data than cloud-config/etcd.yaml renders now," \
      "and a member of the formed etcd cluster is not re-created by make etcd (only a lost one" \
      "is replaced): restore the template, or delete that member's droplet by hand and" \
      "re-run 'make etcd', which replaces it"
  fi
  replace_stale etcd etcd.yaml
  ensure_droplets etcd "$ETCD_SIZE" "$USER_DATA_DIR/${names[0]}.yaml" "${names[@]}"

  local rec public private lines=()
  for name in "${names[@]}"; do
    rec=$(need_droplet "$name" etcd)
    public=$(field "$rec" public_ip)
    private=$(field "$rec" private_ip)
    profile_etcd_tls "$name" "$public" "$private"
    lines+=("$name  id $(field "$rec" id)  public $public  private $private")
  done

  if ((ETCD_COUNT > 1)) && [[ -s "$ETCD_CLUSTER_FILE" ]]; then
    for name in "${names[@]}"; do
      if [[ " ${lost[*]-} " == *" $name "* ]]; then
        etcd_replace "$name"
      else
        log "$name: initial cluster already delivered (a member of the formed cluster)"
      fi
    done
  elif ((ETCD_COUNT > 1)); then
    local initial
    initial=$(etcd_initial_cluster)
    step "initial cluster for ${names[*]}: $initial"
    for name in "${names[@]}"; do
      rec=$(need_droplet "$name" etcd)
      deliver_initial_cluster "$name" "$(field "$rec" public_ip)" "$(etcd_member_name "$name")" \
        "$initial" ||
        die "the initial cluster is not delivered to $name: fix the cause above and re-run 'make etcd'"
    done
    printf '%s\n' "$initial" >"$ETCD_CLUSTER_FILE"
    step_done "$ETCD_CLUSTER_ENV on every member (record: $ETCD_CLUSTER_FILE)"
  fi
  summary "etcd ready: $ETCD_COUNT member(s)" "${lines[@]}" \
    ${lost[0]:+"replaced: ${lost[*]} (joined the running cluster; other droplets unchanged)"} \
    "${PROFILE_NOTES[@]}" \
    "user data: $USER_DATA_DIR/${names[0]}.yaml" \
    "next: make controller"
}

main "$@"
