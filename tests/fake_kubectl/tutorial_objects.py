"""The objects of kubectl 1.1.2's cluster (the tutorial's): manifests read, and ``create``,
``apply``, ``delete`` and ``get -f`` on them, in the words of the real 1.1.2 binary against a
1.1.2 apiserver (../shared/k8s-1.1.2): ``create`` refuses an existing object (a Service with a
fixed clusterIP: "provided IP is already allocated"), ``apply`` only patches objects that exist
and always says "configured", ``get -f`` fails unless every object of the files exists."""

from __future__ import annotations

import hashlib
import json
import random
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core import KubectlError, key, lines
from output import matches

from tests.standins import yamlfast

KINDS: dict[str, tuple[str, str]] = {
    # alias -> (Kind, resource name used in messages)
    "pod": ("Pod", "pod"), "pods": ("Pod", "pod"), "po": ("Pod", "pod"),
    "service": ("Service", "service"), "services": ("Service", "service"),
    "svc": ("Service", "service"),
    "replicationcontroller": ("ReplicationController", "replicationcontroller"),
    "replicationcontrollers": ("ReplicationController", "replicationcontroller"),
    "rc": ("ReplicationController", "replicationcontroller"),
    "node": ("Node", "node"), "nodes": ("Node", "node"), "no": ("Node", "node"),
    "endpoints": ("Endpoints", "endpoints"), "ep": ("Endpoints", "endpoints"),
}
# 1.1.2 names resources in its errors like this ("replicationControllers").
PLURAL = {"Pod": "pods", "Service": "services", "ReplicationController": "replicationControllers",
          "Node": "nodes", "Endpoints": "endpoints"}
NODEPORT_NOTICE = (
    "You have exposed your service on an external port on all nodes in your\n"
    "cluster.  If you want to expose this service to the external internet, you may\n"
    "need to set up firewall rules for the service port(s) ({ports}) to serve traffic.\n\n"
    "See http://releases.k8s.io/release-1.1/docs/user-guide/services-firewalls.md for more "
    "details.\n")
NAMESPACED = {"Pod", "Service", "ReplicationController"}


def load_manifests(file: str) -> list[dict[str, Any]]:
    path = Path(file)
    if not path.is_file():
        raise KubectlError(f'error: the path "{file}" does not exist')
    try:
        docs = [d for d in yamlfast.load_all(path.read_text()) if d is not None]
    except yamlfast.Error as exc:
        raise KubectlError(f'error: error parsing {file}: {exc}') from None
    if not docs:
        raise KubectlError(f"error: no objects passed to apply ({file})")
    for doc in docs:
        if not isinstance(doc, dict):
            raise KubectlError(f"error: error parsing {file}: object is not a mapping")
        for field in ("apiVersion", "kind"):
            if not doc.get(field):
                raise KubectlError(f'error: error validating "{file}": {field} not set')
        if not (doc.get("metadata") or {}).get("name"):
            raise KubectlError(f'error: error validating "{file}": metadata.name not set')
        if doc["kind"] not in NAMESPACED:
            raise KubectlError(f'error: resource mapping not found for kind "{doc["kind"]}" '
                               f"(fake kubectl knows {sorted(NAMESPACED)})")
    return docs


def _suffix() -> str:
    return "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(5))


def _store(data: dict[str, Any], doc: dict[str, Any], namespace: str) -> None:
    kind, name = doc["kind"], doc["metadata"]["name"]
    ns = doc["metadata"].get("namespace") or namespace
    obj = json.loads(json.dumps(doc))
    obj["metadata"]["namespace"] = ns
    if kind == "Pod":
        obj["status"] = {"phase": "Running"}
    if kind == "Service":
        spec = obj.setdefault("spec", {})
        spec.setdefault("clusterIP", "10.3.0." + str(20 + len(data["objects"])))
    data["objects"][key(kind, ns, name)] = obj
    if kind == "ReplicationController":
        template = doc.get("spec", {}).get("template", {})
        for _ in range(int(doc.get("spec", {}).get("replicas", 1))):
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": f"{name}-{_suffix()}", "namespace": ns,
                                "labels": dict(template.get("metadata", {}).get("labels", {}))},
                   "spec": template.get("spec", {}), "status": {"phase": "Running"}}
            data["objects"][key("Pod", ns, pod["metadata"]["name"])] = pod


def not_found(kind: str, name: str) -> str:
    return f'{PLURAL[kind]} "{name}" not found'


def _objects(files: list[str], namespace: str) -> Iterator[tuple[str, dict[str, Any], str, str]]:
    """(file, manifest, namespace, state key) of each object of the files, in order."""
    if not files:
        raise KubectlError("error: must specify one of -f and -k")
    for file in files:
        for doc in load_manifests(file):
            ns = doc["metadata"].get("namespace") or namespace
            yield file, doc, ns, key(doc["kind"], ns, doc["metadata"]["name"])


