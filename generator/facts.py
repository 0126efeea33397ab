"""Facts derived from the answers: each is computed here once and used by every artifact."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

# Where the tutorial downloads release binaries and docker-wrapped images from.
RELEASE_BUCKET = "https://storage.googleapis.com/kubernetes-release/release"

KUBELET_PATHS = {"bundled": "/usr/bin/kubelet", "download": "/opt/bin/kubelet"}


def apiserver_service_ip(service_cidr: str) -> str:
    """The apiserver takes the first address of the service range (10.3.0.1 in the tutorial)."""
    network = ipaddress.ip_network(service_cidr, strict=True)
    return str(network.network_address + 1)


def release_url(answers: Mapping[str, Any], binary: str) -> str:
    """Download URL of one linux/amd64 release artifact of the configured Kubernetes version."""
    return f"{RELEASE_BUCKET}/v{answers['kubernetes_version']}/bin/linux/amd64/{binary}"


def kubelet_path(answers: Mapping[str, Any]) -> str:
    """CoreOS alpha/beta bundle the kubelet; elsewhere it is downloaded to /opt/bin."""
    return KUBELET_PATHS[answers["kubelet_source"]]


def droplet_name(answers: Mapping[str, Any], role: str, index: int = 1) -> str:
    """Droplet names carry the cluster name: do-cluster-etcd-01, do-cluster-worker-02."""
    return f"{answers['cluster_name']}-{role}-{index:02d}"


# DigitalOcean tag names allow letters, digits, ':', '-' and '_' (at most 255 characters:
# https://docs.digitalocean.com/reference/dots/reference/tags/tags-create/). A cluster name has
# no ':', so "k8s-do:NAME" and "k8s-do:NAME:ROLE" cannot be another cluster's tag (with
# "NAME" and "NAME-worker", cluster "prod-worker" owned the workers of cluster "prod").
TAG_PREFIX = "k8s-do"


def droplet_tag(answers: Mapping[str, Any], role: str = "") -> str:
    """The cluster's tag (k8s-do:do-cluster) or one of its role tags (k8s-do:do-cluster:worker)."""
    return ":".join(part for part in (TAG_PREFIX, answers["cluster_name"], role) if part)
