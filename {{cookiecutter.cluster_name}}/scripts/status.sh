#!/usr/bin/env bash
# make status [OUTPUT=json]: the cluster layer by layer in dependency order (droplets, ssh,
# etcd, flannel's network key, the controllers and their load balancer, the apiserver, nodes,
# kube-dns, the current profile's metrics); explaining stops at the first
# broken layer, the ones after it are SKIPPED. The soonest certificate expiry comes last.
# usage: scripts/status.sh [-o text|json]     (json on stdout; progress always on stderr)
set -euo pipefail
shopt -s inherit_errexit
# shellcheck source=scripts/lib/usage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/usage.sh"
usage_check "$@"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=scripts/lib/health.sh
source scripts/lib/health.sh
# shellcheck source=scripts/lib/certs.sh
source scripts/lib/certs.sh
# shellcheck source=scripts/lib/controllers_health.sh
source scripts/lib/controllers_health.sh
# shellcheck source=scripts/lib/metrics.sh
source scripts/lib/metrics.sh

# the profile's layers (STATUS_LAYERS, scripts/lib/profile.sh), each checked by check_<layer>
LAYERS=("${STATUS_LAYERS[@]}")

main() {
  local output
  output=$(output_format "$@")
  preflight --no-key

  # rows: layer TAB result, aligned into lines by table (log.sh) for the summary
  local name broken="" rows=() lines=()
  for name in "${LAYERS[@]}"; do
    if [[ -n "$broken" ]]; then
      LAYER_JSON+=("$(jq -cn --arg n "$name" --arg b "$broken" \
        '{layer: $n, status: "SKIPPED", detail: "not checked: \($b) is broken", items: []}')")
      rows+=("$name"$'\t'"SKIPPED (needs $broken)")
      continue
    fi
    step "$name"
    "check_${name//-/_}"
    step_done "$LAYER_STATUS"
    rows+=("$name"$'\t'"$(jq -r '"\(.status): \(.detail)"' <<<"${LAYER_JSON[-1]}")")
    [[ "$LAYER_STATUS" != FAIL ]] || broken=$name
  done

  # what the in-cluster add-ons created and bill for (make destroy deletes them by their tag)
  step "load balancers and volumes tagged $CLOUD_TAG"
  local cloud_items=() cloud_detail cloud_status=OK
  if cloud_resources; then
    mapfile -t cloud_items < <(cloud_resources_lines)
    cloud_detail=$(cloud_resources_summary)
  else
    cloud_status=WARN cloud_detail="not listed: doctl failed (see above)"
  fi
  layer cloud "$cloud_status" "$cloud_detail" "${cloud_items[@]}"
  step_done "$cloud_status"
  rows+=("cloud"$'\t'"$cloud_status: $cloud_detail")

  step "certificates (pki/)"
  local records soonest cert_status=OK cert_detail="no certificates in $PKI_DIR"
  records=$(local_cert_records)
  soonest=$(soonest_expiry "$records")
  if [[ -n "$soonest" ]]; then
    cert_detail=$(jq -r '"soonest: \(.location) in \(.days_left) day(s) (\(.not_after))"' <<<"$soonest")
    case $(jq -r .level <<<"$soonest") in
      fail) cert_status=FAIL ;;
      warn) cert_status=WARN ;;
    esac
    [[ "$cert_status" == OK ]] || cert_detail+=": make rotate-certs (make certs lists them all)"
  fi
  if [[ -s "$PKI_DIR/rotation.tsv" ]]; then
    [[ "$cert_status" == FAIL ]] || cert_status=WARN
    cert_detail+="; a rotation was interrupted: re-run make rotate-certs"
  fi
  layer certificates "$cert_status" "$cert_detail"
  step_done "$cert_status"
  rows+=("certs"$'\t'"$cert_status: $cert_detail")
  mapfile -t lines < <(printf '%s\n' "${rows[@]}" | table)


  local failed
  failed=$(printf '%s\n' "${LAYER_JSON[@]}" | jq -s '[.[] | select(.status == "FAIL")] | length')
  if [[ "$output" == json ]]; then
    printf '%s\n' "${LAYER_JSON[@]}" | jq -s --arg c "$CLUSTER_NAME" --arg b "$broken" \
      --slurpfile soonest <(printf '%s\n' "${soonest:-null}") \
      '{cluster: $c, ok: (map(select(.status == "FAIL")) | length == 0),
        first_broken: (if $b == "" then null else $b end), layers: .,
        soonest_certificate: $soonest[0]}'
  fi
  summary "status of $CLUSTER_NAME: ${broken:+broken at $broken, }$failed failed" "${lines[@]}"
  ((failed == 0)) || exit 1
}

main "$@"
