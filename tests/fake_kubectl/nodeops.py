"""Nodes taken out of service and back, for the current-kubectl stand-in (current_cluster.py):
``cordon``/``uncordon`` (spec.unschedulable), ``drain`` through the Eviction API with
PodDisruptionBudgets (policy/v1), ``delete node NAME``, where pods stay bound, and the kubelet
version a node reports.

Texts as kubectl 1.3x prints them: k8s.io/kubectl pkg/cmd/drain/drain.go (RunCordonOrUncordon's
"node/NAME cordoned|already cordoned|uncordoned|already uncordoned", RunDrain's "node/NAME
drained" and "error: unable to drain node %q due to error:%s, continuing command...",
deleteOrEvictPodsSimple's "WARNING: ..." and "There are pending pods in node %q when an error
occurred: %v" with "pod/NAME" lines), pkg/drain/drain.go (evictPods: "evicting pod NS/NAME",
"error when evicting pods/%q -n %q (will retry after 5s): %v" on 429, "error when evicting
pods/%q -n %q: global timeout reached: %v"), pkg/drain/filters.go (the "cannot delete ..."
refusals), cmdutil.CheckErr (an aggregate's errors one a line); the apiserver's eviction
subresource (pkg/registry/core/pod/storage/eviction.go) answers 429 "Cannot evict pod as it
would violate the pod's disruption budget." and 500 when two budgets select the pod.

A pod stays on the node it was bound to while that node is Ready, cordoned or not (cordoning
never moves pods); an evicted pod's controller re-creates it on a schedulable node.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

from core import KubectlError, key

# kubectl drain's EvictErrorRetryDelay (pkg/cmd/drain/drain.go: 5 s)
RETRY_SECONDS = 5.0
PDB_REFUSAL = "Cannot evict pod as it would violate the pod's disruption budget."
DRAIN_BOOL_FLAGS = ("--ignore-daemonsets", "--delete-emptydir-data", "--disable-eviction",
                    "--force")


def decorate(node: dict[str, Any], data: dict[str, Any], version: str) -> None:
    """spec.unschedulable as cordon left it; the kubelet version the node reports."""
    if node["metadata"]["name"] in data.get("cordoned", []):
        node["spec"]["unschedulable"] = True
    node["status"]["nodeInfo"] = {"kubeletVersion": version}


def unregistered(data: dict[str, Any], live: list[dict[str, Any]],
                 ccm: bool) -> list[dict[str, Any]]:
    """Nodes whose droplet is gone: the Node object stays, NotReady, until `kubectl delete node`
    (or the cloud-controller-manager, which deletes the Nodes of deleted droplets)."""
    known = data.setdefault("registered", {})
    for node in live:
        known[node["metadata"]["name"]] = {"spec": node["spec"],
                                           "addresses": node["status"]["addresses"]}
    names = {n["metadata"]["name"] for n in live}
    for name in [n for n in known if n not in names and ccm]:
        del known[name]
    return [{"apiVersion": "v1", "kind": "Node",
             "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
             "spec": rec["spec"],
             "status": {"conditions": [{"type": "Ready", "status": "Unknown",
                                        "reason": "NodeStatusUnknown"}],
                        "addresses": rec["addresses"], "nodeInfo": {}}}
            for name, rec in sorted(known.items()) if name not in names]


def schedulable(node: dict[str, Any]) -> bool:
    return not node["spec"].get("unschedulable")


def bind(data: dict[str, Any], pod: str, fits: list[dict[str, Any]], index: int) -> str:
    """The node pod POD runs on: where it was bound while that node still fits, else the
    INDEX-th schedulable one (round robin), else none (Pending)."""
    bindings = data.setdefault("bindings", {})
    names = [n["metadata"]["name"] for n in fits]
    if bindings.get(pod) in names:
        return bindings[pod]
    free = [n for n in names if n in {m["metadata"]["name"] for m in fits if schedulable(m)}]
    if not free:
        bindings.pop(pod, None)
        return ""
    bindings[pod] = free[index % len(free)]
    return bindings[pod]


def _node(name: str, node_list: list[dict[str, Any]]) -> dict[str, Any]:
    found = [n for n in node_list if n["metadata"]["name"] == name]
    if not found:
        raise KubectlError(f'Error from server (NotFound): nodes "{name}" not found')
    return found[0]


def cordon(data: dict[str, Any], name: str, node_list: list[dict[str, Any]],
           desired: bool) -> str:
    node = _node(name, node_list)
    cordoned = data.setdefault("cordoned", [])
    verb = "cordoned" if desired else "uncordoned"
    if (not schedulable(node)) == desired:
        return f"node/{name} already {verb}\n"
    if desired:
        cordoned.append(name)
    else:
        cordoned.remove(name)
    node["spec"]["unschedulable"] = desired
    return f"node/{name} {verb}\n"


def delete_node(data: dict[str, Any], name: str, node_list: list[dict[str, Any]]) -> str:
    _node(name, node_list)
    data.setdefault("registered", {}).pop(name, None)
    if name in data.get("cordoned", []):
        data["cordoned"].remove(name)
    return f'node "{name}" deleted\n'


def go_duration(seconds: float) -> str:
    """time.Duration's String(): 1s, 1m30s, 5m0s, 1h0m0s."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def parse_duration(text: str) -> float:
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    if not text or parts is None:
        raise KubectlError(f'error: invalid argument "{text}" for "--timeout" flag: '
                           f'time: invalid duration "{text}"')
    h, m, s = (int(p or 0) for p in parts.groups())
    return h * 3600.0 + m * 60 + s


