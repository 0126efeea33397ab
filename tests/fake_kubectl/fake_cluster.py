"""A strict, stateful kubectl (and curl) stand-in speaking kubectl 1.1.2 (vocab_v1_1.py), the
client the tutorial installs, for the apply scripts' tests and rehearsal.

When ``DOSIM_STATE`` names the DigitalOcean stand-in's account, the apiserver is reachable only
if the controller droplet at the kubeconfig's server address has
``/etc/kubernetes/ssl/apiserver.pem`` installed with that address among its SANs
(apiserver.py), and the nodes are the workers whose ``worker.pem`` is installed (named by public
IP, as the tutorial's ``--hostname-override=$public_ipv4`` does). The objects and the commands
writing them: tutorial_objects.py.

Accepted: ``version [--client]``, ``cluster-info``, ``create|apply|delete -f F...``,
``get -f F... [-o name]``, ``get KIND [NAME] [-l SEL] [-o jsonpath=...|json|name]``,
``exec POD -- nslookup NAME`` (dns.py: answered only with a node for the pods to run on).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nodeport
from apiserver import connect, dosim, installed
from core import (
    Command,
    KubectlError,
    cluster_state,
    exec_argv,
    key,
    load_kubeconfig,
    need_kubeconfig,
    parse,
    state_path,
)
from dns import BUSYBOX_TUTORIAL, ClusterDNS, nslookup, on_pod_network
from output import matches, pick, printed, selector_text, table
from tutorial_objects import (
    KINDS,
    cmd_create_apply,
    cmd_delete_files,
    cmd_get_files,
    endpoints,
    not_found,
)
from vocab_v1_1 import VERSION_INFO, VOCABULARY


def nodes() -> list[dict[str, Any]]:
    account = dosim()
    if account is None:
        return []
    found = []
    for rec in sorted(account.get("droplets", {}).values(), key=lambda d: d["name"]):
        if not any(t.endswith(":worker") for t in rec.get("tags", [])):  # k8s-do:NAME:worker
            continue
        sim = rec["sim"]
        if installed(Path(sim["root"]), "/etc/kubernetes/ssl/worker.pem") is None:
            continue
        if installed(Path(sim["root"]), "/etc/kubernetes/ssl/worker-key.pem") is None:
            continue
        name = sim["public_ip"]
        found.append({"apiVersion": "v1", "kind": "Node",
                      "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                      "status": {"conditions": [{"type": "Ready", "status": "True"}],
                                 "addresses": [{"type": "InternalIP", "address": sim["private_ip"]},
                                               {"type": "ExternalIP", "address": name}]}})
    return found


def _table(kind: str, items: list[dict[str, Any]]) -> str:
    """The columns kubectl 1.1.2 prints (seen against a 1.1.2 apiserver); the header alone
    when there are no items."""
    if kind == "Pod":
        rows = [["NAME", "READY", "STATUS", "RESTARTS", "AGE"]] + [
            [i["metadata"]["name"], "1/1", i["status"]["phase"], "0", "1m"] for i in items]
    elif kind == "Service":
        rows = [["NAME", "CLUSTER_IP", "EXTERNAL_IP", "PORT(S)", "SELECTOR", "AGE"]] + [
            [i["metadata"]["name"], i["spec"]["clusterIP"], "<none>", ",".join(
                f"{p['port']}/{p.get('protocol', 'TCP')}" for p in i["spec"].get("ports", [])),
             selector_text(i["spec"].get("selector") or {}), "1m"]
            for i in items]
    elif kind == "ReplicationController":
        rows = [["CONTROLLER", "CONTAINER(S)", "IMAGE(S)", "SELECTOR", "REPLICAS", "AGE"]]
        for i in items:
            containers = i["spec"]["template"]["spec"]["containers"]
            rows.append([i["metadata"]["name"], containers[0]["name"], containers[0]["image"],
                         selector_text(i["spec"].get("selector") or {}),
                         str(i["spec"].get("replicas", 1)), "1m"])
            rows += [["", c["name"], c["image"], "", "", ""] for c in containers[1:]]
    elif kind == "Endpoints":
        rows = [["NAME", "ENDPOINTS", "AGE"]] + [
            [i["metadata"]["name"], ",".join(f"{a['ip']}:{p['port']}" for s in i["subsets"]
                                             for a in s["addresses"] for p in s["ports"])
             or "<none>", "1m"] for i in items]
    else:
        rows = [["NAME", "LABELS", "STATUS", "AGE"]] + [
            [i["metadata"]["name"], selector_text(i["metadata"].get("labels") or {}), "Ready",
             "1m"] for i in items]
    return table(rows)


def _equality(labels: dict[str, str], selector: str) -> bool:
    """1.1.2's ``-l a=b,c=d`` (equality terms)."""
    return matches(labels, dict(t.partition("=")[::2] for t in filter(None, selector.split(","))))


