"""Rule 6: the openssl request configs the apply signs node certificates with."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from generator.audit.cluster import Cluster
from generator.audit.report import ERROR, Finding
from generator.facts import apiserver_controller_ips

SECTION = re.compile(r"^\[\s*([^\]]+?)\s*\]$")


@dataclass
class Cnf:
    rel: str
    sections: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)
    section_lines: dict[str, int] = field(default_factory=dict)

    def get(self, section: str, key: str) -> tuple[str, int] | None:
        return self.sections.get(section, {}).get(key)


def parse(path: Path, rel: str) -> Cnf:
    cnf = Cnf(rel)
    current = ""  # openssl's default section
    cnf.sections[current] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        text = raw.split("#", 1)[0].strip()
        if match := SECTION.match(text):
            current = match[1]
            cnf.sections.setdefault(current, {})
            cnf.section_lines[current] = number
        elif "=" in text:
            key, value = text.split("=", 1)
            cnf.sections[current][key.strip()] = (value.strip(), number)
    return cnf


def _sans(cnf: Cnf, section: str) -> set[str]:
    return {f"{key.split('.')[0]}:{value}" for key, (value, _) in cnf.sections[section].items()}


# The SAN entries each request must carry (the apply sets the $ENV:: variables; see
# scripts/lib/pki.sh). The first service IP is checked by facts.service-range.
def _apiserver(cluster: Cluster) -> set[str]:
    """Every controller's name and IPs (all serve this one certificate) and, with several,
    their load balancer's IP (facts.apiserver_controller_ips: what pki_issue_apiserver sets)."""
    count = int(cluster.setting("CONTROLLER_COUNT") or "1")
    prefix = cluster.setting("CONTROLLER_PREFIX") or ""
    names = {f"DNS:{cluster.setting('CONTROLLER_NAME')}"}
    names |= {f"DNS:{prefix}-{n:02d}" for n in range(2, count + 1)}
    return names | {f"IP:{ref}" for ref in apiserver_controller_ips(
        {"controller_count": str(count)})}


def _worker(cluster: Cluster) -> set[str]:
    return {"IP:$ENV::WORKER_IP"}


def _current_apiserver(cluster: Cluster) -> set[str]:
    """Also the names pods reach the apiserver by and 127.0.0.1 (the controller's pods)."""
    domain = cluster.setting("CLUSTER_DOMAIN")
    return _apiserver(cluster) | {"IP:127.0.0.1", "DNS:kubernetes", "DNS:kubernetes.default",
                                  "DNS:kubernetes.default.svc",
                                  f"DNS:kubernetes.default.svc.{domain}"}


def _kubelet(cluster: Cluster) -> set[str]:
    return {"DNS:$ENV::NODE_NAME", "IP:$ENV::NODE_PRIVATE_IP", "IP:$ENV::NODE_PUBLIC_IP"}


def _etcd(cluster: Cluster) -> set[str]:
    return {"IP:$ENV::ETCD_PRIVATE_IP"}


def _none(cluster: Cluster) -> set[str]:
    return set()


@dataclass(frozen=True)
class Request:
    """What openssl/NAME must ask for: SANs, and the extendedKeyUsage purposes (None: none
    checked; the tutorial's requests name none, so any purpose)."""

    sans: Callable[[Cluster], set[str]]
    usages: frozenset[str] | None = None


CLIENT, SERVER = frozenset({"clientAuth"}), frozenset({"serverAuth"})
EXPECTED: dict[str, dict[str, Request]] = {
    "tutorial": {"apiserver.cnf": Request(_apiserver), "worker.cnf": Request(_worker)},
    # profiles/current/scripts/lib/components.sh issues one certificate from each
    "current": {
        "apiserver.cnf": Request(_current_apiserver, SERVER),
        "kubelet.cnf": Request(_kubelet, CLIENT | SERVER),
        "etcd.cnf": Request(_etcd, CLIENT | SERVER),
        **{f"{name}.cnf": Request(_none, CLIENT) for name in (
            "apiserver-kubelet-client", "apiserver-etcd-client", "controller-manager",
            "scheduler", "kube-proxy", "admin", "front-proxy-client")},
    },
}


def check_cnf(cnf: Cnf, expected: set[str], usages: frozenset[str] | None = None
              ) -> Iterator[Finding]:
    def err(line: int, rule: str, message: str) -> Finding:
        return Finding(cnf.rel, line, ERROR, rule, message)

    if "req" not in cnf.sections:
        yield err(1, "openssl.section", "no [req] section")
        return
    refs = {}
    for key in ("req_extensions", "distinguished_name"):
        ref = cnf.get("req", key)
        if ref is None:
            yield err(cnf.section_lines["req"], "openssl.section", f"[req] has no {key}")
        elif ref[0] not in cnf.sections:
            yield err(ref[1], "openssl.section", f"{key} = {ref[0]}: no such section")
        else:
            refs[key] = ref[0]
    ext = refs.get("req_extensions")
    if ext is None:
        return
    ext_line = cnf.section_lines[ext]
    constraints = cnf.get(ext, "basicConstraints")
    if constraints is None or "CA:FALSE" not in constraints[0].replace(" ", "").upper():
        yield err(constraints[1] if constraints else ext_line, "openssl.ca",
                  f"[{ext}] must set basicConstraints = CA:FALSE (a node cert is no CA)")
    if usages is not None:
        eku = cnf.get(ext, "extendedKeyUsage")
        have = {u.strip() for u in eku[0].split(",")} if eku else set()
        if have != usages:
            yield err(eku[1] if eku else ext_line, "openssl.usage",
                      f"[{ext}] must set extendedKeyUsage = {', '.join(sorted(usages))} "
                      f"(has {', '.join(sorted(have)) or 'none'})")
    if not expected:
        return
    san = cnf.get(ext, "subjectAltName")
    if san is None or not san[0].startswith("@") or san[0][1:] not in cnf.sections:
        yield err(san[1] if san else ext_line, "openssl.section",
                  f"[{ext}] needs subjectAltName = @<section> naming an existing section")
        return
    section = san[0][1:]
    for entry in sorted(expected - _sans(cnf, section)):
        yield err(cnf.section_lines[section], "openssl.san",
                  f"[{section}] lacks {entry.replace(':', ' = ', 1)}")


def check(cluster: Cluster) -> Iterator[Finding]:
    expected = EXPECTED[cluster.profile.name]
    for name, request in expected.items():
        path = cluster.root / "openssl" / name
        rel = f"openssl/{name}"
        if not path.is_file():
            yield Finding(rel, 1, ERROR, "openssl.section", f"{rel} is missing")
            continue
        yield from check_cnf(parse(path, rel), request.sans(cluster), request.usages)
