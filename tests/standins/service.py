"""Handlers for the v2 endpoints doctl calls; each runs under the account lock.

Error texts the real API uses where known; the rest are marked ``(dosim)`` in the message
so nobody mistakes them for DigitalOcean's wording.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from pathlib import Path
from typing import Any

from . import catalog, dropletfs, images, kubeletbin, model, volumes
from . import state as st
from .api import NOT_FOUND, Handler, HttpError

PER_PAGE = 200  # doctl's do/pagination.go asks for 200 items a page
NAME_RE = re.compile(r"^[a-zA-Z0-9.-]+$")
TAG_RE = re.compile(r"^[a-zA-Z0-9_:\-]{1,255}$")
USER_DATA_MAX = 64 * 1024


def _droplet(data: dict[str, Any], droplet_id: int) -> dict[str, Any]:
    rec = data["droplets"].get(str(droplet_id))
    if rec is None:
        raise HttpError(404, NOT_FOUND)
    return rec


def _ensure_tag(data: dict[str, Any], name: str) -> None:
    if not TAG_RE.match(name):
        raise HttpError(
            422, f"(dosim) invalid tag name {name!r}: use letters, digits, '_', '-', ':'")
    if name not in data["tags"]:
        data["tags"].append(name)


def _find_key(data: dict[str, Any], ident: str | int) -> dict[str, Any] | None:
    for key in data["ssh_keys"]:
        if str(key["id"]) == str(ident) or key["fingerprint"] == ident:
            return key
    return None


def _next_id(data: dict[str, Any], kind: str) -> int:
    value = data["next_id"][kind]
    data["next_id"][kind] = value + 1
    return value


def create_droplet(req: dict[str, Any], state_file: Path) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        name = req["name"]
        if not NAME_RE.match(name) or len(name) > 255:
            raise HttpError(
                422, "Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)")
        if req["region"] not in catalog.REGIONS:
            raise HttpError(422, "You specified an invalid region for Droplet creation.")
        if catalog.size_info(req["size"]) is None:
            raise HttpError(422, "You specified an invalid size for Droplet creation.")
        image = (images.image_for_droplet(data, str(req["image"]))
                 or catalog.image_object(str(req["image"]), data["config"].get("images")))
        if image is None:
            raise HttpError(422, "You specified an invalid image for Droplet creation.")
        keys = []
        for ident in req["ssh_keys"]:
            key = _find_key(data, ident)
            if key is None:
                raise HttpError(422, f"(dosim) ssh key {ident!r} is not on this account")
            keys.append(key)
        user_data = req.get("user_data") or ""
        if len(user_data.encode()) > USER_DATA_MAX:
            raise HttpError(422, f"(dosim) user_data is {len(user_data.encode())} bytes; "
                                 f"the limit is {USER_DATA_MAX} bytes (64 KiB)")
        vpc = req.get("vpc_uuid") or model.vpc_uuid(req["region"])
        import uuid  # here: its import costs every stand-in start ~3 ms

        try:
            uuid.UUID(vpc)
        except ValueError:
            raise HttpError(422, f"(dosim) vpc_uuid {vpc!r} is not a UUID") from None
        limit = st.knob(data, "droplet_limit", 25, int)
        if len(data["droplets"]) >= limit:
            raise HttpError(422, "creating this/these droplet(s) will exceed your droplet limit"
                                 f" (dosim: limit {limit}, set DOSIM_DROPLET_LIMIT)")
        for tag in req["tags"]:
            _ensure_tag(data, tag)
        public_ip = model.allocate_public_ip(data)
        private_ip = model.allocate_private_ip(data, req["region"])
        if public_ip is None or private_ip is None:
            raise HttpError(422, "(dosim) the simulated address pools are exhausted")

        droplet_id = _next_id(data, "droplet")
        boot = st.knob(data, "boot_seconds", 0.0, float)
        ip_delay = st.knob(data, "ip_delay_seconds", 0.0, float)
        sshd_delay = st.knob(data, "sshd_delay_seconds", 0.0, float)
        no_ip = st.knob(data, "no_ip", "", str)
        never_ip = any(model.matches_glob(name, g) for g in no_ip.split(",") if g)
        memory, vcpus, disk = catalog.size_info(req["size"]) or (0, 0, 0)
        features = ["private_networking"] if req.get("private_networking") else []
        features += [f for f in ("backups", "ipv6", "monitoring") if req.get(f)]
        live_roots = {d["sim"]["root"] for d in data["droplets"].values()}
        root = dropletfs.create_root(st.droplets_root(state_file), name, droplet_id, live_roots)
        if user_data:
            target = root / "var" / "lib" / "dosim" / "user-data"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(user_data)
            dropletfs.write_static_pods(root, user_data)
            # first boot: the kubelet fetched (a failed download leaves none, as on a node)
            kubeletbin.install(root)
        active_at = now + boot
        ip_at = None if never_ip else active_at + ip_delay
        rec = {
            "id": droplet_id,
            "name": name,
            "memory": memory,
            "vcpus": vcpus,
            "disk": disk,
            "region": req["region"],
            "size_slug": req["size"],
            "size": catalog.size_object(req["size"], [req["region"]]),
            "image": image,
            "created_at": model.iso(now),
            "features": features,
            "tags": list(dict.fromkeys(req["tags"])),
            "vpc_uuid": vpc,
            "sim": {
                "created": now,
                "active_at": active_at,
                "ip_at": ip_at,
                "sshd_at": None if ip_at is None else ip_at + sshd_delay,
                "public_ip": public_ip,
                "private_ip": private_ip,
                "ipv6": f"2001:db8:{droplet_id % 0xFFFF:x}::2" if req.get("ipv6") else None,
                "ssh_key_ids": [k["id"] for k in keys],
                "public_keys": [k["public_key"] for k in keys],
                "login_users": catalog.login_users(image),
                "user_data_bytes": len(user_data.encode()),
                "user_data_sha256": hashlib.sha256(user_data.encode()).hexdigest(),
                "root": str(root),
                "host_key": model.host_key(droplet_id, now, name),
            },
        }
        data["droplets"][str(droplet_id)] = rec
        action_id = _next_id(data, "action")
        data["actions"][str(action_id)] = {
            "id": action_id, "type": "create", "resource_id": droplet_id,
            "region": req["region"], "started": now, "completes_at": active_at,
        }
        href = f"https://api.digitalocean.com/v2/actions/{action_id}"
        return 202, {
            "droplet": model.api_view(rec, now, fresh=True),
            "links": {"actions": [{"id": action_id, "rel": "create", "href": href}]},
        }

    return handle


def get_droplet(droplet_id: int) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        return 200, {"droplet": model.api_view(_droplet(data, droplet_id), now)}

    return handle


def list_droplets(page: int, tag: str | None = None) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        recs = sorted(data["droplets"].values(), key=lambda d: d["id"])
        if tag is not None:
            recs = [d for d in recs if tag in d["tags"]]
        last = max(1, math.ceil(len(recs) / PER_PAGE))
        chunk = recs[(page - 1) * PER_PAGE: page * PER_PAGE]
        pages = {}
        if last > 1:
            pages["last"] = f"https://api.digitalocean.com/v2/droplets?page={last}&per_page={PER_PAGE}"
        return 200, {
            "droplets": [model.api_view(d, now) for d in chunk],
            "links": {"pages": pages},
            "meta": {"total": len(recs)},
        }

    return handle


def _remove(data: dict[str, Any], rec: dict[str, Any], now: float, state_file: Path) -> None:
    del data["droplets"][str(rec["id"])]
    volumes.detach_all(data, rec["id"])
    data["deleted_droplets"].append(
        {"id": rec["id"], "name": rec["name"], "deleted_at": now,
         "public_ip": rec["sim"]["public_ip"]}
    )
    root = Path(rec["sim"]["root"])
    dropletfs.retire_root(st.droplets_root(state_file), root, str(rec["id"]))


def delete_droplet(droplet_id: int, state_file: Path) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        _remove(data, _droplet(data, droplet_id), now, state_file)
        return 204, None

    return handle


def delete_by_tag(tag: str, state_file: Path) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        for rec in [d for d in data["droplets"].values() if tag in d["tags"]]:
            _remove(data, rec, now, state_file)
        return 204, None

    return handle


def get_action(action_id: int) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        action = data["actions"].get(str(action_id))
        if action is None:
            raise HttpError(404, NOT_FOUND)
        return 200, {"action": model.action_view(action, now)}

    return handle


def fingerprint(public_key: str) -> str:
    """MD5 fingerprint of an OpenSSH public key, as the API reports it."""
    fields = public_key.split()
    if len(fields) < 2:
        raise ValueError("ssh: no key found")
    try:
        blob = base64.b64decode(fields[1], validate=True)
    except ValueError:
        raise ValueError("ssh: no key found") from None
    digest = hashlib.md5(blob).hexdigest()  # noqa: S324 - it is the format, not security
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def create_key(name: str, public_key: str) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        try:
            fp = fingerprint(public_key)
        except ValueError:
            raise HttpError(422, "Key invalid, type not supported") from None
        if not name:
            raise HttpError(422, "Name is too short (minimum is 1 character)")
        if any(k["fingerprint"] == fp for k in data["ssh_keys"]):
            raise HttpError(422, "SSH Key is already in use on your account")
        key = {"id": _next_id(data, "key"), "name": name, "fingerprint": fp,
               "public_key": public_key.strip()}
        data["ssh_keys"].append(key)
        return 201, {"ssh_key": key}

    return handle


def get_key(ident: str) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        key = _find_key(data, ident)
        if key is None:
            raise HttpError(404, NOT_FOUND)
        return 200, {"ssh_key": key}

    return handle


def list_keys(page: int) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        keys = data["ssh_keys"][(page - 1) * PER_PAGE: page * PER_PAGE]
        return 200, {"ssh_keys": keys, "links": {}, "meta": {"total": len(data["ssh_keys"])}}

    return handle


def list_sizes(page: int) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        sizes = catalog.size_list()
        return 200, {"sizes": sizes[(page - 1) * PER_PAGE: page * PER_PAGE], "links": {},
                     "meta": {"total": len(sizes)}}

    return handle


def delete_key(ident: str) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        key = _find_key(data, ident)
        if key is None:
            raise HttpError(404, NOT_FOUND)
        data["ssh_keys"].remove(key)
        return 204, None

    return handle


def _tag_view(data: dict[str, Any], name: str) -> dict[str, Any]:
    tagged = sorted((d for d in data["droplets"].values() if name in d["tags"]),
                    key=lambda d: d["id"])
    count = len(tagged)
    last = f"/v2/droplets/{tagged[-1]['id']}" if tagged else ""
    return {
        "name": name,
        "resources": {"count": count, "last_tagged_uri": last,
                      "droplets": {"count": count, "last_tagged_uri": last}},
    }


def create_tag(name: str) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        _ensure_tag(data, name)
        return 201, {"tag": _tag_view(data, name)}

    return handle


def get_tag(name: str) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        if name not in data["tags"]:
            raise HttpError(404, NOT_FOUND)
        return 200, {"tag": _tag_view(data, name)}

    return handle


def list_tags() -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        return 200, {"tags": [_tag_view(data, t) for t in data["tags"]], "links": {}}

    return handle


def delete_tag(name: str) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        if name not in data["tags"]:
            raise HttpError(404, NOT_FOUND)
        data["tags"].remove(name)
        for rec in data["droplets"].values():
            if name in rec["tags"]:
                rec["tags"].remove(name)
        return 204, None

    return handle


def get_account() -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        return 200, {"account": {
            "droplet_limit": st.knob(data, "droplet_limit", 25, int),
            "floating_ip_limit": 3,
            "email": "dosim@example.com",
            "uuid": model.name_uuid("dosim-account"),
            "email_verified": True,
            "status": "active",
            "status_message": "",
        }}

    return handle
