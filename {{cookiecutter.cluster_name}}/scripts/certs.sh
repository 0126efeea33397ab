#!/usr/bin/env bash
# make certs [OUTPUT=json]: every certificate in pki/ and installed on each droplet (read over
# ssh): subject, SANs, issuer, days left. Warns under CERT_WARN_DAYS (30), fails under
# CERT_FAIL_DAYS (7). An installed certificate whose serial differs from pki/ is flagged.
# usage: scripts/certs.sh [-o text|json]
set -euo pipefail
shopt -s inherit_errexit
# shellcheck source=scripts/lib/usage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/usage.sh"
usage_check "$@"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=scripts/lib/certs.sh
source scripts/lib/certs.sh

main() {
  local output
  output=$(output_format "$@")
  require_tools openssl jq
  require_openssl
  local records
  step "certificates in $PKI_DIR/"
  records=$(local_cert_records)
  step_done "$(grep -c . <<<"$records" || true) certificate(s)"

  if type -P doctl >/dev/null && [[ -n "${DIGITALOCEAN_ACCESS_TOKEN:-}${DIGITALOCEAN_API_KEY:-}${CONTEXT:-}" ]]; then
    preflight --no-key
    CLUSTER_LIST=$(cluster_droplets)
    local name ip dir
    while IFS=$'\t' read -r name ip; do
      [[ -n "$ip" ]] || continue
      dir=$SSL_DIR
      [[ "$name" != "$ETCD_PREFIX-"* ]] || dir=$ETCD_SSL_DIR
      step "certificates installed on $name ($ip:$dir)"
      records+=$'\n'$(remote_cert_records "$name" "$ip" "$dir" || true)
      step_done
    done < <(jq -r '.[] | [.name, .public_ip] | @tsv' <<<"$CLUSTER_LIST" | sort)
  else
    warn "no doctl or no API token: listing $PKI_DIR/ only (export DIGITALOCEAN_ACCESS_TOKEN, or CONTEXT=NAME for a doctl context, to read the droplets too)"
  fi

  # one array; an installed copy whose serial differs from the pki/ file it came from is "stale"
  records=$(grep . <<<"$records" | jq -s --arg pki "$PKI_DIR/" '
    (map(select(.location | startswith($pki))) | map({key: (.location | ltrimstr($pki)), value: .serial})
     | from_entries) as $serials
    | map(. + {stale: (has("from") and ($serials[.from] // .serial) != .serial)})')
  if [[ "$output" == json ]]; then
    printf '%s\n' "$records"
  fi
  cert_table <<<"$records" >&2
  local counts failing
  counts=$(jq -r '"\(length) certificate(s): \(map(select(.level == "ok")) | length) ok, \(map(select(.level == "warn")) | length) warn (< '"$CERT_WARN_DAYS"' days), \(map(select(.level == "fail")) | length) fail (< '"$CERT_FAIL_DAYS"' days)"' <<<"$records")
  failing=$(jq -r 'map(select(.level == "fail") | "\(.location) (\(.days_left) days left)") | join(", ")' <<<"$records")
  local lines=("$counts")
  lines+=("soonest: $(jq -r 'sort_by(.days_left)[0] // {} | "\(.location // "-") in \(.days_left // "-") day(s)"' <<<"$records")")
  if jq -e 'any(.[]; .stale)' <<<"$records" >/dev/null; then
    lines+=("* installed copy differs from $PKI_DIR/ (re-run the make target of that node, or make rotate-certs)")
  fi
  [[ -z "$failing" ]] || lines+=("FAILING: $failing: make rotate-certs")
  summary "certificates of $CLUSTER_NAME" "${lines[@]}"
  [[ -z "$failing" ]] || exit 1
}

main "$@"
