"""Facts derived from the answers: each is computed here once and used by every artifact."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

# Where the tutorial downloads release binaries and docker-wrapped images from.
RELEASE_BUCKET = "https://storage.googleapis.com/kubernetes-release/release"

# Where the official Kubernetes images are published (registry.k8s.io/kube-proxy:vX.Y.Z ...).
KUBE_REGISTRY = "registry.k8s.io"
# The current profile's node paths (issue 11's contract): the CA and the component
# certificates, and kube-proxy's kubeconfig on every node. profiles/current/scripts/lib/
# components.sh spells NODE_PKI_DIR too (bash reads no Python; a test keeps them equal).
NODE_PKI_DIR = "/etc/kubernetes/pki"
KUBE_PROXY_KUBECONFIG = "/etc/kubernetes/kube-proxy.kubeconfig"
# containerd's CRI socket on Flatcar: the kubelet's containerRuntimeEndpoint, crictl's endpoint.
CONTAINERD_SOCKET = "unix:///run/containerd/containerd.sock"

KUBELET_PATHS = {"bundled": "/usr/bin/kubelet", "download": "/opt/bin/kubelet"}

# Ports the template leaves at their upstream defaults (no flag sets them): the kubelet's
# --port (the apiserver reaches it for logs and exec) and sshd's.
KUBELET_PORT = 10250
SSH_PORT = 22
# kube-proxy's health endpoint (KubeProxyConfiguration healthzBindAddress, default
# 0.0.0.0:10256): DigitalOcean's cloud-controller-manager health-checks its load balancers'
# droplets there (v0.1.68 cloud-controller-manager/do/loadbalancers.go kubeProxyHealthPort).
KUBE_PROXY_HEALTH_PORT = 10256
# flanneld's data port per backend: vxlan uses the kernel's VXLAN port, udp its own; host-gw
# routes without encapsulation (no port).
FLANNEL_PORTS = {"vxlan": "8472/udp", "udp": "8285/udp", "host-gw": ""}


# The load balancer in front of several controllers: one node (size_unit 1; doctl
# --size-unit), billed per node: "Load balancers cost $10.00 per month for each node they
# contain" (docs.digitalocean.com/products/networking/load-balancers/, Plans and Pricing).
LB_SIZE_UNIT = 1
LB_NODE_MONTHLY_USD = "10.00"
# Block storage volumes (what a CSI driver creates for a PersistentVolumeClaim), per GiB and
# month: DigitalOcean's published volume price ("Volumes Pricing",
# docs.digitalocean.com/products/volumes/details/pricing/: $0.10/GiB, $10 a month for 100 GiB);
# the search corpus here did not hold that page: check it there before relying on the total.
VOLUME_GIB_MONTHLY_USD = "0.10"


def apiserver_service_ip(service_cidr: str) -> str:
    """The apiserver takes the first address of the service range (10.3.0.1 in the tutorial)."""
    network = ipaddress.ip_network(service_cidr, strict=True)
    return str(network.network_address + 1)


# Without a _dns_service_ip answer, the cluster DNS takes this address of the service range
# (10.3.0.10 in the tutorial's 10.3.0.0/24, kubeadm's 10.96.0.10 in 10.96.0.0/12).
DNS_SERVICE_INDEX = 10


def dns_service_ip(answers: Mapping[str, Any]) -> str:
    """The cluster DNS Service IP: the _dns_service_ip answer, else the range's 10th address."""
    if answers["_dns_service_ip"]:
        return str(answers["_dns_service_ip"])
    network = ipaddress.ip_network(answers["_service_cidr"], strict=True)
    return str(network.network_address + DNS_SERVICE_INDEX)


def release_url(answers: Mapping[str, Any], binary: str) -> str:
    """Download URL of one linux/amd64 release artifact of the configured Kubernetes version."""
    return f"{RELEASE_BUCKET}/v{answers['kubernetes_version']}/bin/linux/amd64/{binary}"


