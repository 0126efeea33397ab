#!/usr/bin/env bash
# make controller: the CONTROLLER_COUNT controller droplets (their placeholders substituted:
# profile_placeholders; one is the tutorial's), with several the load balancer in front of them,
# their TLS assets installed over scp/ssh (profile_controller_tls), and ./kubeconfig for the
# admin (tutorial steps 8 and 9).
set -euo pipefail
shopt -s inherit_errexit
# shellcheck source=scripts/lib/usage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/usage.sh"
usage_check "$@"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# workers_left_behind: the workers whose kept user data names another apiserver address than
# the one they would get now (a load balancer replaced by hand has a new IP; user data cannot
# change): they never reach the apiservers again until re-created.
workers_left_behind() {
  (
    profile_placeholders worker >/dev/null 2>&1
    local name
    while IFS= read -r name; do
      [[ -f "$USER_DATA_DIR/$name.yaml" ]] || continue
      STALE_USER_DATA=()
      render_user_data worker.yaml "$name" yes
      ((${#STALE_USER_DATA[@]} == 0)) || echo "$name"
    done < <(jq -r --arg p "$WORKER_PREFIX-" '.[] | select(.name | startswith($p)) | .name' \
      <<<"$CLUSTER_LIST")
  )
}

main() {
  apply_lock controller
  preflight
  pki_sweep
  # shellcheck disable=SC2034 # read by the library (records_tsv, need_droplet, ensure_droplets)
  CLUSTER_LIST=$(cluster_droplets)
  etcd_require_members controller
  controller_check_count
  local names=() name id first_missing="" etcd
  # assigned first: a need_droplet that stops inside a command's argument stops nothing
  etcd=$(need_droplet "$ETCD_NAME" etcd)
  profile_placeholders controller "$etcd"

  mapfile -t names < <(controller_names)
  while IFS=$'\t' read -r name id _; do
    render_user_data controller.yaml "$name" "$([[ -n "$id" ]] && echo yes || echo no)"
    [[ -n "$id" || -n "$first_missing" ]] || first_missing=$name
  done < <(records_tsv "${names[@]}")
  replace_stale controller controller.yaml
  ensure_droplets controller "$CONTROLLER_SIZE" "$USER_DATA_DIR/${first_missing:-${names[0]}}.yaml" "${names[@]}"

  # read by profile_controller_tls: every controller, and the load balancer's IP (if any)
  read_controllers

  local server=${CONTROLLER_PUBLICS[0]}
  if lb_wanted; then
    ensure_load_balancer
    server=$LB_IP
    ensure_firewalls "the apiservers' port admits the load balancer $LB_ID"
  fi
  profile_controller_tls

  local result
  result=$(sed -e "s|CONTROLLER_PUBLIC_IP|$server|g" client/admin-kubeconfig.yaml |
    write_if_changed "$KUBECONFIG_FILE")
  log "./kubeconfig $result (server https://$server; ~/.kube/config is not touched)"

  # controllers beyond CONTROLLER_COUNT, a load balancer no longer needed: named, not removed
  local unwanted=() kind behind=()
  if lb_wanted; then
    mapfile -t behind < <(workers_left_behind)
    if ((${#behind[@]})); then
      unwanted+=("${behind[*]} point at another apiserver address than the load balancer's $LB_IP\
 (replaced by hand?) in their user data, which cannot change: 'make worker REPLACE=1' re-creates them")
      warn "${unwanted[-1]}"
    fi
  fi
  while IFS=$'\t' read -r kind name id; do
    unwanted+=("not wanted (CONTROLLER_COUNT=$CONTROLLER_COUNT), left as it is, outside the apiserver\
 certificate and still billed: $kind $name id $id; delete it: doctl compute $kind delete $id")
    warn "${unwanted[-1]}"
  done < <(unwanted_control_plane "$CLUSTER_LIST")

  local title="controller ready"
  ((${#names[@]} == 1)) || title="${#names[@]} controllers ready"
  summary "$title" "${CONTROLLER_LINES[@]}" \
    ${LB_IP:+"load balancer $LOAD_BALANCER  id $LB_ID  IP $LB_IP (tcp $APISERVER_SECURE_PORT to every controller)"} \
    "${unwanted[@]}" \
    "user data: $(printf "$USER_DATA_DIR/%s.yaml " "${names[@]}")" \
    "kubeconfig: ./kubeconfig (export KUBECONFIG=\$PWD/kubeconfig)" \
    "next: make worker"
}

main "$@"
