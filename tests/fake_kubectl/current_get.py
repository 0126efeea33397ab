"""``get`` on the current profile's cluster: ``get KIND [NAME] [-n NS|-A] [-l SELECTOR
(equality or set-based)] [-o json|jsonpath=|name]`` and ``get --raw /readyz|/readyz/etcd``, in
a current kubectl's words (``Error from server (NotFound): ...``, ``No resources found in NS
namespace.``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import atrest
import ccmlb
import csivolumes
import nodeops
from apiserver import droplets, installed
from core import KubectlError, key
from current_kinds import ALIASES, KINDS, ref, type_name
from current_nodes import nodes, ready
from current_workloads import daemonset_status, endpoints_of, workload_pods
from current_writes import encryption_config
from output import pick, printed, table
from vocab_current import VOCABULARY


def _selected(labels: dict[str, str], selector: str) -> bool:
    """Equality (``a=b,c!=d``) and set-based (``k in (a, b)``, ``k notin (...)``) terms."""
    for term in re.findall(r"[^,(]+(?:\([^)]*\))?", selector):
        term = term.strip()
        match = re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", term)
        if match:
            values = {v.strip() for v in match.group(3).split(",")}
            inside = labels.get(match.group(1)) in values
            if inside != (match.group(2) == "in"):
                return False
            continue
        label, op, value = re.fullmatch(r"([\w./-]+)\s*(!=|==|=)?\s*(.*)", term).groups()
        if op is None:
            if label not in labels:
                return False
        elif (labels.get(label) == value) != (op != "!="):
            return False
    return True


def _rows(kind: str, items: list[dict[str, Any]]) -> list[list[str]]:
    if kind == "Pod":
        rows = [["NAME", "READY", "STATUS", "RESTARTS", "AGE"]] + [
            [i["metadata"]["name"], "1/1" if i["status"]["phase"] == "Running" else "0/1",
             i["status"]["phase"], "0", "1m"] for i in items]
    elif kind == "Node":
        rows = [["NAME", "STATUS", "ROLES", "AGE", "VERSION"]] + [
            [i["metadata"]["name"], ("Ready" if ready(i) else "NotReady") +
             ("" if nodeops.schedulable(i) else ",SchedulingDisabled"), "<none>", "1m",
             i["status"]["nodeInfo"].get("kubeletVersion", "")] for i in items]
    else:
        rows = [["NAME", "AGE"]] + [[i["metadata"]["name"], "1m"] for i in items]
    return rows


def cmd_get(args: list[str], opts: dict[str, Any], data: dict[str, Any]) -> str:
    if not args:
        raise KubectlError("error: Required resource not specified.")
    kind = ALIASES.get(args[0]) or next((k for k in KINDS if k.lower() == args[0]), None)
    if kind is None:
        raise KubectlError(f'error: the server doesn\'t have a resource type "{args[0]}"')
    name = args[1] if len(args) > 1 else None
    ns, every = opts["namespace"], opts["all_namespaces"] and KINDS[kind][2]
    node_list = nodes(data)
    pods = workload_pods(data, node_list)
    if kind == "Node":
        items = node_list
    elif kind == "Pod":
        items = [p for p in pods if every or p["metadata"]["namespace"] == ns]
    elif kind == "Endpoints":
        items = [e for e in endpoints_of(data, pods) if every or e["metadata"]["namespace"] == ns]
    else:
        items = [json.loads(json.dumps(o)) for o in data["objects"].values()
                 if o["kind"] == kind and (not KINDS[kind][2] or every
                                           or o["metadata"]["namespace"] == ns)]
        if kind == "Secret":
            config = encryption_config()
            for error in filter(None, (atrest.readable(i, config) for i in items)):
                raise KubectlError(error)
            items = [atrest.view(i) for i in items]
        for item in items:
            if kind == "DaemonSet":
                item["status"] = daemonset_status(item, node_list)
            if kind == "Service":
                ccmlb.view(data, key(kind, item["metadata"]["namespace"],
                                     item["metadata"]["name"]), item)
            if kind == "PersistentVolumeClaim":
                csivolumes.view(data, key(kind, item["metadata"]["namespace"],
                                          item["metadata"]["name"]), item)
    items = pick(items, (lambda labels: _selected(labels, opts["selector"]))
                 if opts["selector"] else None, name,
                 f'Error from server (NotFound): {type_name(kind)} "{name}" not found')
    shown = printed(items, name is not None, opts["output"], VOCABULARY,
                    {"apiVersion": "v1", "kind": "List"}, lambda n: ref(kind, n))
    if shown is not None:
        return shown
    if not items:
        # get.go: "in NS namespace" only when every kind asked for is namespaced and no -A
        raise KubectlError("No resources found" if every or not KINDS[kind][2] else
                           f"No resources found in {ns} namespace.", code=0)
    rows = _rows(kind, items)
    if every:  # -A: the namespace first (kubectl's printer adds the column)
        rows = [["NAMESPACE", *rows[0]],
                *([i["metadata"]["namespace"], *r] for i, r in zip(items, rows[1:], strict=True))]
    return table(rows)


def cmd_raw(path: str) -> str:
    if path == "/readyz":  # connect() let us through: the apiserver dialled serves
        return "ok"
    if path != "/readyz/etcd":
        raise KubectlError(f"error: fake kubectl: get --raw {path} is not simulated")
    for rec in droplets():
        if rec["name"].endswith("-etcd-01") and installed(Path(rec["sim"]["root"]),
                                                           "/etc/etcd/pki/etcd.pem"):
            return "ok"
    raise KubectlError('Error from server (InternalError): an error on the server ("[-]etcd '
                       'failed: reason withheld\\nreadyz check failed") has prevented the '
                       "request from succeeding")
