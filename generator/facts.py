"""Facts derived from the answers: each is computed here once and used by every artifact."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

# Where the tutorial downloads release binaries and docker-wrapped images from.
RELEASE_BUCKET = "https://storage.googleapis.com/kubernetes-release/release"

KUBELET_PATHS = {"bundled": "/usr/bin/kubelet", "download": "/opt/bin/kubelet"}

# Ports the template leaves at their upstream defaults (no flag sets them): the kubelet's
# --port (the apiserver reaches it for logs and exec) and sshd's.
KUBELET_PORT = 10250
SSH_PORT = 22
# flanneld's data port per backend: vxlan uses the kernel's VXLAN port, udp its own; host-gw
# routes without encapsulation (no port).
FLANNEL_PORTS = {"vxlan": "8472/udp", "udp": "8285/udp", "host-gw": ""}


# The load balancer in front of several controllers: one node (size_unit 1; doctl
# --size-unit), billed per node: "Load balancers cost $10.00 per month for each node they
# contain" (docs.digitalocean.com/products/networking/load-balancers/, Plans and Pricing).
LB_SIZE_UNIT = 1
LB_NODE_MONTHLY_USD = "10.00"


def apiserver_service_ip(service_cidr: str) -> str:
    """The apiserver takes the first address of the service range (10.3.0.1 in the tutorial)."""
    network = ipaddress.ip_network(service_cidr, strict=True)
    return str(network.network_address + 1)


def release_url(answers: Mapping[str, Any], binary: str) -> str:
    """Download URL of one linux/amd64 release artifact of the configured Kubernetes version."""
    return f"{RELEASE_BUCKET}/v{answers['kubernetes_version']}/bin/linux/amd64/{binary}"


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
