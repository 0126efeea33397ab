# shellcheck shell=bash
# make upgrade KUBERNETES_VERSION=X.Y.Z in the current profile (profile_upgrade, called by the
# shared scripts/upgrade.sh; make plan KUBERNETES_VERSION=X.Y.Z prints its rows first). The
# target must be in releases.tsv (its kubelet's pinned sha256), and the Kubernetes version skew
# policy (kubernetes.io/releases/version-skew-policy/) holds at every step: no minor version
# skipped ("upgrade ... one minor version at a time"), never backwards, the control plane
# before any kubelet ("kubelet must not be newer than kube-apiserver"), kubectl within one
# minor of the apiserver (a warning: it is the operator's tool, not the cluster's).
#
# Order (the workers' cordon, drain and Ready wait: scripts/lib/drain.sh): each controller
# alone (its static pod manifests rewritten to the new images, the kubelet restarts them; its
# apiserver's /readyz and version, its controller manager's and scheduler's /healthz awaited;
# then its kubelet), then kube-proxy's DaemonSet, then each worker (cordoned, drained, kubelet
# swapped, uncordoned, Ready at the new version). A kubelet is swapped by fetch-verified through a drop-in of
# kubelet-install.service naming the new release and its pinned sum (the user data's unit is
# left as it was sent). Resumable as make rotate-certs is: state/upgrade holds the run
# ("# upgrade FROM TO") and each finished node records it (state key "upgrade"); settings.env,
# the README and the repo's node files move to the new version only when every node runs it.

RELEASES_FILE=releases.tsv
UPGRADE_FILE=$STATE_DIR/upgrade
KUBELET_DROPIN_DIR=/etc/systemd/system/kubelet-install.service.d
KUBELET_DROPIN=20-kubernetes-version.conf
# Flatcar's coreos-cloudinit applies the user data at every boot: the upgraded manifests kept
# here are copied over the baked ones by the drop-in, before the kubelet starts (it Requires it).
UPGRADED_MANIFEST_DIR=/etc/kubernetes/upgraded-manifests

