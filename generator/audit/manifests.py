"""Rule 4 (and the manifest half of rule 3): Kubernetes manifests, standalone and embedded."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import yaml
from kubernetes_validate import utils as kv_utils
from kubernetes_validate.utils import SchemaNotFoundError, VersionNotSupportedError

from generator.audit.cluster import Cluster, Manifest
from generator.audit.report import ERROR, WARNING, Finding
from generator.audit.yamlnodes import at_path

# kubernetes-validate's validate() lists its schema versions and reads and parses the kind's
# schema and the version's whole _definitions.json (1.8 MB at 1.37) again for every document:
# 0.4 s of a bake's audit, for the same few files. Each is read once per process instead (the
# package's files do not change under a running process; a missing file still raises).
kv_utils.schema_contents = functools.lru_cache(maxsize=None)(kv_utils.schema_contents)
kv_utils.all_versions = functools.lru_cache(maxsize=1)(kv_utils.all_versions)
all_versions = kv_utils.all_versions

# The Kubernetes 1.1 API: what the cluster's apiserver serves.
KNOWN_KINDS = {
    "v1": {
        "Pod", "Service", "ReplicationController", "Namespace", "Secret", "ServiceAccount",
        "Endpoints", "LimitRange", "ResourceQuota", "PersistentVolume",
        "PersistentVolumeClaim", "PodTemplate", "Node", "Event",
    },
    "extensions/v1beta1": {
        "DaemonSet", "Deployment", "HorizontalPodAutoscaler", "Ingress", "Job",
        "ThirdPartyResource",
    },
}
# The oldest schema kubernetes-validate bundles: the nearest to 1.1 it has. Its strict
# variant rejects unknown fields; the 1.1 fields the template uses all still exist there.
SCHEMA_VERSION = all_versions()[0]
# The current profile's apiserver serves the API of KUBERNETES_VERSION, validated with that
# version's schemas, and creates these namespaces itself.
CURRENT_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease"}
TEMPLATE_KINDS = {"ReplicationController", "Deployment", "DaemonSet", "Job"}
# Component configuration files (read by a binary, never sent to the apiserver): the API's
# schemas do not hold them; their fields are checked against the upstream types (flagsets.py).
COMPONENT_CONFIG_GROUPS = ("kubelet.config.k8s.io/", "kubeproxy.config.k8s.io/",
                           "kubescheduler.config.k8s.io/", "audit.k8s.io/",
                           "apiserver.config.k8s.io/", "pod-security.admission.config.k8s.io/")
NAMESPACE_POST = re.compile(r'"kind"\s*:\s*"Namespace"\s*,\s*"metadata"\s*:\s*\{\s*"name"\s*:'
                            r'\s*"([^"]+)"')
NODE_PORT_FLAG = "--service-node-port-range="


def _get(data: Any, *path: str | int) -> Any:
    for step in path:
        if isinstance(data, dict) and isinstance(step, str):
            data = data.get(step)
        elif isinstance(data, list) and isinstance(step, int) and step < len(data):
            data = data[step]
        else:
            return None
    return data


class Checker:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.objects = cluster.api_objects()
        self.current = cluster.profile.name == "current"
        self.version = cluster.setting("KUBERNETES_VERSION") or ""

    def find(self, m: Manifest, severity: str, rule: str, path: list[str | int],
             message: str) -> Finding:
        return Finding(m.rel, m.line_of(at_path(m.node, path)), severity, rule, message)

    def pod_specs(self, m: Manifest) -> Iterator[tuple[list[str | int], dict]]:
        """(path, pod spec) of a Pod or of a controller's pod template."""
        base: list[str | int] = ["spec"] if m.kind == "Pod" else ["spec", "template", "spec"]
        if m.kind == "Pod" or m.kind in TEMPLATE_KINDS:
            spec = _get(m.data, *base)
            if isinstance(spec, dict):
                yield base, spec

    def pod_labels(self) -> list[tuple[str, dict]]:
        """(namespace, labels) of every pod and pod template."""
        result = []
        for m in self.objects:
            path = ("metadata", "labels") if m.kind == "Pod" else (
                "spec", "template", "metadata", "labels")
            if m.kind == "Pod" or m.kind in TEMPLATE_KINDS:
                labels = _get(m.data, *path)
                result.append((_get(m.data, "metadata", "namespace") or "default",
                               labels if isinstance(labels, dict) else {}))
        return result

    def node_port_range(self) -> tuple[int, int] | None:
        for m in self.objects:
            for _, spec in self.pod_specs(m):
                for container in spec.get("containers") or []:
                    for arg in (container.get("command") or []) + (container.get("args") or []):
                        if str(arg).startswith(NODE_PORT_FLAG):
                            low, _, high = str(arg)[len(NODE_PORT_FLAG):].partition("-")
                            if low.isdigit() and high.isdigit():
                                return int(low), int(high)
        return None

    def created_namespaces(self) -> set[str]:
        created = set(CURRENT_NAMESPACES) if self.current else {"default"}
        created |= {
            str(_get(m.data, "metadata", "name")) for m in self.objects if m.kind == "Namespace"
        }
        for config in self.cluster.cloud_configs:
            for unit in config.units:
                for part in unit.all_parts():
                    for d in part.directives:
                        created |= set(NAMESPACE_POST.findall(d.value))
        return created

    def schema(self, m: Manifest) -> Iterator[Finding]:
        if self.current:
            yield from self.current_schema(m)
            return
        api, kind = _get(m.data, "apiVersion"), m.kind
        if kind not in KNOWN_KINDS.get(str(api), set()):
            yield self.find(m, ERROR, "manifest.kind", ["kind"],
                            f"{api}/{kind} is not in the Kubernetes 1.1 API")
            return
        try:
            kubernetes_validate.validate(m.data, SCHEMA_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            path = list(err.path)
            where = ".".join(map(str, path)) or "document"
            yield self.find(m, ERROR, "manifest.schema", path, f"{where}: {err.message}")
        except SchemaNotFoundError as err:
            yield self.find(m, WARNING, "manifest.schema", ["kind"], err.message)

    def current_schema(self, m: Manifest) -> Iterator[Finding]:
        """Strictly against the schemas of the cluster's own version: a kind it does not
        serve (removed, or misspelled) has no schema there."""
        if str(_get(m.data, "apiVersion")).startswith(COMPONENT_CONFIG_GROUPS):
            return
        try:
            kubernetes_validate.validate(m.data, self.version, strict=True)
        except kubernetes_validate.ValidationError as err:
            path = list(err.path)
            where = ".".join(map(str, path)) or "document"
            yield self.find(m, ERROR, "manifest.schema", path, f"{where}: {err.message}")
        except SchemaNotFoundError:
            yield self.find(m, ERROR, "manifest.kind", ["kind"],
                            f"{_get(m.data, 'apiVersion')}/{m.kind} is not in the Kubernetes "
                            f"{self.version} API")
        except VersionNotSupportedError:
            yield self.find(m, ERROR, "manifest.schema", ["kind"],
                            f"kubernetes-validate has no schemas for Kubernetes {self.version}")

    def pods(self, m: Manifest) -> Iterator[Finding]:
        for base, spec in self.pod_specs(m):
            volumes = {v.get("name") for v in spec.get("volumes") or [] if isinstance(v, dict)}
            seen: set[str] = set()
            for i, container in enumerate(spec.get("containers") or []):
                if not isinstance(container, dict):
                    continue
                here = [*base, "containers", i]
                name = container.get("name")
                if name in seen:
                    yield self.find(m, ERROR, "manifest.container-name", [*here, "name"],
                                    f"container name {name!r} repeats in this pod")
                seen.add(name)
                for j, mount in enumerate(container.get("volumeMounts") or []):
                    if mount.get("name") not in volumes:
                        yield self.find(
                            m, ERROR, "manifest.volume", [*here, "volumeMounts", j, "name"],
                            f"volumeMount {mount.get('name')!r} names no volume of the pod",
                        )
                for j, port in enumerate(container.get("ports") or []):
                    for key in ("containerPort", "hostPort"):
                        yield from self.port(m, [*here, "ports", j, key], port.get(key))

    def port(self, m: Manifest, path: list[str | int], value: Any) -> Iterator[Finding]:
        if isinstance(value, int) and not 1 <= value <= 65535:
            yield self.find(m, ERROR, "manifest.port", path,
                            f"{path[-1]} {value} is outside 1-65535")

    def selectors(self, m: Manifest) -> Iterator[Finding]:
        if m.kind in TEMPLATE_KINDS:
            selector = _get(m.data, "spec", "selector")
            selector = selector.get("matchLabels", selector) if isinstance(selector, dict) else {}
            labels = _get(m.data, "spec", "template", "metadata", "labels") or {}
            if not labels or any(labels.get(k) != v for k, v in selector.items()):
                yield self.find(m, ERROR, "manifest.selector", ["spec", "selector"],
                                f"selector {selector} does not match the template labels {labels}")
        if m.kind == "Service":
            selector = _get(m.data, "spec", "selector")
            namespace = _get(m.data, "metadata", "namespace") or "default"
            if isinstance(selector, dict) and selector and not any(
                ns == namespace and all(labels.get(k) == v for k, v in selector.items())
                for ns, labels in self.pod_labels()
            ):
                yield self.find(m, ERROR, "manifest.service-selector", ["spec", "selector"],
                                f"selector {selector} matches no pod template in {namespace}")

    def service_ports(self, m: Manifest, node_ports: tuple[int, int] | None) -> Iterator[Finding]:
        if m.kind != "Service":
            return
        for i, port in enumerate(_get(m.data, "spec", "ports") or []):
            here: list[str | int] = ["spec", "ports", i]
            for key in ("port", "targetPort", "nodePort"):
                yield from self.port(m, [*here, key], port.get(key))
            node_port = port.get("nodePort")
            if isinstance(node_port, int) and node_ports and not (
                node_ports[0] <= node_port <= node_ports[1]
            ):
                yield self.find(
                    m, ERROR, "manifest.node-port", [*here, "nodePort"],
                    f"nodePort {node_port} is outside the apiserver's "
                    f"--service-node-port-range {node_ports[0]}-{node_ports[1]}",
                )

    def namespace(self, m: Manifest, created: set[str]) -> Iterator[Finding]:
        namespace = _get(m.data, "metadata", "namespace")
        if namespace and m.kind != "Namespace" and namespace not in created:
            yield self.find(m, ERROR, "manifest.namespace", ["metadata", "namespace"],
                            f"namespace {namespace!r} is used but nothing creates it")

    def run(self) -> Iterator[Finding]:
        node_ports, created = self.node_port_range(), self.created_namespaces()
        for m in self.cluster.manifests:
            if not isinstance(m.data, dict) or not isinstance(m.node, yaml.MappingNode):
                yield Finding(m.rel, m.line_of(m.node), ERROR, "manifest.kind",
                              "a manifest must be a mapping with apiVersion and kind")
                continue
            if m.kind is None:
                if m.cloud_config is None:  # embedded YAML may be any file, not an object
                    yield self.find(m, ERROR, "manifest.kind", [], "apiVersion/kind missing")
                continue
            if m.kind == "Config":
                continue
            yield from self.schema(m)
            yield from self.pods(m)
            yield from self.selectors(m)
            yield from self.service_ports(m, node_ports)
            yield from self.namespace(m, created)


def check(cluster: Cluster) -> Iterator[Finding]:
    yield from Checker(cluster).run()
