# shellcheck shell=bash
# Preflight: the local tools, the settings and the API token (from the environment only; never written or printed).

# require_tools TOOL...: every tool must be on PATH.
require_tools() {
  local tool missing=()
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if ((${#missing[@]})); then
    die "missing tool(s): ${missing[*]} (needs bash, make, doctl v1, jq, openssl, ssh/scp, kubectl)"
  fi
}

# require_token: DIGITALOCEAN_ACCESS_TOKEN, or the tutorial's DIGITALOCEAN_API_KEY, in the
# environment only (exported for doctl in this process; never written, never echoed).
require_token() {
  if [[ -z "${DIGITALOCEAN_ACCESS_TOKEN:-}" ]]; then
    if [[ -n "${DIGITALOCEAN_API_KEY:-}" ]]; then
      DIGITALOCEAN_ACCESS_TOKEN=$DIGITALOCEAN_API_KEY
      export DIGITALOCEAN_ACCESS_TOKEN
    else
      die "no API token: export DIGITALOCEAN_ACCESS_TOKEN (or DIGITALOCEAN_API_KEY, as in the tutorial)"
    fi
  fi
}

# preflight [--no-key]: tools, settings (settings.sh: every rule, before any API call) and
# token, then the ssh key registration (cached lookup).
preflight() {
  require_tools doctl jq openssl ssh scp sed
  require_openssl
  check_settings
  require_token
  mkdir -p "$DROPLET_STATE_DIR" "$BUILD_DIR"
  if [[ "${1:-}" != "--no-key" ]]; then
    # shellcheck disable=SC2034 # read by ensure_droplets (droplets.sh)
    SSH_KEY_FINGERPRINT=$(ssh_key_fingerprint)
  fi
}
