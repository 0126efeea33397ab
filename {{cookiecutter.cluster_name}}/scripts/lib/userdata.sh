# shellcheck shell=bash
# User data: the cloud-configs with the profile's placeholders substituted.

STALE_USER_DATA=()

# user_data_sent ROLE RECORD: the file a new ROLE droplet gets as its user data. RECORD, the
# rendering (render_user_data); or, where the nodes fill in the other droplets' addresses
# themselves (USER_DATA_FILLED_BY_NODE: the current profile's fill-endpoints), cloud-config/
# ROLE.yaml as it is: the same for every droplet of a role and naming none of those addresses,
# so every droplet can be created before any has an address (make up). RECORD then stays the
# record of what the node runs once filled (the audit's and the stale check's).
user_data_sent() {
  if [[ "${USER_DATA_FILLED_BY_NODE:-no}" == yes ]]; then
    echo "cloud-config/$1.yaml"
  else
    echo "$2"
  fi
}

# _placeholder_values: "NAME=value|..." of USER_DATA_PLACEHOLDERS (scripts/lib/profile.sh) as
# the environment has them now (the rendering's cache key).
_placeholder_values() {
  local ph out=""
  for ph in "${USER_DATA_PLACEHOLDERS[@]}"; do
    out+="$ph=${!ph:-}|"
  done
  echo "$out"
}

# render_text TEMPLATE: cloud-config/TEMPLATE with the tutorial's sed: each placeholder of
# USER_DATA_PLACEHOLDERS replaced by the environment's value (a missing one left as it is).
render_text() {
  local ph script=""
  for ph in "${USER_DATA_PLACEHOLDERS[@]}"; do
    script+="s|$ph|${!ph:-$ph}|g;"
  done
  sed -e "$script" "cloud-config/$1"
}

# render_user_data TEMPLATE NAME [EXISTS]: build/user-data/NAME.yaml, render_text of
# cloud-config/TEMPLATE (the tutorial's ETCD_PEER, CONTROLLER_PUBLIC_IP); one left over stops.
# An existing droplet's file (EXISTS=yes) is its audit record and is kept; when it differs from
# the rendering NAME is added to STALE_USER_DATA (replace_stale stops or re-creates it).
# The rendering of a template is done once per run (workers share theirs).
render_user_data() {
  local template=$1 name=$2 exists=${3:-no}
  local out=$USER_DATA_DIR/$name.yaml key alternatives
  mkdir -p "$USER_DATA_DIR"
  key="$template|$(_placeholder_values)"
  if [[ "${_RENDERED_FOR:-}" != "$key" ]]; then
    _RENDERED=$(render_text "$template")
    alternatives=$(IFS='|' && echo "${USER_DATA_PLACEHOLDERS[*]}")
    if grep -qE "\b($alternatives)\b" <<<"$_RENDERED"; then
      die "cloud-config/$template: a placeholder is left unsubstituted for $name"
    fi
    if grep -q 'PRIVATE KEY' <<<"$_RENDERED"; then
      die "cloud-config/$template holds a private key: refusing to send it as user data"
    fi
    _RENDERED_FOR=$key
  fi
  if [[ -f "$out" ]] && [[ "$(<"$out")" == "$_RENDERED" ]]; then
    return 0
  fi
  if [[ "$exists" == yes && -f "$out" ]]; then
    # made for an earlier etcd membership: its proxy learns the current one from the cluster
    user_data_past "$template" "$out" || STALE_USER_DATA+=("$name")
    return 0
  fi
  printf '%s\n' "$_RENDERED" >"$out.tmp"
  mv "$out.tmp" "$out"
}

# user_data_change NAME: the first lines where NAME's kept user data and the current rendering
# differ (after render_user_data), to show what changed.
user_data_change() {
  diff "$USER_DATA_DIR/$1.yaml" <(printf '%s\n' "$_RENDERED") | grep -E '^[<>]' | head -n 2 |
    sed -e 's/^< /sent: /' -e 's/^> /now: /' | tr -s ' ' | tr '\n' ';' || true
}
