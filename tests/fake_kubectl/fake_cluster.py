"""A strict, stateful kubectl (and curl) stand-in for the apply scripts' tests and rehearsal.

Nothing here opens a socket. The "cluster" is a JSON file (``FAKE_KUBECTL_STATE``, default
``<kubeconfig dir>/state/fake-kubectl.json``). When ``DOSIM_STATE`` names the DigitalOcean
stand-in's account, the apiserver is reachable only if the controller droplet at the
kubeconfig's server address has ``/etc/kubernetes/ssl/apiserver.pem`` installed with that
address among its SANs, and the nodes are the workers whose ``worker.pem`` is installed
(named by public IP, as the tutorial's ``--hostname-override=$public_ipv4`` does).

Accepted: ``--kubeconfig F``, ``--namespace``/``-n``, ``version [--client]``, ``cluster-info``,
``create -f F...``, ``apply -f F...``, ``get -f F... [-o name]``,
``get KIND [NAME] [-l SEL] [-o jsonpath=...|json|name]``, ``exec POD -- nslookup NAME``.

It is kubectl 1.1.2, the client the tutorial installs, and says what that binary says (its texts
were taken from the real 1.1.2 binary against a 1.1.2 apiserver, ../shared/k8s-1.1.2): ``create``
refuses an existing object (a Service with a fixed clusterIP: "provided IP is already
allocated"), ``apply`` only patches objects that exist and always says "configured", ``get -f``
fails unless every object of the files exists, and it has no ``--save-config``.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import json
import os
import random
import string
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from tests.standins import lbhealth

VERSION_INFO = ('version.Info{Major:"1", Minor:"1", GitVersion:"v1.1.2", '
                'GitCommit:"3085895b8a70a3d985e9320a098e74f545546171", GitTreeState:"clean"}')
DOC_NETS = [ipaddress.ip_network(n) for n in ("203.0.113.0/24", "198.51.100.0/24")]

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


class KubectlError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------- state


def _state_path(kubeconfig: Path | None) -> Path:
    raw = os.environ.get("FAKE_KUBECTL_STATE", "")
    if raw:
        return Path(raw)
    if kubeconfig is None:
        raise KubectlError("error: fake kubectl: set FAKE_KUBECTL_STATE or pass --kubeconfig")
    return kubeconfig.parent / "state" / "fake-kubectl.json"


@contextmanager
def cluster_state(path: Path, write: bool = True) -> Iterator[dict[str, Any]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(path.read_text()) if path.exists() else {}
        data.setdefault("objects", {})
        data.setdefault("calls", [])
        yield data
        if write:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
            os.replace(tmp, path)


def _key(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}"


# ---------------------------------------------------------------- kubeconfig and "network"


def load_kubeconfig(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise KubectlError(f'error: stat {path}: no such file or directory')
    try:
        cfg = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise KubectlError(f"error: error loading config file \"{path}\": {exc}") from None
    if not isinstance(cfg, dict) or cfg.get("kind") != "Config":
        raise KubectlError(f'error: error loading config file "{path}": not a kubeconfig')
    ctx_name = cfg.get("current-context")
    contexts = {c["name"]: c["context"] for c in cfg.get("contexts") or []}
    if ctx_name not in contexts:
        raise KubectlError(f'error: current-context "{ctx_name}" does not exist in {path}')
    ctx = contexts[ctx_name]
    clusters = {c["name"]: c["cluster"] for c in cfg.get("clusters") or []}
    users = {u["name"]: u["user"] for u in cfg.get("users") or []}
    if ctx.get("cluster") not in clusters or ctx.get("user") not in users:
        raise KubectlError(f"error: context {ctx_name} names a missing cluster or user")
    cluster, user = clusters[ctx["cluster"]], users[ctx["user"]]
    for owner, field in ((cluster, "certificate-authority"), (user, "client-certificate"),
                         (user, "client-key")):
        ref = owner.get(field)
        if not ref:
            raise KubectlError(f"error: kubeconfig {path}: {field} is not set")
        file = Path(ref) if Path(ref).is_absolute() else path.parent / ref
        if not file.is_file():
            raise KubectlError(f"error: unable to read {field} {file}: no such file or directory")
    return {"server": cluster.get("server", ""), "dir": path.parent}


def _server_host(server: str) -> str:
    parsed = urlparse(server)
    if parsed.scheme != "https" or not parsed.hostname:
        raise KubectlError(f"error: kubeconfig server {server!r} is not an https:// URL")
    return parsed.hostname


def _refuse_unless_documentation(host: str, port: int) -> None:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise KubectlError("Unable to connect to the server: fake kubectl resolves no names "
                           f"({host})") from None
    if not any(ip in net for net in DOC_NETS):
        raise KubectlError(f"Unable to connect to the server: dial tcp {host}:{port}: fake kubectl "
                           "only talks to documentation addresses (tests never leave loopback)")


def _dosim() -> dict[str, Any] | None:
    raw = os.environ.get("DOSIM_STATE", "")
    if not raw or not Path(raw).exists():
        return None
    return json.loads(Path(raw).read_text())


def _installed(root: Path, path: str) -> Path | None:
    """Host path of droplet path ``path`` with symlinks followed inside ``root``."""
    current = root / path.lstrip("/")
    for _ in range(10):
        if current.is_symlink():
            target = os.readlink(current)
            absolute = target.startswith("/")
            current = root / target.lstrip("/") if absolute else current.parent / target
            continue
        return current if current.is_file() else None
    return None


def connect(server: str, cert_path: str = "/etc/kubernetes/ssl/apiserver.pem") -> None:
    """Raise like kubectl when the apiserver at ``server`` would not answer: through a load
    balancer at that address, or at a droplet's public IP, whose installed ``cert_path`` (the
    profile's apiserver certificate) must name the address dialled."""
    host = _server_host(server)
    port = urlparse(server).port or 443
    _refuse_unless_documentation(host, port)
    account = _dosim()
    if account is None:
        return
    targets = [host]
    lb = lbhealth.lb_at(account, host)
    if lb is not None:
        if not lbhealth.admits(lb, lbhealth.client_ip(account)):
            # the load balancer's firewall drops the packets: the dial times out
            raise KubectlError(f"Unable to connect to the server: dial tcp {host}:{port}: "
                               "i/o timeout")
        # TCP passthrough to a droplet that passes the health check: its certificate answers
        up = [i for i, ok in lbhealth.healthy(account, lb).items() if ok]
        if not up:
            raise KubectlError("Unable to connect to the server: EOF")
        targets = [account["droplets"][str(up[0])]["sim"]["public_ip"]]
    for rec in account.get("droplets", {}).values():
        sim = rec.get("sim", {})
        if sim.get("public_ip") not in targets:
            continue
        cert = _installed(Path(sim["root"]), cert_path)
        if cert is None or not lbhealth.static_pod_in_place(Path(sim["root"])):
            break
        ips = [t.strip()[len("IP Address:"):] for t in _san_tokens(cert)]
        if host not in ips:
            raise KubectlError("Unable to connect to the server: tls: failed to verify "
                               f"certificate: x509: certificate is valid for "
                               f"{', '.join(ips)}, not {host}")
        return
    raise KubectlError(f"The connection to the server {host}:{port} was refused - did you specify "
                       "the right host or port?")