def cmd_get(args: list[str], opts: dict[str, Any], data: dict[str, Any]) -> str:
    if not args:
        raise KubectlError("error: You must specify the type of resource to get.")
    if args[0] not in KINDS:
        raise KubectlError(f'error: the server doesn\'t have a resource type "{args[0]}"')
    kind, resource = KINDS[args[0]]
    name = args[1] if len(args) > 1 else None
    if len(args) > 2:
        raise KubectlError("error: fake kubectl: one name at most")
    ns = opts["namespace"]
    if kind == "Node":
        items = nodes()
    elif kind == "Endpoints":
        items = endpoints(data, ns)
    else:
        items = [o for o in data["objects"].values()
                 if o["kind"] == kind and o["metadata"]["namespace"] == ns]
    items = pick(items, (lambda labels: _equality(labels, opts["selector"]))
                 if opts["selector"] else None, name,
                 "Error from server: " + not_found(kind, name or ""))
    shown = printed(items, name is not None, opts["output"], VOCABULARY, {"kind": "List"},
                    lambda n: f"{resource}/{n}")
    if shown is not None:
        return shown
    return _table(kind, items)


def cmd_exec(cmd: Command, data: dict[str, Any]) -> str:
    """``exec POD -- nslookup NAME``: the pods run on the registered nodes (1.1.2 schedules
    them there; with no node nothing runs, so nothing answers)."""
    ns = cmd.opts["namespace"]
    pod_name, command = exec_argv(cmd.args)
    pod = data["objects"].get(key("Pod", ns, pod_name))
    if pod is None:
        raise KubectlError("Error from server: " + not_found("Pod", pod_name))
    if command[0] != "nslookup" or len(command) != 2:
        raise KubectlError(f'error: fake kubectl: only "nslookup NAME" runs in pods, not {command}')
    node = next(iter(nodes()), None)
    dns = data["objects"].get(key("Service", "kube-system", "kube-dns"))
    dns_pods = [o for o in data["objects"].values() if o["kind"] == "Pod"
                and o["metadata"]["namespace"] == "kube-system"
                and (o["metadata"].get("labels") or {}).get("k8s-app") == "kube-dns"
                and on_pod_network(o.get("spec") or {}, node, need_cidr=False)]
    served = bool(dns_pods) and on_pod_network(pod.get("spec") or {}, node, need_cidr=False)
    return nslookup(command[1], ns, ClusterDNS.beside(need_kubeconfig(cmd)),
                    dns["spec"]["clusterIP"] if dns else None, served, BUSYBOX_TUTORIAL)


def kubectl(argv: list[str]) -> tuple[int, str, str]:
    try:
        cmd = parse(argv, VOCABULARY)
        verb, args, opts = cmd.path, cmd.args, cmd.opts
        if verb in ("create", "apply", "delete") and args:
            raise KubectlError(f"error: Unexpected args: [{' '.join(args)}]\n"
                               f"see 'kubectl {verb} -h' for help.")
        if verb == "version" and opts["client"]:
            return 0, f"Client Version: {VERSION_INFO}\n", ""
        kubeconfig = need_kubeconfig(cmd)
        cfg = load_kubeconfig(kubeconfig)
        connect(cfg["server"], "/etc/kubernetes/ssl/apiserver.pem")
        with cluster_state(state_path(kubeconfig)) as data:
            data["calls"].append(" ".join(argv))
            if verb == "version":
                return 0, (f"Client Version: {VERSION_INFO}\n"
                           f"Server Version: {VERSION_INFO}\n"), ""
            if verb == "cluster-info":
                return 0, f"Kubernetes control plane is running at {cfg['server']}\n", ""
            if verb in ("create", "apply"):
                out, errors = cmd_create_apply(verb, opts["filename"], opts["namespace"], data)
                return (1 if errors else 0), out, errors
            if verb == "delete":
                out, errors = cmd_delete_files(opts["filename"], opts["namespace"], data)
                return (1 if errors else 0), out, errors
            if verb == "get" and opts["filename"]:
                return 0, cmd_get_files(opts["filename"], opts, data), ""
            if verb == "get":
                return 0, cmd_get(args, opts, data), ""
            return 0, cmd_exec(cmd, data), ""
    except KubectlError as exc:
        return exc.code, "", str(exc) + "\n"


def _nodeport(host: str, port: int, path: str) -> str | None:
    """A NodePort answers on a registered node when a Running pod backs the Service."""
    if host not in {n["metadata"]["name"] for n in nodes()}:
        return None
    if not os.environ.get("FAKE_KUBECTL_STATE"):
        raise KubectlError("curl: fake curl needs FAKE_KUBECTL_STATE (the fake cluster's state)",
                           2)
    state = Path(os.environ["FAKE_KUBECTL_STATE"])
    data = json.loads(state.read_text()) if state.is_file() else {"objects": {}}
    for svc in data["objects"].values():
        if svc["kind"] != "Service":
            continue
        if not any(p.get("nodePort") == port for p in svc["spec"].get("ports", [])):
            continue
        backed = [o for o in data["objects"].values() if o["kind"] == "Pod"
                  and o["metadata"]["namespace"] == svc["metadata"]["namespace"]
                  and matches(o["metadata"].get("labels") or {}, svc["spec"].get("selector")
                              or {})]
        if backed:
            return json.dumps({"pod": backed[0]["metadata"]["name"], "path": path}) + "\n"
    return None


def curl(argv: list[str]) -> tuple[int, str, str]:
    return nodeport.curl(argv, _nodeport)
