"""A strict, stateful kubectl (and curl) stand-in speaking a current kubectl (1.3x) against the
current profile's cluster, for the apply tests and ``PROFILE=current make demo``.

Why a stand-in: ``require_kubectl`` accepts only a kubectl within one minor of the cluster's
version, this machine's kubectl is 1.32 and the cluster runs 1.37; no control plane of that
version can run here (no containers, no 1.37 binaries). What the apply scripts use is spoken
as kubectl 1.3x prints it (texts from the kubectl sources: k8s.io/kubectl pkg/cmd/apply,
create, delete, get, version; apimachinery's StatusError "Error from server (NotFound): ..."):

- ``version [--client]``: ``Client Version: v1.37.x``, ``Kustomize Version: ...``,
  ``Server Version``.
- ``create --save-config -f``, ``apply -f``, ``get -f``, ``delete -f``:
  ``<resource>[.<group>]/<name> created|configured|unchanged|deleted``; an existing object on
  create is ``AlreadyExists``; a missing namespace is ``NotFound``; every object is handled,
  then exit 1 if any failed.
- ``create secret generic NAME --from-file=KEY=PATH --dry-run=client -o yaml`` (PATH may be
  /dev/stdin) and ``apply -f -``: the Secret rendered, then applied from standard input; the
  state keeps a digest of each Secret value (the state file is on disk; etcd would hold it).
- ``get KIND [NAME] [-n NS] [-l SELECTOR (equality or set-based)] [-o json|jsonpath=|name]``,
  ``get --raw /readyz`` and ``/readyz/etcd``, ``exec POD -- nslookup NAME`` (busybox 1.28's
  output), ``rollout restart daemonset/NAME`` (``daemonset.apps/NAME restarted``).

The "cluster" follows the simulated account (``DOSIM_STATE``): the apiserver answers at the
kubeconfig's address only when the controller droplet there (or one behind the load balancer
there, passing its health check and admitting the client) has
``/etc/kubernetes/pki/apiserver.pem`` naming that address; a node is a droplet with
``/etc/kubernetes/pki/kubelet.pem`` whose CN is ``system:node:<droplet name>`` (the Node
authorizer's rule), tainted as its user data says (``--register-with-taints`` or a
``--config-dir`` drop-in), with a pod CIDR
from its controller-manager's ``--cluster-cidr``/``--node-cidr-mask-size``; nodes are Ready once
the flannel DaemonSet exists (the CNI); pods of Deployments and DaemonSets are Running on Ready
nodes whose taints they tolerate; DNS answers once CoreDNS runs and kube-proxy's DaemonSet
exists; etcd is ready while the etcd droplet has ``/etc/etcd/pki/etcd.pem``.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import atrest
import csivolumes
import nodeops
import podsecurity
import yaml
from fake_cluster import (
    DOC_NETS,
    KubectlError,
    _dosim,
    _installed,
    _key,
    _server_host,
    cluster_state,
    jsonpath,
    load_kubeconfig,
)
from fake_cluster import connect as fake_connect

from tests.standins import kubeletbin

VERSION = os.environ.get("FAKE_KUBECTL_VERSION", "v1.37.0")
KUSTOMIZE = "v5.7.1"
NODE_PKI = "/etc/kubernetes/pki"
# Kind -> (resource, group, namespaced)
KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("namespaces", "", False), "Node": ("nodes", "", False),
    "ServiceAccount": ("serviceaccounts", "", True), "ConfigMap": ("configmaps", "", True),
    "Service": ("services", "", True), "Pod": ("pods", "", True),
    "Endpoints": ("endpoints", "", True), "Secret": ("secrets", "", True),
    "Deployment": ("deployments", "apps", True), "DaemonSet": ("daemonsets", "apps", True),
    "ClusterRole": ("clusterroles", "rbac.authorization.k8s.io", False),
    "ClusterRoleBinding": ("clusterrolebindings", "rbac.authorization.k8s.io", False),
    "Role": ("roles", "rbac.authorization.k8s.io", True),
    "RoleBinding": ("rolebindings", "rbac.authorization.k8s.io", True),
    "PodDisruptionBudget": ("poddisruptionbudgets", "policy", True),
    # DigitalOcean's CSI driver (issue 21)
    "StatefulSet": ("statefulsets", "apps", True),
    "CSIDriver": ("csidrivers", "storage.k8s.io", False),
    "PersistentVolumeClaim": ("persistentvolumeclaims", "", True),
    "PersistentVolume": ("persistentvolumes", "", False),
    "StorageClass": ("storageclasses", "storage.k8s.io", False),
}
ALIASES = {"po": "Pod", "pod": "Pod", "pods": "Pod", "svc": "Service", "service": "Service",
           "services": "Service", "no": "Node", "node": "Node", "nodes": "Node",
           "ds": "DaemonSet", "daemonset": "DaemonSet", "daemonsets": "DaemonSet",
           "deploy": "Deployment", "deployment": "Deployment", "deployments": "Deployment",
           "ep": "Endpoints", "endpoints": "Endpoints", "ns": "Namespace",
           "namespace": "Namespace", "namespaces": "Namespace", "cm": "ConfigMap",
           "configmap": "ConfigMap", "configmaps": "ConfigMap", "secret": "Secret",
           "secrets": "Secret", "pdb": "PodDisruptionBudget",
           "poddisruptionbudget": "PodDisruptionBudget",
           "poddisruptionbudgets": "PodDisruptionBudget", "sts": "StatefulSet",
           "statefulset": "StatefulSet", "statefulsets": "StatefulSet", "sc": "StorageClass",
           "storageclass": "StorageClass", "storageclasses": "StorageClass",
           "csidriver": "CSIDriver", "csidrivers": "CSIDriver", "pvc": "PersistentVolumeClaim",
           "persistentvolumeclaim": "PersistentVolumeClaim",
           "persistentvolumeclaims": "PersistentVolumeClaim", "pv": "PersistentVolume",
           "persistentvolume": "PersistentVolume", "persistentvolumes": "PersistentVolume"}
BUILTIN_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def _type(kind: str) -> str:
    """``deployments.apps``: how kubectl names a resource type in messages."""
    resource, group, _ = KINDS[kind]
    return f"{resource}.{group}" if group else resource


def _ref(kind: str, name: str) -> str:
    """``deployment.apps/coredns``: kubectl's object reference in its output lines."""
    _, group, _ = KINDS[kind]
    return f"{kind.lower()}{'.' + group if group else ''}/{name}"


