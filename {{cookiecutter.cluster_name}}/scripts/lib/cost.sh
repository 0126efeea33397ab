# shellcheck shell=bash
# Prices: the monthly price of each droplet size from `doctl compute size list` (price_monthly,
# USD, billed up to 672 hours a month). make plan always asks; the create targets reuse the
# answer for SIZE_PRICES_MAX_AGE_SECONDS (a day: prices change rarely, API requests count).

# size_prices [--fresh]: {"<slug>": price_monthly, ...} of every size the account can create
# (the cache keeps each size's vCPUs and memory too: size_specs).
size_prices() {
  local cache=$STATE_DIR/sizes.json now out
  printf -v now '%(%s)T' -1
  if [[ "${1:-}" != --fresh && -s "$cache" ]] &&
    jq -e --argjson now "$now" --argjson max "${SIZE_PRICES_MAX_AGE_SECONDS:-86400}" \
      '$now - .fetched_at < $max' "$cache" >/dev/null 2>&1; then
    jq -c .prices "$cache"
    return 0
  fi
  out=$(doctl compute size list -o json 2>/dev/null) || return 1
  out=$(jq -c '{prices: map({key: .slug, value: (.price_monthly // null)}) | from_entries,
    specs: map({key: .slug, value: {vcpus, memory}}) | from_entries}' <<<"$out") || return 1
  mkdir -p "$STATE_DIR"
  jq --argjson t "$now" '{fetched_at: $t} + .' <<<"$out" >"$cache.tmp"
  mv "$cache.tmp" "$cache"
  jq -c .prices <<<"$out"
}

# size_specs: {"<slug>": {"vcpus": N, "memory": MiB}, ...} as the last size_prices read them
# (vcpus and memory of `doctl compute size list`); {} before any.
size_specs() {
  jq -c '.specs // {}' "$STATE_DIR/sizes.json" 2>/dev/null || echo '{}'
}

# money AMOUNT -> "$6.00"
money() {
  printf '$%.2f' "$1"
}

# cost_line PRICES SIZE COUNT: the one line every create prints before creating, e.g.
# "cost: 2 x s-1vcpu-1gb at $6.00/month = $12.00/month more".
cost_line() {
  local prices=$1 size=$2 count=$3 each
  each=$(jq -r --arg s "$size" '.[$s] // empty' <<<"$prices")
  if [[ -z "$each" ]]; then
    echo "cost: $count x $size at an unknown price ($size is not in 'doctl compute size list')"
    return 0
  fi
  echo "cost: $count x $size at $(money "$each")/month = $(money "$(jq -n "$each * $count")")/month more"
}

# log_cost SIZE COUNT: cost_line for a create that is about to happen; never stops it.
log_cost() {
  local prices
  if prices=$(size_prices); then
    log "$(cost_line "$prices" "$1" "$2")"
  else
    log "cost: unknown ('doctl compute size list' failed); creating anyway"
  fi
}
