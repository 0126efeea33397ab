"""Droplet records: how they are stored, and how the API / doctl show them at a given time.

A droplet is a small state machine driven by wall-clock timestamps fixed at creation:
``new`` until ``active_at``; networks appear at ``ip_at`` (never when ``ip_at`` is None).
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import ipaddress
import os
import struct
import time
from datetime import UTC, datetime
from typing import Any

from . import catalog

# Documentation-only ranges (RFC 5737): nothing simulated is ever routable.
PUBLIC_POOLS = ("203.0.113.0/24", "198.51.100.0/24")
PRIVATE_NETMASK = "255.255.240.0"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_uuid() -> str:
    """A random (version 4) UUID's text, as uuid.uuid4() gives: that module's import costs
    every stand-in start ~3 ms (it brings platform), for ids most runs never make."""
    b = bytearray(os.urandom(16))
    b[6] = b[6] & 0x0F | 0x40
    b[8] = b[8] & 0x3F | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def vpc_uuid(region: str) -> str:
    return name_uuid(f"dosim-default-vpc/{region}")


def name_uuid(name: str) -> str:
    """uuid.uuid5(NAMESPACE_URL, name), imported here: its import costs every start ~3 ms."""
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def host_key(droplet_id: int, created: float, name: str) -> str:
    """A fake ``ssh-ed25519`` public host key, new for every (re-)created droplet."""
    raw = hashlib.sha256(f"{droplet_id}:{created!r}:{name}".encode()).digest()
    algo = b"ssh-ed25519"
    blob = struct.pack(">I", len(algo)) + algo + struct.pack(">I", len(raw)) + raw
    return "ssh-ed25519 " + base64.b64encode(blob).decode()


def _live_ips(state: dict[str, Any], key: str) -> set[str]:
    return {d["sim"][key] for d in state["droplets"].values() if d["sim"].get(key)}


def allocate_public_ip(state: dict[str, Any]) -> str | None:
    """Next free address after the cursor, in the first pool that still has one."""
    used = _live_ips(state, "public_ip")
    # load balancers draw from the same pool (lbservice.py)
    used |= {lb["sim"]["ip"] for lb in state.get("load_balancers", {}).values()}
    cursor = state["ip_cursor"].get("public", 0)
    for pool in PUBLIC_POOLS:
        hosts = [str(h) for h in ipaddress.ip_network(pool).hosts()][1:]  # .1 is the gateway
        n = len(hosts)
        for step in range(n):
            candidate = hosts[(cursor + step) % n]
            if candidate not in used:
                state["ip_cursor"]["public"] = (cursor + step + 1) % n
                return candidate
    return None


def allocate_private_ip(state: dict[str, Any], region: str) -> str | None:
    index = sorted(catalog.REGIONS).index(region) if region in catalog.REGIONS else 0
    net = ipaddress.ip_network(f"10.{100 + index}.0.0/20")
    hosts = [str(h) for h in net.hosts()][1:]
    used = _live_ips(state, "private_ip")
    cursors = state["ip_cursor"].setdefault("private", {})
    cursor = cursors.get(region, 0)
    for step in range(len(hosts)):
        candidate = hosts[(cursor + step) % len(hosts)]
        if candidate not in used:
            cursors[region] = (cursor + step + 1) % len(hosts)
            return candidate
    return None


def public_gateway(ip: str) -> str:
    return str(next(ipaddress.ip_network(ip + "/24", strict=False).hosts()))


def status_at(rec: dict[str, Any], now: float) -> str:
    return "active" if now >= rec["sim"]["active_at"] else "new"


def networks_at(rec: dict[str, Any], now: float) -> dict[str, list[dict[str, Any]]]:
    sim = rec["sim"]
    if sim.get("ip_at") is None or now < sim["ip_at"]:
        return {"v4": [], "v6": []}
    v4 = [
        {
            "ip_address": sim["public_ip"],
            "netmask": "255.255.255.0",
            "gateway": public_gateway(sim["public_ip"]),
            "type": "public",
        }
    ]
    if sim.get("private_ip"):
        v4.append(
            {"ip_address": sim["private_ip"], "netmask": PRIVATE_NETMASK, "gateway": "",
             "type": "private"}
        )
    v6 = []
    if sim.get("ipv6"):
        gateway = sim["ipv6"].rsplit(":", 1)[0] + ":1"
        v6.append({"ip_address": sim["ipv6"], "netmask": 64, "gateway": gateway, "type": "public"})
    return {"v4": v4, "v6": v6}


def visible_public_ip(rec: dict[str, Any], now: float) -> str | None:
    for net in networks_at(rec, now)["v4"]:
        if net["type"] == "public":
            return net["ip_address"]
    return None


def api_view(rec: dict[str, Any], now: float | None = None, *, fresh: bool = False
             ) -> dict[str, Any]:
    """The droplet as the v2 API's JSON would carry it at ``now``.

    ``fresh``: the answer to the create request itself, always ``new`` without addresses.
    """
    now = time.time() if now is None else now
    if fresh:
        view = api_view(rec, now)
        return {**view, "status": "new", "networks": {"v4": [], "v6": []}}
    return {
        "id": rec["id"],
        "name": rec["name"],
        "memory": rec["memory"],
        "vcpus": rec["vcpus"],
        "disk": rec["disk"],
        "locked": False,
        "status": status_at(rec, now),
        "kernel": None,
        "created_at": rec["created_at"],
        "features": list(rec["features"]),
        "backup_ids": [],
        "next_backup_window": None,
        "snapshot_ids": [],
        "image": dict(rec["image"]),
        "volume_ids": [],
        "size": dict(rec["size"]),
        "size_slug": rec["size_slug"],
        "networks": networks_at(rec, now),
        "region": catalog.region_object(rec["region"]),
        "tags": list(rec["tags"]),
        "vpc_uuid": rec["vpc_uuid"],
    }


def _empty(value: Any) -> bool:
    return value is None or value is False or value == 0 or value in ("", [], {})


def _drop_empty(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if not _empty(v)}


def godo_view(api: dict[str, Any]) -> dict[str, Any]:
    """What doctl prints for ``-o json``: the API object after a round trip through godo.

    godo's ``Droplet`` struct tags every field ``omitempty`` except ``volume_ids``; so a droplet
    without tags has no ``tags`` key, and one without addresses shows ``"networks": {}``.
    """
    out: dict[str, Any] = {}
    order = ["id", "name", "memory", "vcpus", "disk", "region", "image", "size", "size_slug",
             "backup_ids", "next_backup_window", "snapshot_ids", "features", "locked", "status",
             "networks", "created_at", "kernel", "tags", "volume_ids", "vpc_uuid"]
    for key in order:
        value = api.get(key)
        if key == "volume_ids":
            out[key] = value
            continue
        if key in ("region", "image", "size") and isinstance(value, dict):
            value = _drop_empty(value)
        if key == "networks" and isinstance(value, dict):
            value = {k: [_drop_empty(n) for n in v] for k, v in value.items() if v}
        if not _empty(value) or (key == "networks" and value == {} and api.get(key) is not None):
            out[key] = value
    return out


def matches_glob(name: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(name, pattern)


def action_view(action: dict[str, Any], now: float) -> dict[str, Any]:
    done = now >= action["completes_at"]
    return {
        "id": action["id"],
        "status": "completed" if done else "in-progress",
        "type": action["type"],
        "started_at": iso(action["started"]),
        "completed_at": iso(action["completes_at"]) if done else None,
        "resource_id": action["resource_id"],
        "resource_type": "droplet",
        "region_slug": action["region"],
    }