_minor() { # X.Y.Z -> Y
  local rest=${1#*.}
  echo "${rest%%.*}"
}

# _version_lt A B: A is an older release than B.
_version_lt() {
  [[ "$1" != "$2" && "$(printf '%s\n' "$1" "$2" | sort -V | head -n1)" == "$1" ]]
}

# release_sum VERSION BINARY: the pinned sha256 of BINARY (kubelet or kubectl) at VERSION.
release_sum() {
  awk -F'\t' -v v="$1" -v col="$([[ "$2" == kubelet ]] && echo 2 || echo 3)" \
    '$1 == v { print $col }' "$RELEASES_FILE"
}

_releases() { grep -v '^#' "$RELEASES_FILE" | cut -f1 | grep . | sort -V; }

# upgrade_target: UPGRADE_TO checked against the release table and the skew policy, or the
# target of an interrupted upgrade; sets UPGRADE_FROM and UPGRADE_TO. Changes nothing.
upgrade_target() {
  local from=$KUBERNETES_VERSION to=${UPGRADE_TO:-$KUBERNETES_VERSION} running next
  if [[ -s "$UPGRADE_FILE" ]]; then
    read -r _ _ from running <"$UPGRADE_FILE"
    [[ "$to" == "$running" || "$to" == "$KUBERNETES_VERSION" ]] ||
      die "the upgrade $from -> $running was interrupted: finish it first with" \
        "'make upgrade KUBERNETES_VERSION=$running' (it resumes), then move on to $to"
    to=$running
  fi
  if [[ -z "$(release_sum "$to" kubelet)" ]]; then
    die "KUBERNETES_VERSION=$to has no pinned kubelet sha256 in $RELEASES_FILE: use one of" \
      "$(_releases | paste -sd ' ')" "(re-bake with a newer template to get others)"
  fi
  if [[ "$to" == "$from" ]]; then
    UPGRADE_FROM=$from UPGRADE_TO=$to
    return 0
  fi
  if [[ "${to%%.*}" != "${from%%.*}" ]] || _version_lt "$to" "$from"; then
    die "KUBERNETES_VERSION=$to is older than the cluster's $from: downgrades are refused (the" \
      "version skew policy describes upgrades only, and objects stored by the newer apiserver" \
      "may not read back). To go back, restore a backup taken before the upgrade (make restore)"
  fi
  if (($(_minor "$to") > $(_minor "$from") + 1)); then
    next=$(_releases | awk -F. -v m="$(($(_minor "$from") + 1))" '$2 == m' | tail -n1)
    die "KUBERNETES_VERSION=$to skips 1.$(($(_minor "$from") + 1)): the version skew policy" \
      "(kubernetes.io/releases/version-skew-policy) upgrades one minor version at a time." \
      "Upgrade to ${next:-a 1.$(($(_minor "$from") + 1)).x release} first"
  fi
  UPGRADE_FROM=$from UPGRADE_TO=$to
}

# upgrade_kubectl_skew: a warning when the local kubectl is more than one minor from the target.
upgrade_kubectl_skew() {
  local minor want
  minor=$(kubectl_minor) || return 0
  want=$(_minor "$UPGRADE_TO")
  if ((minor < want - 1 || minor > want + 1)); then
    warn "kubectl 1.$minor ($(command -v kubectl)) is more than one minor version from" \
      "$UPGRADE_TO (the version skew policy: kubectl within one minor of kube-apiserver):" \
      "after the upgrade get kubectl $UPGRADE_TO from" \
      "$(dirname "$KUBECTL_URL" | sed "s|/v$UPGRADE_FROM/|/v$UPGRADE_TO/|")/kubectl"
  fi
}

# _nodes_tsv: "NAME<TAB>PUBLIC_IP<TAB>ROLE" of the controllers, then the workers, sorted.
_nodes_tsv() {
  _role_tsv "$CONTROLLER_PREFIX" | awk -F'\t' '{ print $1 "\t" $2 "\tcontroller" }'
  _role_tsv "$WORKER_PREFIX" | awk -F'\t' '{ print $1 "\t" $2 "\tworker" }'
}

# _kubelet_versions: "NAME<TAB>vX.Y.Z" of every node as the apiserver reports it.
_kubelet_versions() {
  kube get nodes -o json | jq -r '.items[] | [.metadata.name, .status.nodeInfo.kubeletVersion] | @tsv'
}

# plan_upgrade: make plan's rows for an upgrade (UPGRADE_TO other than KUBERNETES_VERSION).
plan_upgrade() {
  [[ -n "${UPGRADE_TO:-}" && "$UPGRADE_TO" != "$KUBERNETES_VERSION" || -s "$UPGRADE_FILE" ]] ||
    return 0
  upgrade_target
  # shellcheck disable=SC2034 # read by _role_tsv (rotation.sh)
  local name ip role finished CLUSTER_LIST=$LIVE
  while IFS=$'\t' read -r name ip role; do
    finished=$(state_get "$name" upgrade)
    if [[ "$finished" == "$UPGRADE_TO" ]]; then
      printf 'upgrade\t%s\tleave\t\tdone: runs %s\n' "$name" "$UPGRADE_TO"
    elif [[ "$role" == controller ]]; then
      printf 'upgrade\t%s\tupgrade\t\tstatic pods %s -> v%s, /readyz and /healthz (%s) awaited; kubelet %s -> %s (fetch-verified)\n' \
        "$name" "${STATIC_PODS[*]}" "$UPGRADE_TO" "$(healthz_components | cut -d' ' -f1 | paste -sd' ')" \
        "$UPGRADE_FROM" "$UPGRADE_TO"
    else
      printf 'upgrade\t%s\tupgrade\t\tcordon, drain (PodDisruptionBudgets respected, %ss), kubelet %s -> %s (fetch-verified), uncordon\n' \
        "$name" "$DRAIN_TIMEOUT_SECONDS" "$UPGRADE_FROM" "$UPGRADE_TO"
    fi
  done < <(_nodes_tsv)
  printf 'upgrade\tdaemonset/kube-proxy\tupgrade\t\timage v%s, after the controllers\n' "$UPGRADE_TO"
  printf 'upgrade\tsettings.env\tupgrade\t\tKUBERNETES_VERSION=%s once every node runs it\n' "$UPGRADE_TO"
}

# _await NAME WHAT COMMAND...: COMMAND succeeds within APPLY_TIMEOUT_SECONDS, else NAME dies.
_await() {
  local name=$1 what=$2 deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS))
  shift 2
  wait_begin "$name: $what" "$APPLY_TIMEOUT_SECONDS"
  until "$@"; do
    ((SECONDS < deadline)) ||
      die "$name: not $what after ${APPLY_TIMEOUT_SECONDS}s; nodes finished before are kept at" \
        "$UPGRADE_TO. Look at ssh core@${ip:-the node} journalctl -u kubelet, then re-run" \
        "'make upgrade KUBERNETES_VERSION=$UPGRADE_TO' (it resumes)"
    wait_sleep "$APPLY_POLL_SECONDS"
  done
}