def _san_tokens(cert: Path) -> list[str]:
    out = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-ext", "subjectAltName"],
                         capture_output=True, text=True, check=False).stdout
    return [t.strip() for line in out.splitlines()[1:] for t in line.split(",")
            if t.strip().startswith("IP Address:")]


def nodes() -> list[dict[str, Any]]:
    account = _dosim()
    if account is None:
        return []
    found = []
    for rec in sorted(account.get("droplets", {}).values(), key=lambda d: d["name"]):
        if not any(t.endswith(":worker") for t in rec.get("tags", [])):  # k8s-do:NAME:worker
            continue
        sim = rec["sim"]
        if _installed(Path(sim["root"]), "/etc/kubernetes/ssl/worker.pem") is None:
            continue
        if _installed(Path(sim["root"]), "/etc/kubernetes/ssl/worker-key.pem") is None:
            continue
        name = sim["public_ip"]
        found.append({"apiVersion": "v1", "kind": "Node",
                      "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                      "status": {"conditions": [{"type": "Ready", "status": "True"}],
                                 "addresses": [{"type": "InternalIP", "address": sim["private_ip"]},
                                               {"type": "ExternalIP", "address": name}]}})
    return found


# ---------------------------------------------------------------- manifests


def load_manifests(file: str) -> list[dict[str, Any]]:
    path = Path(file)
    if not path.is_file():
        raise KubectlError(f'error: the path "{file}" does not exist')
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except yaml.YAMLError as exc:
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
    data["objects"][_key(kind, ns, name)] = obj
    if kind == "ReplicationController":
        template = doc.get("spec", {}).get("template", {})
        for _ in range(int(doc.get("spec", {}).get("replicas", 1))):
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": f"{name}-{_suffix()}", "namespace": ns,
                                "labels": dict(template.get("metadata", {}).get("labels", {}))},
                   "spec": template.get("spec", {}), "status": {"phase": "Running"}}
            data["objects"][_key("Pod", ns, pod["metadata"]["name"])] = pod


