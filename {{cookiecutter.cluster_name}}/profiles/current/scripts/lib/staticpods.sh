# shellcheck shell=bash
# A controller's control plane (its static pods) stopped and started over ssh, for the steps
# that must restart it: make rotate-certs (not every component reloads its certificates) and
# make restore (the apiservers must not serve, nor cache, the etcd data being replaced).
#
# The kubelet reads its staticPodPath every fileCheckFrequency (KubeletConfiguration default
# 20s): a manifest moved away that long stops its pod, moved back starts it again. kubeadm
# documents this restart ("Manual certificate renewal": kubernetes.io/docs/tasks/
# administer-cluster/kubeadm/kubeadm-certs); Kubernetes' "Operating etcd clusters" (Restoring
# an etcd cluster: kubernetes.io/docs/tasks/administer-cluster/configure-upgrade-etcd) asks
# for every API server stopped before the restore and restarted after it, with the
# scheduler, the controller manager and the kubelet.

# the kubelet's staticPodPath (cookiecutter _manifest_dir, a contract with the cloud-configs
# like NODE_PKI_DIR)
NODE_MANIFEST_DIR=/etc/kubernetes/manifests
STATIC_POD_SECONDS=${STATIC_POD_SECONDS:-25}
STATIC_PODS=(kube-apiserver kube-controller-manager kube-scheduler)

# _static_pods_mv_cmd FROM TO: the remote command that moves every static pod manifest found
# in FROM into TO (one already moved is skipped: a re-run after an interruption goes on).
_static_pods_mv_cmd() {
  local pod cmd="true"
  for pod in "${STATIC_PODS[@]}"; do
    cmd+=" && if test -e $1/$pod.yaml; then sudo mv $1/$pod.yaml $2/; fi"
  done
  printf '%s\n' "$cmd"
}

# static_pods_aside_cmd ASIDE: the remote command that stops the static pods (manifests to ASIDE).
static_pods_aside_cmd() {
  printf 'sudo mkdir -p %s && %s\n' "$1" "$(_static_pods_mv_cmd "$NODE_MANIFEST_DIR" "$1")"
}

# static_pods_back_cmd ASIDE: the remote command that puts them back and restarts the kubelet.
static_pods_back_cmd() {
  printf '%s && sudo systemctl restart kubelet.service\n' "$(_static_pods_mv_cmd "$1" "$NODE_MANIFEST_DIR")"
}

# static_pods_stopped WHO: wait until the kubelet has seen the manifests gone on WHO.
static_pods_stopped() {
  wait_begin "$1: the static pods to stop" "$STATIC_POD_SECONDS"
  wait_sleep "$STATIC_POD_SECONDS"
}

# await_readyz NAME IP: the apiserver on NAME answers GET /readyz (bounded).
await_readyz() {
  local name=$1 ip=$2 deadline=$((SECONDS + APPLY_TIMEOUT_SECONDS))
  wait_begin "the apiserver on $name: GET /readyz" "$APPLY_TIMEOUT_SECONDS"
  until _kube_at "$ip" get --raw /readyz; do
    ((SECONDS < deadline)) || return 1
    wait_sleep "$APPLY_POLL_SECONDS"
  done
  log "$name: apiserver ready (GET /readyz at $ip)"
}

# healthz_components: "COMPONENT PORT" of each static pod asked GET /healthz (component_healthy).
healthz_components() {
  printf '%s %s\n' kube-controller-manager "$CONTROLLER_MANAGER_PORT" kube-scheduler "$SCHEDULER_PORT"
}

# component_healthy IP PORT: the controller manager or the scheduler on the controller at IP
# answers GET /healthz on its secure port (settings.env's CONTROLLER_MANAGER_PORT and
# SCHEDULER_PORT, from the template's generator/facts.py), bound to 127.0.0.1, so asked over ssh
# as the kubelet's liveness and startup probes ask it (kubeadm's static pods probe the same:
# kubernetes cmd/kubeadm/app/phases/controlplane/manifests.go, LivenessProbe and StartupProbe
# "/healthz" on KubeControllerManagerPort 10257 and KubeSchedulerPort 10259, HTTPS).
# Anonymous (/healthz is in their --authorization-always-allow-paths default) and --insecure
# as the probes are: without --tls-cert-file each serves a self-signed certificate.
component_healthy() {
  [[ "$(remote "$1" "curl --silent --show-error --fail --insecure --max-time 5" \
    "https://127.0.0.1:$2/healthz" </dev/null 2>/dev/null)" == ok ]]
}
