#!/usr/bin/env bash
# Rehearse the whole apply of a baked cluster repo offline:
#   make etcd controller worker addons smoke status, then a re-run that must create nothing.
# doctl, ssh and scp are the DigitalOcean stand-in (tests/standins/bin); simulated droplets have
# documentation addresses. The simulated account lives in CLUSTER_DIR/state/rehearsal.
#
# Kubernetes: when the 1.1.2 binaries are at hand (../shared/k8s-1.1.2, tests/k8s) and a
# network namespace can be made, the REAL apiserver, scheduler and controller-manager run from
# the controller's user data and TLS assets as the apply installed them, listening on the
# controller's simulated public IP inside a namespace of their own (nothing leaves it), and
# the real kubectl 1.1.2 drives them; only the node runtime (containers) is stood in
# (tests/k8s/runtime.py, answers.py). Otherwise the kubectl stand-in (tests/fake_kubectl)
# plays the cluster, and the rehearsal says so.
#
# The current profile (PROFILE=current in settings.env): `make image` first (the stand-in's
# custom image import), and a kubectl stand-in speaking a current kubectl
# (tests/fake_kubectl_current): no control plane of that version can run here. It ends with
# `make destroy`, which must delete every droplet and keep the imported image.
#
# After a rehearsal, `tests/rehearse.sh --try CLUSTER_DIR [COMMAND]` (make try in the template
# checkout) runs COMMAND in CLUSTER_DIR against the same stand-ins and account (the real control
# plane started again from its kept data where the rehearsal had one); no COMMAND on a terminal:
# a shell there.
#
# usage: tests/rehearse.sh [--try] CLUSTER_DIR [COMMAND]
#        (env: WORKERS, DOSIM_BOOT_SECONDS, REHEARSE_KUBE=fake)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Public addresses the DigitalOcean stand-in hands out (documentation ranges, RFC 5737).
DOC_RANGES=(203.0.113.1/24 198.51.100.1/24)

usage() {
  echo "usage: $0 CLUSTER_DIR, or $0 --try CLUSTER_DIR [COMMAND]" >&2
  exit 2
}

setting() {
  sed -n "s/^$1=//p" "$CLUSTER/settings.env" | tr -d "'\""
}

# real_kube_reason: empty when the real control plane can run here, else why not.
real_kube_reason() {
  [[ "${REHEARSE_KUBE:-}" != fake ]] || { echo "REHEARSE_KUBE=fake"; return; }
  [[ "$(setting PROFILE)" != current ]] || {
    echo "the current profile: no Kubernetes $(setting KUBERNETES_VERSION) binaries nor containers here"
    return
  }
  command -v etcd >/dev/null || { echo "no etcd (Debian package etcd-server)"; return; }
  command -v ip >/dev/null || { echo "no ip (Debian package iproute2)"; return; }
  local out
  out=$(cd "$REPO" && python3 -c 'from tests.k8s import binaries; binaries.bin_dir()' 2>&1) ||
    { echo "no Kubernetes 1.1.2 binaries: ${out##*$'\n'}"; return; }
  unshare_cmd true 2>/dev/null || echo "cannot make a network namespace (unshare)"
}

# UNSHARE: a network, mount and PID namespace of its own (as root, or mapped to root).
UNSHARE=(unshare --net --mount --pid --fork --kill-child)
((EUID == 0)) || UNSHARE+=(--user --map-root-user)

unshare_cmd() {
  "${UNSHARE[@]}" "$@"
}

