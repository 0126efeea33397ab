"""In-cluster DNS as a pod's ``nslookup`` sees it, for both kubectl versions.

What the pod asks comes from the baked cluster's settings (settings.env beside the kubeconfig,
the one file the apply scripts source): the kubelet's ``--cluster-dns`` is DNS_SERVICE_IP (the
pod's resolv.conf nameserver), its ``--cluster-domain`` is CLUSTER_DOMAIN (the search path
``<ns>.svc.<domain> svc.<domain> <domain>``), and ``kubernetes.default`` is the apiserver's
Service, APISERVER_SERVICE_IP. An answer needs a path through the pod network: the asking pod
and a DNS pod both on it (``on_pod_network``), and the DNS Service at DNS_SERVICE_IP.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import KubectlError

EXIT = "command terminated with exit code 1"


@dataclass(frozen=True)
class ClusterDNS:
    domain: str
    server: str  # DNS_SERVICE_IP
    apiserver: str  # APISERVER_SERVICE_IP

    @classmethod
    def beside(cls, kubeconfig: Path) -> ClusterDNS:
        path = kubeconfig.parent / "settings.env"
        if not path.is_file():
            raise KubectlError(f"error: fake kubectl: no {path}: the pods' DNS settings "
                               "(CLUSTER_DOMAIN, DNS_SERVICE_IP) come from the cluster repo's "
                               "settings.env beside its kubeconfig")
        values = dict(line.split("=", 1) for line in path.read_text().splitlines()
                      if "=" in line and not line.lstrip().startswith("#"))
        missing = [k for k in ("CLUSTER_DOMAIN", "DNS_SERVICE_IP", "APISERVER_SERVICE_IP")
                   if not values.get(k)]
        if missing:
            raise KubectlError(f"error: fake kubectl: {path} lacks {', '.join(missing)}")
        return cls(values["CLUSTER_DOMAIN"], values["DNS_SERVICE_IP"],
                   values["APISERVER_SERVICE_IP"])

    def records(self) -> dict[str, tuple[str, str]]:
        """name -> (address, the name its reverse lookup gives)."""
        api, dns = (f"kubernetes.default.svc.{self.domain}",
                    f"kube-dns.kube-system.svc.{self.domain}")
        return {api: (self.apiserver, api), dns: (self.server, dns)}

    def resolve(self, target: str, namespace: str) -> tuple[str, str] | None:
        """The record ``target`` reaches through the pod's search path (ndots:5)."""
        search = [f"{namespace}.svc.{self.domain}", f"svc.{self.domain}", self.domain]
        absolute = target.endswith(".") or target.count(".") >= 5
        names = [target.rstrip(".")] if absolute else [f"{target}.{s}" for s in search] + [target]
        return next((self.records()[n] for n in names if n in self.records()), None)


@dataclass(frozen=True)
class Busybox:
    """How the pod's nslookup prints: busybox 1.28 adds the reverse names."""

    names: bool
    no_server: str  # when no DNS server answers; "{target}"


# the tutorial's busybox (kube-dns of Kubernetes 1.1 answers no reverse names)
BUSYBOX_TUTORIAL = Busybox(False, "Server:    (null)\nnslookup: can't resolve '{target}'")
# busybox:1.28 (the current profile's smoke pod): its timeout text
BUSYBOX_1_28 = Busybox(True, ";; connection timed out; no servers could be reached\n")


def on_pod_network(pod_spec: dict[str, Any], node: dict[str, Any] | None,
                   need_cidr: bool) -> bool:
    """A pod reaches (or serves) cluster DNS only from the pod network: scheduled on a Ready
    node (its network plugin up; with a pod CIDR where the plugin needs one) and not in the
    host's network namespace (hostNetwork pods get the node's resolv.conf)."""
    if node is None or pod_spec.get("hostNetwork"):
        return False
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in node.get("status", {}).get("conditions", []))
    return ready and (not need_cidr or bool((node.get("spec") or {}).get("podCIDR")))


def nslookup(target: str, namespace: str, cluster: ClusterDNS, service_ip: str | None,
             served: bool, busybox: Busybox) -> str:
    """The pod's ``nslookup TARGET``: answered when the DNS Service sits at the address the
    kubelet gave the pod and ``served`` (a DNS pod reachable over the pod network)."""
    if not served or service_ip != cluster.server:
        raise KubectlError(busybox.no_server.format(target=target) + f"\n{EXIT}")
    server = cluster.server
    server_name = f" {cluster.records()[f'kube-dns.kube-system.svc.{cluster.domain}'][1]}" \
        if busybox.names else ""
    head = f"Server:    {server}\nAddress 1: {server}{server_name}\n\n"
    found = cluster.resolve(target, namespace)
    if found is None:
        raise KubectlError(f"{head}nslookup: can't resolve '{target}'\n{EXIT}")
    address, name = found
    return f"{head}Name:      {target}\nAddress 1: {address}{' ' + name if busybox.names else ''}\n"
