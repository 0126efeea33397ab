# shellcheck shell=bash
# What the in-cluster add-ons create in the account and pay for: DigitalOcean load balancers
# (the cloud-controller-manager, for each LoadBalancer Service) and volumes (a CSI driver, for
# each PersistentVolumeClaim). They carry CLOUD_TAG (the CCM tags them k8s:<DO_CLUSTER_ID>:
# digitalocean-cloud-controller-manager v0.1.68 cloud-controller-manager/do/loadbalancers.go
# buildK8sTag; csi-digitalocean cmd/do-csi-plugin/main.go --do-tag), and only what carries it is
# this cluster's: make destroy deletes exactly those, make plan prices them, make status lists
# them. The API filters neither list by tag: both are listed whole and filtered here.

# cloud_resources: CLOUD_LBS and CLOUD_VOLUMES, JSON arrays of what carries CLOUD_TAG
# ({id, name, ip, size_unit} and {id, name, size_gigabytes, droplet_ids}). Returns 1 when a
# listing failed (doctl's error logged).
cloud_resources() {
  local list
  cloud_lbs || return 1
  list=$(do_json "listing the volumes" compute volume list) || return 1
  CLOUD_VOLUMES=$(jq -c --arg t "$CLOUD_TAG" \
    '[.[] | select((.tags // []) | index($t)) | {id, name, size_gigabytes, droplet_ids: (.droplet_ids // [])}]' <<<"$list")
}

# cloud_lbs: CLOUD_LBS alone (one listing): the load balancers tagged CLOUD_TAG, which the
# cloud-controller-manager made for LoadBalancer Services (the nodes' firewall admits them).
cloud_lbs() {
  local list
  list=$(do_json "listing the load balancers" compute load-balancer list) || return 1
  CLOUD_LBS=$(jq -c --arg t "$CLOUD_TAG" \
    '[.[] | select((.tags // []) | index($t)) | {id, name, ip: (.ip // ""), size_unit: (.size_unit // 1)}]' <<<"$list")
}

# cloud_resources_lines: one line each ("load balancer NAME (id ID, IP)", "volume NAME (N GiB,
# id ID)"), for a listing or a prompt.
cloud_resources_lines() {
  jq -r '.[] | "load balancer \(.name) (id \(.id)\(if .ip != "" then ", " + .ip else "" end))"' <<<"$CLOUD_LBS"
  jq -r '.[] | "volume \(.name) (\(.size_gigabytes) GiB, id \(.id))"' <<<"$CLOUD_VOLUMES"
}

# cloud_resources_count: how many load balancers and volumes carry CLOUD_TAG.
cloud_resources_count() {
  echo $(($(jq length <<<"$CLOUD_LBS") + $(jq length <<<"$CLOUD_VOLUMES")))
}

# cloud_resources_summary: "N load balancer(s) and M volume(s) tagged CLOUD_TAG: $X/month".
cloud_resources_summary() {
  echo "$(jq length <<<"$CLOUD_LBS") load balancer(s) and $(jq length <<<"$CLOUD_VOLUMES") volume(s)" \
    "tagged $CLOUD_TAG: $(money "$(cloud_resources_monthly)")/month"
}

# cloud_resources_monthly: their monthly price in USD (load balancers per node at
# LB_NODE_MONTHLY_USD, volumes per GiB at VOLUME_GIB_MONTHLY_USD).
cloud_resources_monthly() {
  # the two listings on stdin (JSON never as an argument), the prices as numbers
  printf '%s\n' "$CLOUD_LBS" "$CLOUD_VOLUMES" |
    jq -s --arg lb "$LB_NODE_MONTHLY_USD" --arg gib "$VOLUME_GIB_MONTHLY_USD" \
      '([.[0][].size_unit] | add // 0) * ($lb | tonumber)
       + ([.[1][].size_gigabytes] | add // 0) * ($gib | tonumber)'
}

# remove_cloud_resources: delete the load balancers, then the volumes CLOUD_LBS and
# CLOUD_VOLUMES name (after the droplets: a volume still attached cannot be deleted). Sets
# CLOUD_REMOVED (a phrase for the summary; empty: none). Returns 1 when one was not deleted.
remove_cloud_resources() {
  local id failed=0 n
  # shellcheck disable=SC2034 # read by destroy.sh's summary
  CLOUD_REMOVED=""
  n=$(cloud_resources_count)
  ((n)) || return 0
  step "deleting $n load balancer(s) and volume(s) tagged $CLOUD_TAG (created by the in-cluster add-ons)"
  while IFS= read -r id; do
    do_json "deleting the load balancer $id" compute load-balancer delete "$id" --force >/dev/null || failed=1
  done < <(jq -r '.[].id' <<<"$CLOUD_LBS")
  while IFS= read -r id; do
    do_json "deleting the volume $id" compute volume delete "$id" --force >/dev/null || failed=1
  done < <(jq -r '.[].id' <<<"$CLOUD_VOLUMES")
  ((failed == 0)) || return 1
  step_done
  # shellcheck disable=SC2034 # read by destroy.sh's summary
  CLOUD_REMOVED="; $n load balancer(s) and volume(s) tagged $CLOUD_TAG"
}
