# shellcheck shell=bash
# The cluster's own DigitalOcean token: the in-cluster add-ons that call DigitalOcean's API
# (CLOUD_ADDON_MANIFESTS: the cloud-controller-manager) read it from the Secret
# kube-system/digitalocean, key access-token (digitalocean-cloud-controller-manager v0.1.68
# releases/secret.yml.tmpl). It comes from DIGITALOCEAN_CLUSTER_TOKEN only, a token apart from
# the operator's DIGITALOCEAN_ACCESS_TOKEN (it stays inside the cluster: scope it, README), and
# goes into the Secret through kubectl's standard input: never into a file, user data, a log or
# a process's arguments (printf is a bash builtin; a here-string would be a temporary file).

CLUSTER_TOKEN_SECRET=digitalocean
CLUSTER_TOKEN_KEY=access-token

# cluster_token_take: CLUSTER_TOKEN from DIGITALOCEAN_CLUSTER_TOKEN, which is then no longer
# exported (kubectl and doctl need not inherit it). Returns 1 when it is not set; dies, without
# printing it, when it cannot be a DigitalOcean token (dop_v1_ and hex digits: whitespace or a
# newline from a copy would end up in the Authorization header).
cluster_token_take() {
  CLUSTER_TOKEN=${DIGITALOCEAN_CLUSTER_TOKEN:-}
  export -n DIGITALOCEAN_CLUSTER_TOKEN 2>/dev/null || true
  [[ -n "$CLUSTER_TOKEN" ]] || return 1
  [[ "$CLUSTER_TOKEN" =~ ^[A-Za-z0-9_]+$ ]] ||
    die "DIGITALOCEAN_CLUSTER_TOKEN holds characters a DigitalOcean token never has (a space or" \
      "a newline from the copy?): export it again as the token alone"
}

# cluster_token_secret: create or update the Secret from CLUSTER_TOKEN (kubectl renders it from
# its standard input, a second kubectl applies the rendering from its standard input).
cluster_token_secret() {
  printf '%s' "$CLUSTER_TOKEN" |
    kube create secret generic "$CLUSTER_TOKEN_SECRET" --namespace=kube-system \
      --from-file="$CLUSTER_TOKEN_KEY=/dev/stdin" --dry-run=client -o yaml |
    kube apply -f - 2>&1 | indent
  local rcs=("${PIPESTATUS[@]}")
  ((rcs[1] == 0 && rcs[2] == 0))
}

# cloud_addons_ready: whether CLOUD_ADDON_MANIFESTS are to be applied: with the token, once it is
# in the Secret (dies when it cannot be put there: nothing needing it is applied); without it,
# no (a controller without its token would only fail), saying so and how. Sets CLOUD_ADDONS_DONE.
cloud_addons_ready() {
  ((${#CLOUD_ADDON_MANIFESTS[@]})) || return 1
  if ! cluster_token_take; then
    log "skipped: $CLOUD_ADDONS_WHAT: DIGITALOCEAN_CLUSTER_TOKEN is not set. Export a DigitalOcean" \
      "token for the cluster's own use (its scopes: README) and re-run 'make addons'"
    # shellcheck disable=SC2034 # addons.sh's summary line
    CLOUD_ADDONS_DONE="skipped: $CLOUD_ADDONS_WHAT (no DIGITALOCEAN_CLUSTER_TOKEN)"
    return 1
  fi
  step "Secret kube-system/$CLUSTER_TOKEN_SECRET from DIGITALOCEAN_CLUSTER_TOKEN (kubectl's standard input)"
  cluster_token_secret || die "the Secret kube-system/$CLUSTER_TOKEN_SECRET was not applied (see" \
    "above) and nothing that needs it was; fix it and re-run 'make addons'"
  step_done
  # shellcheck disable=SC2034 # addons.sh's summary line
  CLOUD_ADDONS_DONE="$CLOUD_ADDONS_WHAT deployed (what it creates is tagged $CLOUD_TAG)"
}
