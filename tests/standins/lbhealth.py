"""Which droplets behind a simulated load balancer pass its health check (stand-in only).

The real API reports no per-droplet health (godo's LoadBalancer has no such field); the stand-in
keeps the check's outcome to decide where the load balancer's traffic goes (the fake kubectl
connects through it). A TCP check on port P passes when the droplet is active with its IPs and
something listens on P: here, an apiserver whose user data says ``--secure_port=P`` (or
``--secure-port``) and whose TLS assets are installed (the tutorial's tls-ready.service starts
it only then; the current profile's kubelet starts its static pod once they are there). An
HTTP(S) check also needs a 2xx/3xx answer: an apiserver 1.1 answers 401 to a client without a
certificate, so such a check never passes.
"""

from __future__ import annotations

import ipaddress
import re
import time
from pathlib import Path
from typing import Any

from . import boots, dropletfs, lbservice, model
from .state import knob

# where each profile's apiserver finds its certificate (tutorial, current)
APISERVER_CERTS = ("/etc/kubernetes/ssl/apiserver.pem", "/etc/kubernetes/pki/apiserver.pem")


def static_pod_in_place(root: Path) -> bool:
    """A kube-apiserver static pod the user data writes runs while its manifest is in the
    kubelet's directory (make rotate-certs moves it away to restart it); an apiserver the user
    data starts otherwise (the tutorial's pod in another file) is not affected."""
    user_data = root / "var/lib/dosim/user-data"
    text = user_data.read_text() if user_data.is_file() else ""
    manifest = f"{dropletfs.STATIC_POD_DIR}/kube-apiserver.yaml"
    return f"path: {manifest}" not in text or dropletfs.resolve(root, manifest).is_file()


def _listens(droplet: dict[str, Any], port: int) -> bool:
    root = Path(droplet["sim"]["root"])
    user_data = root / "var/lib/dosim/user-data"
    if not user_data.is_file():
        return False
    if not re.search(rf"--secure[-_]port={port}\b", user_data.read_text()):
        return False
    return (any(dropletfs.resolve(root, cert).is_file() for cert in APISERVER_CERTS)
            and static_pod_in_place(root))


def healthy(data: dict[str, Any], lb: dict[str, Any], now: float | None = None) -> dict[int, bool]:
    """Droplet id -> passes the health check, for every droplet behind ``lb``."""
    now = time.time() if now is None else now
    check = lb["health_check"]
    out = {}
    for droplet_id in lbservice.backend_ids(data, lb):
        droplet = data["droplets"][str(droplet_id)]
        up = (model.status_at(droplet, now) == "active"
              and not boots.down(Path(droplet["sim"]["root"]), now)
              and model.visible_public_ip(droplet, now) is not None
              and _listens(droplet, check["port"]))
        out[droplet_id] = up and check["protocol"] == "tcp"
    return out


def admits(lb: dict[str, Any], source: str) -> bool:
    """Whether ``lb``'s firewall lets a client at ``source`` in: not on its deny list, and on
    its allow list when there is one (an empty firewall admits everyone, as before the API had
    one). The client's address is the stand-in's ``client_ip`` knob (DOSIM_CLIENT_IP)."""
    firewall = lb.get("firewall") or {}
    addr = ipaddress.ip_address(source)

    def hit(rules: list[str]) -> bool:
        return any(addr in ipaddress.ip_network(r.partition(":")[2], strict=False) for r in rules)

    allow, deny = firewall.get("allow") or [], firewall.get("deny") or []
    return not hit(deny) and (not allow or hit(allow))


def client_ip(data: dict[str, Any]) -> str:
    """Where the operator's kubectl connects from (a documentation address by default)."""
    return knob(data, "client_ip", "192.0.2.10", str)


def lb_at(data: dict[str, Any], ip: str, now: float | None = None) -> dict[str, Any] | None:
    """The active load balancer whose public IP is ``ip`` (None: none)."""
    now = time.time() if now is None else now
    for lb in data.get("load_balancers", {}).values():
        if lb["sim"]["ip"] == ip and now >= lb["sim"]["active_at"]:
            return lb
    return None
