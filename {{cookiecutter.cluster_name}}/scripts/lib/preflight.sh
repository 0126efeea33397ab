# shellcheck shell=bash
# Preflight: the local tools, the settings, doctl's authentication (the token is never written
# or printed here), the ssh key and the image.

# require_tools TOOL...: every tool must be on PATH; a missing doctl comes with how to get it.
require_tools() {
  local tool missing=()
  for tool in "$@"; do
    type -P "$tool" >/dev/null || missing+=("$tool") # programs only: doctl is a function too
  done
  if ((${#missing[@]})); then
    [[ " ${missing[*]} " != *" doctl "* ]] || warn "doctl, DigitalOcean's command line:" \
      "https://docs.digitalocean.com/reference/doctl/how-to/install/ (a release from" \
      "github.com/digitalocean/doctl/releases, snap install doctl, or brew install doctl)"
    die "missing tool(s): ${missing[*]} (needs bash, make, doctl v1, jq, openssl, ssh/scp, kubectl)"
  fi
}

# require_token: doctl's own authentication, checked before any other call. The token comes
# from DIGITALOCEAN_ACCESS_TOKEN (or the tutorial's DIGITALOCEAN_API_KEY), else from doctl's
# configured context (doctl auth init; CONTEXT=NAME for a named one, which doctl.sh passes as
# --context to every call). Nothing here reads, writes or prints the token itself.
require_token() {
  if [[ -z "${DIGITALOCEAN_ACCESS_TOKEN:-}" && -n "${DIGITALOCEAN_API_KEY:-}" ]]; then
    DIGITALOCEAN_ACCESS_TOKEN=$DIGITALOCEAN_API_KEY
    export DIGITALOCEAN_ACCESS_TOKEN
  fi
  local contexts err
  if [[ -n "${CONTEXT:-}" ]]; then
    # doctl auth list reads doctl's config file only (no API call)
    contexts=$(command doctl auth list 2>&1) || die "doctl auth list failed: $contexts"
    grep -qxE "$CONTEXT( \(current\))?" <<<"$contexts" ||
      die "CONTEXT=$CONTEXT: doctl has no such context (doctl auth list: $(paste -sd ' ' <<<"$contexts"));" \
        "create it with 'doctl auth init --context $CONTEXT'"
  elif [[ -z "${DIGITALOCEAN_ACCESS_TOKEN:-}" ]]; then
    err=$(doctl account get -o json 2>&1 >/dev/null) ||
      die "no API token: export DIGITALOCEAN_ACCESS_TOKEN (or DIGITALOCEAN_API_KEY, as in the" \
        "tutorial), or let doctl keep it: 'doctl auth init' (CONTEXT=NAME with" \
        "'doctl auth init --context NAME'); doctl said: $(tr '\n' ' ' <<<"$err")"
  fi
}

# preflight [--no-key]: tools, settings (settings.sh: every rule, before any API call) and
# token, then the ssh key registration (cached lookup) and the image (check_image): every
# precondition of a droplet create holds before make etcd/controller/worker change the account.
preflight() {
  require_tools doctl jq openssl ssh scp sed
  require_openssl
  check_settings
  require_token
  mkdir -p "$DROPLET_STATE_DIR" "$BUILD_DIR"
  if [[ "${1:-}" != "--no-key" ]]; then
    # shellcheck disable=SC2034 # read by ensure_droplets (droplets.sh)
    SSH_KEY_FINGERPRINT=$(ssh_key_fingerprint)
    check_image
  fi
}