# _apiserver_at IP VERSION: the apiserver at IP reports VERSION.
_apiserver_at() {
  kube_at_output "$1" version 2>/dev/null | grep -qx "Server Version: v$2"
}

# _await_components NAME IP: the controller manager and the scheduler on NAME came back at the
# new image: each answers GET /healthz on its secure port (component_healthy, staticpods.sh).
_await_components() {
  local line lines
  mapfile -t lines < <(healthz_components)
  for line in "${lines[@]}"; do
    _await "$1" "serving ${line% *}'s GET /healthz (https://127.0.0.1:${line#* })" \
      component_healthy "$2" "${line#* }"
  done
}

# _rewrite_static_pods NAME IP: each static pod manifest on NAME moved to UPGRADE_TO's image
# (read over ssh, rewritten here, put back in one rename: the kubelet restarts the pod).
_rewrite_static_pods() {
  local name=$1 ip=$2 pod text dir=$BUILD_DIR/upgrade/$1 files=()
  local script="sudo mkdir -p $UPGRADED_MANIFEST_DIR"
  mkdir -p "$dir"
  for pod in "${STATIC_PODS[@]}"; do
    text=$(ssh_retry "$name" "$ip" remote "$ip" "sudo cat $NODE_MANIFEST_DIR/$pod.yaml") ||
      die "$name: cannot read $NODE_MANIFEST_DIR/$pod.yaml"
    _retag "$pod" <<<"$text" >"$dir/$pod.yaml"
    grep -qE "image: *[^ ]+/$pod:v$UPGRADE_TO\$" "$dir/$pod.yaml" ||
      die "$name: $NODE_MANIFEST_DIR/$pod.yaml runs neither $pod:v$UPGRADE_FROM nor" \
        ":v$UPGRADE_TO; fix it by hand (its user data has the baked one) and re-run"
    files+=("$dir/$pod.yaml")
    script+=" && sudo chown root:root $pod.yaml && sudo chmod 0644 $pod.yaml"
    script+=" && sudo cp $pod.yaml $UPGRADED_MANIFEST_DIR/$pod.yaml"
    script+=" && sudo mv $pod.yaml $NODE_MANIFEST_DIR/$pod.yaml"
  done
  { ssh_retry "$name" "$ip" copy_to "$ip" "${files[@]}" &&
    ssh_retry "$name" "$ip" remote "$ip" "$script"; } ||
    die "$name: installing the new static pod manifests failed; re-run (it resumes)"
  log "$name: ${STATIC_PODS[*]} at v$UPGRADE_TO"
}