def kube_image(answers: Mapping[str, Any], component: str) -> str:
    """The official image of a Kubernetes component at the configured version."""
    return f"{KUBE_REGISTRY}/{component}:v{answers['kubernetes_version']}"


def kubelet_path(answers: Mapping[str, Any]) -> str:
    """CoreOS alpha/beta bundle the kubelet; elsewhere it is downloaded to /opt/bin."""
    return KUBELET_PATHS[answers["_kubelet_source"]]


def flannel_port(backend: str) -> str:
    """The port/protocol flannel's backend carries pod traffic on between nodes ("" for none)."""
    return FLANNEL_PORTS[backend]
def apiserver_url(answers: Mapping[str, Any], host: str) -> str:
    """The secure port as workers and kubectl reach it: the tutorial's https://HOST on 443,
    with the port spelled out when it is another."""
    port = int(answers["_apiserver_secure_port"])
    return f"https://{host}" + ("" if port == URL_PORTS["https"] else f":{port}")


def droplet_name(answers: Mapping[str, Any], role: str, index: int = 1) -> str:
    """Droplet names carry the cluster name: do-cluster-etcd-01, do-cluster-worker-02."""
    return f"{answers['cluster_name']}-{role}-{index:02d}"


def apiserver_controller_ips(answers: Mapping[str, Any]) -> list[str]:
    """The apiserver certificate's controller IP SANs as openssl reads them from the apply's
    environment (scripts/lib/pki.sh pki_issue_apiserver): the first controller's public and
    private IP, then CONTROLLER_NN_*, and with several controllers the load balancer's."""
    count = int(answers["controller_count"])
    refs = ["CONTROLLER_PUBLIC_IP", "CONTROLLER_PRIVATE_IP"]
    for n in range(2, count + 1):
        refs += [f"CONTROLLER_{n:02d}_PUBLIC_IP", f"CONTROLLER_{n:02d}_PRIVATE_IP"]
    if count > 1:
        refs.append("APISERVER_LB_IP")
    return [f"$ENV::{ref}" for ref in refs]

# kube-apiserver 1.1's flag defaults, where the template leaves a listener unset: what listens
# then (kubernetes docs/admin/kube-apiserver.md). Kubernetes flags read '_' as '-'.
APISERVER_DEFAULTS = {
    "--insecure-bind-address": "127.0.0.1",
    "--insecure-port": "8080",
    "--bind-address": "0.0.0.0",
    "--secure-port": "6443",
}
# Deprecated spellings 1.1 still accepts for the same listeners.
APISERVER_ALIASES = {"--address": "--insecure-bind-address", "--port": "--insecure-port"}
# Without one of these the secure port serves no client-certificate authentication (or a
# self-signed certificate no kubeconfig here trusts).
APISERVER_TLS_FLAGS = ("--client-ca-file", "--tls-cert-file", "--tls-private-key-file")
# Default ports of URLs without one.
URL_PORTS = {"http": 80, "https": 443}

# DigitalOcean tag names allow letters, digits, ':', '-' and '_' (at most 255 characters:
# https://docs.digitalocean.com/reference/dots/reference/tags/tags-create/). A cluster name has
# no ':', so "k8s-do:NAME" and "k8s-do:NAME:ROLE" cannot be another cluster's tag (with
# "NAME" and "NAME-worker", cluster "prod-worker" owned the workers of cluster "prod").
TAG_PREFIX = "k8s-do"


def droplet_tag(answers: Mapping[str, Any], role: str = "") -> str:
    """The cluster's tag (k8s-do:do-cluster) or one of its role tags (k8s-do:do-cluster:worker)."""
    return ":".join(part for part in (TAG_PREFIX, answers["cluster_name"], role) if part)


