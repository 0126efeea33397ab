#!/usr/bin/env bash
# make status: the cluster's droplets, etcd health (over ssh), the apiserver and the nodes.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

main() {
  preflight --no-key
  local ok=0 failed=0 unknown=0 lines=()
  step "droplets tagged $CLUSTER_TAG"
  CLUSTER_LIST=$(cluster_droplets)
  {
    printf '    %-32s %-11s %-7s %-16s %s\n' NAME ID STATUS PUBLIC PRIVATE
    jq -r '.[] | [.name, (.id | tostring), .status, .public_ip, .private_ip] | @tsv' <<<"$CLUSTER_LIST" |
      while IFS=$'\t' read -r n i s pub priv; do
        printf '    %-32s %-11s %-7s %-16s %s\n' "$n" "$i" "$s" "${pub:--}" "${priv:--}"
      done
  } >&2
  local count
  count=$(jq length <<<"$CLUSTER_LIST")
  step_done "$count droplet(s)"
  lines+=("droplets: $count")

  local etcd ip health
  etcd=$(record_of "$CLUSTER_LIST" "$ETCD_NAME")
  ip=""
  [[ -z "$etcd" ]] || ip=$(field "$etcd" public_ip)
  if [[ -z "$ip" ]]; then
    lines+=("etcd: FAIL ($ETCD_NAME does not exist or has no IP: make etcd)")
    failed=$((failed + 1))
  else
    step "etcd health (ssh $SSH_USER@$ip etcdctl cluster-health)"
    if health=$(remote "$ip" etcdctl cluster-health 2>&1); then
      indent <<<"$health"
      if grep -q 'cluster is healthy' <<<"$health"; then
        lines+=("etcd: OK (cluster is healthy)")
        ok=$((ok + 1))
      else
        lines+=("etcd: FAIL (not healthy)")
        failed=$((failed + 1))
      fi
    else
      lines+=("etcd: UNKNOWN (ssh/etcdctl failed: $(tr '\n' ' ' <<<"$health" | cut -c1-120))")
      unknown=$((unknown + 1))
    fi
    step_done
  fi

  if ! command -v kubectl >/dev/null 2>&1 || [[ ! -s "$KUBECONFIG_FILE" ]]; then
    lines+=("apiserver: UNKNOWN (no kubectl or no ./kubeconfig: make controller)")
    unknown=$((unknown + 1))
  else
    local out
    step "apiserver (kubectl version)"
    if out=$(kube version 2>&1); then
      indent <<<"$out"
      lines+=("apiserver: OK")
      ok=$((ok + 1))
      step_done
      step "nodes (kubectl get nodes)"
      if out=$(kube get nodes 2>&1); then
        indent <<<"$out"
        lines+=("nodes: $(grep -c ' Ready' <<<"$out" || true) Ready")
        ok=$((ok + 1))
      else
        lines+=("nodes: FAIL ($(tr '\n' ' ' <<<"$out" | cut -c1-120))")
        failed=$((failed + 1))
      fi
      step_done
    else
      lines+=("apiserver: FAIL ($(tr '\n' ' ' <<<"$out" | cut -c1-120))")
      failed=$((failed + 1))
      step_done
    fi
  fi
  summary "status of $CLUSTER_NAME: $ok OK, $failed failed, $unknown unknown" "${lines[@]}"
  ((failed == 0)) || exit 1
}

main "$@"