def cmd_create_apply(verb: str, files: list[str], namespace: str,
                     data: dict[str, Any]) -> tuple[str, str]:
    """Each object in turn, as 1.1.2 does: (stdout, errors); any error makes the exit 1."""
    out, errors = [], []
    for file, doc, ns, obj_key in _objects(files, namespace):
        kind, name = doc["kind"], doc["metadata"]["name"]
        label = f'{kind.lower()} "{name}"'
        exists = obj_key in data["objects"]
        if verb == "create" and exists:
            ip = (doc.get("spec") or {}).get("clusterIP")
            reason = (f"Service \"{name}\" is invalid: spec.clusterIP: invalid value '{ip}', "
                      "Details: provided IP is already allocated" if kind == "Service" and ip
                      else f'{PLURAL[kind]} "{name}" already exists')
            errors.append(f'Error from server: error when creating "{file}": {reason}')
            continue
        if verb == "apply" and not exists:
            errors.append("Error from server: error when retrieving current configuration "
                          f"of:\n&{{{ns} {name} {file}}}\nfrom server for: \"{file}\": "
                          + not_found(kind, name))
            continue
        _store(data, doc, namespace)
        ports = [f"tcp:{p['nodePort']}" for p in (doc.get("spec") or {}).get("ports", [])
                 if kind == "Service" and p.get("nodePort")]
        if verb == "create" and ports:
            out.append(NODEPORT_NOTICE.format(ports=",".join(ports)).rstrip("\n"))
        out.append(f"{label} {'created' if verb == 'create' else 'configured'}")
    return lines(out), lines(errors)


def cmd_delete_files(files: list[str], namespace: str,
                     data: dict[str, Any]) -> tuple[str, str]:
    """``delete -f F...``: each object, a replication controller with its pods (1.1.2 reaps
    them); a missing one is an error, the others are still deleted."""
    out, errors = [], []
    for _file, doc, ns, obj_key in _objects(files, namespace):
        kind, name = doc["kind"], doc["metadata"]["name"]
        obj = data["objects"].pop(obj_key, None)
        if obj is None:
            errors.append(f"Error from server: {not_found(kind, name)}")
            continue
        if kind == "ReplicationController":
            selector = (obj.get("spec") or {}).get("selector") or {}
            for pod_key, pod in list(data["objects"].items()):
                if pod["kind"] == "Pod" and pod["metadata"]["namespace"] == ns and matches(
                        pod["metadata"].get("labels", {}), selector):
                    del data["objects"][pod_key]
        out.append(f'{kind.lower()} "{name}" deleted')
    return lines(out), lines(errors)


def cmd_get_files(files: list[str], opts: dict[str, Any], data: dict[str, Any]) -> str:
    """``get -f F...``: every object of the files, or an error for the first one missing."""
    if opts["output"] not in ("", "name"):
        raise KubectlError("error: fake kubectl: get -f supports -o name only")
    found = []
    for file in files:
        for doc in load_manifests(file):
            kind, name = doc["kind"], doc["metadata"]["name"]
            ns = doc["metadata"].get("namespace") or opts["namespace"]
            if key(kind, ns, name) not in data["objects"]:
                raise KubectlError("Error from server: " + not_found(kind, name))
            found.append(f"{kind.lower()}/{name}" if opts["output"] else f"{kind} {name}")
    return lines(found)


def endpoints(data: dict[str, Any], ns: str) -> list[dict[str, Any]]:
    """The endpoints controller's view: each Service with a selector, its Running pods."""
    out = []
    for svc in data["objects"].values():
        if svc["kind"] != "Service" or svc["metadata"]["namespace"] != ns:
            continue
        selector = (svc.get("spec") or {}).get("selector") or {}
        pods = sorted(
            (o for o in data["objects"].values() if o["kind"] == "Pod" and selector
             and o["metadata"]["namespace"] == ns and o["status"]["phase"] == "Running"
             and matches(o["metadata"].get("labels") or {}, selector)),
            key=lambda o: o["metadata"]["name"])
        # pod IPs: a stable stand-in address per pod (the fake has no pod network)
        addresses = [{"ip": f"10.244.{int(_digest(p['metadata']['name'])[:2], 16)}."
                      f"{int(_digest(p['metadata']['name'])[2:4], 16) % 254 + 1}",
                      "targetRef": {"kind": "Pod", "name": p["metadata"]["name"]}} for p in pods]
        ports = [{"name": p.get("name", ""), "port": p.get("targetPort", p["port"]),
                  "protocol": p.get("protocol", "TCP")} for p in svc["spec"].get("ports", [])]
        subsets = [{"addresses": addresses, "ports": ports}] if addresses else []
        out.append({"apiVersion": "v1", "kind": "Endpoints",
                    "metadata": {"name": svc["metadata"]["name"], "namespace": ns,
                                 "labels": dict(svc["metadata"].get("labels") or {})},
                    "subsets": subsets})
    return out


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