# DigitalOcean's cloud-controller-manager tags what it creates (load balancers) "k8s:" +
# DO_CLUSTER_ID (digitalocean-cloud-controller-manager v0.1.68 cloud-controller-manager/do/
# loadbalancers.go: tagPrefixClusterID, buildK8sTag; docs/getting-started.md "DO_CLUSTER_ID").
# Its cluster ID here is the cluster's own tag, so the tag names this cluster and no other
# (DigitalOcean's managed clusters use a UUID there); make destroy deletes by it.
CCM_TAG_PREFIX = "k8s"


def cloud_tag(answers: Mapping[str, Any]) -> str:
    """What the in-cluster add-ons tag their load balancers and volumes with."""
    return f"{CCM_TAG_PREFIX}:{droplet_tag(answers)}"


# --- the current profile (Flatcar + current Kubernetes): where nodes fetch and keep things ---

# Official release files and images (https://kubernetes.io/releases/download/): binaries at
# dl.k8s.io/v<version>/bin/linux/amd64/<name> (with <name>.sha256 beside them), images at
# registry.k8s.io/<component>:v<version>.
K8S_DOWNLOAD = "https://dl.k8s.io"
K8S_REGISTRY = "registry.k8s.io"
# etcd's own releases (https://github.com/etcd-io/etcd/releases): etcd-v<v>-linux-amd64.tar.gz.
ETCD_DOWNLOAD = "https://github.com/etcd-io/etcd/releases/download"
# The CNI plugins' releases (https://github.com/containernetworking/plugins/releases):
# cni-plugins-linux-amd64-v<v>.tgz, every plugin at the archive's top ("./bridge", ...: its
# scripts/release.sh tars bin/ as "."). Flatcar ships none (flatcar/scripts
# coreos-base/coreos RDEPEND has no net-misc/cni-plugins) and its containerd config.toml sets
# no CNI bin_dir, so containerd's CRI looks in its default /opt/cni/bin. (Typhoon, on Flatcar
# too, fills /opt/cni/bin from its flannel DaemonSet's install-cni init container:
# poseidon/terraform-render-bootstrap resources/flannel/daemonset.yaml; upstream flannel's
# copies only its own plugin, so the nodes install the release here.)
CNI_DOWNLOAD = "https://github.com/containernetworking/plugins/releases/download"
CNI_BIN_DIR = "/opt/cni/bin"
# What each node needs from the archive: the plugins flannel's CNI configuration delegates to
# (flannel-io/cni-plugin flannel_linux.go: bridge with host-local IPAM; portmap chained after it
# in manifests/addons/flannel.yaml) and loopback, which containerd's CRI runs for every pod's
# lo. flannel's own plugin comes with its DaemonSet.
CNI_PLUGINS = ("bridge", "host-local", "portmap", "loopback")
# Flatcar's /usr is read-only: downloaded programs go to /opt/bin (Flatcar's documented place).
BIN_DIR = "/opt/bin"
# Node configuration beside the PKI directory (_ssl_dir): kubeconfigs and component configs.
KUBERNETES_DIR = "/etc/kubernetes"


# The Flatcar Container Linux release `make image` imports: a pinned stable release, not the
# channel's moving "current" alias, so every import of a cluster boots the release its user
# data was checked against (Flatcar's stable 4757.2.1, the newest stable seen by 2026-10: public
# runbooks found with the search tool, find_string ids 70319669811 and 71200280480). Flatcar's
# "Running on DigitalOcean" imports flatcar_production_digitalocean_image.bin.bz2: the API
# takes raw/qcow2/vhdx/vdi/vmdk images compressed with gzip or bzip2 only (not xz), smaller
# than 100 GB unpacked (POST /v2/images), and the bzip2 file is a fraction of the raw disk
# DigitalOcean would otherwise fetch.
FLATCAR_CHANNEL = "stable"
FLATCAR_VERSION = "4757.2.1"