# start_control_plane: the controller's control plane from what its droplet received, plus the
# node runtime stand-in; stopped by the EXIT trap.
start_control_plane() {
  local name root work public private
  name=$(setting CONTROLLER_NAME)
  read -r root public private < <(jq -r --arg n "$name" \
    '.droplets[] | select(.name == $n) | .sim | "\(.root) \(.public_ip) \(.private_ip)"' "$DOSIM_STATE")
  work=$SIM/controlplane
  mkdir -p "$work"
  rm -f "$work/ready" # a --try run starts it again: wait for this start's word
  echo "== Real Kubernetes 1.1.2 control plane for $name ($public): logs in $work/logs"
  (cd "$REPO" && exec python3 -m tests.k8s.controlplane "$root/var/lib/dosim/user-data" \
    "$root$(setting SSL_DIR)" "$(setting SSL_DIR)" "$work" "$public" "$private" \
    "$(setting ETCD_CLIENT_PORT)" "$DOSIM_STATE" "$(setting SSL_DIR)" "$(setting POD_NETWORK)" \
    "$(setting WORKER_TAG)") &
  CONTROL_PLANE_PID=$!
  local deadline=$((SECONDS + 120))
  until [[ -s "$work/ready" ]]; do
    kill -0 "$CONTROL_PLANE_PID" 2>/dev/null || { echo "rehearse: the control plane did not start" >&2; exit 1; }
    ((SECONDS < deadline)) || { echo "rehearse: the control plane did not answer in 120 s" >&2; exit 1; }
    sleep 0.2
  done
  echo "   rewritten for this machine: $(jq -r '[.rewrites[] | .[0] | sub("=.*"; "")] | unique | join(" ")' "$work/ready")"
}

stop_control_plane() {
  if [[ -n "${CONTROL_PLANE_PID:-}" ]]; then
    kill "$CONTROL_PLANE_PID" 2>/dev/null || true
    wait "$CONTROL_PLANE_PID" 2>/dev/null || true
  fi
}

# standin_env KUBE_MODE: the environment every command of a rehearsal (or a --try) runs in:
# the stand-ins first on PATH, the simulated account, a dummy token, short polls.
standin_env() {
  # the template's venv last: make audit's k8s-do when no other is on PATH
  export PATH="$REPO/tests/standins/bin:$PATH:$REPO/.venv/bin"
  local kube_dir=fake_kubectl
  [[ "$(setting PROFILE)" != current ]] || kube_dir=fake_kubectl_current
  if [[ "$1" == real ]]; then
    export PATH="$REPO/tests/k8s/bin:$PATH" K8S_RUNTIME_KUBECONFIG=$CLUSTER/kubeconfig
  else
    export PATH="$REPO/tests/$kube_dir:$PATH" FAKE_KUBECTL_STATE=$SIM/kubernetes.json
  fi
  export DOSIM_STATE=$SIM/account.json DOSIM_ROOT=$SIM/droplets
  export DOSIM_BOOT_SECONDS=${DOSIM_BOOT_SECONDS:-1}
  export APPLY_POLL_SECONDS=${APPLY_POLL_SECONDS:-1}
  # the scripts' first-poll prior, matched to the simulated boot (20 s is for real droplets)
  export APPLY_BOOT_SECONDS=${APPLY_BOOT_SECONDS:-$DOSIM_BOOT_SECONDS}
  # A dummy token: the stand-in wants one; nothing real is ever sent anywhere.
  export DIGITALOCEAN_ACCESS_TOKEN=rehearsal-dummy-token
  unset DIGITALOCEAN_API_KEY KUBECONFIG
  export SSH_IDENTITY_FILE=$SIM/id_rehearsal
  local doctl_path
  doctl_path=$(command -v doctl)
  [[ "$doctl_path" == "$REPO/tests/standins/bin/doctl" ]] ||
    { echo "rehearse: doctl resolves to $doctl_path, not the stand-in" >&2; exit 1; }
}

# in_namespace: inside the namespace the real control plane runs in (--try too), with the
# documentation ranges on its loopback.
in_namespace() {
  ip link set lo up
  local range
  for range in "${DOC_RANGES[@]}"; do ip addr add "$range" dev lo; done
}

