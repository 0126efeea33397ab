"""A strict, stateful kubectl (and curl) stand-in speaking a current kubectl (vocab_current.py)
against the current profile's cluster, for the apply tests and ``make demo``.

Why a stand-in: ``require_kubectl`` accepts only a kubectl within one minor of the cluster's
version, this machine's kubectl is 1.32 and the cluster runs 1.37; no control plane of that
version can run here (no containers, no 1.37 binaries).

The "cluster" follows the simulated account (``DOSIM_STATE``): the apiserver answers at the
kubeconfig's address only when the controller droplet there (or one behind the load balancer
there, passing its health check and admitting the client) has
``/etc/kubernetes/pki/apiserver.pem`` naming that address (apiserver.py) and its static pod
manifest in place; nodes: current_nodes.py; pods, DaemonSets, endpoints: current_workloads.py;
manifests written: current_writes.py; ``get``: current_get.py; ``cordon``, ``uncordon``,
``drain``, ``delete node``: nodeops.py. Here: the dispatch, ``version`` (the server's from the
apiserver manifest's image tag), ``rollout restart daemonset/NAME``, ``exec POD -- nslookup
NAME`` (busybox 1.28's output, dns.py), ``exec [-i] POD -- tee|cat PATH`` on a claim the pod
mounts (csivolumes.py) and curl. etcd is ready while the etcd droplet has
``/etc/etcd/pki/etcd.pem``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import atrest
import ccmlb
import csivolumes
import metrics
import nodeops
import nodeport
from apiserver import connect as reach
from apiserver import droplets, installed, refused, server_host
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
from current_get import cmd_get, cmd_raw
from current_kinds import NODE_PKI, ref
from current_nodes import nodes
from current_workloads import endpoints_of, workload_pods
from current_writes import STDIN, cmd_create_secret, cmd_get_files, cmd_write
from dns import BUSYBOX_1_28, ClusterDNS, nslookup, on_pod_network
from vocab_current import KUSTOMIZE, VERSION, VOCABULARY

from tests.standins import fwservice
from tests.standins import state as standin_state
from tests.standins.lbhealth import client_ip, lb_at
from tests.standins.lbservice import backend_ids


def connect(server: str) -> None:
    """The apiserver at ``server`` (a controller, or the load balancer in front of several)."""
    reach(server, f"{NODE_PKI}/apiserver.pem")
    host = server_host(server)
    for rec in droplets():
        root = Path(rec["sim"]["root"])
        if (rec["sim"].get("public_ip") == host and (root / "etc/kubernetes/manifests").is_dir()
                and installed(root, atrest.STATIC_POD) is None):
            # its static pod manifest is moved away: the kubelet stopped the apiserver
            raise refused(server)


def server_version(server: str) -> str:
    """The apiserver's version: the image tag of the kube-apiserver static pod manifest on the
    controller dialled (through a load balancer: the first controller, by name, that runs one)."""
    host = server_host(server)
    found = []
    for rec in droplets():
        manifest = installed(Path(rec["sim"]["root"]), atrest.STATIC_POD)
        tag = re.search(r"image: *\S+/kube-apiserver:(v[\w.+-]+)", manifest.read_text()) \
            if manifest else None
        if tag:
            found.append((rec["sim"].get("public_ip") != host, tag[1]))
    return sorted(found, key=lambda f: f[0])[0][1] if found else VERSION


def cmd_rollout(args: list[str], opts: dict[str, Any], data: dict[str, Any]) -> str:
    """``rollout restart daemonset/NAME``: kubectl stamps the pod template's
    kubectl.kubernetes.io/restartedAt annotation (k8s.io/kubectl pkg/polymorphichelpers
    objectrestarter.go) and prints ``daemonset.apps/NAME restarted``."""
    if len(args) != 1 or not args[0].startswith("daemonset/"):
        raise KubectlError(f"error: fake kubectl: rollout restart {' '.join(args)} is not "
                           "simulated")
    name = args[0].partition("/")[2]
    obj = data["objects"].get(key("DaemonSet", opts["namespace"], name))
    if obj is None:
        raise KubectlError(f'Error from server (NotFound): daemonsets.apps "{name}" not found')
    template = obj.setdefault("spec", {}).setdefault("template", {})
    annotations = template.setdefault("metadata", {}).setdefault("annotations", {})
    annotations["kubectl.kubernetes.io/restartedAt"] = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                     time.gmtime())
    return f"{ref('DaemonSet', name)} restarted\n"


def _network(pod: dict[str, Any], node_list: list[dict[str, Any]]) -> bool:
    """On the pod network: flannel (kube-subnet-mgr) gives a node a subnet only from its
    spec.podCIDR, so a node without one has no pod network."""
    node = next((n for n in node_list if n["metadata"]["name"] == pod["spec"]["nodeName"]), None)
    return on_pod_network(pod["spec"], node, need_cidr=True)


def cmd_exec(cmd: Command, data: dict[str, Any]) -> tuple[int, str, str]:
    """``exec POD -- nslookup NAME``: answered over the pod network, through kube-proxy on the
    asking pod's node, by a CoreDNS pod behind the kube-dns Service (dns.py)."""
    ns = cmd.opts["namespace"]
    pod_name, command = exec_argv(cmd.args)
    node_list = nodes(data)
    everything = workload_pods(data, node_list)
    pods = {p["metadata"]["name"]: p for p in everything if p["metadata"]["namespace"] == ns}
    if pod_name not in pods:
        raise KubectlError(f'Error from server (NotFound): pods "{pod_name}" not found')
    pod = pods[pod_name]
    if pod["status"]["phase"] != "Running":
        raise KubectlError("error: unable to upgrade connection: container not found "
                           f'("{pod_name}")')
    if command[:1] != ["nslookup"] or len(command) != 2:  # a file on a claim (csivolumes.py)
        obj = data["objects"].get(key("Pod", ns, pod_name))
        return csivolumes.exec_file(data, ns, (obj or {}).get("spec") or {}, command,
                                    cmd.opts["stdin"])
    dns = data["objects"].get(key("Service", "kube-system", "kube-dns"))
    proxy = any(p["metadata"]["name"].startswith("kube-proxy-") and p["status"]["phase"] ==
                "Running" and p["spec"]["nodeName"] == pod["spec"]["nodeName"]
                for p in everything if p["metadata"]["namespace"] == "kube-system")
    backends = {a["targetRef"]["name"] for e in endpoints_of(data, everything)
                if e["metadata"]["name"] == "kube-dns" and e["metadata"]["namespace"] ==
                "kube-system" for s in e["subsets"] for a in s["addresses"]}
    serving = [p for p in everything if p["metadata"]["name"] in backends
               and _network(p, node_list)]
    served = proxy and bool(serving) and _network(pod, node_list)
    return 0, nslookup(command[1], ns, ClusterDNS.beside(need_kubeconfig(cmd)),
                       dns["spec"]["clusterIP"] if dns else None, served, BUSYBOX_1_28), ""


