#!/usr/bin/env bash
# make destroy [FORCE=1]: delete the droplets tagged with the cluster's own tag (CLUSTER_TAG;
# asks first unless FORCE=1; refuses without a terminal), wait until the listing confirms they
# are gone, then remove the local files of exactly those droplets: their state, user data,
# logs, certificates and keys. The CA and the admin keys stay. The load balancers and volumes
# the in-cluster add-ons created (tagged CLOUD_TAG: scripts/lib/cloudres.sh) are listed and
# confirmed with the droplets, and deleted once the droplets are gone.
#
# An empty listing removes nothing: it is as likely a wrong token or account as a deleted
# cluster, and the keys of running droplets (the apiserver key also signs the service
# account tokens) must never go while those droplets exist.
set -euo pipefail
shopt -s inherit_errexit
# shellcheck source=scripts/lib/usage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/usage.sh"
usage_check "$@"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# local_names: every droplet name the local files speak of (state, user data, node certificates).
local_names() {
  local f
  for f in "$DROPLET_STATE_DIR"/*.json "$USER_DATA_DIR"/*.yaml; do
    [[ -e "$f" ]] && basename "$f" | sed -E 's/\.(json|yaml)$//'
  done
  [[ ! -e "$KUBECONFIG_FILE" ]] || echo "$CONTROLLER_NAME"
  profile_pki_names
}

# clean_up NAME...: remove the local files of every NAME (and of any droplet the local files
# speak of) that CLUSTER_LIST, the listing after the deletion, no longer shows; with nothing
# left listed, also build/, state/droplets and the leftovers of signing. Sets REMOVED.
clean_up() {
  local remaining=() name gone
  mapfile -t remaining < <(jq -r '.[].name' <<<"$CLUSTER_LIST")
  REMOVED=()
  while IFS= read -r name; do
    [[ -n "$name" ]] || continue
    [[ " ${remaining[*]-} " == *" $name "* ]] && continue
    while IFS= read -r gone; do
      rm -f "$gone"
      REMOVED+=("$gone")
    done < <(files_of "$name" | existing)
  done < <({ printf '%s\n' "$@"; local_names; } | sort -u)
  if ((${#remaining[@]} == 0)); then
    mapfile -t -O "${#REMOVED[@]}" REMOVED < <(printf '%s\n' "$BUILD_DIR" "$DROPLET_STATE_DIR" \
      "$STATE_DIR/ssh-key.json" "$PKI_DIR"/*.srl "$PKI_DIR"/*.csr "$DELETED_FILE" \
      "$ETCD_CLUSTER_FILE" | existing)
    rm -rf "$BUILD_DIR" "$DROPLET_STATE_DIR" "$STATE_DIR/ssh-key.json" "$PKI_DIR"/*.srl \
      "$PKI_DIR"/*.csr "$DELETED_FILE" "$ETCD_CLUSTER_FILE"
  fi
}

# kept_image: the imported image stays (the account's, reused by the next apply: an import
# takes minutes and costs cents a month); how to delete it.
kept_image() {
  local id
  id=$(recorded_image id)
  if [[ -n "$id" ]]; then
    echo "kept: image $id imported by make image ($IMAGE_STATE); delete it with 'doctl compute image delete $id' when no cluster needs it"
  else
    echo "no imported image to keep"
  fi
}

# confirm_deletion WHAT: FORCE=1, or the cluster's name typed on a terminal; dies otherwise.
confirm_deletion() {
  [[ "${FORCE:-}" != 1 ]] || return 0
  [[ -t 0 ]] || die "not deleting anything: no terminal to confirm on; run 'make destroy FORCE=1' to delete $1"
  local answer=""
  read -r -p "Delete $1? Type the cluster name ($CLUSTER_NAME) to confirm: " answer
  [[ "$answer" == "$CLUSTER_NAME" ]] || die "not confirmed: nothing deleted"
}

# cloud_leftovers: with no droplet left, the load balancers and volumes tagged CLOUD_TAG (an
# earlier destroy stopped before them, or the cluster's were deleted by hand), after asking.
cloud_leftovers() {
  local n
  n=$(cloud_resources_count)
  ((n)) || return 0
  log "$n load balancer(s) and volume(s) tagged $CLOUD_TAG (created by the in-cluster add-ons) will be DELETED:"
  cloud_resources_lines | indent
  confirm_deletion "these $n load balancer(s) and volume(s)"
  remove_cloud_resources || die "some load balancers or volumes tagged $CLOUD_TAG were not deleted (see above); re-run 'make destroy'"
}

main() {
  apply_lock destroy
  preflight --no-key
  # two droplets of one name (two applies at once) are listed by ID and deleted too
  CLUSTER_LIST=$(cluster_droplets --duplicates-ok)
  cloud_resources || die "listing the load balancers and volumes failed (see above); nothing deleted"
  local count names=() name
  count=$(jq length <<<"$CLUSTER_LIST")
  if ((count == 0)) && [[ -s "$DELETED_FILE" ]]; then
    # an earlier destroy deleted these (its listing proved the token and account right) and
    # stopped before removing their files: this listing confirms they are gone
    mapfile -t names < <(jq -r '.[].name' "$DELETED_FILE")
    step "removing the local files of ${names[*]} (deleted by an earlier 'make destroy')"
    clean_up "${names[@]}"
    step_done "${#REMOVED[@]} file(s): ${REMOVED[*]:-none}"
    cloud_leftovers
    remove_load_balancer
    remove_firewalls || die "the cloud firewalls were kept; re-run 'make destroy'"
    summary "cluster $CLUSTER_NAME destroyed" "removed the local files of: ${names[*]}" \
      "and the cloud firewalls $NODES_FIREWALL and $APISERVER_FIREWALL${LB_REMOVED}${CLOUD_REMOVED:-}"
    return 0
  fi
  if ((count == 0)); then
    local files=()
    while IFS= read -r name; do
      [[ -n "$name" ]] && mapfile -t -O "${#files[@]}" files < <(files_of "$name" | existing)
    done < <(local_names | sort -u)
    if ((${#files[@]} == 0)); then
      cloud_leftovers
      # a load balancer outlives its droplets only when a destroy stopped in between: ours by name and tag
      remove_load_balancer
      summary "nothing to destroy" "no droplets are tagged $CLUSTER_TAG and no apply state is left here${LB_REMOVED:+ (deleted a leftover: ${LB_REMOVED#; })}"
      return 0
    fi
    die "no droplets tagged $CLUSTER_TAG: wrong token or account? nothing removed." \
      "These local files belong to droplets of this cluster and are kept: ${files[*]}." \
      "If you deleted the droplets yourself (check: doctl compute droplet list --tag-name $CLUSTER_TAG)," \
      "remove them by hand."
  fi
  mapfile -t names < <(jq -r '.[].name' <<<"$CLUSTER_LIST")
  log "$count droplet(s) tagged $CLUSTER_TAG will be DELETED with all their data:"
  jq -r '.[] | "    \(.name)  id \(.id)  public \(.public_ip)  private \(.private_ip)"' <<<"$CLUSTER_LIST" >&2
  local what="these $count droplet(s): ${names[*]}" cloud
  cloud=$(cloud_resources_count)
  if ((cloud)); then
    log "and, once the droplets are gone, $cloud load balancer(s) and volume(s) tagged $CLOUD_TAG (created by the in-cluster add-ons):"
    cloud_resources_lines | indent
    what+=", and $cloud load balancer(s) and volume(s)"
  fi
  confirm_deletion "$what"
  local listed ips ip
  listed=$(jq -c 'map(.id)' <<<"$CLUSTER_LIST")
  ips=$(jq -r '.[] | .public_ip | select(. != "")' <<<"$CLUSTER_LIST")
  step "deleting $count droplet(s) tagged $CLUSTER_TAG"
  local out rc=0
  out=$(doctl compute droplet delete --tag-name "$CLUSTER_TAG" --force 2>&1) || rc=$?
  ((rc == 0)) || die "deleting the droplets failed: $out; nothing local was removed; re-run 'make destroy'"
  printf '%s\n' "$CLUSTER_LIST" >"$DELETED_FILE"
  step_done

  step "confirming the deletion (listing the droplets tagged $CLUSTER_TAG again)"
  wait_gone "$listed"
  step_done "${STILL_LISTED:-none} still listed"

  # Local files of every droplet that is confirmed gone; a listed droplet keeps its own.
  step "removing the local files of the deleted droplets"
  for ip in $ips; do
    [[ -n "$(jq -r --arg ip "$ip" '.[] | select(.public_ip == $ip) | .id' <<<"$CLUSTER_LIST")" ]] ||
      forget_host "$ip"
  done
  clean_up "${names[@]}"
  step_done "${#REMOVED[@]} file(s): ${REMOVED[*]:-none}"
  if [[ -n "$(jq -r '.[].name' <<<"$CLUSTER_LIST")" ]]; then
    die "still listed after ${APPLY_TIMEOUT_SECONDS}s: $(jq -r '[.[].name] | join(" ")' <<<"$CLUSTER_LIST");" \
      "their keys, state and the cloud firewalls are kept; re-run 'make destroy'"
  fi
  # what the add-ons created (a volume is detached once its droplet is gone)
  remove_cloud_resources ||
    die "some load balancers or volumes tagged $CLOUD_TAG were not deleted (see above); re-run 'make destroy'"
  # the load balancer, then the firewalls (one names it as a source) go last: never leave a
  # droplet of the cluster without them
  remove_load_balancer
  remove_firewalls || die "the cloud firewalls were kept; re-run 'make destroy'"
  summary "cluster $CLUSTER_NAME destroyed" \
    "deleted: $count droplet(s): ${names[*]}${LB_REMOVED}${CLOUD_REMOVED}; the cloud firewalls $NODES_FIREWALL and $APISERVER_FIREWALL" \
    "removed their state, user data, logs, certificates and keys (etcd members, apiserver, workers), ./kubeconfig" \
    "kept: $PKI_DIR/ca*.pem, $PKI_DIR/admin*.pem${KEPT_PKI:+, $KEPT_PKI}, $STATE_DIR/known_hosts" \
    "$(kept_image)" \
    "next: make etcd controller worker (to re-create it)"
}

main "$@"
