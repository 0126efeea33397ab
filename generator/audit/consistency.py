"""Rule 5: one fact, one value. Each fact in settings.env must read the same everywhere."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from generator import facts
from generator.audit import flannel
from generator.audit.cluster import CloudConfig, Cluster, Manifest
from generator.audit.commands import arg_line, args, containers, execs, flags
from generator.audit.lint import cluster_files
from generator.audit.opensslcnf import parse as parse_cnf
from generator.audit.report import ERROR, Finding
from generator.audit.systemd import Directive
from generator.audit.yamlnodes import at_path

REQUIRED = ("SERVICE_CIDR", "APISERVER_SERVICE_IP", "DNS_SERVICE_IP", "POD_NETWORK",
            "CLUSTER_DOMAIN", "KUBERNETES_VERSION", "CONTROLLER_NAME", "SSL_DIR")
# Images built from the release the nodes download (tag = the Kubernetes version).
RELEASE_IMAGES = {"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy",
                  "hyperkube"}
RELEASE_URL = re.compile(re.escape(facts.RELEASE_BUCKET) + r"/v([0-9][^/\s\"']*)/")
SCRIPT_TAG = re.compile(r"^tag=([0-9][^\s]*)$")
TLS_WAIT = re.compile(r"ls -1 (\S+)/\{([^}]*)\}\.pem .*-eq ([0-9]+)")
FLANNEL_CONFIG = re.compile(r"/coreos\.com/network/config '([^']*)'")


@dataclass(frozen=True)
class KubeletSetting:
    """A DNS setting of one kubelet: its value and where it is written."""

    rel: str
    line: int
    value: object
    where: str  # how the message names it


def _image_name(container: dict[str, Any]) -> tuple[str, str]:
    image = str(container.get("image", ""))
    name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
    return name.rsplit("/", 1)[-1], tag


class Facts:
    def __init__(self, cluster: Cluster) -> None:
        self.c = cluster
        self.s = {k: v.value for k, v in cluster.settings.items()}

    def at_setting(self, key: str, rule: str, message: str) -> Finding:
        found = self.c.settings.get(key)
        return Finding("settings.env", found.line if found else 1, ERROR, rule, message)

    def containers(self, image: str) -> Iterator[tuple[Manifest, list[str | int], dict]]:
        for m in self.c.api_objects():
            for path, container in containers(m):
                if image in str(container.get("image", "")):
                    yield m, path, container

    def unparsable(self) -> Iterator[Finding]:
        for key, parse in (("SERVICE_CIDR", ipaddress.ip_network), ("POD_NETWORK",
                           ipaddress.ip_network), ("APISERVER_SERVICE_IP", ipaddress.ip_address),
                           ("DNS_SERVICE_IP", ipaddress.ip_address)):
            try:
                parse(self.s[key])
            except ValueError as err:
                yield self.at_setting(key, "facts.ranges", f"{key}: {err}")

    def ranges(self) -> Iterator[Finding]:
        services = ipaddress.ip_network(self.s["SERVICE_CIDR"])
        pods = ipaddress.ip_network(self.s["POD_NETWORK"])
        if services.overlaps(pods):
            yield self.at_setting("SERVICE_CIDR", "facts.ranges",
                                  f"service range {services} overlaps the pod network {pods}")

    def service_range(self) -> Iterator[Finding]:
        cidr, first = self.s["SERVICE_CIDR"], self.s["APISERVER_SERVICE_IP"]
        service_net = ipaddress.ip_network(cidr)
        if facts.apiserver_service_ip(cidr) != first:
            yield self.at_setting("APISERVER_SERVICE_IP", "facts.service-range",
                                  f"{first} is not the first address of {cidr}")
        for m, path, container in self.containers("kube-apiserver"):
            flag = flags(args(container)).get("--service-cluster-ip-range")
            if flag != cidr:
                yield Finding(m.rel, arg_line(m, path, container, "--service-cluster-ip-range"),
                              ERROR, "facts.service-range",
                              f"apiserver --service-cluster-ip-range is {flag}, settings {cidr}")
        cnf_path = self.c.root / "openssl" / "apiserver.cnf"
        if cnf_path.is_file():
            cnf = parse_cnf(cnf_path, "openssl/apiserver.cnf")
            for section in cnf.sections.values():
                if "IP.1" in section and section["IP.1"][0] != first:
                    yield Finding(cnf.rel, section["IP.1"][1], ERROR, "facts.service-range",
                                  f"IP.1 is {section['IP.1'][0]}; the apiserver's service IP "
                                  f"is {first} (first address of {cidr})")
        for m in self.c.api_objects():
            ip = m.data.get("spec", {}).get("clusterIP") if m.kind == "Service" else None
            if ip and ip != "None" and ipaddress.ip_address(ip) not in service_net:
                yield Finding(m.rel, m.line_of(at_path(m.node, ["spec", "clusterIP"])), ERROR,
                              "facts.service-range", f"clusterIP {ip} is outside {cidr}")

    def dns_ip(self) -> Iterator[Finding]:
        dns = self.s["DNS_SERVICE_IP"]
        if ipaddress.ip_address(dns) not in ipaddress.ip_network(self.s["SERVICE_CIDR"]):
            yield self.at_setting("DNS_SERVICE_IP", "facts.dns-ip",
                                  f"{dns} is outside SERVICE_CIDR {self.s['SERVICE_CIDR']}")
        for found in self.kubelet_settings("--cluster-dns", "clusterDNS", "facts.dns-ip"):
            if isinstance(found, Finding):
                yield found
            elif found.value not in (dns, [dns]):
                yield Finding(found.rel, found.line, ERROR, "facts.dns-ip",
                              f"kubelet {found.where} is {found.value}, the DNS service IP {dns}")
        services = [m for m in self.c.api_objects()
                    if m.kind == "Service" and m.data["metadata"].get("name") == "kube-dns"]
        for m in services:
            ip = m.data.get("spec", {}).get("clusterIP")
            if ip != dns:
                yield Finding(m.rel, m.line_of(at_path(m.node, ["spec", "clusterIP"])), ERROR,
                              "facts.dns-ip", f"kube-dns clusterIP is {ip}, kubelets use {dns}")
        if not services:
            yield self.at_setting("DNS_SERVICE_IP", "facts.dns-ip",
                                  "no kube-dns Service manifest carries the DNS service IP")

    def kubelet_settings(self, flag: str, field: str,
                         rule: str) -> Iterator[KubeletSetting | Finding]:
        """Each kubelet's value of a setting: its flag, or (the profile's kubelets read a
        KubeletConfiguration) the field of the file its --config names, which the same
        cloud-config must write."""
        for config in self.c.cloud_configs:
            for d in execs(config, "kubelet"):
                given = flags(d.value.split())
                if not self.c.profile.kubelet_config_file:
                    yield KubeletSetting(config.rel, d.line_of(flag), given.get(flag), flag)
                    continue
                path = given.get("--config")
                written = [m for m in self.c.manifests if m.cloud_config is config
                           and m.host_path == path and m.kind == "KubeletConfiguration"]
                if not written:
                    yield Finding(config.rel, d.line_of("--config"), ERROR, rule,
                                  f"kubelet --config is {path}; {config.rel} writes no "
                                  f"KubeletConfiguration there to read its {field} from")
                for m in written:
                    data = m.data if isinstance(m.data, dict) else {}
                    yield KubeletSetting(m.rel, m.line_of(at_path(m.node, [field])),
                                         data.get(field), f"{path} {field}")

    def flannel_configs(self) -> list[tuple[CloudConfig, Directive, str]]:
        """(cloud-config, directive, JSON) of every `etcdctl set` of the flannel config."""
        return [
            (config, d, m[1])
            for config in self.c.cloud_configs for unit in config.units
            for part in unit.all_parts() for d in part.directives
            if (m := FLANNEL_CONFIG.search(d.value))
        ]

    def pod_network(self) -> Iterator[Finding]:
        if self.c.profile.pod_network_unit is None:  # flannel reads its ConfigMap
            missing = self.at_setting("POD_NETWORK", "facts.pod-network",
                                      "no ConfigMap carries flannel's net-conf.json")
            yield from flannel.configmap_network(self.c, self.s["POD_NETWORK"], missing)
            return
        published = self.flannel_configs()
        for config, d, raw in published:
            try:
                network = json.loads(raw).get("Network")
            except ValueError as err:
                yield Finding(config.rel, d.line, ERROR, "facts.pod-network",
                              f"the flannel config is not JSON: {err}")
                continue
            if network != self.s["POD_NETWORK"]:
                yield Finding(config.rel, d.line, ERROR, "facts.pod-network",
                              f"flannel Network is {network}, POD_NETWORK "
                              f"{self.s['POD_NETWORK']}")
        if not published:
            yield self.at_setting("POD_NETWORK", "facts.pod-network",
                                  "no cloud-config publishes the flannel network config")

    def ports(self) -> Iterator[Finding]:
        """The flows make diagram draws: the flannel backend (and its port) and the NodePort
        range must be those the cloud-configs and the apiserver use."""
        backend = self.s.get("FLANNEL_BACKEND")
        if backend is not None:
            if backend not in facts.FLANNEL_PORTS:
                yield self.at_setting("FLANNEL_BACKEND", "facts.ports",
                                      f"unknown flannel backend {backend}")
                return
            port = facts.flannel_port(backend)
            if self.s.get("FLANNEL_PORT") != port:
                yield self.at_setting("FLANNEL_PORT", "facts.ports",
                                      f"FLANNEL_PORT is {self.s.get('FLANNEL_PORT')}; flannel's "
                                      f"{backend} backend uses {port or 'no port'}")
            for config, d, raw in self.flannel_configs():
                try:
                    used = (json.loads(raw).get("Backend") or {}).get("Type")
                except ValueError:
                    continue  # reported by pod_network
                if used != backend:
                    yield Finding(config.rel, d.line, ERROR, "facts.ports",
                                  f"flannel Backend Type is {used}, FLANNEL_BACKEND {backend}")
        node_ports = self.s.get("NODE_PORT_RANGE")
        if node_ports is not None:
            for m, path, container in self.containers("kube-apiserver"):
                flag = flags(args(container)).get("--service-node-port-range")
                if flag != node_ports:
                    yield Finding(m.rel, arg_line(m, path, container, "--service-node-port-range"),
                                  ERROR, "facts.ports", f"apiserver --service-node-port-range is "
                                  f"{flag}, NODE_PORT_RANGE {node_ports}")

    def domain(self) -> Iterator[Finding]:
        domain = self.s["CLUSTER_DOMAIN"]
        for found in self.kubelet_settings("--cluster-domain", "clusterDomain", "facts.domain"):
            if isinstance(found, Finding):
                yield found
            elif found.value != domain:
                yield Finding(found.rel, found.line, ERROR, "facts.domain",
                              f"kubelet {found.where} is {found.value}, CLUSTER_DOMAIN {domain}")
        # kube2sky takes the domain as is, skydns wants the trailing dot.
        for image, expected in (("kube2sky", {domain, domain + "."}), ("skydns", {domain + "."})):
            for m, path, container in self.containers(image):
                value = flags(args(container)).get("-domain")
                if value not in expected:
                    yield Finding(m.rel, arg_line(m, path, container, "-domain"), ERROR,
                                  "facts.domain", f"{image} -domain is {value}, expected "
                                  f"{' or '.join(sorted(expected))}")
        for m, path, container in self.containers("exechealthz"):
            cmd = flags(args(container)).get("-cmd", "")
            names = [w for w in cmd.split() if ".svc." in w]
            if not names or any(not w.rstrip(".").endswith(f".svc.{domain}") for w in names):
                yield Finding(m.rel, arg_line(m, path, container, "-cmd"), ERROR, "facts.domain",
                              f"healthz looks up {names or 'no service name'}, "
                              f"not a name in .svc.{domain}")

    def podmaster(self) -> Iterator[Finding]:
        for m, path, container in self.containers("podmaster"):
            config = m.cloud_config
            if config is None:  # the standalone copy; embed.copy ties it to the embedded one
                continue
            volumes = {v.get("name"): (v.get("hostPath") or {}).get("path")
                       for v in m.data["spec"].get("volumes") or []}
            mounts = [(mt.get("mountPath", ""), volumes.get(mt.get("name")))
                      for mt in container.get("volumeMounts") or []]
            given = flags(args(container))
            kubelet_dirs = {
                flags(d.value.split()).get("--config") for d in execs(config, "kubelet")
            }
            written = {wf.path for wf in config.files}
            for flag in ("--source-file", "--dest-file"):
                inside = given.get(flag, "")
                host = next((str(PurePosixPath(h) / PurePosixPath(inside).relative_to(mp))
                             for mp, h in mounts
                             if h and mp and PurePosixPath(inside).is_relative_to(mp)), None)
                line = arg_line(m, path, container, flag)
                if host is None:
                    yield Finding(m.rel, line, ERROR, "facts.podmaster",
                                  f"{flag}={inside} is on no hostPath volume mount")
                elif flag == "--source-file" and host not in written:
                    yield Finding(m.rel, line, ERROR, "facts.podmaster",
                                  f"{flag} reads {host} on the host; {config.rel} writes no "
                                  "such file")
                elif flag == "--dest-file" and str(PurePosixPath(host).parent) not in kubelet_dirs:
                    yield Finding(m.rel, line, ERROR, "facts.podmaster",
                                  f"{flag} writes {host}; the kubelet's --config is "
                                  f"{', '.join(sorted(map(str, kubelet_dirs)))}")

    def tls_files(self) -> Iterator[Finding]:
        ssl = self.s["SSL_DIR"]
        ref = re.compile(re.escape(ssl) + r"/([\w.-]+\.pem)")
        profile = self.c.profile
        for config in self.c.cloud_configs:
            installed = profile.tls_installed.get(config.role)
            if installed is None:
                continue
            for number, text in enumerate(config.text.splitlines(), 1):
                for name in ref.findall(text):
                    if not profile.tls_file_installed(config.role, name):
                        yield Finding(config.rel, number, ERROR, "facts.tls-files",
                                      f"{ssl}/{name} is not among the files the apply installs "
                                      f"on a {config.role} ({', '.join(sorted(installed))})")
            for d in (d for u in config.units if u.name == "tls-ready.service"
                      for p in u.all_parts() for d in p.values("ExecStart")):
                if not (wait := TLS_WAIT.search(d.value)):
                    continue
                listed = [f"{n}.pem" for n in wait[2].split(",")]
                if wait[1] != ssl or int(wait[3]) != len(listed):
                    yield Finding(config.rel, d.line, ERROR, "facts.tls-files",
                                  f"tls-ready waits for {wait[3]} file(s) in {wait[1]} but "
                                  f"lists {len(listed)} in {ssl}")
                if missing := set(listed) - installed:
                    yield Finding(config.rel, d.line, ERROR, "facts.tls-files",
                                  f"tls-ready waits for {', '.join(sorted(missing))}, which the "
                                  f"apply never installs on a {config.role}")

    def k8s_version(self) -> Iterator[Finding]:
        version = self.s["KUBERNETES_VERSION"]
        for m in self.c.api_objects():
            for path, container in containers(m):
                name, tag = _image_name(container)
                # the official registry tags releases vX.Y.Z; the tutorial's docker-loaded
                # images carry the bare version
                want = f"v{version}" if str(container.get("image", "")).startswith(
                    f"{facts.KUBE_REGISTRY}/") else version
                if name in RELEASE_IMAGES and tag != want:
                    yield Finding(m.rel, m.line_of(at_path(m.node, [*path, "image"])), ERROR,
                                  "facts.k8s-version",
                                  f"image {container['image']} is not tagged {want}")
        texts = [(self.c.rel(p), p.read_text(errors="replace")) for p in cluster_files(self.c)
                 if p.suffix in (".yaml", ".sh", ".env", ".md", ".cnf")]
        for rel, text in texts:
            for number, raw in enumerate(text.splitlines(), 1):
                found = RELEASE_URL.findall(raw)
                tag = SCRIPT_TAG.match(raw.strip())
                for value in found + ([tag[1]] if tag else []):
                    if value != version:
                        yield Finding(rel, number, ERROR, "facts.k8s-version",
                                      f"release {value} here, KUBERNETES_VERSION {version}")

    def run(self) -> Iterator[Finding]:
        missing = [key for key in REQUIRED if key not in self.s]
        if missing:
            yield self.at_setting(missing[0], "facts.settings",
                                  f"settings.env lacks {', '.join(missing)}")
            return
        unparsable = list(self.unparsable())
        yield from unparsable
        if unparsable:  # every other fact is read against these addresses
            return
        for check in (self.ranges, self.service_range, self.dns_ip, self.pod_network, self.ports,
                      self.domain, self.podmaster, self.tls_files, self.k8s_version):
            yield from check()


def check(cluster: Cluster) -> Iterator[Finding]:
    yield from Facts(cluster).run()