def kubectl(argv: list[str]) -> tuple[int, str, str]:
    client = f"Client Version: {VERSION}\nKustomize Version: {KUSTOMIZE}\n"
    try:
        cmd = parse(argv, VOCABULARY)
        verb, args, opts = cmd.path, cmd.args, cmd.opts
        if verb == "version" and opts["client"]:
            return 0, client, ""
        if verb == "create secret generic":
            # --dry-run=client: rendered locally, no apiserver asked (its argv still recorded)
            kubeconfig = Path(opts["kubeconfig"])
            load_kubeconfig(kubeconfig)
            rendered = cmd_create_secret(args, opts)
            with cluster_state(state_path(kubeconfig)) as data:
                data["calls"].append(" ".join(argv))
            return 0, rendered, ""
        kubeconfig = need_kubeconfig(cmd)
        cfg = load_kubeconfig(kubeconfig)
        connect(cfg["server"])
        if "-" in opts.get("filename", []):
            STDIN[0] = sys.stdin.read()
        if verb == "get":  # the cloud add-ons' controllers act (committed even if get fails)
            with cluster_state(state_path(kubeconfig)) as data:
                csivolumes.reconcile(data, lambda: workload_pods(data, nodes(data)), droplets())
                ccmlb.reconcile(data, nodes(data), droplets())
        with cluster_state(state_path(kubeconfig)) as data:
            data["calls"].append(" ".join(argv))
            if verb == "version":
                return 0, client + f"Server Version: {server_version(cfg['server'])}\n", ""
            if verb in ("cordon", "uncordon", "drain") or (verb == "delete" and args[:1] in (
                    ["node"], ["nodes"], ["no"])):
                return _node_verb(verb, args, opts, data)
            if verb in ("create", "apply", "replace", "delete"):
                if args:
                    raise KubectlError(f"error: Unexpected args: [{' '.join(args)}]\n"
                                       f"See 'kubectl {verb} -h' for help and examples")
                out, err, failed = cmd_write(verb, opts["filename"], opts, data)
                if verb == "delete":  # the CCM's finalizer (service.kubernetes.io/load-balancer-
                    # cleanup) holds a Service until its load balancer is deleted
                    ccmlb.reconcile(data, nodes(data), droplets())
                return (1 if failed else 0), out, err
            if verb == "get" and opts["raw"]:
                return 0, cmd_raw(opts["raw"]), ""
            if verb == "get" and opts["filename"]:
                out, errors = cmd_get_files(opts["filename"], opts, data)
                return (1 if errors else 0), out, errors
            if verb == "get":
                try:
                    return 0, cmd_get(args, opts, data), ""
                except KubectlError as exc:
                    if exc.code == 0:
                        return 0, "", str(exc) + "\n"
                    raise
            if verb == "rollout restart":
                return 0, cmd_rollout(args, opts, data), ""
            if verb.startswith("top "):
                return _top(verb, args, opts, data)
            return cmd_exec(cmd, data)
    except KubectlError as exc:
        return exc.code, "", str(exc) + "\n"