# ---------------------------------------------------------------- the account's droplets


def _droplets() -> list[dict[str, Any]]:
    account = _dosim() or {}
    return sorted(account.get("droplets", {}).values(), key=lambda d: d["name"])


def _user_data(rec: dict[str, Any]) -> str:
    path = Path(rec["sim"]["root"]) / "var/lib/dosim/user-data"
    return path.read_text() if path.is_file() else ""


def _taints(user_data: str) -> list[dict[str, str]]:
    """What the kubelet registers its node with: --register-with-taints, and registerWithTaints
    of the KubeletConfiguration drop-ins in the directory its --config-dir names."""
    taints = [{"key": k, "effect": e} for k, e in re.findall(
        r"--register-with-taints=([^=\s]+)=:?(\w+)", user_data)]
    config_dirs = re.findall(r"--config-dir=(\S+)", user_data)
    try:
        files = (yaml.safe_load(user_data) or {}).get("write_files") or []
    except yaml.YAMLError:
        return taints
    for item in files:
        if any(str(item.get("path", "")).startswith(f"{d.rstrip('/')}/") for d in config_dirs):
            config = yaml.safe_load(item.get("content") or "") or {}
            if config.get("kind") == "KubeletConfiguration":
                taints += [{"key": t["key"], "effect": t["effect"]}
                           for t in config.get("registerWithTaints") or []]
    return taints


def _cn(cert: Path) -> str:
    out = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-subject",
                          "-nameopt", "multiline"], capture_output=True, text=True,
                         check=False).stdout
    match = re.search(r"commonName\s*=\s*(\S+)", out)
    return match.group(1) if match else ""


def connect(server: str) -> None:
    """The apiserver at ``server`` (a controller, or the load balancer in front of several)."""
    fake_connect(server, f"{NODE_PKI}/apiserver.pem")
    host = _server_host(server)
    for rec in _droplets():
        root = Path(rec["sim"]["root"])
        if (rec["sim"].get("public_ip") == host and (root / "etc/kubernetes/manifests").is_dir()
                and _installed(root, atrest.STATIC_POD) is None):
            # its static pod manifest is moved away: the kubelet stopped the apiserver
            raise KubectlError(f"The connection to the server {host}:"
                               f"{urlparse(server).port or 443} was refused - did you specify "
                               "the right host or port?")


def server_version(server: str) -> str:
    """The apiserver's version: the image tag of the kube-apiserver static pod manifest on the
    controller dialled (through a load balancer: the first controller, by name, that runs one)."""
    host = _server_host(server)
    found = []
    for rec in _droplets():
        manifest = _installed(Path(rec["sim"]["root"]), atrest.STATIC_POD)
        tag = re.search(r"image: *\S+/kube-apiserver:(v[\w.+-]+)", manifest.read_text()) \
            if manifest else None
        if tag:
            found.append((rec["sim"].get("public_ip") != host, tag[1]))
    return sorted(found, key=lambda f: f[0])[0][1] if found else VERSION


def _cidrs() -> list[str]:
    """Node pod CIDRs as the controller-manager hands them out (its user data's flags)."""
    for rec in _droplets():
        text = _user_data(rec)
        cidr = re.search(r"--cluster-cidr=([0-9./]+)", text)
        if cidr:
            mask = re.search(r"--node-cidr-mask-size=([0-9]+)", text)
            net = ipaddress.ip_network(cidr.group(1))
            return [str(s) for s in net.subnets(new_prefix=int(mask.group(1) if mask else 24))]
    return []


