#!/bin/bash
# fetch-verified URL SHA256 DEST [MODE]: install URL's file at DEST only when its sha256 is
# SHA256 (a pinned sum from the template's release data); anything else leaves DEST as it was.
set -euo pipefail
shopt -s inherit_errexit

main() {
  local url=$1 sum=$2 dest=$3 mode=${4:-0755} tmp
  if [[ -f "$dest" ]] && printf '%s  %s\n' "$sum" "$dest" | sha256sum --check --status; then
    echo "fetch-verified: $dest already matches its pinned sha256"
    return 0
  fi
  mkdir -p "$(dirname "$dest")"
  tmp=$(mktemp "$dest.download.XXXXXX")
  # shellcheck disable=SC2064 # expand $tmp now: the trap must remove this very file
  trap "rm -f '$tmp'" EXIT
  curl --fail --silent --show-error --location --retry 5 --output "$tmp" "$url"
  if ! printf '%s  %s\n' "$sum" "$tmp" | sha256sum --check --strict --quiet; then
    echo "fetch-verified: $url does not match its pinned sha256 $sum; not installed" >&2
    return 1
  fi
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$dest"
  echo "fetch-verified: installed $dest from $url (sha256 $sum)"
}

main "$@"