def _same(old: dict[str, Any], doc: dict[str, Any]) -> bool:
    return all(old.get(k) == doc.get(k) for k in doc if k not in ("metadata", "status")) and \
        old["metadata"].get("labels") == doc["metadata"].get("labels")


def _not_found(kind: str, name: str) -> str:
    return f'{PLURAL[kind]} "{name}" not found'


def _objects(files: list[str], namespace: str) -> Iterator[tuple[str, dict[str, Any], str, str]]:
    """(file, manifest, namespace, state key) of each object of the files, in order."""
    if not files:
        raise KubectlError("error: must specify one of -f and -k")
    for file in files:
        for doc in load_manifests(file):
            ns = doc["metadata"].get("namespace") or namespace
            yield file, doc, ns, _key(doc["kind"], ns, doc["metadata"]["name"])


def cmd_create_apply(verb: str, files: list[str], namespace: str,
                     data: dict[str, Any]) -> tuple[str, str]:
    """Each object in turn, as 1.1.2 does: (stdout, errors); any error makes the exit 1."""
    out, errors = [], []
    for file, doc, ns, key in _objects(files, namespace):
        kind, name = doc["kind"], doc["metadata"]["name"]
        label = f'{kind.lower()} "{name}"'
        exists = key in data["objects"]
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
                          + _not_found(kind, name))
            continue
        _store(data, doc, namespace)
        ports = [f"tcp:{p['nodePort']}" for p in (doc.get("spec") or {}).get("ports", [])
                 if kind == "Service" and p.get("nodePort")]
        if verb == "create" and ports:
            out.append(NODEPORT_NOTICE.format(ports=",".join(ports)).rstrip("\n"))
        out.append(f"{label} {'created' if verb == 'create' else 'configured'}")
    return "".join(f"{line}\n" for line in out), "".join(f"{line}\n" for line in errors)


def cmd_delete_files(files: list[str], namespace: str,
                     data: dict[str, Any]) -> tuple[str, str]:
    """``delete -f F...``: each object, a replication controller with its pods (1.1.2 reaps
    them); a missing one is an error, the others are still deleted."""
    out, errors = [], []
    for _file, doc, ns, key in _objects(files, namespace):
        kind, name = doc["kind"], doc["metadata"]["name"]
        obj = data["objects"].pop(key, None)
        if obj is None:
            errors.append(f"Error from server: {_not_found(kind, name)}")
            continue
        if kind == "ReplicationController":
            selector = (obj.get("spec") or {}).get("selector") or {}
            for pod_key, pod in list(data["objects"].items()):
                if pod["kind"] == "Pod" and pod["metadata"]["namespace"] == ns and all(
                        pod["metadata"].get("labels", {}).get(k) == v
                        for k, v in selector.items()):
                    del data["objects"][pod_key]
        out.append(f'{kind.lower()} "{name}" deleted')
    return "".join(f"{line}\n" for line in out), "".join(f"{line}\n" for line in errors)


