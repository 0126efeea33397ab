"""flannel's network config in the current profile: the kube subnet manager reads it from the
net-conf.json of its ConfigMap (the tutorial's etcdctl set is checked in consistency.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from generator.audit.cluster import Cluster, Manifest
from generator.audit.report import ERROR, Finding
from generator.audit.yamlnodes import at_path

NET_CONF = "net-conf.json"


def configmaps(cluster: Cluster) -> list[tuple[Manifest, str]]:
    """(manifest, JSON) of each ConfigMap carrying flannel's net-conf.json."""
    return [(m, m.data["data"][NET_CONF]) for m in cluster.api_objects()
            if m.kind == "ConfigMap" and isinstance(m.data.get("data"), dict)
            and isinstance(m.data["data"].get(NET_CONF), str)]


def configmap_network(cluster: Cluster, pod_network: str, missing: Finding
                      ) -> Iterator[Finding]:
    """Each net-conf.json's Network is POD_NETWORK; `missing` when no ConfigMap has one."""
    published = configmaps(cluster)
    for m, raw in published:
        line = m.line_of(at_path(m.node, ["data", NET_CONF]))
        try:
            network = json.loads(raw).get("Network")
        except ValueError as err:
            yield Finding(m.rel, line, ERROR, "facts.pod-network",
                          f"flannel's {NET_CONF} is not JSON: {err}")
            continue
        if network != pod_network:
            yield Finding(m.rel, line, ERROR, "facts.pod-network",
                          f"flannel Network is {network}, POD_NETWORK {pod_network}")
    if not published:
        yield missing
