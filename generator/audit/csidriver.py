"""Rule 17 (`current` profile): the CSI driver's pinned release is published for the cluster's
Kubernetes version (csi-digitalocean's README table, generator/csicompat.py): a warning, since
the driver may still work, naming the releases it is published for."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath

from generator import csicompat
from generator.audit.cluster import Cluster
from generator.audit.commands import containers
from generator.audit.report import WARNING, Finding
from generator.audit.yamlnodes import at_path

PLUGIN = "do-csi-plugin"


def check(cluster: Cluster) -> Iterator[Finding]:
    version = cluster.setting("KUBERNETES_VERSION")
    if cluster.profile.name != "current" or not version:
        return
    seen: set[str] = set()  # one finding per pinned release (the controller and node pods)
    for m in cluster.manifests:
        for path, container in containers(m):
            image = str(container.get("image") or "")
            name, _, tag = image.rpartition(":")
            if PurePosixPath(name).name != PLUGIN or tag in seen:
                continue
            seen.add(tag)
            problem = csicompat.problem(tag, version)
            if problem:
                yield Finding(m.rel, m.line_of(at_path(m.node, [*path, "image"])), WARNING,
                              "addons.csi-compatibility",
                              f"{problem} (KUBERNETES_VERSION {version})")
