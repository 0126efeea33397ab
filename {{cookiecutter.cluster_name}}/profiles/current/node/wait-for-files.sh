#!/bin/bash
# wait-for-files DIR FILE...: return once every DIR/FILE exists and is not empty (the apply
# installs the node's certificates over ssh after the droplet boots; nothing may start before).
set -euo pipefail
shopt -s inherit_errexit

main() {
  local dir=$1 file missing
  shift
  while :; do
    missing=()
    for file in "$@"; do
      [[ -s "$dir/$file" ]] || missing+=("$file")
    done
    if [[ -z "${missing[*]}" ]]; then
      echo "wait-for-files: all $# file(s) present in $dir"
      return 0
    fi
    echo "waiting for TLS assets in $dir: ${missing[*]}"
    sleep 5
  done
}

main "$@"