# _swap_kubelet NAME IP ROLE: kubelet-install.service fetches UPGRADE_TO's kubelet
# (fetch-verified, its pinned sum) through a drop-in (a controller's also puts its upgraded
# static pod manifests back after a boot), the kubelet restarts on it; Ready at the new version.
_swap_kubelet() {
  local name=$1 ip=$2 role=$3 dropin=$BUILD_DIR/upgrade/$KUBELET_DROPIN pod
  mkdir -p "$BUILD_DIR/upgrade"
  # the baked unit's ExecStart (node/kubelet-install.service) with the new release and its sum
  printf '%s\n' "# make upgrade: the kubelet of Kubernetes $UPGRADE_TO (sha256 pinned in $RELEASES_FILE)" \
    "[Service]" "ExecStart=" \
    "$(sed -e ':a' -e '/\\$/N; s/ *\\\n */ /; ta' node/kubelet-install.service | grep '^ExecStart=' |
      sed -e "s#/v$UPGRADE_FROM/#/v$UPGRADE_TO/#" \
        -e "s# $(release_sum "$UPGRADE_FROM" kubelet) # $(release_sum "$UPGRADE_TO" kubelet) #")" \
    >"$dropin"
  if [[ "$role" == controller ]]; then
    for pod in "${STATIC_PODS[@]}"; do
      echo "ExecStartPost=/usr/bin/cp $UPGRADED_MANIFEST_DIR/$pod.yaml $NODE_MANIFEST_DIR/$pod.yaml"
    done >>"$dropin"
  fi
  grep -q "/v$UPGRADE_TO/.* $(release_sum "$UPGRADE_TO" kubelet) " "$dropin" ||
    die "node/kubelet-install.service names no kubelet $UPGRADE_FROM download to move to $UPGRADE_TO"
  { ssh_retry "$name" "$ip" copy_to "$ip" "$dropin" &&
    ssh_retry "$name" "$ip" remote "$ip" "sudo mkdir -p $KUBELET_DROPIN_DIR &&
      sudo chown root:root $KUBELET_DROPIN && sudo chmod 0644 $KUBELET_DROPIN &&
      sudo mv $KUBELET_DROPIN $KUBELET_DROPIN_DIR/$KUBELET_DROPIN && sudo systemctl daemon-reload &&
      sudo systemctl restart kubelet-install.service && sudo systemctl restart kubelet.service"; } ||
    die "$name: the kubelet $UPGRADE_TO was not installed (fetch-verified refuses a download" \
      "whose sha256 is not the pinned one; the old binary stays); re-run (it resumes)"
  node_wait_ready "$name" "v$UPGRADE_TO"
}

# _upgrade_node NAME IP ROLE
_upgrade_node() {
  local name=$1 ip=$2 role=$3
  ! node_done "$name" upgrade "$UPGRADE_TO" || return 0
  step "$name ($role): $UPGRADE_FROM -> $UPGRADE_TO"
  if [[ "$role" == controller ]]; then
    _rewrite_static_pods "$name" "$ip"
    _await "$name" "serving GET /readyz" _kube_at "$ip" get --raw /readyz
    _await "$name" "serving as kube-apiserver v$UPGRADE_TO" _apiserver_at "$ip" "$UPGRADE_TO"
    _await_components "$name" "$ip"
    _swap_kubelet "$name" "$ip" controller
  else
    node_drain "$name" ||
      die "$name: not drained, its kubelet is still $UPGRADE_FROM; fix what blocks the drain" \
        "(above) or raise DRAIN_TIMEOUT_SECONDS, then re-run 'make upgrade" \
        "KUBERNETES_VERSION=$UPGRADE_TO' (it resumes at $name)"
    _swap_kubelet "$name" "$ip" worker
    node_uncordon "$name" || die "$name: kubectl uncordon failed; re-run (it resumes)"
  fi
  state_set "$name" upgrade "$UPGRADE_TO"
  UPGRADED+=("$name ($role): $UPGRADE_FROM -> $UPGRADE_TO")
  step_done
}

# _retag COMPONENT: standard input with COMPONENT's image moved from UPGRADE_FROM to UPGRADE_TO.
_retag() {
  sed -E "s#(image: *[^ ]+/$1):v$UPGRADE_FROM\$#\1:v$UPGRADE_TO#"
}