def nodes(data: dict[str, Any]) -> list[dict[str, Any]]:
    flannel = any(o["kind"] == "DaemonSet" and o["metadata"]["name"] == "kube-flannel-ds"
                  for o in data["objects"].values())
    cidrs = _cidrs()
    allocated = data.setdefault("pod_cidrs", {})
    found = []
    for rec in _droplets():
        cert = _installed(Path(rec["sim"]["root"]), f"{NODE_PKI}/kubelet.pem")
        key = _installed(Path(rec["sim"]["root"]), f"{NODE_PKI}/kubelet-key.pem")
        if cert is None or key is None or _cn(cert) != f"system:node:{rec['name']}":
            continue
        cloud = _cloud_env(Path(rec["sim"]["root"]))
        if cloud is None:
            continue  # kubelet.service's EnvironmentFile is missing: the kubelet does not start
        kubelet = kubeletbin.installed_version(Path(rec["sim"]["root"]))
        if kubelet is None:
            continue  # kubelet-install.service installed no binary: no kubelet runs
        name = rec["name"]
        if name not in allocated and cidrs:
            used = set(allocated.values())
            allocated[name] = next(c for c in cidrs if c not in used)
        user_data = _user_data(rec)
        taints = _taints(user_data)
        spec: dict[str, Any] = {"podCIDR": allocated.get(name, ""), "taints": taints}
        if cloud.get("KUBELET_CLOUD_PROVIDER") == "external":
            spec["providerID"] = cloud.get("KUBELET_PROVIDER_ID", "")
            if not _ccm_initializes(data, name):
                taints.append({"key": UNINITIALIZED, "value": "true", "effect": "NoSchedule"})
        found.append({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": spec,
            "status": {"conditions": [{"type": "Ready", "status": "True" if flannel else "False",
                                       "reason": "KubeletReady" if flannel else
                                       "KubeletNotReady (container runtime network not ready: "
                                       "cni plugin not initialized)"}],
                       "addresses": [{"type": "InternalIP", "address": rec["sim"]["private_ip"]},
                                     {"type": "Hostname", "address": name}]}})
        # the version it reports: the release its installed binary is
        nodeops.decorate(found[-1], data, kubelet)
    ccm = CCM in data["objects"] and "Secret/kube-system/digitalocean" in data["objects"]
    return found + nodeops.unregistered(data, found, ccm)


# A kubelet with --cloud-provider=external registers its node with this taint; the cloud-
# controller-manager removes it once it has initialized the node (digitalocean-cloud-controller-
# manager docs/getting-started.md), and never puts it back.
UNINITIALIZED = "node.cloudprovider.kubernetes.io/uninitialized"
CCM = "Deployment/kube-system/digitalocean-cloud-controller-manager"
CLOUD_ENV = "/etc/kubernetes/kubelet-cloud.env"


def _cloud_env(root: Path) -> dict[str, str] | None:
    """KEY=value lines of the kubelet's EnvironmentFile (None when it is not installed)."""
    path = _installed(root, CLOUD_ENV)
    if path is None:
        return None
    return dict(line.split("=", 1) for line in path.read_text().splitlines()
                if "=" in line and not line.startswith("#"))


def _ccm_initializes(data: dict[str, Any], name: str) -> bool:
    """Whether the CCM has initialized node NAME: once its Deployment and the Secret with its
    token exist (it runs where the uninitialized taint is tolerated, so it needs no such node)."""
    done = data.setdefault("cloud_initialized", [])
    if name not in done and CCM in data["objects"] and \
            "Secret/kube-system/digitalocean" in data["objects"]:
        done.append(name)
    return name in done


def _ready(node: dict[str, Any]) -> bool:
    return node["status"]["conditions"][0]["status"] == "True"


def _tolerates(spec: dict[str, Any], node: dict[str, Any]) -> bool:
    tolerations = spec.get("tolerations") or []
    for taint in node["spec"]["taints"]:
        if not any(t.get("operator") == "Exists" and not t.get("key") or
                   t.get("key") == taint["key"] for t in tolerations):
            return False
    return True


# ---------------------------------------------------------------- workloads


def _pod_security(data: dict[str, Any], ns: str) -> dict[str, str] | None:
    """The namespace's Pod Security levels by mode (None: an exempt namespace)."""
    base, exempt = podsecurity.defaults(next(
        (text for text in map(_user_data, _droplets()) if podsecurity.ADMISSION_CONFIG in text),
        ""))
    if ns in exempt:
        return None
    return podsecurity.levels(data["objects"].get(_key("Namespace", "", ns)), base)


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    if obj["kind"] == "Pod":
        return obj.get("spec") or {}
    if obj["kind"] in ("Deployment", "DaemonSet", "StatefulSet"):
        return obj["spec"]["template"].get("spec") or {}
    return None


def _admitted(data: dict[str, Any], obj: dict[str, Any]) -> bool:
    """Pod Security's enforce mode lets the object's pods be created."""
    spec, modes = _pod_spec(obj), _pod_security(data, obj["metadata"].get("namespace", ""))
    return spec is None or modes is None or not podsecurity.verdict(spec, modes)[0]