def _node_verb(verb: str, args: list[str], opts: dict[str, Any],
               data: dict[str, Any]) -> tuple[int, str, str]:
    """cordon/uncordon/drain NODE and delete node NODE (tests/fake_kubectl/nodeops.py)."""
    names = args[1:] if verb == "delete" else args
    if len(names) != 1:
        raise KubectlError(f"error: fake kubectl: {verb} exactly one node, got {names}")
    node_list = nodes(data)
    if verb == "delete":
        return 0, nodeops.delete_node(data, names[0], node_list), ""
    if verb != "drain":
        return 0, nodeops.cordon(data, names[0], node_list, verb == "cordon"), ""
    flags = {f for f in nodeops.DRAIN_BOOL_FLAGS if opts[f[2:].replace("-", "_")]}
    return nodeops.drain(data, names[0], flags, nodeops.parse_duration(opts["timeout"]),
                         node_list, lambda d: workload_pods(d, nodes(d)))


def _top(verb: str, args: list[str], opts: dict[str, Any],
         data: dict[str, Any]) -> tuple[int, str, str]:
    """top node / top pod, as the Metrics API answers them (tests/fake_kubectl/metrics.py)."""
    if verb.split()[1] in ("node", "nodes", "no"):
        return 0, metrics.top_node(args, opts, data, nodes(data)), ""
    out, err = metrics.top_pod(args, opts, data, nodes(data))
    return 0, out, err


def _nodeport(host: str, port: int, _path: str) -> str | None:
    """A NodePort answers on a node's public address when kube-proxy runs and a Running pod
    backs the Service: the pod's name. A load balancer the CCM made for a Service answers on
    its entry port through a backend droplet whose firewall admits it there and on kube-proxy's
    health port (its health check)."""
    state = Path(os.environ.get("FAKE_KUBECTL_STATE", ""))
    data = json.loads(state.read_text()) if state.is_file() else {"objects": {}}
    with standin_state.locked(Path(os.environ["DOSIM_STATE"])) as account:
        lb = lb_at(account, host)
        if lb is not None and lb["id"] in {e.get("id") for e in data.get("ccm_lbs", {}).values()}:
            return _through(account, lb, port, data)
    publics = {r["sim"]["public_ip"]: r["name"] for r in droplets()}
    return _answer(data, publics.get(host), port)


def _through(account: dict[str, Any], lb: dict[str, Any], port: int,
             data: dict[str, Any]) -> str | None:
    """What LB's forwarding rule for PORT reaches: the first backend that passes the health
    check and whose firewall lets the load balancer's traffic in (REGIONAL: from the load
    balancer; REGIONAL_NETWORK: the client's packets, from its address)."""
    rule = next((r for r in lb["forwarding_rules"] if r["entry_port"] == port), None)
    if rule is None:
        return None
    source = {"lb_id": lb["id"]} if lb.get("type", "REGIONAL") == "REGIONAL" \
        else {"address": client_ip(account)}
    for droplet_id in backend_ids(account, lb):
        droplet = account["droplets"][str(droplet_id)]
        check = lb["health_check"]
        if not (fwservice.admits(account, droplet, "tcp", check["port"], **source)
                and fwservice.admits(account, droplet, rule["target_protocol"],
                                     rule["target_port"], **source)):
            continue
        body = _answer(data, droplet["name"], rule["target_port"])
        if body is not None:
            return body
    return None


def _answer(data: dict[str, Any], node: str | None, port: int) -> str | None:
    """What node NODE's kube-proxy answers on NodePort PORT (None: nothing there)."""
    node_list = nodes(data)
    proxy = any(o["kind"] == "DaemonSet" and o["metadata"]["name"] == "kube-proxy"
                for o in data["objects"].values())
    if node not in {n["metadata"]["name"] for n in node_list} or not proxy:
        return None
    for svc_key, svc in data["objects"].items():
        if svc["kind"] == "Service" and any(p.get("nodePort") == port for p in
                                            ccmlb.node_ports(data, svc_key, svc)):
            eps = [e for e in endpoints_of(data, workload_pods(data, node_list))
                   if e["metadata"]["name"] == svc["metadata"]["name"] and e["subsets"]]
            if eps:
                return eps[0]["subsets"][0]["addresses"][0]["targetRef"]["name"] + "\n"
    return None


def curl(argv: list[str]) -> tuple[int, str, str]:
    return nodeport.curl(argv, _nodeport)
