"""Lock-down rules (issue 10): what must not be open in a cluster repo.

- lockdown.firewall: an inbound rule of the cloud firewalls (scripts/lib/firewall.sh, evaluated
  with settings.env by bash, as `make etcd` does) that lets anything but the cluster's own tags
  reach etcd (2379, 2380), the kubelet (10250, 10255), cAdvisor (4194) or the apiserver's
  insecure port (8080), or that lets anything but those tags and load balancers (by ID: the
  cloud-controller-manager's health check) reach kube-proxy's health port
  (KUBE_PROXY_HEALTH_PORT); evaluated with a load balancer ID in CCM_LB_IDS, so the rules
  admitting the CCM's load balancers are audited too;
- lockdown.nodeports: an inbound rule opening a NodePort (NODE_PORT_RANGE) to addresses beyond
  NODEPORT_CIDRS (the CCM's load balancers come in by ID, not by an address);
- lockdown.etcd-tls: an etcd URL in plain http off the loopback;
- lockdown.authorization: an apiserver without --authorization-mode, or with AlwaysAllow;
- lockdown.flannel: a node running flanneld without coreos.flannel.interface;
- lockdown.lb-allow: a load balancer in front of the apiservers (scripts/lib/loadbalancer.sh,
  its doctl flags as `make controller` builds them, with no droplet yet) without an allow list,
  or with a rule beyond ADMIN_CIDRS: the droplets' firewall admits the load balancer itself, so
  its own firewall is what keeps the apiservers from the internet.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
from collections.abc import Iterator

import yaml

from generator.audit.cluster import Cluster, nget
from generator.audit.report import ERROR, Finding
from generator.audit.yamlnodes import items, line

CLOSED_PORTS = (2379, 2380, 10250, 10255, 4194, 8080)
FIREWALL_SH = "scripts/lib/firewall.sh"
ETCD_URL_KEYS = ("advertise_client_urls", "listen_client_urls", "listen_peer_urls",
                 "initial_advertise_peer_urls", "initial_cluster")
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
# firewall_spec KIND prints name, tags, inbound rules, outbound rules: one line each
_SPECS = ('set -euo pipefail; set -a; . ./settings.env; set +a; CCM_LB_IDS=audit-lb-id; '
          'die() { echo "$*" >&2; exit 1; }; . ./scripts/lib/firewall.sh; '
          'for kind in "${FIREWALL_KINDS[@]}"; do firewall_spec "$kind"; done')

LOADBALANCER_SH = "scripts/lib/loadbalancer.sh"
# the load balancer's create/update flags, one a line, for a cluster with no droplet yet
_LB_FLAGS = ('set -euo pipefail; set -a; . ./settings.env; set +a; CLUSTER_LIST="[]"; '
             '. ./scripts/lib/loadbalancer.sh; _lb_flags; printf "%s\\n" "${LB_FLAGS[@]}"')


def check(cluster: Cluster) -> Iterator[Finding]:
    yield from _firewall(cluster)
    yield from _lb_allow(cluster)
    for config in cluster.cloud_configs:
        coreos = nget(config.root, "coreos")
        yield from _etcd_urls(config.rel, nget(coreos, "etcd2"))
        if config.unit("flanneld.service") and nget(nget(coreos, "flannel"), "interface") is None:
            yield Finding(config.rel, line(coreos) if coreos else 1, ERROR, "lockdown.flannel",
                          "flanneld runs without coreos.flannel.interface: it takes the public "
                          "interface and its overlay crosses the internet; set "
                          "`flannel: {interface: $private_ipv4}`")
    yield from _authorization(cluster)


def _ports(spec: str) -> range:
    if spec in ("all", "0", ""):
        return range(1, 65536)
    low, _, high = spec.partition("-")
    return range(int(low), int(high or low) + 1)


def _firewall(cluster: Cluster) -> Iterator[Finding]:
    if not (cluster.root / FIREWALL_SH).is_file():
        yield Finding(FIREWALL_SH, 1, ERROR, "lockdown.firewall", "missing: nothing creates the "
                      "cloud firewalls; restore it from the template")
        return
    result = subprocess.run(["bash", "-c", _SPECS], cwd=cluster.root, capture_output=True,
                            text=True, timeout=60, check=False)
    lines = result.stdout.split("\n")
    if result.returncode != 0 or len(lines) < 4:
        yield Finding(FIREWALL_SH, 1, ERROR, "lockdown.firewall",
                      f"firewall_spec failed: {result.stderr.strip()[:300]}")
        return
    health = int(cluster.setting("KUBE_PROXY_HEALTH_PORT") or 0)
    for i in range(0, len(lines) - 3, 4):
        name, inbound = lines[i], lines[i + 2]
        for rule in filter(None, inbound.split(" ")):
            pairs = [p.split(":", 1) for p in rule.split(",")]
            fields = {k: v for k, v in (p for p in pairs if len(p) == 2)}
            outside = [f"{k}:{v}" for k, v in (p for p in pairs if len(p) == 2)
                       if k in ("address", "droplet_id", "load_balancer_uid", "kubernetes_id")]
            if fields.get("protocol") not in ("tcp", "udp") or not outside:
                continue
            try:
                ports = _ports(fields.get("ports", ""))
            except ValueError:
                continue  # not a port range: the API refuses it at apply
            opened = [p for p in CLOSED_PORTS if p in ports]
            if health in ports and any(not o.startswith("load_balancer_uid:") for o in outside):
                opened = sorted([*opened, health])
            if opened:
                yield Finding(FIREWALL_SH, 1, ERROR, "lockdown.firewall",
                              f"firewall {name}: rule {rule} opens {opened} to {outside}; only "
                              "the cluster's tags may reach them")
            yield from _nodeports(cluster, name, rule, ports, outside)


def _nodeports(cluster: Cluster, name: str, rule: str, ports: range,
               outside: list[str]) -> Iterator[Finding]:
    """A rule opening NodePorts to addresses NODEPORT_CIDRS does not cover."""
    if not cluster.setting("NODE_PORT_RANGE"):
        return
    try:
        node_ports = _ports(cluster.setting("NODE_PORT_RANGE") or "")
        allowed = [ipaddress.ip_network(c, strict=False)
                   for c in (cluster.setting("NODEPORT_CIDRS") or "").split(",") if c]
    except ValueError:
        return  # the settings' own rules report a malformed value
    if not set(ports) & set(node_ports):
        return
    beyond = []
    for source in (o.partition(":")[2] for o in outside if o.startswith("address:")):
        try:
            net = ipaddress.ip_network(source, strict=False)
        except ValueError:
            continue  # the API refuses it at apply
        if not any(net.version == a.version and net.subnet_of(a)  # type: ignore[arg-type]
                   for a in allowed):
            beyond.append(source)
    if beyond:
        yield Finding(FIREWALL_SH, 1, ERROR, "lockdown.nodeports",
                      f"firewall {name}: rule {rule} opens NodePorts to {beyond}, beyond "
                      f"NODEPORT_CIDRS ({cluster.setting('NODEPORT_CIDRS')}); the load balancers "
                      "of LoadBalancer Services come in by ID (load_balancer_uid)")


def _lb_allow(cluster: Cluster) -> Iterator[Finding]:
    if not (cluster.root / LOADBALANCER_SH).is_file():
        return  # the apply cannot create a load balancer without it (the lint names it missing)
    result = subprocess.run(["bash", "-c", _LB_FLAGS], cwd=cluster.root, capture_output=True,
                            text=True, timeout=60, check=False)
    flags = result.stdout.split("\n")
    if result.returncode != 0:
        yield Finding(LOADBALANCER_SH, 1, ERROR, "lockdown.lb-allow",
                      f"_lb_flags failed: {result.stderr.strip()[:300]}")
        return
    if "--allow-list" not in flags or not flags[flags.index("--allow-list") + 1]:
        yield Finding(LOADBALANCER_SH, 1, ERROR, "lockdown.lb-allow",
                      "the load balancer in front of the apiservers gets no --allow-list: "
                      "anyone on the internet reaches their port through it; allow ADMIN_CIDRS "
                      "and the cluster's droplets (lb_allow_list)")
        return
    admin = cluster.settings.get("ADMIN_CIDRS")
    if admin is None:
        return  # facts.settings reports it
    admins = [ipaddress.ip_network(c, strict=False) for c in admin.value.split(",") if c]
    for rule in flags[flags.index("--allow-list") + 1].split(","):
        kind, _, source = rule.partition(":")
        try:
            net = ipaddress.ip_network(source, strict=False)
        except ValueError:
            net = None
        if kind not in ("ip", "cidr") or net is None or not any(
                net.version == a.version and net.subnet_of(a) for a in admins):
            yield Finding(LOADBALANCER_SH, 1, ERROR, "lockdown.lb-allow",
                          f"the load balancer's allow rule {rule!r} admits beyond ADMIN_CIDRS "
                          f"({admin.value}) before any droplet exists")


def _etcd_urls(rel: str, etcd2: yaml.Node | None) -> Iterator[Finding]:
    for key, value in items(etcd2) if etcd2 is not None else ():
        if str(key.value).replace("-", "_") not in ETCD_URL_KEYS:
            continue
        for url in re.findall(r"http://([^:/,\s\"]+)", str(value.value)):
            if url not in _LOOPBACK:
                yield Finding(rel, line(value), ERROR, "lockdown.etcd-tls",
                              f"{key.value}: plain http on {url}: etcd must serve https with "
                              "client certificates off the loopback")


def _authorization(cluster: Cluster) -> Iterator[Finding]:
    for m in cluster.manifests:
        data = m.data
        if not isinstance(data, dict) or data.get("kind") != "Pod":
            continue
        for c in (data.get("spec") or {}).get("containers") or []:
            command = [str(a) for a in c.get("command") or []]
            if not command or command[0] != "kube-apiserver":
                continue
            modes = [a.split("=", 1)[1] for a in command
                     if re.match(r"--authorization[-_]mode=", a)]
            if not modes or "AlwaysAllow" in modes[-1].split(","):
                yield Finding(m.rel, m.first_line, ERROR, "lockdown.authorization",
                              "kube-apiserver without an authorization mode (AlwaysAllow): "
                              "every certificate and token is cluster-admin; set "
                              "--authorization-mode=ABAC with --authorization-policy-file")