# _upgrade_kube_proxy: kube-proxy's DaemonSet at UPGRADE_TO's image (after the control plane:
# kube-proxy must not be newer than kube-apiserver).
_upgrade_kube_proxy() {
  kube --namespace=kube-system get daemonset kube-proxy >/dev/null 2>&1 || return 0
  step "kube-proxy's DaemonSet: image v$UPGRADE_TO"
  _retag kube-proxy <manifests/addons/kube-proxy.yaml | kube apply -f - 2>&1 | indent ||
    die "kubectl apply of kube-proxy v$UPGRADE_TO failed; re-run (it resumes)"
  step_done
}

# _upgrade_repo: the repo's files name UPGRADE_TO (every node runs it): settings.env, the README,
# the node files, cloud-configs and manifests (new droplets start at it), and each droplet's
# kept user data (build/user-data: what it runs now; not stale for make controller/worker).
_upgrade_repo() {
  local from_sum to_sum f files=()
  from_sum=$(release_sum "$UPGRADE_FROM" kubelet) to_sum=$(release_sum "$UPGRADE_TO" kubelet)
  local kfrom kto
  kfrom=$(release_sum "$UPGRADE_FROM" kubectl) kto=$(release_sum "$UPGRADE_TO" kubectl)
  mapfile -t files < <(grep -rlF -e "$UPGRADE_FROM" -e "$from_sum" settings.env README.md \
    cloud-config node manifests "$USER_DATA_DIR" 2>/dev/null || true)
  for f in "${files[@]}"; do
    sed -e "s/$from_sum/$to_sum/g; s/$kfrom/$kto/g" \
      -e "s/\(^\|[^0-9.]\)${UPGRADE_FROM//./\\.}\([^0-9]\|\$\)/\1$UPGRADE_TO\2/g" "$f" >"$f.tmp"
    chmod --reference="$f" "$f.tmp"
    mv "$f.tmp" "$f"
  done
  log "now at $UPGRADE_TO: ${files[*]}"
}

profile_upgrade() {
  apply_lock upgrade
  upgrade_target
  if [[ "$UPGRADE_TO" == "$KUBERNETES_VERSION" && ! -s "$UPGRADE_FILE" ]]; then
    log "the cluster runs $KUBERNETES_VERSION already (settings.env): nothing to upgrade;" \
      "name the version: make upgrade KUBERNETES_VERSION=X.Y.Z (one of $(_releases | paste -sd ' '))"
    return 0
  fi
  upgrade_kubectl_skew
  day_two_begin
  local name version stray=()
  while IFS=$'\t' read -r name version; do
    [[ "$version" == "v$UPGRADE_FROM" || "$version" == "v$UPGRADE_TO" ]] ||
      stray+=("$name runs kubelet $version")
  done < <(_kubelet_versions)
  ((${#stray[@]} == 0)) ||
    die "not every node runs $UPGRADE_FROM or $UPGRADE_TO: ${stray[*]}; nothing changed"
  if [[ ! -s "$UPGRADE_FILE" ]]; then
    mkdir -p "$STATE_DIR"
    echo "# upgrade $UPGRADE_FROM $UPGRADE_TO" >"$UPGRADE_FILE"
  else
    log "resuming the upgrade $UPGRADE_FROM -> $UPGRADE_TO: finished nodes are skipped"
  fi
  UPGRADED=()
  local ip role
  while IFS=$'\t' read -r name ip role; do
    [[ "$role" == controller ]] || continue
    _upgrade_node "$name" "$ip" "$role"
  done < <(_nodes_tsv)
  _upgrade_kube_proxy
  while IFS=$'\t' read -r name ip role; do
    [[ "$role" == worker ]] || continue
    _upgrade_node "$name" "$ip" "$role"
  done < <(_nodes_tsv)
  _upgrade_repo
  rm -f "$UPGRADE_FILE"
  summary "$CLUSTER_NAME upgraded from $UPGRADE_FROM to $UPGRADE_TO" \
    "${UPGRADED[@]:-every node had finished before}" \
    "settings.env: KUBERNETES_VERSION=$UPGRADE_TO" "check: make status"
}