def flatcar_image_url() -> str:
    return (f"https://{FLATCAR_CHANNEL}.release.flatcar-linux.net/amd64-usr/{FLATCAR_VERSION}/"
            "flatcar_production_digitalocean_image.bin.bz2")


def kubectl_url(answers: Mapping[str, Any]) -> str:
    """Where an operator gets a kubectl of the cluster's version: the tutorial's release
    bucket, or dl.k8s.io for current releases (the bucket stops at v1.31.0)."""
    if answers["profile"] == "tutorial":
        return release_url(answers, "kubectl")
    return k8s_binary_url(answers, "kubectl")


def k8s_binary_url(answers: Mapping[str, Any], binary: str) -> str:
    """dl.k8s.io URL of one linux/amd64 binary of the configured Kubernetes version."""
    return f"{K8S_DOWNLOAD}/v{answers['kubernetes_version']}/bin/linux/amd64/{binary}"


def k8s_image(answers: Mapping[str, Any], component: str) -> str:
    """The official image of a control-plane component at the configured version."""
    return f"{K8S_REGISTRY}/{component}:v{answers['kubernetes_version']}"


def etcd_dist(answers: Mapping[str, Any]) -> str:
    """The release tarball's top directory (and, with .tar.gz, its file name)."""
    return f"etcd-v{answers['_etcd_version']}-linux-amd64"


def etcd_url(answers: Mapping[str, Any]) -> str:
    return f"{ETCD_DOWNLOAD}/v{answers['_etcd_version']}/{etcd_dist(answers)}.tar.gz"


def cni_plugins_dist(answers: Mapping[str, Any]) -> str:
    """The release tarball's name without .tgz."""
    return f"cni-plugins-linux-amd64-v{answers['_cni_plugins_version']}"


def cni_plugins_url(answers: Mapping[str, Any]) -> str:
    return f"{CNI_DOWNLOAD}/v{answers['_cni_plugins_version']}/{cni_plugins_dist(answers)}.tgz"


def node_file(name: str) -> str:
    """A configuration file on the nodes: /etc/kubernetes/kubelet.kubeconfig, ..."""
    return f"{KUBERNETES_DIR}/{name}"


# The kubelet's EnvironmentFile: its cloud settings and the other droplets' addresses, installed
# over ssh by the apply (the droplet ID and those addresses are known only after the create;
# profiles/current/scripts/lib/nodeenv.sh spells it too, a test keeps them equal).
KUBELET_ENV = node_file("kubelet.env")


def endpoint_files(answers: Mapping[str, Any], role: str) -> list[str]:
    """The user data's files that name another droplet's address by its placeholder
    (APISERVER_ENDPOINT, a controller's ETCD_ENDPOINTS): the node's fill-endpoints writes the
    values KUBELET_ENV gives into them before the kubelet starts."""
    files = [node_file("kubelet.kubeconfig"), node_file("kube-proxy.kubeconfig")]
    if role == "controller":
        files.append(f"{answers['_manifest_dir']}/kube-apiserver.yaml")
    return files


def service_account_issuer(answers: Mapping[str, Any]) -> str:
    """The issuer of service-account tokens: the in-cluster apiserver's name."""
    return f"https://kubernetes.default.svc.{answers['_cluster_domain']}"


# Where certificates live on the nodes: the tutorial's answers (_ssl_dir, _etcd_ssl_dir), or
# the current profile's kubeadm-style layout (the apply installs into the same directories:
# settings.env's SSL_DIR and ETCD_SSL_DIR come from here).
CURRENT_PKI_DIRS = {"_ssl_dir": f"{KUBERNETES_DIR}/pki", "_etcd_ssl_dir": "/etc/etcd/pki"}
# The current apiserver's admission plug-ins beyond its defaults: the Node authorizer's
# companion (kubelets may only change their own Node and the pods bound to it).
CURRENT_ADMISSION_PLUGINS = "NodeRestriction"
# The controller's components reach their apiserver at https://127.0.0.1 and check its
# certificate for this name, one of its SANs (the loopback address is not one).
APISERVER_TLS_NAME = "kubernetes"
# Secure ports the controller manager and scheduler serve /healthz on, at their upstream
# defaults (no flag sets them; bound to 127.0.0.1 for the kubelet's liveness probes).
CONTROLLER_MANAGER_PORT = 10257
SCHEDULER_PORT = 10259


