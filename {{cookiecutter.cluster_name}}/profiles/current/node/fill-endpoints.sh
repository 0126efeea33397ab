#!/bin/bash
# fill-endpoints FILE...: the cluster's addresses written into FILE where the user data left
# their placeholders (etcd_endpoints: the etcd members' client URLs; apiserver_endpoint: the
# apiserver's address; both upper-cased). Every droplet is created at once, so no user data can name another
# droplet's address; the apply delivers them over ssh in kubelet.service's EnvironmentFile,
# and this runs before each start of the kubelet (ExecStartPre): the kubelet reads no file
# with a placeholder left. A file with no placeholder is left as it is (filled before, or
# rewritten by make upgrade); coreos-cloudinit writes the user data's files again at every
# boot, and they are filled again from the same delivered values.
set -euo pipefail
shopt -s inherit_errexit

# upper-cased where used: spelled here as they are, the apply's record of this user data (sed
# of the upper-case names) would fill this script too
PLACEHOLDERS=(etcd_endpoints apiserver_endpoint)

# fill FILE SCRIPT: FILE through sed SCRIPT, in one rename (a dot file: the kubelet reads every
# other file of its manifest directory), with FILE's mode.
fill() {
  local file=$1 tmp
  tmp="$(dirname "$1")/.$(basename "$1").fill"
  sed -e "$2" "$file" >"$tmp"
  chmod --reference="$file" "$tmp"
  mv -f "$tmp" "$file"
}

main() {
  local file ph value script="" names=()
  for ph in "${PLACEHOLDERS[@]^^}"; do
    names+=("$ph")
    value=${!ph:-}
    # addresses and URLs only: nothing sed or YAML would read as more than a value
    if [[ -n "$value" && ! "$value" =~ ^[A-Za-z0-9.:/,-]+$ ]]; then
      echo "fill-endpoints: $ph='$value' is not an address list; the apply writes it" >&2
      return 1
    fi
    script+="s|\\b$ph\\b|$value|g;"
  done
  # every file checked before any is filled: a value missing changes nothing
  for file in "$@"; do
    for ph in "${names[@]}"; do
      if grep -qw "$ph" "$file" && [[ -z "${!ph:-}" ]]; then
        echo "fill-endpoints: $file names $ph, which the EnvironmentFile does not give" \
          "(the apply delivers it with the node's certificates)" >&2
        return 1
      fi
    done
  done
  for file in "$@"; do
    if grep -qwE "$(IFS='|' && echo "${names[*]}")" "$file"; then
      fill "$file" "$script"
      echo "fill-endpoints: $file filled"
    fi
  done
}

main "$@"
