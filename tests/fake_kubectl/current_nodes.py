"""The nodes of the current profile's cluster, read from the simulated account's droplets: a
node is a droplet with ``/etc/kubernetes/pki/kubelet.pem`` whose CN is
``system:node:<droplet name>`` (the Node authorizer's rule) and the kubelet's EnvironmentFile,
tainted as its user data says (``--register-with-taints`` or a ``--config-dir`` drop-in), with
a pod CIDR from its controller-manager's ``--cluster-cidr``/``--node-cidr-mask-size``, once the
addresses its EnvironmentFile gives fill-endpoints reach an apiserver (reaches_apiserver); nodes
are Ready once the flannel DaemonSet exists (the CNI), Unknown while their droplet reboots (its
kubelet posts no status: the node lifecycle controller's NodeStatusUnknown)."""

from __future__ import annotations

import hashlib
import ipaddress
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import nodeops
from apiserver import dosim, droplets, installed
from current_kinds import NODE_PKI

from tests.standins import boots, kubeletbin, yamlfast


def user_data(rec: dict[str, Any]) -> str:
    path = Path(rec["sim"]["root"]) / "var/lib/dosim/user-data"
    return path.read_text() if path.is_file() else ""


def taints(text: str) -> list[dict[str, str]]:
    """What the kubelet registers its node with (``text``: its droplet's user data):
    --register-with-taints, and registerWithTaints of the KubeletConfiguration drop-ins in the
    directory its --config-dir names."""
    found = [{"key": k, "effect": e} for k, e in re.findall(
        r"--register-with-taints=([^=\s]+)=:?(\w+)", text)]
    config_dirs = re.findall(r"--config-dir=(\S+)", text)
    for item in yamlfast.write_files(text):
        if any(str(item.get("path", "")).startswith(f"{d.rstrip('/')}/") for d in config_dirs):
            config = yamlfast.load(item.get("content") or "") or {}
            if config.get("kind") == "KubeletConfiguration":
                found += [{"key": t["key"], "effect": t["effect"]}
                          for t in config.get("registerWithTaints") or []]
    return found


def _cn(data: dict[str, Any], cert: Path) -> str:
    """The subject CN openssl reads in a PEM certificate, kept in the cluster's state by the
    certificate's digest: a node listing reads every node's (one openssl a node a call made
    kubectl get nodes take seconds at 100 workers)."""
    pem = cert.read_bytes()
    known = data.setdefault("certificate_cns", {})
    digest = hashlib.sha256(pem).hexdigest()
    if digest not in known:
        out = subprocess.run(["openssl", "x509", "-noout", "-subject", "-nameopt", "multiline"],
                             input=pem, capture_output=True, check=False).stdout.decode()
        match = re.search(r"commonName\s*=\s*(\S+)", out)
        known[digest] = match.group(1) if match else ""
    return str(known[digest])


def _cidrs() -> list[str]:
    """Node pod CIDRs as the controller-manager hands them out (its user data's flags)."""
    for rec in droplets():
        text = user_data(rec)
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
    everyone = droplets()
    lbs = {lb["sim"]["ip"] for lb in (dosim() or {}).get("load_balancers", {}).values()}
    for rec in everyone:
        cert = installed(Path(rec["sim"]["root"]), f"{NODE_PKI}/kubelet.pem")
        key = installed(Path(rec["sim"]["root"]), f"{NODE_PKI}/kubelet-key.pem")
        if cert is None or key is None or _cn(data, cert) != f"system:node:{rec['name']}":
            continue
        cloud = cloud_env(Path(rec["sim"]["root"]))
        if cloud is None:
            continue  # kubelet.service's EnvironmentFile is missing: the kubelet does not start
        if not reaches_apiserver(rec, cloud, everyone, lbs):
            continue  # fill-endpoints wrote an address where no apiserver is: never registers
        kubelet = kubeletbin.installed_version(Path(rec["sim"]["root"]))
        if kubelet is None:
            continue  # kubelet-install.service installed no binary: no kubelet runs
        name = rec["name"]
        if name not in allocated and cidrs:
            used = set(allocated.values())
            allocated[name] = next(c for c in cidrs if c not in used)
        registered = taints(user_data(rec))
        spec: dict[str, Any] = {"podCIDR": allocated.get(name, ""), "taints": registered}
        if cloud.get("KUBELET_CLOUD_PROVIDER") == "external":
            spec["providerID"] = cloud.get("KUBELET_PROVIDER_ID", "")
            if not ccm_initializes(data, name):
                registered.append({"key": UNINITIALIZED, "value": "true", "effect": "NoSchedule"})
        condition = {"type": "Ready", "status": "True" if flannel else "False",
                     "reason": "KubeletReady" if flannel else
                     "KubeletNotReady (container runtime network not ready: "
                     "cni plugin not initialized)"}
        if boots.down(Path(rec["sim"]["root"])):
            condition = {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown"}
        found.append({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": spec,
            "status": {"conditions": [condition],
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
CLOUD_ENV = "/etc/kubernetes/kubelet.env"


def cloud_env(root: Path) -> dict[str, str] | None:
    """KEY=value lines of the kubelet's EnvironmentFile (None when it is not installed)."""
    path = installed(root, CLOUD_ENV)
    if path is None:
        return None
    return dict(line.split("=", 1) for line in path.read_text().splitlines()
                if "=" in line and not line.startswith("#"))


def _role(rec: dict[str, Any]) -> str:
    return rec["name"].rsplit("-", 2)[-2]


def reaches_apiserver(rec: dict[str, Any], env: dict[str, str], everyone: list[dict[str, Any]],
                      lbs: set[str]) -> bool:
    """Whether the kubelet reaches an apiserver: the user data's kubeconfigs name the placeholder
    APISERVER_ENDPOINT, which the node's fill-endpoints replaces with its kubelet.env's value.
    On a controller that is 127.0.0.1 (its own apiserver), whose --etcd-servers (a placeholder
    too) must get every etcd member's client URL (ETCD_ENDPOINTS: the members' private IPs and
    nothing else); on a worker, a controller's private IP or a load balancer's IP (LBS).
    EVERYONE: the account's droplets."""
    address = env.get("APISERVER_ENDPOINT", "")
    if _role(rec) == "controller":
        members = {d["sim"]["private_ip"] for d in everyone if _role(d) == "etcd"}
        named = {urlparse(u).hostname for u in env.get("ETCD_ENDPOINTS", "").split(",") if u}
        return address == "127.0.0.1" and bool(members) and named == members
    return address in lbs | {d["sim"]["private_ip"] for d in everyone
                             if _role(d) == "controller"}


def ccm_initializes(data: dict[str, Any], name: str) -> bool:
    """Whether the CCM has initialized node NAME: once its Deployment and the Secret with its
    token exist (it runs where the uninitialized taint is tolerated, so it needs no such node)."""
    done = data.setdefault("cloud_initialized", [])
    if name not in done and CCM in data["objects"] and \
            "Secret/kube-system/digitalocean" in data["objects"]:
        done.append(name)
    return name in done


def ready(node: dict[str, Any]) -> bool:
    return node["status"]["conditions"][0]["status"] == "True"


def tolerates(spec: dict[str, Any], node: dict[str, Any]) -> bool:
    tolerations = spec.get("tolerations") or []
    for taint in node["spec"]["taints"]:
        if not any(t.get("operator") == "Exists" and not t.get("key") or
                   t.get("key") == taint["key"] for t in tolerations):
            return False
    return True