# The control plane's probes as kubeadm writes them into its static pods (kubernetes
# cmd/kubeadm/app/util/staticpod/utils.go: LivenessProbe, ReadinessProbe, StartupProbe, whose
# failureThreshold is ControlPlaneComponentHealthCheckTimeout, 4 minutes, over the 10 s period;
# cmd/kubeadm/app/phases/controlplane/manifests.go: which component gets which). The startup
# probe holds the liveness probe off for up to 4 minutes: a small droplet's apiserver is not
# killed while it is still starting. Fields as (initialDelaySeconds, timeoutSeconds,
# failureThreshold, periodSeconds), kubeadm's createHTTPProbe argument order.
KUBEADM_PROBES = {"livenessProbe": (10, 15, 8, 10), "readinessProbe": (0, 15, 3, 1),
                  "startupProbe": (10, 15, 24, 10)}
_PROBE_FIELDS = ("initialDelaySeconds", "timeoutSeconds", "failureThreshold", "periodSeconds")


def control_plane_probes(path: str, port: int | str, readiness_path: str = "") -> str:
    """The probe blocks of one control-plane container (HTTPS on 127.0.0.1, as its secure port
    is bound there or reachable there); a readiness probe only where kubeadm writes one (the
    apiserver's /readyz)."""
    kinds = [("livenessProbe", path), ("readinessProbe", readiness_path), ("startupProbe", path)]
    lines = []
    for kind, probe_path in kinds:
        if not probe_path:
            continue
        lines += [f"{kind}:", "  httpGet:", "    scheme: HTTPS", "    host: 127.0.0.1",
                  f"    path: {probe_path}", f"    port: {port}"]
        lines += [f"  {name}: {value}" for name, value in zip(_PROBE_FIELDS, KUBEADM_PROBES[kind],
                                                               strict=True)]
    return "\n".join(lines)


def pki_dir(answers: Mapping[str, Any], answer: str = "_ssl_dir") -> str:
    """The node's PKI directory (answer _ssl_dir) or the etcd member's (_etcd_ssl_dir)."""
    return answers[answer] if answers["profile"] == "tutorial" else CURRENT_PKI_DIRS[answer]


# The TLS files the apply installs over ssh on each role of the current profile (never in user
# data), in the directory pki_dir gives; each node's units wait until all are there.
_NODE_TLS = ("ca.pem", "kubelet.pem", "kubelet-key.pem", "kube-proxy.pem", "kube-proxy-key.pem")
TLS_FILES = {
    "etcd": ("ca.pem", "etcd.pem", "etcd-key.pem"),
    "worker": _NODE_TLS,
    "controller": (*_NODE_TLS, *(f"{name}{kind}.pem" for name in (
        "apiserver", "apiserver-kubelet-client", "apiserver-etcd-client", "service-account",
        "controller-manager", "scheduler", "front-proxy-client") for kind in ("", "-key")),
        "front-proxy-ca.pem", "encryption-config.yaml"),
}


# --- the current profile's hardening (issue 20): one fact each, every artifact derives ---