def _budgets(data: dict[str, Any], pod: dict[str, Any]) -> list[dict[str, Any]]:
    ns, labels = pod["metadata"]["namespace"], pod["metadata"]["labels"]
    out = []
    for obj in data["objects"].values():
        if obj["kind"] != "PodDisruptionBudget" or obj["metadata"]["namespace"] != ns:
            continue
        selector = obj["spec"].get("selector") or {}
        if selector.get("matchExpressions"):
            raise KubectlError("error: fake kubectl: PodDisruptionBudget matchExpressions "
                               "are not simulated")
        match = selector.get("matchLabels") or {}
        if all(labels.get(k) == v for k, v in match.items()):
            out.append(obj)
    return out


def _scaled(value: Any, total: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value)


def evict(data: dict[str, Any], pod: dict[str, Any], pods: list[dict[str, Any]]) -> int:
    """The eviction subresource's answer: 201 (evicted: unbound), 429 (a budget forbids it),
    500 (more than one budget selects the pod)."""
    budgets = _budgets(data, pod)
    if len(budgets) > 1:
        return 500
    if budgets:
        spec, ns = budgets[0]["spec"], pod["metadata"]["namespace"]
        selected = [p for p in pods if p["metadata"]["namespace"] == ns
                    and all(p["metadata"]["labels"].get(k) == v for k, v in
                            (spec.get("selector") or {}).get("matchLabels", {}).items())]
        healthy = sum(p["status"]["phase"] == "Running" for p in selected)
        if "minAvailable" in spec:
            desired = _scaled(spec["minAvailable"], len(selected))
        else:
            desired = len(selected) - _scaled(spec.get("maxUnavailable", 0), len(selected))
        if healthy - desired <= 0:
            return 429
    data.setdefault("bindings", {}).pop(pod["metadata"]["name"], None)
    return 201