# try_main ARGS...: --try: COMMAND in the cluster repo against the rehearsal's stand-ins.
try_main() {
  [[ $# -ge 1 && -f "$1/settings.env" ]] || usage
  CLUSTER=$(cd "$1" && pwd)
  SIM=$CLUSTER/state/rehearsal
  shift
  [[ -s "$SIM/account.json" && -s "$SIM/kube-mode" ]] ||
    { echo "try: no rehearsal in $CLUSTER: run 'make demo' first" >&2; exit 2; }
  local kube_mode
  kube_mode=$(cat "$SIM/kube-mode")
  if [[ "$kube_mode" == real ]] && ! jq -e --arg n "$(setting CONTROLLER_NAME)" \
    '.droplets | any(.name == $n)' "$SIM/account.json" >/dev/null; then
    # the real control plane runs from the controller's files: without it (make destroy),
    # the kubectl stand-in plays Kubernetes from here on, from an empty cluster
    echo "== try: no controller droplet in the simulated account: the kubectl stand-in plays" \
      "Kubernetes from now on (make demo starts afresh)" >&2
    kube_mode=fake
    echo "$kube_mode" >"$SIM/kube-mode"
  fi
  if [[ "$kube_mode" == real && -z "${REHEARSE_IN_NETNS:-}" ]]; then
    REHEARSE_IN_NETNS=1 exec "${UNSHARE[@]}" bash "${BASH_SOURCE[0]}" --try "$CLUSTER" "$@"
  fi
  [[ "$kube_mode" != real ]] || in_namespace
  standin_env "$kube_mode"
  if [[ "$kube_mode" == real ]]; then
    trap stop_control_plane EXIT
    start_control_plane >&2
  fi
  cd "$CLUSTER"
  unset MAKELEVEL MAKEFLAGS MFLAGS # its make runs as if typed there, not as a sub-make of `make try`
  local status=0
  if [[ -n "${1:-}" ]]; then
    echo "== try: $* (in $CLUSTER; doctl, ssh and scp are stand-ins)" >&2
    bash -c "$*" || status=$?
  elif [[ -t 0 ]]; then
    echo "== try: a shell in $CLUSTER with the stand-ins on PATH; 'exit' leaves it" >&2
    bash -i || status=$?
  else
    echo "try: which command? e.g. make try RUN='make status'" >&2
    status=2
  fi
  return "$status"
}

main() {
  [[ "${1:-}" != --try ]] || { shift; try_main "$@"; return; }
  [[ $# -eq 1 && -f "$1/settings.env" ]] || usage
  CLUSTER=$(cd "$1" && pwd)
  SIM=$CLUSTER/state/rehearsal
  local kube_mode=fake reason=""
  if [[ -n "${REHEARSE_IN_NETNS:-}" ]]; then
    kube_mode=real
    in_namespace
  else
    reason=$(real_kube_reason)
    if [[ -z "$reason" ]]; then
      REHEARSE_IN_NETNS=1 exec "${UNSHARE[@]}" bash "${BASH_SOURCE[0]}" "$@"
    fi
  fi
  # A new simulated account: drop the caches of any earlier apply (the API is the truth).
  rm -rf "$SIM" "$CLUSTER/state/droplets" "$CLUSTER/state/ssh-key.json" "$CLUSTER/state/boot_ms"
  mkdir -p "$SIM"
  echo "$kube_mode" >"$SIM/kube-mode"
  local profile kube_dir=fake_kubectl
  profile=$(setting PROFILE)
  [[ "$profile" != current ]] || kube_dir=fake_kubectl_current
  standin_env "$kube_mode"

  # The account's ssh key: a throw-away key pair registered under the settings' key name.
  ssh-keygen -q -t ed25519 -N '' -C rehearsal -f "$SIM/id_rehearsal"
  doctl compute ssh-key import "$(setting SSH_KEY_NAME)" --public-key-file "$SIM/id_rehearsal.pub" >/dev/null
  local seed_calls start image_calls=0
  seed_calls=$(jq '.api_calls.total' "$DOSIM_STATE")

  echo "== Rehearsal of $CLUSTER ($profile profile) against the DigitalOcean stand-in (boot ${DOSIM_BOOT_SECONDS}s)"
  if [[ "$kube_mode" == real ]]; then
    echo "== Kubernetes: the real 1.1.2 apiserver, scheduler, controller-manager and kubectl;" \
      "containers stood in (tests/k8s/runtime.py)"
  else
    echo "== Kubernetes: the kubectl stand-in (tests/$kube_dir), because: $reason"
  fi
  if [[ -z "$(setting IMAGE)" ]]; then
    echo "== Image: make image imports IMAGE_URL into the stand-in's account (NEW, pending, available)"
    rm -f "$CLUSTER/state/image.json" "$CLUSTER/state/image-failed.json"
    IMAGE_POLL_SECONDS=${IMAGE_POLL_SECONDS:-0.2} make -C "$CLUSTER" --no-print-directory image
    image_calls=$(($(jq '.api_calls.total' "$DOSIM_STATE") - seed_calls))
    seed_calls=$(jq '.api_calls.total' "$DOSIM_STATE")
  fi
  start=$SECONDS
  trap stop_control_plane EXIT
  make -C "$CLUSTER" --no-print-directory etcd controller
  [[ "$kube_mode" == fake ]] || start_control_plane
  make -C "$CLUSTER" --no-print-directory worker addons smoke status
  local apply_seconds=$((SECONDS - start)) calls droplets
  calls=$(($(jq '.api_calls.total' "$DOSIM_STATE") - seed_calls))
  droplets=$(jq '.droplets | length' "$DOSIM_STATE")

  echo
  echo "== Re-run: make etcd controller worker addons (must reuse every droplet and object)"
  local before_posts after_posts
  before_posts=$(jq '.api_calls["POST /v2/droplets"] // 0' "$DOSIM_STATE")
  make -C "$CLUSTER" --no-print-directory etcd controller worker addons
  after_posts=$(jq '.api_calls["POST /v2/droplets"] // 0' "$DOSIM_STATE")
  if ((after_posts != before_posts)); then
    echo "rehearse: the re-run created $((after_posts - before_posts)) droplet(s)" >&2
    exit 1
  fi

  echo
  echo "== make audit: the applied repo, with the user data sent and the node certificates"
  make -C "$CLUSTER" --no-print-directory audit

  echo
  echo "== Rehearsal summary"
  echo "  apply (etcd controller worker addons smoke status): ${apply_seconds}s," \
    "$droplets droplets, $calls API calls ($(awk -v c="$calls" -v d="$droplets" 'BEGIN { printf "%.1f", c / d }') per droplet)"
  echo "  re-run: 0 droplets created"
  if [[ -n "$(setting IMAGE)" ]]; then
    echo "  image: $(setting IMAGE) (settings.env)"
  else
    echo "  image: imported by make image ($image_calls API calls), $(jq -c '{id, status, name}' "$CLUSTER/state/image.json")"
  fi
  if [[ "$kube_mode" == real ]]; then
    echo "  Kubernetes: real 1.1.2 control plane (logs: $SIM/controlplane/logs)"
  else
    echo "  Kubernetes: stand-in ($reason)"
  fi
  echo "  stood in: DigitalOcean's API (doctl), ssh/scp and the droplets' file systems" \
    "(tests/standins)$([[ "$kube_mode" == real ]] && echo ", containers" || echo ", the Kubernetes cluster and kubectl (tests/$kube_dir)")"
  doctl compute droplet list --tag-name "$(setting CLUSTER_TAG)" \
    --format Name,PublicIPv4,PrivateIPv4,Status,Tags | sed 's/^/  /'
  echo "  cloud firewalls (inbound; outbound is open):"
  local name
  for name in "$(setting NODES_FIREWALL)" "$(setting APISERVER_FIREWALL)"; do
    doctl compute firewall list -o json | jq -r --arg n "$name" \
      '.[] | select(.name == $n) | "    \(.name) on tags \(.tags | join(","))", (.inbound_rules[]
        | "      \(.protocol) \(if .protocol == "icmp" then "" elif .ports == "0" then "all" else .ports end)"
          + " from \([(.sources.addresses // [])[], ((.sources.tags // [])[] | "tag:" + .)] | join(" "))")'
  done
  echo "  user data sent: $CLUSTER/build/user-data/"
  echo "  simulated account: $DOSIM_STATE; droplet file systems: $DOSIM_ROOT"
  echo "  kubeconfig: $CLUSTER/kubeconfig (points at a documentation address)"
  [[ "$profile" == current ]] || return 0

  echo
  echo "== make destroy (FORCE=1): every droplet of the cluster goes, the imported image stays"
  make -C "$CLUSTER" --no-print-directory destroy FORCE=1
  droplets=$(jq '.droplets | length' "$DOSIM_STATE")
  ((droplets == 0)) || { echo "rehearse: $droplets droplet(s) left after make destroy" >&2; exit 1; }
  [[ -z "$(setting IMAGE)" ]] || return 0
  [[ "$(jq -r '.images | length' "$DOSIM_STATE")" == 1 ]] ||
    { echo "rehearse: the imported image is gone after make destroy" >&2; exit 1; }
  echo "  destroyed: 0 droplets left; image $(jq -r .id "$CLUSTER/state/image.json") kept"
}

main "$@"
