# shellcheck shell=bash
# kubectl against the cluster through ./kubeconfig: the client's version, create-or-update of
# manifests, the wait for the apiserver.
#
# Supported clients: kubectl within one minor version of the cluster (KUBERNETES_VERSION), the
# Kubernetes version-skew policy. A current kubectl cannot even map a 1.1 apiserver's
# resources ("no matches for kind Service in version v1").

kube() {
  kubectl --kubeconfig "$KUBECONFIG_FILE" "$@"
}

need_kubeconfig() {
  [[ -s "$KUBECONFIG_FILE" ]] || die "no ./kubeconfig: run 'make controller' first"
}

# kubectl_minor: the local kubectl's minor version, from its "Client Version" line (1.1 prints
# version.Info{... GitVersion:"v1.1.x" ...}, later releases print v1.NN.x).
kubectl_minor() {
  local out version
  out=$(kubectl version --client 2>/dev/null) || return 1
  version=$(grep -m1 '^Client Version' <<<"$out" | grep -o 'v1\.[0-9][0-9]*' | head -n1)
  [[ -n "$version" ]] || return 1
  echo "${version#v1.}"
}

# require_kubectl: kubectl on PATH, within one minor version of the cluster's. Sets KUBECTL_MINOR.
require_kubectl() {
  require_tools kubectl
  local cluster_minor=${KUBERNETES_VERSION#*.}
  cluster_minor=${cluster_minor%%.*}
  KUBECTL_MINOR=$(kubectl_minor) ||
    die "cannot read the version of $(command -v kubectl) ('kubectl version --client' failed)"
  if ((KUBECTL_MINOR < cluster_minor - 1 || KUBECTL_MINOR > cluster_minor + 1)); then
    die "kubectl 1.$KUBECTL_MINOR ($(command -v kubectl)) cannot drive this Kubernetes" \
      "$KUBERNETES_VERSION cluster: use kubectl 1.$((cluster_minor > 0 ? cluster_minor - 1 : 0))" \
      "to 1.$((cluster_minor + 1)), e.g. $KUBECTL_URL (put it first on PATH)"
  fi
}

# kube_apply MANIFEST: create the objects of MANIFEST that are missing and update the ones that
# exist, safe to re-run. kubectl 1.1's `apply` only patches existing objects, and `create`
# fails on existing ones with varying messages (a Service's "IP is already allocated"), so
# existence is asked with `get -f` (all or nothing). A create refused with "retry after ..."
# (the default service account is made moments after the apiserver starts) is retried.
kube_apply() {
  local file=$1 out deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS)) save=()
  if kube get -f "$file" >/dev/null 2>&1; then
    kube apply -f "$file" 2>&1 | indent
    return "${PIPESTATUS[0]}"
  fi
  # from 1.2 on, create can record what apply diffs against (kubernetes#16809)
  ((${KUBECTL_MINOR:-1} >= 2)) && save=(--save-config)
  wait_begin "the apiserver to accept $file" "$APPLY_TIMEOUT_SECONDS"
  until out=$(kube create "${save[@]}" -f "$file" 2>&1); do
    if kube get -f "$file" >/dev/null 2>&1; then
      # some objects existed already (an interrupted run): all exist now, bring them up to date
      kube apply -f "$file" 2>&1 | indent
      return "${PIPESTATUS[0]}"
    fi
    if ! grep -q 'retry after' <<<"$out" || ((SECONDS >= deadline)); then
      error "kubectl create -f $file failed:"
      indent <<<"$out"
      return 1
    fi
    wait_sleep "$APPLY_POLL_SECONDS"
  done
  indent <<<"$out"
}

# wait_apiserver: bounded wait until the apiserver answers (it starts minutes after boot).
wait_apiserver() {
  local deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS)) err
  err=$(mktemp)
  step "waiting for the apiserver ($(grep -m1 'server:' "$KUBECONFIG_FILE" | awk '{print $2}'))"
  wait_begin "the apiserver to answer" "$APPLY_TIMEOUT_SECONDS"
  until kube version >/dev/null 2>"$err"; do
    if ((SECONDS >= deadline)); then
      error "$(tr '\n' ' ' <"$err")"
      rm -f "$err"
      die "timed out after ${APPLY_TIMEOUT_SECONDS}s waiting for the apiserver (APPLY_TIMEOUT_SECONDS);" \
        "check 'make status' and journalctl on the controller"
    fi
    wait_sleep "$APPLY_POLL_SECONDS"
  done
  rm -f "$err"
  step_done
}
