"""Rule 10: what listens, and who connects to it.

etcd and the apiserver's insecure port answer anyone who reaches them, so they listen on
loopback (and the etcd member on the private network) only; every client URL
(--etcd-servers, --master, --api-servers, kubeconfig server, advertised etcd URLs) must name
a listener that exists, read from the same artifacts (etcd2 sections, apiserver flags), never
from a port written into this rule.
"""

from __future__ import annotations

from collections.abc import Iterator

from generator.audit.cluster import CloudConfig, Cluster, Manifest
from generator.audit.commands import arg_line, args, containers, execs, flags
from generator.audit.kubeconfigs import Kubeconfig, kubeconfigs
from generator.audit.listeners import (
    EVERY,
    LOOPBACK,
    NAME,
    PRIVATE,
    PUBLIC,
    SUBSTITUTED,
    Apiserver,
    Etcd,
    Url,
    apiservers,
    host_network,
    url_list,
)
from generator.audit.report import ERROR, Finding

# Binaries of the nodes' units and the flag that names their apiserver.
UNIT_CLIENTS = {"kubelet": "--api-servers", "kube-proxy": "--master"}
POD_CLIENT_FLAG = "--master"
ETCD_CLIENT_FLAG = "--etcd-servers"
REACH = {EVERY: "every network the node is on", PUBLIC: "the internet",
         PRIVATE: "every droplet on the private network",
         NAME: "whatever that name resolves to"}


def _listed(listeners: list[Url]) -> str:
    return ", ".join(u.text for u in listeners) or "nothing"


