"""What listens where, read from the artifacts themselves: each node's etcd2 section and each
kube-apiserver's flags. The endpoint rules compare every client URL with these."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import yaml

from generator import facts
from generator.audit.cluster import CloudConfig, Cluster, Manifest, nget, normal
from generator.audit.commands import arg_line, args, containers, program
from generator.audit.yamlnodes import items, line

LOOPBACK, PRIVATE, EVERY, PUBLIC, NAME = (
    "loopback", "private", "every interface", "public", "a host name")
# Addresses coreos-cloudinit substitutes in the etcd2 section and in units.
SUBSTITUTED = {"$private_ipv4": PRIVATE, "$public_ipv4": PUBLIC}
# RFC 1918 and RFC 4193: DigitalOcean's private network is in 10.0.0.0/8.
PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
# etcd2 proxy modes that make the node a proxy, not a member (YAML 1.1 reads "on" as true).
PROXY_MODES = {"on", "readonly", "true"}


def scope(host: str) -> str:
    """Who can reach an address: loopback, private, public, every interface, or a name."""
    if host in SUBSTITUTED:
        return SUBSTITUTED[host]
    if host == "localhost":
        return LOOPBACK
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return NAME
    if ip.is_unspecified:
        return EVERY
    if ip.is_loopback:
        return LOOPBACK
    return PRIVATE if any(ip in n for n in PRIVATE_NETWORKS) else PUBLIC


@dataclass(frozen=True)
class Url:
    text: str
    scheme: str
    host: str
    port: int | None  # None: not a valid port
    line: int

    @classmethod
    def parse(cls, text: str, line_no: int) -> Url | None:
        """None for what is no URL (a placeholder such as ETCD_PEER)."""
        parts = urlsplit(text.strip())
        if not parts.scheme or not parts.hostname:
            return None
        try:
            port = parts.port or facts.URL_PORTS.get(parts.scheme)
        except ValueError:
            port = None
        return cls(text.strip(), parts.scheme, parts.hostname, port, line_no)

    @property
    def scope(self) -> str:
        return scope(self.host)

    def served_by(self, listener: Url) -> bool:
        """A listener on this port whose address answers this URL's host."""
        if self.port != listener.port or self.port is None:
            return False
        if listener.scope == EVERY:
            return True
        return self.host == listener.host or self.scope == listener.scope == LOOPBACK


def url_list(text: str, line_no: int) -> list[Url]:
    return [u for part in text.split(",") if (u := Url.parse(part, line_no))]


@dataclass
class Etcd:
    """The etcd2 section of one cloud-config: a member or a proxy."""

    config: CloudConfig
    values: dict[str, tuple[str, int]]  # normalised key -> (value, file line)

    @classmethod
    def of(cls, config: CloudConfig) -> Etcd | None:
        section = nget(nget(config.root, "coreos"), "etcd2") if config.root else None
        if not isinstance(section, yaml.MappingNode):
            return None
        values = {normal(str(k.value)): (str(v.value), line(v))
                  for k, v in items(section) if isinstance(v, yaml.ScalarNode)}
        return cls(config, values)

    @property
    def proxy(self) -> bool:
        return self.values.get("proxy", ("off", 0))[0].lower() in PROXY_MODES

    def line(self, key: str) -> int:
        return self.values.get(key, ("", 1))[1]

    def urls(self, key: str) -> list[Url]:
        value, line_no = self.values.get(key, ("", 1))
        return url_list(value, line_no)

    def cluster(self) -> list[tuple[str, str, int]]:
        """initial-cluster as (member name, its URL text, file line)."""
        value, line_no = self.values.get("initial_cluster", ("", 1))
        entries = (entry.partition("=") for entry in value.split(",") if entry.strip())
        return [(name.strip(), url.strip(), line_no) for name, _, url in entries]


@dataclass
class Apiserver:
    """One kube-apiserver container and the listeners its flags (or defaults) give it."""

    m: Manifest
    path: list[str | int]
    container: dict[str, Any]

    @cached_property
    def flags(self) -> dict[str, tuple[str, str]]:
        """Normalised flag -> (value, the word as written)."""
        found: dict[str, tuple[str, str]] = {}
        words = args(self.container)
        for k, word in enumerate(words):
            if not word.startswith("-"):
                continue
            name, eq, value = word.partition("=")
            name = "--" + name.lstrip("-").replace("_", "-")
            if not eq and k + 1 < len(words) and not words[k + 1].startswith("-"):
                value = words[k + 1]
            found[facts.APISERVER_ALIASES.get(name, name)] = (value, word)
        return found

    def value(self, flag: str) -> str:
        given = self.flags.get(flag)
        return given[0] if given else facts.APISERVER_DEFAULTS.get(flag, "")

    def line(self, flag: str) -> int:
        given = self.flags.get(flag)
        return arg_line(self.m, self.path, self.container, given[1] if given else program(
            args(self.container)))

    def listener(self, scheme: str, address_flag: str, port_flag: str) -> Url | None:
        """None when the port is 0 (off) or unreadable."""
        port = self.value(port_flag)
        if not port.isdigit() or int(port) == 0:
            return None
        host = self.value(address_flag)
        return Url(f"{scheme}://{host}:{port}", scheme, host, int(port), self.line(port_flag))

    @property
    def insecure(self) -> Url | None:
        return self.listener("http", "--insecure-bind-address", "--insecure-port")

    @property
    def secure(self) -> Url | None:
        return self.listener("https", "--bind-address", "--secure-port")


def apiservers(cluster: Cluster) -> list[Apiserver]:
    """Every kube-apiserver container, standalone copies and the ones a cloud-config embeds."""
    return [Apiserver(m, path, c) for m in cluster.api_objects() for path, c in containers(m)
            if program(args(c)) == "kube-apiserver"
            or (program(args(c)) == "hyperkube" and args(c)[1:2] == ["apiserver"])]


def host_network(m: Manifest) -> bool:
    """Containers of this pod share the node's addresses (its 127.0.0.1 is the node's)."""
    return isinstance(m.data, dict) and m.kind == "Pod" and bool(
        (m.data.get("spec") or {}).get("hostNetwork"))
