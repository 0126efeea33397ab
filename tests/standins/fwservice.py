"""The v2 firewall endpoints (godo firewalls.go), strict and stateful, under the account lock.

What the real API does, with where it is known from:
- ``ports`` "all" is stored and returned as "0", and an ICMP rule comes back with "0" too;
  the API itself refuses "0" and refuses ``ports`` on ICMP rules (terraform-provider-digitalocean
  firewall flatten: "The API returns 0 when the port range was specified as all"; kubicorn:
  "DO api doesn't take "0" as portRange, but returns "0""; digitalocean-cloud-controller-manager
  fixRulesPortRange).
- A name already in use: 409 "duplicate name" (seen in harmony-one/harmony-ops#374).
- A malformed address: 422 "invalid address" (terraform-provider-digitalocean#36).
- ``tags`` must name existing tags (doctl's --tag-names help: "A comma-separated list of existing
  tags"; poseidon/typhoon#709 fails until the tag exists). The wording of that error, of a bad
  protocol or port, of a rule without sources and of a firewall without rules is not
  published: those texts are marked ``(dosim)``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from . import model
from .api import NOT_FOUND, Handler, HttpError

PROTOCOLS = ("tcp", "udp", "icmp")
PORTS_RE = re.compile(r"^([1-9][0-9]{0,4})(-([1-9][0-9]{0,4}))?$")
ENDPOINTS = ("addresses", "tags", "droplet_ids", "load_balancer_uids", "kubernetes_ids")


def _check_ports(rule: dict[str, Any]) -> str:
    protocol = rule.get("protocol", "")
    if protocol not in PROTOCOLS:
        raise HttpError(422, f"(dosim) invalid protocol {protocol!r}: use tcp, udp or icmp")
    ports = rule.get("ports", "")
    if protocol == "icmp":
        if ports:
            raise HttpError(422, "(dosim) ports must not be set for the icmp protocol")
        return "0"
    if ports == "all":
        return "0"
    match = PORTS_RE.match(ports)
    low = int(match[1]) if match else 0
    high = int(match[3]) if match and match[3] else low
    if not match or not 1 <= low <= high <= 65535:
        raise HttpError(422, f"(dosim) invalid ports {ports!r} for {protocol}: use a port "
                        "1-65535, a range LOW-HIGH or all")
    return ports


def _check_endpoints(data: dict[str, Any], where: dict[str, Any] | None, side: str
                     ) -> dict[str, Any]:
    where = where or {}
    out = {k: list(where[k]) for k in ENDPOINTS if where.get(k)}
    if not out:
        raise HttpError(422, f"(dosim) a rule needs at least one of {side}' addresses, tags, "
                        "droplet_ids, load_balancer_uids or kubernetes_ids")
    for address in out.get("addresses", []):
        try:
            ipaddress.ip_network(address, strict=False)
        except ValueError:
            raise HttpError(422, "invalid address") from None
    _check_tags(data, out.get("tags", []))
    for droplet_id in out.get("droplet_ids", []):
        if str(droplet_id) not in data["droplets"]:
            raise HttpError(422, f"(dosim) droplet {droplet_id} does not exist")
    for lb_id in out.get("load_balancer_uids", []):
        if lb_id not in data["load_balancers"]:
            raise HttpError(422, f"(dosim) load balancer {lb_id} does not exist")
    return out


def _check_tags(data: dict[str, Any], tags: list[str]) -> None:
    for tag in tags:
        if tag not in data["tags"]:
            raise HttpError(422, f"(dosim) tag {tag!r} does not exist: create it first")


def _covers(ports: str, port: int) -> bool:
    """Whether a stored rule's ports ("0": all; "P"; "LOW-HIGH") include PORT."""
    if ports == "0":
        return True
    low, _, high = ports.partition("-")
    return int(low) <= port <= int(high or low)


