# shellcheck shell=bash
# User data: the cloud-configs with the tutorial's placeholders substituted.

STALE_USER_DATA=()

# render_user_data TEMPLATE NAME [EXISTS]: build/user-data/NAME.yaml from cloud-config/TEMPLATE
# with the tutorial's sed (ETCD_PEER, CONTROLLER_PUBLIC_IP from the environment). An existing
# droplet's file (EXISTS=yes) is its audit record and is kept; when it differs from the
# rendering NAME is added to STALE_USER_DATA (replace_stale stops or re-creates it).
# The rendering of a template is done once per run (workers share theirs).
render_user_data() {
  local template=$1 name=$2 exists=${3:-no}
  local out=$USER_DATA_DIR/$name.yaml
  mkdir -p "$USER_DATA_DIR"
  if [[ "${_RENDERED_FOR:-}" != "$template|${ETCD_PEER:-}|${CONTROLLER_PUBLIC_IP:-}" ]]; then
    _RENDERED=$(sed -e "s|ETCD_PEER|${ETCD_PEER:-ETCD_PEER}|g;s|CONTROLLER_PUBLIC_IP|${CONTROLLER_PUBLIC_IP:-CONTROLLER_PUBLIC_IP}|g;" \
      "cloud-config/$template")
    if grep -qE '\b(ETCD_PEER|CONTROLLER_PUBLIC_IP)\b' <<<"$_RENDERED"; then
      die "cloud-config/$template: a placeholder is left unsubstituted for $name"
    fi
    if grep -q 'PRIVATE KEY' <<<"$_RENDERED"; then
      die "cloud-config/$template holds a private key: refusing to send it as user data"
    fi
    _RENDERED_FOR="$template|${ETCD_PEER:-}|${CONTROLLER_PUBLIC_IP:-}"
  fi
  if [[ -f "$out" ]] && [[ "$(<"$out")" == "$_RENDERED" ]]; then
    return 0
  fi
  if [[ "$exists" == yes && -f "$out" ]]; then
    STALE_USER_DATA+=("$name")
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