def drain(data: dict[str, Any], name: str, flags: set[str], timeout: float,
          node_list: list[dict[str, Any]],
          pods_of: Any) -> tuple[int, str, str]:
    """kubectl drain NAME: cordon, the filters, then evictions until TIMEOUT (0: forever).
    PODS_OF(data) lists the pods as they are now (bindings change as pods are evicted)."""
    out = [cordon(data, name, node_list, True)]
    err: list[str] = []
    pods = [p for p in pods_of(data) if p["spec"]["nodeName"] == name]
    daemons = [p for p in pods if any(o["kind"] == "DaemonSet"
                                      for o in p["metadata"].get("ownerReferences") or [])]
    bare = [p for p in pods if not p["metadata"].get("ownerReferences")]
    local = [p for p in pods if p not in daemons and
             any("emptyDir" in v for v in p["spec"].get("volumes") or [])]
    errors = []
    ref = [f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in daemons]
    if daemons and "--ignore-daemonsets" not in flags:
        errors.append("cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to "
                      f"ignore): {', '.join(ref)}")
    if local and "--delete-emptydir-data" not in flags:
        errors.append("cannot delete Pods with local storage (use --delete-emptydir-data to "
                      "override): " + ", ".join(f"{p['metadata']['namespace']}/"
                                                f"{p['metadata']['name']}" for p in local))
    if bare and "--force" not in flags:
        errors.append("cannot delete Pods declare no controller (use --force to override): "
                      + ", ".join(f"{p['metadata']['namespace']}/{p['metadata']['name']}"
                                  for p in bare))
    if errors:
        joined = errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]"
        err.append(f'error: unable to drain node "{name}" due to error:{joined}, '
                   "continuing command...\n")
        return 1, "".join(out), "".join(err) + "".join(f"{e}\n" for e in errors)
    if daemons:
        err.append(f"WARNING: ignoring DaemonSet-managed Pods: {', '.join(ref)}\n")
    pending = [p for p in pods if p not in daemons]
    deadline = time.monotonic() + (timeout or math.inf)
    failures: list[str] = []
    while pending:
        left = []
        for pod in pending:
            meta = pod["metadata"]
            if "--disable-eviction" in flags:
                data.setdefault("bindings", {}).pop(meta["name"], None)
                if pod in bare:
                    data["objects"].pop(key("Pod", meta["namespace"], meta["name"]), None)
                out.append(f"pod/{meta['name']} deleted\n")
                continue
            out.append(f"evicting pod {meta['namespace']}/{meta['name']}\n")
            code = evict(data, pod, pods_of(data))
            if code == 201:
                if pod in bare:
                    data["objects"].pop(key("Pod", meta["namespace"], meta["name"]), None)
                out.append(f"pod/{meta['name']} evicted\n")
            elif code == 429:
                err.append(f'error when evicting pods/"{meta["name"]}" -n "{meta["namespace"]}" '
                           f"(will retry after {go_duration(RETRY_SECONDS)}): {PDB_REFUSAL}\n")
                left.append(pod)
            else:
                failures.append(f'error when evicting pods/"{meta["name"]}" -n '
                                f'"{meta["namespace"]}": This pod has more than one '
                                "PodDisruptionBudget, which the eviction subresource does not "
                                "support.")
        pending = left
        if pending and time.monotonic() + RETRY_SECONDS > deadline:
            time.sleep(max(0.0, deadline - time.monotonic()))
            failures += [f'error when evicting pods/"{p["metadata"]["name"]}" -n '
                         f'"{p["metadata"]["namespace"]}": global timeout reached: '
                         f"{go_duration(timeout)}" for p in pending]
            break
        if pending:
            time.sleep(RETRY_SECONDS)
    if failures:
        joined = failures[0] if len(failures) == 1 else f"[{', '.join(failures)}]"
        err.append(f'There are pending pods in node "{name}" when an error occurred: {joined}\n')
        err += [f"pod/{p['metadata']['name']}\n" for p in pending]
        err.append(f'error: unable to drain node "{name}" due to error:{joined}, '
                   "continuing command...\n")
        return 1, "".join(out), "".join(err) + "".join(f"{f}\n" for f in failures)
    out.append(f"node/{name} drained\n")
    return 0, "".join(out), "".join(err)