def admits(data: dict[str, Any], droplet: dict[str, Any], protocol: str, port: int, *,
           lb_id: str = "", address: str = "") -> bool:
    """Whether the cloud firewalls on DROPLET let a PROTOCOL packet to PORT in, from the load
    balancer LB_ID (a source ``load_balancer_uids`` names) or from ADDRESS (one its
    ``addresses`` cover). A droplet in no firewall gets everything; in several, the union of
    their inbound rules, and nothing else (as firewall.sh's header says)."""
    walls = [f for f in data["firewalls"].values() if droplet["id"] in f["droplet_ids"]
             or set(f["tags"]) & set(droplet.get("tags") or [])]
    if not walls:
        return True
    for rule in (r for f in walls for r in f["inbound_rules"]):
        if rule["protocol"] != protocol or not _covers(rule["ports"], port):
            continue
        sources = rule["sources"]
        if lb_id and lb_id in sources.get("load_balancer_uids", []):
            return True
        if address and any(ipaddress.ip_address(address) in ipaddress.ip_network(a, strict=False)
                           for a in sources.get("addresses", [])):
            return True
    return False


def _rules(data: dict[str, Any], rules: list[dict[str, Any]] | None, side: str
           ) -> list[dict[str, Any]]:
    out = []
    for rule in rules or []:
        ports = _check_ports(rule)
        out.append({"protocol": rule["protocol"], "ports": ports,
                    side: _check_endpoints(data, rule.get(side), side)})
    return out


def _validated(data: dict[str, Any], req: dict[str, Any], own_id: str | None
               ) -> dict[str, Any]:
    name = req.get("name") or ""
    if not name:
        raise HttpError(422, "(dosim) name is required")
    if any(f["name"] == name and f["id"] != own_id for f in data["firewalls"].values()):
        raise HttpError(409, "duplicate name", "conflict")
    inbound = _rules(data, req.get("inbound_rules"), "sources")
    outbound = _rules(data, req.get("outbound_rules"), "destinations")
    if not inbound and not outbound:
        raise HttpError(422, "(dosim) a firewall needs at least one inbound or outbound rule")
    tags = list(req.get("tags") or [])
    _check_tags(data, tags)
    droplet_ids = list(req.get("droplet_ids") or [])
    for droplet_id in droplet_ids:
        if str(droplet_id) not in data["droplets"]:
            raise HttpError(422, f"(dosim) droplet {droplet_id} does not exist")
    return {"name": name, "inbound_rules": inbound, "outbound_rules": outbound,
            "tags": tags, "droplet_ids": droplet_ids}


def _view(fw: dict[str, Any]) -> dict[str, Any]:
    return {"id": fw["id"], "name": fw["name"], "status": "succeeded",
            "inbound_rules": fw["inbound_rules"], "outbound_rules": fw["outbound_rules"],
            "created_at": fw["created_at"], "droplet_ids": fw["droplet_ids"] or None,
            "tags": fw["tags"], "pending_changes": []}


def _firewall(data: dict[str, Any], fw_id: str) -> dict[str, Any]:
    fw = data["firewalls"].get(fw_id)
    if fw is None:
        raise HttpError(404, NOT_FOUND)
    return fw


def create_firewall(req: dict[str, Any]) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        fw = _validated(data, req, None)
        fw_id = model.new_uuid()
        fw.update(id=fw_id, created_at=model.iso(now))
        data["firewalls"][fw_id] = fw
        return 202, {"firewall": _view(fw)}

    return handle


def update_firewall(fw_id: str, req: dict[str, Any]) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        fw = _firewall(data, fw_id)
        fw.update(_validated(data, req, fw_id))
        return 200, {"firewall": _view(fw)}

    return handle


def get_firewall(fw_id: str) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        return 200, {"firewall": _view(_firewall(data, fw_id))}

    return handle


def list_firewalls(page: int) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        items = list(data["firewalls"].values())  # creation order
        return 200, {"firewalls": [_view(f) for f in items] if page == 1 else [], "links": {},
                     "meta": {"total": len(items)}}

    return handle


def delete_firewall(fw_id: str) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        _firewall(data, fw_id)
        del data["firewalls"][fw_id]
        return 204, None

    return handle