def _pods(data: dict[str, Any], node_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bare pods plus those the Deployments and DaemonSets make, with their phase now (none
    for a workload whose pods Pod Security's enforce mode rejects)."""
    ready = [n for n in node_list if _ready(n)]
    out = []
    for obj in data["objects"].values():
        kind, meta = obj["kind"], obj["metadata"]
        if not _admitted(data, obj):
            continue
        if kind == "Pod":
            spec = obj.get("spec") or {}
            fits = [n for n in ready if _tolerates(spec, n)]
            out.append(_pod(meta["name"], meta["namespace"], meta.get("labels") or {},
                            nodeops.bind(data, meta["name"], fits, 0), None, spec))
        elif kind in ("Deployment", "DaemonSet", "StatefulSet"):
            template = obj["spec"]["template"]
            labels = template["metadata"].get("labels") or {}
            fits = [n for n in (node_list if kind == "DaemonSet" else ready)
                    if _tolerates(template.get("spec") or {}, n)]
            if kind == "DaemonSet":
                for node in fits:
                    out.append(_pod(f"{meta['name']}-{_short(node['metadata']['name'])}",
                                    meta["namespace"], labels, node["metadata"]["name"],
                                    kind, template.get("spec") or {}))
            else:  # a StatefulSet's pods are NAME-0, NAME-1, ... (its ordinal names)
                for i in range(int(obj["spec"].get("replicas", 1))):
                    name = (f"{meta['name']}-{i}" if kind == "StatefulSet"
                            else f"{meta['name']}-{_short(meta['name'])}-{i}")
                    out.append(_pod(name, meta["namespace"], labels,
                                    nodeops.bind(data, name, fits, i),
                                    "StatefulSet" if kind == "StatefulSet" else "ReplicaSet",
                                    template.get("spec") or {}))
    return out


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:5]


def _pod(name: str, ns: str, labels: dict[str, str], node: str, owner: str | None,
         spec: dict[str, Any]) -> dict[str, Any]:
    """A pod bound to NODE ("": Pending), owned by a controller of kind OWNER (None: bare)."""
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": dict(labels)}
    if owner:
        meta["ownerReferences"] = [{"kind": owner, "controller": True}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": node, "volumes": spec.get("volumes") or []},
            "status": {"phase": "Running" if node else "Pending"}}


def _daemonset_status(obj: dict[str, Any], node_list: list[dict[str, Any]]) -> dict[str, Any]:
    spec = obj["spec"]["template"].get("spec") or {}
    want = [n for n in node_list if _tolerates(spec, n)]
    return {"desiredNumberScheduled": len(want), "currentNumberScheduled": len(want),
            "numberReady": len(want), "numberAvailable": len(want)}


def _endpoints(data: dict[str, Any], pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for svc in data["objects"].values():
        if svc["kind"] != "Service":
            continue
        ns, selector = svc["metadata"]["namespace"], svc["spec"].get("selector") or {}
        backing = [p for p in pods if p["metadata"]["namespace"] == ns and selector and
                   p["status"]["phase"] == "Running" and
                   all(p["metadata"]["labels"].get(k) == v for k, v in selector.items())]
        addresses = [{"ip": f"10.244.0.{i + 2}", "targetRef": {"kind": "Pod",
                      "name": p["metadata"]["name"]}} for i, p in enumerate(backing)]
        out.append({"apiVersion": "v1", "kind": "Endpoints",
                    "metadata": {"name": svc["metadata"]["name"], "namespace": ns},
                    "subsets": [{"addresses": addresses}] if addresses else []})
    return out


# ---------------------------------------------------------------- manifests


# -f -: stdin, read before the state lock is taken (the kubectl feeding the pipe may need it)
_STDIN = [""]


def load_manifests(file: str) -> list[dict[str, Any]]:
    path = Path(file)
    if file != "-" and not path.is_file():
        raise KubectlError(f'error: the path "{file}" does not exist')
    try:
        text = _STDIN[0] if file == "-" else path.read_text()
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise KubectlError(f'error: error parsing {file}: {exc}') from None
    docs = [i for d in docs for i in (d.get("items") or [] if d.get("kind") == "List" else [d])]
    for doc in docs:
        kind = doc.get("kind", "")
        if kind not in KINDS or kind in ("Node", "Endpoints", "PersistentVolume"):
            raise KubectlError(f'error: resource mapping not found for name: '
                               f'"{(doc.get("metadata") or {}).get("name", "")}" namespace: "" '
                               f'from "{file}": no matches for kind "{kind}" in version '
                               f'"{doc.get("apiVersion", "")}"\nensure CRDs are installed first')
        if not (doc.get("metadata") or {}).get("name"):
            raise KubectlError(f'error: error validating "{file}": metadata.name is required')
    return docs


def _objects(files: list[str], namespace: str) -> list[tuple[str, dict[str, Any], str, str]]:
    if not files:
        raise KubectlError("error: must specify one of -f and -k")
    out = []
    for file in files:
        for doc in load_manifests(file):
            kind = doc["kind"]
            ns = (doc["metadata"].get("namespace") or namespace) if KINDS[kind][2] else ""
            out.append((file, doc, ns, _key(kind, ns, doc["metadata"]["name"])))
    return out


def _namespace_exists(data: dict[str, Any], ns: str) -> bool:
    return not ns or ns in BUILTIN_NAMESPACES or _key("Namespace", "", ns) in data["objects"]


def cmd_write(verb: str, files: list[str], opts: dict[str, Any],
              data: dict[str, Any]) -> tuple[str, str, bool]:
    """stdout, stderr (errors and Pod Security warnings) and whether any object failed."""
    out, errors, warnings = [], [], []
    for file, doc, ns, key in _objects(files, opts["namespace"]):
        kind, name = doc["kind"], doc["metadata"]["name"]
        ref = _ref(kind, name)
        when = {"create": "creating", "delete": "deleting", "replace": "replacing"}.get(
            verb, "applying")
        if verb == "delete":
            if data["objects"].pop(key, None) is None:
                errors.append(f'Error from server (NotFound): error when deleting "{file}": '
                              f'{_type(kind)} "{name}" not found')
            else:
                out.append(f'{kind.lower()}{"." + KINDS[kind][1] if KINDS[kind][1] else ""} '
                           f'"{name}" deleted')
            continue
        if not _namespace_exists(data, ns):
            errors.append(f'Error from server (NotFound): error when {when} "{file}": '
                          f'namespaces "{ns}" not found')
            continue
        obj = json.loads(json.dumps(doc))
        obj["metadata"]["namespace"] = ns
        if kind == "Secret":
            # a replace sends back what get printed: values already kept as their digest
            obj["data"] = {k: v if str(v).startswith("sha256:") else
                           "sha256:" + hashlib.sha256(base64.b64decode(v)).hexdigest()
                           for k, v in (obj.get("data") or {}).items()}
        spec, modes = _pod_spec(obj), _pod_security(data, ns)
        if spec is not None and modes is not None:
            reject, warning = podsecurity.verdict(spec, modes)
            warnings += [warning] if warning else []
            if reject and kind == "Pod":
                errors.append(f'Error from server (Forbidden): error when {when} "{file}": '
                              f'pods "{name}" is forbidden: {reject}')
                continue
        old = data["objects"].get(key)
        if verb == "replace" and old is None:
            errors.append(f'Error from server (NotFound): error when replacing "{file}": '
                          f'{_type(kind)} "{name}" not found')
            continue
        if kind == "Secret":
            atrest.stored(obj, _encryption_config())
        if verb == "create" and old is not None:
            errors.append(f'Error from server (AlreadyExists): error when creating "{file}": '
                          f'{_type(kind)} "{name}" already exists')
            continue
        if verb == "create" and not opts["save_config"]:
            obj["metadata"].setdefault("annotations", {})
        if verb == "apply" and old is not None and _strip(old) == _strip(obj):
            out.append(f"{ref} unchanged")
            continue
        data["objects"][key] = obj
        done = "replaced" if verb == "replace" else "created" if old is None else "configured"
        out.append(f"{ref} {done}")
    return ("".join(f"{line}\n" for line in out),
            "".join(f"{line}\n" for line in warnings + errors), bool(errors))


def cmd_create_secret(args: list[str], opts: dict[str, Any]) -> str:
    """``kubectl create secret generic NAME --from-file=KEY=PATH... --dry-run=client -o yaml``:
    the Secret as kubectl renders it, nothing sent (the only form the scripts use)."""
    if len(args) != 3 or args[1] != "generic":
        raise KubectlError("error: exactly one NAME is required, got "
                           f"{max(len(args) - 2, 0)}\nSee 'kubectl create secret generic -h'")
    if opts["dry_run"] != "client" or opts["output"] != "yaml":
        raise KubectlError("error: fake kubectl: create secret only with --dry-run=client -o yaml")
    data = {}
    for item in opts["from_file"]:
        key, eq, path = item.partition("=")
        if not eq:
            key, path = Path(item).name, item
        try:
            raw = sys.stdin.buffer.read() if path == "/dev/stdin" else Path(path).read_bytes()
        except OSError as exc:
            raise KubectlError(f"error: error reading {path}: {exc.strerror}") from None
        data[key] = base64.b64encode(raw).decode()
    secret = {"apiVersion": "v1", "data": data, "kind": "Secret",
              "metadata": {"name": args[2], "namespace": opts["namespace"]}}
    return yaml.safe_dump(secret, default_flow_style=False)


def _strip(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != "status"}


def cmd_get_files(files: list[str], opts: dict[str, Any], data: dict[str, Any]) -> tuple[str, str]:
    out, errors = [], []
    for _file, doc, _ns, key in _objects(files, opts["namespace"]):
        kind, name = doc["kind"], doc["metadata"]["name"]
        if key in data["objects"]:
            out.append(_ref(kind, name))
        else:
            errors.append(f'Error from server (NotFound): {_type(kind)} "{name}" not found')
    return "".join(f"{line}\n" for line in out), "".join(f"{line}\n" for line in errors)


# ---------------------------------------------------------------- get


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
        key, op, value = re.fullmatch(r"([\w./-]+)\s*(!=|==|=)?\s*(.*)", term).groups()
        if op is None:
            if key not in labels:
                return False
        elif (labels.get(key) == value) != (op != "!="):
            return False
    return True


def _table(kind: str, items: list[dict[str, Any]]) -> str:
    if kind == "Pod":
        rows = [["NAME", "READY", "STATUS", "RESTARTS", "AGE"]] + [
            [i["metadata"]["name"], "1/1" if i["status"]["phase"] == "Running" else "0/1",
             i["status"]["phase"], "0", "1m"] for i in items]
    elif kind == "Node":
        rows = [["NAME", "STATUS", "ROLES", "AGE", "VERSION"]] + [
            [i["metadata"]["name"], ("Ready" if _ready(i) else "NotReady") +
             ("" if nodeops.schedulable(i) else ",SchedulingDisabled"), "<none>", "1m",
             i["status"]["nodeInfo"].get("kubeletVersion", "")] for i in items]
    else:
        rows = [["NAME", "AGE"]] + [[i["metadata"]["name"], "1m"] for i in items]
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return "".join("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n"
                   for r in rows)


def cmd_get(args: list[str], opts: dict[str, Any], data: dict[str, Any]) -> str:
    if not args:
        raise KubectlError("error: Required resource not specified.")
    kind = ALIASES.get(args[0]) or next((k for k in KINDS if k.lower() == args[0]), None)
    if kind is None:
        raise KubectlError(f'error: the server doesn\'t have a resource type "{args[0]}"')
    name = args[1] if len(args) > 1 else None
    ns = opts["namespace"]
    node_list = nodes(data)
    pods = _pods(data, node_list)
    if kind == "Node":
        items = node_list
    elif kind == "Pod":
        items = [p for p in pods if p["metadata"]["namespace"] == ns]
    elif kind == "Endpoints":
        items = [e for e in _endpoints(data, pods) if e["metadata"]["namespace"] == ns]
    else:
        items = [json.loads(json.dumps(o)) for o in data["objects"].values()
                 if o["kind"] == kind and (not KINDS[kind][2] or opts["all_namespaces"]
                                           or o["metadata"]["namespace"] == ns)]
        if kind == "Secret":
            config = _encryption_config()
            for error in filter(None, (atrest.readable(i, config) for i in items)):
                raise KubectlError(error)
            items = [atrest.view(i) for i in items]
        for item in items:
            if kind == "DaemonSet":
                item["status"] = _daemonset_status(item, node_list)
            if kind == "PersistentVolumeClaim":
                csivolumes.view(data, _key(kind, item["metadata"]["namespace"],
                                           item["metadata"]["name"]), item)
    if opts["selector"]:
        items = [i for i in items if _selected(i["metadata"].get("labels") or {},
                                               opts["selector"])]
    items.sort(key=lambda i: i["metadata"]["name"])
    if name is not None:
        items = [i for i in items if i["metadata"]["name"] == name]
        if not items:
            raise KubectlError(f'Error from server (NotFound): {_type(kind)} "{name}" not found')
    output = opts["output"]
    target: Any = items[0] if name else {"apiVersion": "v1", "kind": "List", "items": items}
    if output.startswith("jsonpath="):
        return jsonpath(target, output[len("jsonpath="):])
    if output == "json":
        return json.dumps(target, indent=4) + "\n"
    if output == "name":
        return "".join(f"{_ref(kind, i['metadata']['name'])}\n" for i in items)
    if output:
        raise KubectlError(f"error: unable to match a printer suitable for the output format "
                           f'"{output}", allowed formats are: json,jsonpath,name (fake kubectl)')
    if not items:
        raise KubectlError(f"No resources found in {ns} namespace.", code=0)
    return _table(kind, items)


def _encryption_config() -> Path | None:
    """The EncryptionConfiguration installed on a controller (None: Secrets in plain text)."""
    for rec in _droplets():
        found = _installed(Path(rec["sim"]["root"]), atrest.CONFIG)
        if found is not None:
            return found
    return None


def cmd_raw(path: str) -> str:
    if path == "/readyz":  # connect() let us through: the apiserver dialled serves
        return "ok"
    if path != "/readyz/etcd":
        raise KubectlError(f"error: fake kubectl: get --raw {path} is not simulated")
    for rec in _droplets():
        if rec["name"].endswith("-etcd-01") and _installed(Path(rec["sim"]["root"]),
                                                           "/etc/etcd/pki/etcd.pem"):
            return "ok"
    raise KubectlError('Error from server (InternalError): an error on the server ("[-]etcd '
                       'failed: reason withheld\\nreadyz check failed") has prevented the '
                       "request from succeeding")


def cmd_rollout(args: list[str], opts: dict[str, Any], data: dict[str, Any]) -> str:
    """``rollout restart daemonset/NAME``: kubectl stamps the pod template's
    kubectl.kubernetes.io/restartedAt annotation (k8s.io/kubectl pkg/polymorphichelpers
    objectrestarter.go) and prints ``daemonset.apps/NAME restarted``."""
    if len(args) != 2 or args[0] != "restart" or not args[1].startswith("daemonset/"):
        raise KubectlError(f"error: fake kubectl: rollout {' '.join(args)} is not simulated")
    name = args[1].partition("/")[2]
    obj = data["objects"].get(_key("DaemonSet", opts["namespace"], name))
    if obj is None:
        raise KubectlError(f'Error from server (NotFound): daemonsets.apps "{name}" not found')
    template = obj.setdefault("spec", {}).setdefault("template", {})
    annotations = template.setdefault("metadata", {}).setdefault("annotations", {})
    annotations["kubectl.kubernetes.io/restartedAt"] = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                     time.gmtime())
    return f"{_ref('DaemonSet', name)} restarted\n"


def cmd_exec(args: list[str], opts: dict[str, Any], data: dict[str, Any]) -> str:
    if "--" not in args:
        raise KubectlError("error: exec [POD] [COMMAND] is not supported anymore. "
                           "Use exec [POD] -- [COMMAND] instead")
    split = args.index("--")
    (pod_name,), command = args[:split], args[split + 1:]
    node_list = nodes(data)
    pods = {p["metadata"]["name"]: p for p in _pods(data, node_list)
            if p["metadata"]["namespace"] == opts["namespace"]}
    if pod_name not in pods:
        raise KubectlError(f'Error from server (NotFound): pods "{pod_name}" not found')
    if pods[pod_name]["status"]["phase"] != "Running":
        raise KubectlError("error: unable to upgrade connection: container not found "
                           f'("{pod_name}")')
    if command[:1] != ["nslookup"] or len(command) != 2:
        raise KubectlError(f"error: fake kubectl: only nslookup NAME runs in pods, not {command}")
    dns = data["objects"].get(_key("Service", "kube-system", "kube-dns"))
    proxy = any(o["kind"] == "DaemonSet" and o["metadata"]["name"] == "kube-proxy"
                for o in data["objects"].values())
    running = [e for e in _endpoints(data, _pods(data, node_list))
               if e["metadata"]["name"] == "kube-dns" and e["subsets"]]
    if dns is None or not proxy or not running:
        raise KubectlError(";; connection timed out; no servers could be reached\n\n"
                           "command terminated with exit code 1")
    server, domain = dns["spec"]["clusterIP"], "cluster.local"
    target = command[1]
    if target not in ("kubernetes.default", "kubernetes"):
        raise KubectlError(f"Server:    {server}\nAddress 1: {server} kube-dns.kube-system.svc."
                           f"{domain}\n\nnslookup: can't resolve '{target}'\n"
                           "command terminated with exit code 1")
    first = str(next(ipaddress.ip_network(server + "/24", strict=False).hosts()))
    return (f"Server:    {server}\nAddress 1: {server} kube-dns.kube-system.svc.{domain}\n\n"
            f"Name:      {target}\nAddress 1: {first} kubernetes.default.svc.{domain}\n")


# ---------------------------------------------------------------- command line


def parse(argv: list[str]) -> tuple[str, list[str], dict[str, Any]]:
    opts: dict[str, Any] = {"kubeconfig": None, "namespace": "default", "files": [],
                            "selector": "", "output": "", "client": False, "raw": "",
                            "save_config": False, "from_file": [], "dry_run": "none",
                            "all_namespaces": False, "flags": set(), "timeout": "0s"}
    valued = {"--kubeconfig": "kubeconfig", "--namespace": "namespace", "-n": "namespace",
              "-f": "files", "--filename": "files", "-l": "selector", "--selector": "selector",
              "-o": "output", "--output": "output", "--raw": "raw",
              "--from-file": "from_file", "--dry-run": "dry_run", "--timeout": "timeout"}
    args: list[str] = []
    verb = ""
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            args += ["--", *argv[i:]]
            break
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in valued:
            if not eq:
                if i >= len(argv):
                    raise KubectlError(f"error: flag needs an argument: {name}")
                value, i = argv[i], i + 1
            if valued[name] in ("files", "from_file"):
                opts[valued[name]].append(value)
            else:
                opts[valued[name]] = value
        elif arg == "--client":
            opts["client"] = True
        elif arg == "--save-config":
            opts["save_config"] = True
        elif arg in ("-A", "--all-namespaces"):
            opts["all_namespaces"] = True
        elif arg in nodeops.DRAIN_BOOL_FLAGS and verb == "drain":
            opts["flags"].add(arg)
        elif arg.startswith("-"):
            raise KubectlError(f"error: unknown flag: {arg}\nSee 'kubectl --help' for usage.")
        elif not verb:
            verb = arg
        else:
            args.append(arg)
    return verb, args, opts


def kubectl(argv: list[str]) -> tuple[int, str, str]:
    client = f"Client Version: {VERSION}\nKustomize Version: {KUSTOMIZE}\n"
    try:
        verb, args, opts = parse(argv)
        if verb not in ("version", "create", "apply", "get", "exec", "delete", "rollout",
                        "replace", "cordon", "uncordon", "drain"):
            raise KubectlError(f'error: unknown command "{verb}" for "kubectl"')
        if opts["save_config"] and verb != "create":
            raise KubectlError("error: unknown flag: --save-config")
        if verb == "version" and opts["client"]:
            return 0, client, ""
        if (opts["from_file"] or opts["dry_run"] != "none") and args[:1] != ["secret"]:
            raise KubectlError("error: fake kubectl: --from-file and --dry-run only with "
                               "create secret")
        if verb == "create" and args[:1] == ["secret"]:
            # --dry-run=client: rendered locally, no apiserver asked (its argv still recorded)
            kubeconfig = Path(opts["kubeconfig"] or "")
            load_kubeconfig(kubeconfig)
            rendered = cmd_create_secret(args, opts)
            with cluster_state(Path(os.environ.get("FAKE_KUBECTL_STATE") or
                                    kubeconfig.parent / "state" / "fake-kubectl.json")) as data:
                data["calls"].append(" ".join(argv))
            return 0, rendered, ""
        if opts["kubeconfig"] is None:
            raise KubectlError("error: fake kubectl: pass --kubeconfig (the scripts never use "
                               "~/.kube/config)")
        kubeconfig = Path(opts["kubeconfig"])
        cfg = load_kubeconfig(kubeconfig)
        connect(cfg["server"])
        if "-" in opts["files"]:
            _STDIN[0] = sys.stdin.read()
        state = Path(os.environ.get("FAKE_KUBECTL_STATE") or
                     kubeconfig.parent / "state" / "fake-kubectl.json")
        if verb == "get":  # the CSI driver's controllers act (committed even if get fails)
            with cluster_state(state) as data:
                csivolumes.reconcile(data, lambda: _pods(data, nodes(data)), _droplets())
        with cluster_state(state) as data:
            data["calls"].append(" ".join(argv))
            if verb == "version":
                return 0, client + f"Server Version: {server_version(cfg['server'])}\n", ""
            if verb in ("cordon", "uncordon", "drain") or (verb == "delete" and args[:1] in (
                    ["node"], ["nodes"], ["no"])):
                return _node_verb(verb, args, opts, data)
            if verb in ("create", "apply", "replace", "delete"):
                out, err, failed = cmd_write(verb, opts["files"], opts, data)
                return (1 if failed else 0), out, err
            if verb == "get" and opts["raw"]:
                return 0, cmd_raw(opts["raw"]), ""
            if verb == "get" and opts["files"]:
                out, errors = cmd_get_files(opts["files"], opts, data)
                return (1 if errors else 0), out, errors
            if verb == "get":
                try:
                    return 0, cmd_get(args, opts, data), ""
                except KubectlError as exc:
                    if exc.code == 0:
                        return 0, "", str(exc) + "\n"
                    raise
            if verb == "rollout":
                return 0, cmd_rollout(args, opts, data), ""
            return 0, cmd_exec(args, opts, data), ""
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
    return nodeops.drain(data, names[0], opts["flags"], nodeops.parse_duration(opts["timeout"]),
                         node_list, lambda d: _pods(d, nodes(d)))


def curl(argv: list[str]) -> tuple[int, str, str]:
    """``curl -fsS --max-time N -o FILE URL``: a NodePort answers on a node's public address
    when kube-proxy runs and a Running pod backs the Service."""
    url = next((a for a in argv if a.startswith("http")), "")
    parsed = urlparse(url)
    host, port = parsed.hostname or "", parsed.port or 80
    if not any(ipaddress.ip_address(host) in n for n in DOC_NETS):
        return 7, "", f"curl: (7) Failed to connect to {host} port {port}: fake curl only " \
                      "answers for documentation addresses\n"
    state = Path(os.environ.get("FAKE_KUBECTL_STATE", ""))
    data = json.loads(state.read_text()) if state.is_file() else {"objects": {}}
    node_list = nodes(data)
    publics = {r["sim"]["public_ip"]: r["name"] for r in _droplets()}
    proxy = any(o["kind"] == "DaemonSet" and o["metadata"]["name"] == "kube-proxy"
                for o in data["objects"].values())
    if publics.get(host) not in {n["metadata"]["name"] for n in node_list} or not proxy:
        return 7, "", f"curl: (7) Failed to connect to {host} port {port}: Connection refused\n"
    for svc in data["objects"].values():
        if svc["kind"] == "Service" and any(p.get("nodePort") == port
                                            for p in svc["spec"].get("ports", [])):
            eps = [e for e in _endpoints(data, _pods(data, node_list))
                   if e["metadata"]["name"] == svc["metadata"]["name"] and e["subsets"]]
            if eps:
                body = eps[0]["subsets"][0]["addresses"][0]["targetRef"]["name"] + "\n"
                if "-o" in argv:
                    return 0, "", ""
                return 0, body, ""
    return 7, "", f"curl: (7) Failed to connect to {host} port {port}: Connection refused\n"
