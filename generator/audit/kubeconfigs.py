"""Every kubeconfig of the cluster repo: the admin's (client/, and ./kubeconfig once applied),
the nodes' (node/) and the copies cloud-configs embed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from generator.audit.cluster import Cluster, Manifest
from generator.audit.lint import cluster_files
from generator.audit.yamlnodes import YamlSyntaxError, at_path, compose_all

# Covered elsewhere: manifests/ and the cloud-configs' embedded files are Cluster.manifests.
PARSED_ELSEWHERE = ("manifests", "cloud-config", "build")
KUBECONFIG_NAMES = ("kubeconfig",)  # what the apply writes at the top of the cluster repo


class Kubeconfig(Manifest):
    def clusters(self) -> Iterator[tuple[str, list[str | int], dict[str, Any]]]:
        """(name, path, cluster settings) of each entry of clusters:."""
        data = self.data if isinstance(self.data, dict) else {}
        for i, entry in enumerate(data.get("clusters") or []):
            if isinstance(entry, dict):
                settings = entry.get("cluster")
                yield (str(entry.get("name")), ["clusters", i, "cluster"],
                       settings if isinstance(settings, dict) else {})

    def line_at(self, path: list[str | int]) -> int:
        return self.line_of(at_path(self.node, path))

    def servers(self) -> Iterator[tuple[str, int, str]]:
        """(cluster name, file line, server URL) of each cluster that names a server."""
        for name, path, settings in self.clusters():
            if "server" in settings:
                yield name, self.line_at([*path, "server"]), str(settings["server"])


def _standalone(cluster: Cluster) -> Iterator[Kubeconfig]:
    for path in cluster_files(cluster):
        rel = cluster.rel(path)
        if rel.split("/")[0] in PARSED_ELSEWHERE or not (
            path.suffix in (".yaml", ".yml") or path.name in KUBECONFIG_NAMES
        ):
            continue
        try:
            nodes = compose_all(path.read_text())
        except (YamlSyntaxError, UnicodeDecodeError):
            continue  # yamllint reports it
        for node in nodes:
            kc = Kubeconfig(rel, node)
            if kc.kind == "Config":
                yield kc


def kubeconfigs(cluster: Cluster) -> list[Kubeconfig]:
    embedded = [Kubeconfig(m.rel, m.node, m.first_line, m.host_path, m.cloud_config)
                for m in cluster.manifests if m.kind == "Config"]
    return embedded + list(_standalone(cluster))