class Endpoints:
    def __init__(self, cluster: Cluster) -> None:
        self.c = cluster
        self.etcd = {e.config.rel: e for cfg in cluster.cloud_configs if (e := Etcd.of(cfg))}
        self.apiservers = apiservers(cluster)
        # The nodes that run an apiserver: a cloud-config that embeds its pod.
        self.api_nodes = {a.m.cloud_config.rel for a in self.apiservers if a.m.cloud_config}
        embedded = [a for a in self.apiservers if a.m.cloud_config] or self.apiservers
        self.secure = [u for a in embedded if (u := a.secure)]
        self.insecure = [u for a in embedded if (u := a.insecure)]

    # -- exposure ------------------------------------------------------------------------
    def etcd_exposure(self, etcd: Etcd) -> Iterator[Finding]:
        allowed = {LOOPBACK} if etcd.proxy else {LOOPBACK, PRIVATE}
        keys = ["listen_client_urls"] + ([] if etcd.proxy else ["listen_peer_urls"])
        who = "an etcd proxy serves its own node: localhost only" if etcd.proxy else \
            "an etcd member listens on $private_ipv4 and 127.0.0.1 only"
        for key in keys:
            for url in etcd.urls(key):
                if url.scope not in allowed:
                    yield Finding(etcd.config.rel, url.line, ERROR, "exposure.etcd",
                                  f"{key.replace('_', '-')} {url.text} opens etcd to "
                                  f"{REACH[url.scope]}, and etcd asks no one for credentials "
                                  f"({who})")

    def insecure_port(self, api: Apiserver) -> Iterator[Finding]:
        url = api.insecure
        if url and url.scope != LOOPBACK:
            yield Finding(api.m.rel, api.line("--insecure-bind-address"), ERROR,
                          "exposure.insecure-port",
                          f"the apiserver's unauthenticated port {url.port} listens on "
                          f"{url.host} ({url.scope}); keep --insecure-bind-address on 127.0.0.1")

    # -- etcd clients and advertised URLs ------------------------------------------------
    def member_listeners(self) -> list[Url]:
        """The etcd members' client listeners (their etcd's --listen-client-urls), a
        $private_ipv4 one at each member's private IP the apply recorded (none recorded: as is).
        """
        count = int(self.c.setting("ETCD_COUNT") or "1")
        prefix = self.c.setting("ETCD_PREFIX")
        privates = [ips[1] for nn in range(1, count + 1)
                    if (ips := self.c.recorded_ips(f"{prefix}-{nn:02d}"))]
        found = []
        for config in (c for c in self.c.cloud_configs if c.role == "etcd" and not c.rendered):
            for d in execs(config, "etcd"):
                flag = "--listen-client-urls"
                for url in url_list(flags(d.value.split()).get(flag) or "", d.line_of(flag)):
                    hosts = privates if url.scope == PRIVATE and privates else [url.host]
                    found += [Url(url.text.replace(url.host, host), url.scheme, host, url.port,
                                  url.line) for host in hosts]
        return found

    def etcd_clients(self, m: Manifest) -> Iterator[Finding]:
        config = m.cloud_config
        if config is None or not host_network(m):
            return  # the standalone copy (embed.copy ties it) or a pod's own network
        etcd = self.etcd.get(config.rel)
        if self.c.profile.etcd_proxies:  # the node's own etcd (the tutorial's proxy)
            listeners = etcd.urls("listen_client_urls") if etcd else []
        else:  # the apiserver reaches the members over the private network
            listeners = self.member_listeners()
        for path, container in containers(m):
            value = flags(args(container)).get(ETCD_CLIENT_FLAG)
            if value is None:
                continue
            line_no = arg_line(m, path, container, ETCD_CLIENT_FLAG)
            for url in url_list(value, line_no):
                if not any(url.served_by(lst) and url.scheme == lst.scheme or
                           url.port == lst.port and url.scope == lst.scope == PRIVATE and
                           lst.host in SUBSTITUTED for lst in listeners):
                    who = ("node's etcd listens" if self.c.profile.etcd_proxies
                           else "etcd members listen")
                    yield Finding(m.rel, line_no, ERROR, "endpoints.etcd",
                                  f"{container.get('name')} {ETCD_CLIENT_FLAG} {url.text}: the "
                                  f"{who} on {_listed(listeners)}")

    def advertised(self, etcd: Etcd) -> Iterator[Finding]:
        rel = etcd.config.rel
        if etcd.proxy:
            members = [e for e in self.etcd.values() if not e.proxy]
            peers = [u for e in members for u in e.urls("listen_peer_urls")]
            for _, text, line_no in etcd.cluster():
                url = Url.parse(text, line_no)
                if url and members and not any(url.port == p.port for p in peers):
                    yield Finding(rel, line_no, ERROR, "endpoints.etcd-peer",
                                  f"initial-cluster names {url.text}; the member's peers "
                                  f"listen on {_listed(peers)}")
            return
        for key, listen in (("advertise_client_urls", "listen_client_urls"),
                            ("initial_advertise_peer_urls", "listen_peer_urls")):
            yield from self.advertised_urls(etcd, key, etcd.urls(key), listen)
        name = etcd.values.get("name", ("", 1))[0]
        own = [(text, n) for member, text, n in etcd.cluster() if member == name]
        count = self.c.settings.get("ETCD_COUNT")
        if not name and "initial_cluster" not in etcd.values and count and count.value != "1":
            # a static cluster: make etcd delivers each member's name and the initial
            # cluster (ETCD_CLUSTER_ENV) once the members' private IPs exist
            pass
        elif not own:
            yield Finding(rel, etcd.line("initial_cluster"), ERROR, "endpoints.etcd-peer",
                          f"initial-cluster has no entry for this member ({name or 'no name'})")
        for text, line_no in own:
            yield from self.advertised_urls(etcd, "initial_cluster", url_list(text, line_no),
                                            "listen_peer_urls")
        yield from self.settings_port(etcd, "ETCD_PEER_PORT", "listen_peer_urls")
        yield from self.settings_port(etcd, "ETCD_CLIENT_PORT", "listen_client_urls")

    def advertised_urls(self, etcd: Etcd, key: str, urls: list[Url],
                        listen: str) -> Iterator[Finding]:
        listeners = etcd.urls(listen)
        for url in urls:
            if url.scope == LOOPBACK:
                problem = "a loopback address the other nodes cannot reach"
            elif not any(url.served_by(lst) for lst in listeners):
                problem = f"the member's {listen.replace('_', '-')} are {_listed(listeners)}"
            else:
                continue
            yield Finding(etcd.config.rel, url.line, ERROR, "endpoints.etcd-peer",
                          f"{key.replace('_', '-')} advertises {url.text}: {problem}")

    def settings_port(self, etcd: Etcd, key: str, listen: str) -> Iterator[Finding]:
        """The apply builds ETCD_PEER from settings.env: its port must be one that listens."""
        found = self.c.settings.get(key)
        ports = {str(u.port) for u in etcd.urls(listen)}
        if found and ports and found.value not in ports:
            yield Finding("settings.env", found.line, ERROR, "endpoints.etcd-peer",
                          f"{key}={found.value}, but {etcd.config.rel} "
                          f"{listen.replace('_', '-')} listen on {', '.join(sorted(ports))}")

    # -- apiserver clients ---------------------------------------------------------------
    def api_client(self, rel: str, line_no: int, who: str, url: Url,
                   on_api_node: bool) -> Iterator[Finding]:
        if url.scheme == "http":
            if not on_api_node:
                problem = ("plain HTTP off the controller: the apiserver's HTTP port is its "
                           "unauthenticated one, on loopback only; use https://")
            elif any(url.served_by(lst) for lst in self.insecure):
                return
            else:
                problem = f"the apiserver's HTTP port listens on {_listed(self.insecure)}"
        elif url.scheme == "https":
            # On the apiserver's node the address must be one it binds; elsewhere the host is
            # the controller's address (a placeholder until the apply fills it in).
            if on_api_node and any(url.served_by(lst) for lst in self.secure):
                return
            if not on_api_node and url.scope not in (LOOPBACK, EVERY) and any(
                    url.port == lst.port for lst in self.secure):
                return
            problem = ("nothing on this node serves it"
                       if not on_api_node and url.scope in (LOOPBACK, EVERY)
                       else f"the apiserver's secure port listens on {_listed(self.secure)}")
        else:
            problem = "the apiserver speaks http or https only"
        yield Finding(rel, line_no, ERROR, "endpoints.apiserver", f"{who} {url.text}: {problem}")

    def unit_clients(self, config: CloudConfig) -> Iterator[Finding]:
        on_api_node = config.rel in self.api_nodes
        for binary, flag in UNIT_CLIENTS.items():
            for d in execs(config, binary):
                value = flags(d.value.split()).get(flag)
                for url in url_list(value or "", d.line_of(flag)):
                    yield from self.api_client(config.rel, url.line, f"{binary} {flag}", url,
                                               on_api_node)

    def pod_clients(self, m: Manifest) -> Iterator[Finding]:
        if m.cloud_config is None or not host_network(m):
            return
        on_api_node = m.cloud_config.rel in self.api_nodes
        for path, container in containers(m):
            value = flags(args(container)).get(POD_CLIENT_FLAG)
            line_no = arg_line(m, path, container, POD_CLIENT_FLAG)
            for url in url_list(value or "", line_no):
                yield from self.api_client(m.rel, line_no,
                                           f"{container.get('name')} {POD_CLIENT_FLAG}", url,
                                           on_api_node)

    def kubeconfig_servers(self, kc: Kubeconfig) -> Iterator[Finding]:
        on_api_node = kc.cloud_config is not None and kc.cloud_config.rel in self.api_nodes
        for name, line_no, server in kc.servers():
            if url := Url.parse(server, line_no):
                yield from self.api_client(kc.rel, line_no, f"kubeconfig cluster {name} server",
                                           url, on_api_node)

    def run(self) -> Iterator[Finding]:
        for etcd in self.etcd.values():
            yield from self.etcd_exposure(etcd)
            yield from self.advertised(etcd)
        for api in self.apiservers:
            yield from self.insecure_port(api)
        for m in self.c.api_objects():
            yield from self.etcd_clients(m)
            if self.apiservers:
                yield from self.pod_clients(m)
        if self.apiservers:
            for config in self.c.cloud_configs:
                yield from self.unit_clients(config)
            for kc in kubeconfigs(self.c):
                yield from self.kubeconfig_servers(kc)


def check(cluster: Cluster) -> Iterator[Finding]:
    yield from Endpoints(cluster).run()
