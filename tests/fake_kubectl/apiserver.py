"""Whether the apiserver answers, for both kubectl versions: it follows the simulated account
(``DOSIM_STATE``): reachable only through a load balancer at the kubeconfig's address or at a
droplet's public IP whose installed apiserver certificate names the address dialled. Anything
but a documentation address is refused: tests never leave loopback."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from core import KubectlError

from tests.standins import boots, lbhealth

DOC_NETS = [ipaddress.ip_network(n) for n in ("203.0.113.0/24", "198.51.100.0/24")]


def dosim() -> dict[str, Any] | None:
    raw = os.environ.get("DOSIM_STATE", "")
    if not raw or not Path(raw).exists():
        return None
    return json.loads(Path(raw).read_text())


def droplets() -> list[dict[str, Any]]:
    """The account's droplets by name."""
    return sorted((dosim() or {}).get("droplets", {}).values(), key=lambda d: d["name"])


def installed(root: Path, path: str) -> Path | None:
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


def server_host(server: str) -> str:
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


def refused(server: str) -> KubectlError:
    host, port = server_host(server), urlparse(server).port or 443
    return KubectlError(f"The connection to the server {host}:{port} was refused - did you "
                        "specify the right host or port?")


def connect(server: str, cert_path: str) -> None:
    """Raise like kubectl when the apiserver at ``server`` would not answer: through a load
    balancer at that address, or at a droplet's public IP, whose installed ``cert_path`` (the
    profile's apiserver certificate) must name the address dialled."""
    host = server_host(server)
    port = urlparse(server).port or 443
    _refuse_unless_documentation(host, port)
    account = dosim()
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
        cert = installed(Path(sim["root"]), cert_path)
        if cert is None or not lbhealth.static_pod_in_place(Path(sim["root"])) or \
                boots.down(Path(sim["root"])):
            break
        ips = [t.strip()[len("IP Address:"):] for t in _san_tokens(cert)]
        if host not in ips:
            raise KubectlError("Unable to connect to the server: tls: failed to verify "
                               f"certificate: x509: certificate is valid for "
                               f"{', '.join(ips)}, not {host}")
        return
    raise refused(server)


def _san_tokens(cert: Path) -> list[str]:
    out = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-ext", "subjectAltName"],
                         capture_output=True, text=True, check=False).stdout
    return [t.strip() for line in out.splitlines()[1:] for t in line.split(",")
            if t.strip().startswith("IP Address:")]


def documentation_address(host: str) -> bool:
    try:
        return any(ipaddress.ip_address(host) in net for net in DOC_NETS)
    except ValueError:
        return False
