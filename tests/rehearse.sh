#!/usr/bin/env bash
# Rehearse the whole apply of a baked cluster repo offline:
#   make etcd controller worker addons smoke status, then a re-run that must create nothing.
# doctl, ssh and scp are the DigitalOcean stand-in (tests/standins/bin), kubectl and curl the
# fake cluster (tests/fake_kubectl); simulated droplets have documentation addresses and
# nothing leaves loopback. The simulated account lives in CLUSTER_DIR/state/rehearsal.
#
# usage: tests/rehearse.sh CLUSTER_DIR      (env: WORKERS, DOSIM_BOOT_SECONDS, ...)
set -euo pipefail

usage() {
  echo "usage: $0 CLUSTER_DIR" >&2
  exit 2
}

main() {
  [[ $# -eq 1 && -f "$1/settings.env" ]] || usage
  local repo cluster sim
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  cluster=$(cd "$1" && pwd)
  sim=$cluster/state/rehearsal
  # A new simulated account: drop the caches of any earlier apply (the API is the truth).
  rm -rf "$sim" "$cluster/state/droplets" "$cluster/state/ssh-key.json" "$cluster/state/boot_ms"
  mkdir -p "$sim"

  export PATH="$repo/tests/standins/bin:$repo/tests/fake_kubectl:$PATH"
  export DOSIM_STATE=$sim/account.json DOSIM_ROOT=$sim/droplets
  export FAKE_KUBECTL_STATE=$sim/kubernetes.json
  export DOSIM_BOOT_SECONDS=${DOSIM_BOOT_SECONDS:-1}
  export APPLY_POLL_SECONDS=${APPLY_POLL_SECONDS:-1}
  # the scripts' first-poll prior, matched to the simulated boot (20 s is for real droplets)
  export APPLY_BOOT_SECONDS=${APPLY_BOOT_SECONDS:-$DOSIM_BOOT_SECONDS}
  # A dummy token: the stand-in wants one; nothing real is ever sent anywhere.
  export DIGITALOCEAN_ACCESS_TOKEN=rehearsal-dummy-token
  unset DIGITALOCEAN_API_KEY KUBECONFIG
  local doctl_path
  doctl_path=$(command -v doctl)
  [[ "$doctl_path" == "$repo/tests/standins/bin/doctl" ]] ||
    { echo "rehearse: doctl resolves to $doctl_path, not the stand-in" >&2; exit 1; }

  # The account's ssh key: a throw-away key pair registered under the settings' key name.
  local key_name
  key_name=$(sed -n "s/^SSH_KEY_NAME=//p" "$cluster/settings.env" | tr -d "'\"")
  ssh-keygen -q -t ed25519 -N '' -C rehearsal -f "$sim/id_rehearsal"
  doctl compute ssh-key import "$key_name" --public-key-file "$sim/id_rehearsal.pub" >/dev/null
  export SSH_IDENTITY_FILE=$sim/id_rehearsal
  local seed_calls start
  seed_calls=$(jq '.api_calls.total' "$DOSIM_STATE")

  echo "== Rehearsal of $cluster against the DigitalOcean stand-in (boot ${DOSIM_BOOT_SECONDS}s)"
  start=$SECONDS
  make -C "$cluster" --no-print-directory etcd controller worker addons smoke status
  local apply_seconds=$((SECONDS - start)) calls droplets
  calls=$(($(jq '.api_calls.total' "$DOSIM_STATE") - seed_calls))
  droplets=$(jq '.droplets | length' "$DOSIM_STATE")

  echo
  echo "== Re-run: make etcd controller worker (must reuse every droplet)"
  local before_posts after_posts
  before_posts=$(jq '.api_calls["POST /v2/droplets"] // 0' "$DOSIM_STATE")
  make -C "$cluster" --no-print-directory etcd controller worker
  after_posts=$(jq '.api_calls["POST /v2/droplets"] // 0' "$DOSIM_STATE")
  if ((after_posts != before_posts)); then
    echo "rehearse: the re-run created $((after_posts - before_posts)) droplet(s)" >&2
    exit 1
  fi

  echo
  echo "== Rehearsal summary"
  echo "  apply (etcd controller worker addons smoke status): ${apply_seconds}s," \
    "$droplets droplets, $calls API calls ($(awk -v c="$calls" -v d="$droplets" 'BEGIN { printf "%.1f", c / d }') per droplet)"
  echo "  re-run: 0 droplets created"
  doctl compute droplet list --tag-name "$(sed -n 's/^CLUSTER_TAG=//p' "$cluster/settings.env")" \
    --format Name,PublicIPv4,PrivateIPv4,Status,Tags | sed 's/^/  /'
  echo "  user data sent: $cluster/build/user-data/"
  echo "  simulated account: $DOSIM_STATE; droplet file systems: $DOSIM_ROOT"
  echo "  kubeconfig: $cluster/kubeconfig (points at a documentation address)"
}

main "$@"