def cmd_get_files(files: list[str], opts: dict[str, Any], data: dict[str, Any]) -> str:
    """``get -f F...``: every object of the files, or an error for the first one missing."""
    if opts["output"] not in ("", "name"):
        raise KubectlError("error: fake kubectl: get -f supports -o name only")
    lines = []
    for file in files:
        for doc in load_manifests(file):
            kind, name = doc["kind"], doc["metadata"]["name"]
            ns = doc["metadata"].get("namespace") or opts["namespace"]
            if _key(kind, ns, name) not in data["objects"]:
                raise KubectlError("Error from server: " + _not_found(kind, name))
            lines.append(f"{kind.lower()}/{name}" if opts["output"] else f"{kind} {name}")
    return "".join(f"{line}\n" for line in lines)


# ---------------------------------------------------------------- get


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
             and all((o["metadata"].get("labels") or {}).get(k) == v
                     for k, v in selector.items())), key=lambda o: o["metadata"]["name"])
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


def _match(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


def jsonpath(obj: Any, expr: str) -> str:
    expr = expr.strip()
    if not (expr.startswith("{") and expr.endswith("}")):
        raise KubectlError(f"error: error parsing jsonpath {expr}, unclosed or missing braces")
    path = expr[1:-1]
    if not path.startswith("."):
        raise KubectlError(f"error: error parsing jsonpath {expr}")
    values: list[Any] = [obj]
    for raw in path[1:].split("."):
        name, _, index = raw.partition("[")
        nxt: list[Any] = []
        for v in values:
            if name:
                v = v.get(name) if isinstance(v, dict) else None
            if v is None:
                continue
            if index:
                idx = index.rstrip("]")
                if not isinstance(v, list):
                    continue
                if idx == "*":
                    nxt.extend(v)
                elif int(idx) < len(v):
                    nxt.append(v[int(idx)])
            else:
                nxt.append(v)
        values = nxt
    return " ".join(str(v) for v in values)


def _selector(selector: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>"


def _table(kind: str, items: list[dict[str, Any]]) -> str:
    """The columns kubectl 1.1.2 prints (seen against a 1.1.2 apiserver)."""
    if kind == "Pod":
        rows = [["NAME", "READY", "STATUS", "RESTARTS", "AGE"]] + [
            [i["metadata"]["name"], "1/1", i["status"]["phase"], "0", "1m"] for i in items]
    elif kind == "Service":
        rows = [["NAME", "CLUSTER_IP", "EXTERNAL_IP", "PORT(S)", "SELECTOR", "AGE"]] + [
            [i["metadata"]["name"], i["spec"]["clusterIP"], "<none>", ",".join(
                f"{p['port']}/{p.get('protocol', 'TCP')}" for p in i["spec"].get("ports", [])),
             _selector(i["spec"].get("selector") or {}), "1m"]
            for i in items]
    elif kind == "ReplicationController":
        rows = [["CONTROLLER", "CONTAINER(S)", "IMAGE(S)", "SELECTOR", "REPLICAS", "AGE"]]
        for i in items:
            containers = i["spec"]["template"]["spec"]["containers"]
            rows.append([i["metadata"]["name"], containers[0]["name"], containers[0]["image"],
                         _selector(i["spec"].get("selector") or {}),
                         str(i["spec"].get("replicas", 1)), "1m"])
            rows += [["", c["name"], c["image"], "", "", ""] for c in containers[1:]]
    elif kind == "Endpoints":
        rows = [["NAME", "ENDPOINTS", "AGE"]] + [
            [i["metadata"]["name"], ",".join(f"{a['ip']}:{p['port']}" for s in i["subsets"]
                                             for a in s["addresses"] for p in s["ports"])
             or "<none>", "1m"] for i in items]
    else:
        rows = [["NAME", "LABELS", "STATUS", "AGE"]] + [
            [i["metadata"]["name"], _selector(i["metadata"].get("labels") or {}), "Ready", "1m"]
            for i in items]
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return "".join("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n"
                   for r in rows)


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
    if opts["selector"]:
        items = [i for i in items if _match(i["metadata"].get("labels") or {}, opts["selector"])]
    items.sort(key=lambda i: i["metadata"]["name"])
    if name is not None:
        items = [i for i in items if i["metadata"]["name"] == name]
        if not items:
            raise KubectlError("Error from server: " + _not_found(kind, name))
    output = opts["output"]
    single = name is not None
    if output.startswith("jsonpath="):
        target = items[0] if single else {"apiVersion": "v1", "kind": "List", "items": items}
        return jsonpath(target, output[len("jsonpath="):])
    if output == "json":
        return json.dumps(items[0] if single else {"kind": "List", "items": items}, indent=4) + "\n"
    if output == "name":
        return "".join(f"{resource}/{i['metadata']['name']}\n" for i in items)
    if output:
        raise KubectlError(f"error: unable to match a printer suitable for the output format "
                           f'"{output}" (fake kubectl: jsonpath=, json, name)')
    if not items:
        return _table(kind, [])  # 1.1.2 prints the header alone
    return _table(kind, items)


def cmd_exec(args: list[str], opts: dict[str, Any], data: dict[str, Any]) -> str:
    if "--" not in args:
        raise KubectlError("error: exec [POD] [COMMAND] is not supported anymore. "
                           "Use exec [POD] -- [COMMAND] instead")
    split = args.index("--")
    pod_args, command = args[:split], args[split + 1:]
    if len(pod_args) != 1 or not command:
        raise KubectlError("error: fake kubectl: exec POD -- nslookup NAME")
    pod = data["objects"].get(_key("Pod", opts["namespace"], pod_args[0]))
    if pod is None:
        raise KubectlError("Error from server: " + _not_found("Pod", pod_args[0]))
    if command[0] != "nslookup" or len(command) != 2:
        raise KubectlError(f'error: fake kubectl: only "nslookup NAME" runs in pods, not {command}')
    dns = data["objects"].get(_key("Service", "kube-system", "kube-dns"))
    dns_pods = [o for o in data["objects"].values() if o["kind"] == "Pod"
                and o["metadata"]["namespace"] == "kube-system"
                and (o["metadata"].get("labels") or {}).get("k8s-app") == "kube-dns"]
    if dns is None or not dns_pods:
        raise KubectlError("Server:    (null)\nnslookup: can't resolve 'kubernetes.default'\n"
                           "command terminated with exit code 1")
    server = dns["spec"]["clusterIP"]
    target = command[1]
    if target not in ("kubernetes.default", "kubernetes"):
        raise KubectlError(f"Server:    {server}\nAddress 1: {server}\n\n"
                           f"nslookup: can't resolve '{target}'\n"
                           "command terminated with exit code 1")
    first = str(next(ipaddress.ip_network(server + "/24", strict=False).hosts()))
    return (f"Server:    {server}\nAddress 1: {server}\n\n"
            f"Name:      {target}\nAddress 1: {first}\n")


# ---------------------------------------------------------------- command line


def parse(argv: list[str]) -> tuple[str, list[str], dict[str, Any]]:
    opts: dict[str, Any] = {"kubeconfig": None, "namespace": "default", "files": [],
                            "selector": "", "output": "", "client": False}
    args: list[str] = []
    verb = ""
    i = 0
    valued = {"--kubeconfig": "kubeconfig", "--namespace": "namespace", "-n": "namespace",
              "-f": "files", "--filename": "files", "-l": "selector", "--selector": "selector",
              "-o": "output", "--output": "output"}
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            args.append("--")
            args.extend(argv[i:])
            break
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in valued:
            if not eq:
                if i >= len(argv):
                    raise KubectlError(f"error: flag needs an argument: {name}")
                value = argv[i]
                i += 1
            key = valued[name]
            if key == "files":
                opts["files"].append(value)
            else:
                opts[key] = value
            continue
        if arg == "--client":
            opts["client"] = True
            continue
        if arg.startswith("-"):
            raise KubectlError(f"error: unknown flag: {arg}\nSee 'kubectl --help' for usage.")
        if not verb:
            verb = arg
        else:
            args.append(arg)
    return verb, args, opts


def kubectl(argv: list[str]) -> tuple[int, str, str]:
    try:
        verb, args, opts = parse(argv)
        if verb not in ("version", "cluster-info", "create", "apply", "get", "exec", "delete"):
            raise KubectlError(f'error: unknown command "{verb}" for "kubectl" (fake kubectl)')
        if verb in ("create", "apply", "delete") and args:
            raise KubectlError(f"error: Unexpected args: {args}")
        if verb == "version" and opts["client"]:
            return 0, f"Client Version: {VERSION_INFO}\n", ""
        kubeconfig = Path(opts["kubeconfig"] or os.environ.get("KUBECONFIG", "") or
                          Path.home() / ".kube" / "config")
        if opts["kubeconfig"] is None:
            raise KubectlError("error: fake kubectl: pass --kubeconfig (the scripts never use "
                               "~/.kube/config)")
        cfg = load_kubeconfig(kubeconfig)
        connect(cfg["server"])
        with cluster_state(_state_path(kubeconfig)) as data:
            data["calls"].append(" ".join(argv))
            if verb == "version":
                return 0, (f"Client Version: {VERSION_INFO}\n"
                           f"Server Version: {VERSION_INFO}\n"), ""
            if verb == "cluster-info":
                return 0, f"Kubernetes control plane is running at {cfg['server']}\n", ""
            if verb in ("create", "apply"):
                out, errors = cmd_create_apply(verb, opts["files"], opts["namespace"], data)
                return (1 if errors else 0), out, errors
            if verb == "delete":
                out, errors = cmd_delete_files(opts["files"], opts["namespace"], data)
                return (1 if errors else 0), out, errors
            if verb == "get" and opts["files"]:
                return 0, cmd_get_files(opts["files"], opts, data), ""
            if verb == "get":
                return 0, cmd_get(args, opts, data), ""
            return 0, cmd_exec(args, opts, data), ""
    except KubectlError as exc:
        return exc.code, "", str(exc) + "\n"


def curl(argv: list[str]) -> tuple[int, str, str]:
    """``curl [-fsS] [--max-time N] [-o FILE] URL``: a NodePort answers when a Running pod
    backs the service and the address is a node's."""
    url = ""
    out_file = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg in ("-f", "-s", "-S", "-fsS", "-sS", "-fs", "-sf"):
            continue
        if arg in ("--max-time", "-m", "-o"):
            if i >= len(argv):
                return 2, "", f"curl: option {arg}: requires parameter\n"
            if arg == "-o":
                out_file = argv[i]
            i += 1
            continue
        if arg.startswith("-"):
            return 2, "", f"curl: option {arg}: is unknown (fake curl)\n"
        url = arg
    parsed = urlparse(url)
    host, port = parsed.hostname or "", parsed.port or 80
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return 6, "", f"curl: (6) Could not resolve host: {host} (fake curl resolves nothing)\n"
    if not any(ip in net for net in DOC_NETS):
        return 7, "", (f"curl: (7) Failed to connect to {host} port {port}: fake curl only "
                       "answers for documentation addresses (tests never leave loopback)\n")
    if host not in {n["metadata"]["name"] for n in nodes()}:
        return 7, "", f"curl: (7) Failed to connect to {host} port {port}: Connection refused\n"
    if not os.environ.get("FAKE_KUBECTL_STATE"):
        return 2, "", "curl: fake curl needs FAKE_KUBECTL_STATE (the fake cluster's state)\n"
    path = Path(os.environ["FAKE_KUBECTL_STATE"])
    data = json.loads(path.read_text()) if path.is_file() else {"objects": {}}
    for svc in data["objects"].values():
        if svc["kind"] != "Service":
            continue
        if not any(p.get("nodePort") == port for p in svc["spec"].get("ports", [])):
            continue
        selector = svc["spec"].get("selector") or {}
        backed = [o for o in data["objects"].values() if o["kind"] == "Pod"
                  and o["metadata"]["namespace"] == svc["metadata"]["namespace"]
                  and all((o["metadata"].get("labels") or {}).get(k) == v
                          for k, v in selector.items())]
        if backed:
            body = json.dumps({"pod": backed[0]["metadata"]["name"], "path": parsed.path}) + "\n"
            if out_file and out_file != "-":
                Path(out_file).write_text(body)
                return 0, "", ""
            return 0, body, ""
    return 7, "", f"curl: (7) Failed to connect to {host} port {port}: Connection refused\n"


def main(tool: str) -> None:
    code, out, err = (curl if tool == "curl" else kubectl)(sys.argv[1:])
    sys.stdout.write(out)
    sys.stderr.write(err)
    sys.exit(code)
