"""The workloads of the current profile's cluster: the pods that bare Pods, Deployments,
StatefulSets and DaemonSets make (Running on the nodes they fit, bound there by nodeops.py,
Pending elsewhere; none where Pod Security's enforce mode rejects them), DaemonSet status, and
the endpoints controller's view. A pod mounting a claim waits for it (csivolumes.py)."""

from __future__ import annotations

import hashlib
from typing import Any

import csivolumes
import nodeops
import podsecurity
from apiserver import droplets
from core import key
from current_nodes import ready, tolerates, user_data
from output import matches


def pod_security(data: dict[str, Any], ns: str) -> dict[str, str] | None:
    """The namespace's Pod Security levels by mode (None: an exempt namespace)."""
    base, exempt = podsecurity.defaults(next(
        (text for text in map(user_data, droplets()) if podsecurity.ADMISSION_CONFIG in text),
        ""))
    if ns in exempt:
        return None
    return podsecurity.levels(data["objects"].get(key("Namespace", "", ns)), base)


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    if obj["kind"] == "Pod":
        return obj.get("spec") or {}
    if obj["kind"] in ("Deployment", "DaemonSet", "StatefulSet"):
        return obj["spec"]["template"].get("spec") or {}
    return None


def _admitted(data: dict[str, Any], obj: dict[str, Any]) -> bool:
    """Pod Security's enforce mode lets the object's pods be created."""
    spec, modes = pod_spec(obj), pod_security(data, obj["metadata"].get("namespace", ""))
    return spec is None or modes is None or not podsecurity.verdict(spec, modes)[0]


def workload_pods(data: dict[str, Any], node_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bare pods plus those the Deployments and DaemonSets make, with their phase now (none
    for a workload whose pods Pod Security's enforce mode rejects)."""
    up = [n for n in node_list if ready(n)]
    out = []
    for obj in data["objects"].values():
        kind, meta = obj["kind"], obj["metadata"]
        if not _admitted(data, obj):
            continue
        if kind == "Pod":
            spec = obj.get("spec") or {}
            fits = [n for n in up if tolerates(spec, n)
                    and csivolumes.schedulable(data, meta["namespace"], spec)]
            node = nodeops.bind(data, meta["name"], fits, 0)
            out.append(_pod(meta["name"], meta["namespace"], meta.get("labels") or {}, node,
                            None, spec, csivolumes.attached(data, meta["namespace"], spec, node)))
        elif kind in ("Deployment", "DaemonSet", "StatefulSet"):
            template = obj["spec"]["template"]
            labels = template["metadata"].get("labels") or {}
            fits = [n for n in (node_list if kind == "DaemonSet" else up)
                    if tolerates(template.get("spec") or {}, n)
                    and csivolumes.schedulable(data, meta["namespace"], template.get("spec") or {})]
            if kind == "DaemonSet":
                for node in fits:
                    out.append(_pod(f"{meta['name']}-{_short(node['metadata']['name'])}",
                                    meta["namespace"], labels, node["metadata"]["name"],
                                    kind, template.get("spec") or {}))
            else:  # a StatefulSet's pods are NAME-0, NAME-1, ... (its ordinal names)
                for i in range(int(obj["spec"].get("replicas", 1))):
                    name = (f"{meta['name']}-{i}" if kind == "StatefulSet"
                            else f"{meta['name']}-{_short(meta['name'])}-{i}")
                    node = nodeops.bind(data, name, fits, i)
                    spec = template.get("spec") or {}
                    out.append(_pod(name, meta["namespace"], labels, node,
                                    "StatefulSet" if kind == "StatefulSet" else "ReplicaSet",
                                    spec, csivolumes.attached(data, meta["namespace"], spec,
                                                              node)))
    return out


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:5]


def _pod(name: str, ns: str, labels: dict[str, str], node: str, owner: str | None,
         spec: dict[str, Any], volumes_ready: bool = True) -> dict[str, Any]:
    """A pod bound to NODE ("": Pending), owned by a controller of kind OWNER (None: bare);
    Running there once its volumes are (VOLUMES_READY; else Pending, ContainerCreating)."""
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": dict(labels)}
    if owner:
        meta["ownerReferences"] = [{"kind": owner, "controller": True}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": node, "volumes": spec.get("volumes") or [],
                     **({"hostNetwork": True} if spec.get("hostNetwork") else {})},
            "status": {"phase": "Running" if node and volumes_ready else "Pending"}}


def daemonset_status(obj: dict[str, Any], node_list: list[dict[str, Any]]) -> dict[str, Any]:
    spec = obj["spec"]["template"].get("spec") or {}
    want = [n for n in node_list if tolerates(spec, n)]
    return {"desiredNumberScheduled": len(want), "currentNumberScheduled": len(want),
            "numberReady": len(want), "numberAvailable": len(want)}


def endpoints_of(data: dict[str, Any], pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for svc in data["objects"].values():
        if svc["kind"] != "Service":
            continue
        ns, selector = svc["metadata"]["namespace"], svc["spec"].get("selector") or {}
        backing = [p for p in pods if p["metadata"]["namespace"] == ns and selector and
                   p["status"]["phase"] == "Running" and
                   matches(p["metadata"]["labels"], selector)]
        addresses = [{"ip": f"10.244.0.{i + 2}", "targetRef": {"kind": "Pod",
                      "name": p["metadata"]["name"]}} for i, p in enumerate(backing)]
        out.append({"apiVersion": "v1", "kind": "Endpoints",
                    "metadata": {"name": svc["metadata"]["name"], "namespace": ns},
                    "subsets": [{"addresses": addresses}] if addresses else []})
    return out