# The apiserver's audit log: a host directory of the controller (the static pod mounts it),
# bounded by rotation: at most AUDIT_LOG_ROTATION maxsize MB x (maxbackup + 1) files, none
# kept longer than maxage days (kube-apiserver --audit-log-* flags; the log backend's lumberjack
# rotation, kubernetes.io "Auditing", Log backend).
AUDIT_POLICY = f"{KUBERNETES_DIR}/audit-policy.yaml"
AUDIT_LOG_DIR = "/var/log/kubernetes/audit"
AUDIT_LOG_ROTATION = {"maxage": 7, "maxbackup": 4, "maxsize": 50}
# Pod Security admission's cluster defaults (the PodSecurity plugin's AdmissionConfiguration):
# pods must meet "baseline", "restricted" violations are warned about and audited. kube-system
# runs the control plane and kube-proxy (host network, privileged): exempt, as the upstream
# docs' example exempts it ("Apply Pod Security Standards at the Cluster Level").
ADMISSION_CONFIG = f"{KUBERNETES_DIR}/admission-config.yaml"
POD_SECURITY_DEFAULTS = {"enforce": "baseline", "audit": "restricted", "warn": "restricted"}
POD_SECURITY_EXEMPT_NAMESPACES = ("kube-system",)
# The kernel settings the kubelet's protectKernelDefaults requires (it refuses to start when one
# differs): kubernetes/kubernetes pkg/kubelet/cm/container_manager_linux.go setupKernelTunables
# and their values in staging k8s.io/component-helpers/node/util/sysctl/sysctl.go
# (VMOvercommitMemoryAlways, VMPanicOnOOMInvokeOOMKiller, KernelPanicRebootTimeout,
# KernelPanicOnOopsAlways, RootMaxKeysSetting, RootMaxBytesSetting = RootMaxKeys x 25). The node
# sets them (sysctl.d) before the kubelet starts.
KUBELET_KERNEL_DEFAULTS = {
    "vm.overcommit_memory": 1, "vm.panic_on_oom": 0, "kernel.panic": 10,
    "kernel.panic_on_oops": 1, "kernel.keys.root_maxkeys": 1000000,
    "kernel.keys.root_maxbytes": 25000000,
}
# Secrets encrypted at rest: the EncryptionConfiguration with its keys lives beside the TLS
# keys (installed over ssh, never in user data; pki/ holds its source, 0600 and git-ignored);
# aescbc with 32-byte keys (kubernetes.io "Encrypting Confidential Data at Rest": aescbc keys
# are 32 bytes), identity last so Secrets written before encryption stay readable.
ENCRYPTION_CONFIG = f"{CURRENT_PKI_DIRS['_ssl_dir']}/encryption-config.yaml"
ENCRYPTION_PROVIDER = "aescbc"
ENCRYPTION_KEY_BYTES = 32

# What the generated README's Security table lists: per issue-20 item, what holds and the
# audit rule that checks it (generator/audit/hardening.py names the same rules).
SECURITY = (
    ("Audit log", f"every request but health probes at Metadata level, never a body of Secrets, "
     f"ConfigMaps or TokenReviews; {AUDIT_LOG_DIR} on the controller, rotated at "
     f"{AUDIT_LOG_ROTATION['maxsize']} MB, {AUDIT_LOG_ROTATION['maxbackup']} old files kept "
     f"{AUDIT_LOG_ROTATION['maxage']} days", "hardening.audit-log"),
    ("Secrets at rest", f"encrypted by the apiserver ({ENCRYPTION_PROVIDER}, a "
     f"{ENCRYPTION_KEY_BYTES}-byte key made on your machine, installed over ssh); "
     "`make rotate-encryption-key` replaces it", "hardening.encryption"),
    ("Pod Security", f"enforce={POD_SECURITY_DEFAULTS['enforce']}, "
     f"audit={POD_SECURITY_DEFAULTS['audit']}, warn={POD_SECURITY_DEFAULTS['warn']} for every "
     f"namespace but {', '.join(POD_SECURITY_EXEMPT_NAMESPACES)}", "hardening.pod-security"),
    ("Kubelet", "seccomp RuntimeDefault for every container, protectKernelDefaults with the "
     "kernel settings it needs, a serving certificate of the cluster CA the apiserver verifies",
     "hardening.kubelet"),
)
