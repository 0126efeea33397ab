"""The current profile's etcd v3 members in the simulated account (read by etcd3.py's
etcdctl): a member runs the user data's ``etcd.service`` (its ExecStart flags, with
``ETCD_NAME``/``ETCD_INITIAL_CLUSTER``/``ETCD_INITIAL_CLUSTER_STATE`` from the
``EnvironmentFile=`` it names, for the flags the unit leaves out) while its droplet is active,
the unit is not stopped, its TLS files are in /etc/etcd/pki and its EnvironmentFile (if named)
exists. On its first start its data dir (etcd3data) records the initial cluster; later starts
use the data dir, as etcd ignores the initial-* settings then. Members of one cluster ID serve
while a majority of its membership runs; the leader is the first of them by name."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from . import boots, model, units
from . import etcd3data as data3
from . import state as st

UNIT = "etcd.service"
USER_DATA = "var/lib/dosim/user-data"
PKI = "/etc/etcd/pki"
TLS_FILES = ("ca.pem", "etcd.pem", "etcd-key.pem")


def _user_data(rec: dict[str, Any]) -> str:
    path = Path(rec["sim"]["root"]) / USER_DATA
    return path.read_text() if path.is_file() else ""


def unit_text(user_data: str, unit: str = UNIT) -> str:
    """The content of ``unit`` in the user data's coreos.units (YAML block scalar)."""
    lines = user_data.splitlines()
    for i, line in enumerate(lines):
        if re.match(rf"^\s*-\s*name:\s*\"?{re.escape(unit)}\"?\s*$", line):
            for j in range(i + 1, len(lines)):
                m = re.match(r"^(\s*)content:\s*\|", lines[j])
                if m:
                    indent = len(m.group(1))
                    body = []
                    for text in lines[j + 1:]:
                        if text.strip() and len(text) - len(text.lstrip()) <= indent:
                            break
                        body.append(text.strip())
                    return "\n".join(body)
                if re.match(r"^\s*-\s*name:", lines[j]):
                    break
    return ""


def installed(rec: dict[str, Any], program: str) -> bool:
    """etcd-install.service extracts PROGRAM from the release into /opt/bin."""
    return bool(re.search(rf"tar -xzf .*/{program}\b", unit_text(_user_data(rec),
                                                                 "etcd-install.service")
                          .replace("\\\n", " ").replace("\n", " ")))


def version(rec: dict[str, Any]) -> str:
    m = re.search(r"etcd-v([0-9.]+)-linux", _user_data(rec))
    return m.group(1) if m else "unknown"


class Member:
    def __init__(self, rec: dict[str, Any], conf: dict[str, str]) -> None:
        self.rec = rec
        self.conf = conf

    @property
    def root(self) -> Path:
        return Path(self.rec["sim"]["root"])

    @property
    def name(self) -> str:
        return self.conf.get("name", "default")

    @property
    def client(self) -> str:
        return self.conf.get("advertise-client-urls", "").split(",")[0]

    @property
    def peer(self) -> str:
        return self.conf.get("initial-advertise-peer-urls", "").split(",")[0]

    def db(self) -> dict[str, Any] | None:
        return data3.read_db(self.root, self.conf.get("data-dir", data3.DATA_DIR))


def config(rec: dict[str, Any]) -> dict[str, str] | None:
    """etcd's settings from the unit: flags, then the EnvironmentFile's ETCD_* (for flags the
    unit leaves out); None when the droplet runs no such unit, waits for its file, or etcd
    refuses a variable that a flag shadows (etcd 3.4: "conflicting environment variable")."""
    text = unit_text(_user_data(rec))
    joined = text.replace("\\\n", " ")
    start = [line for line in joined.splitlines() if line.startswith("ExecStart=")]
    if not start or not start[0].split("=", 1)[1].split()[0].endswith("/etcd"):
        return None
    conf: dict[str, str] = {}
    for flag in start[0].split()[1:]:
        key, _, value = flag.removeprefix("--").partition("=")
        conf[key] = value
    flags = set(conf)
    for path in re.findall(r"^EnvironmentFile=(\S+)$", text, re.MULTILINE):
        host = Path(rec["sim"]["root"]) / path.lstrip("-/")
        if not host.is_file():
            if path.startswith("-"):
                continue
            return None
        for line in host.read_text().splitlines():
            key, eq, value = line.strip().partition("=")
            name = key[5:].lower().replace("_", "-")
            if eq and key.startswith("ETCD_") and name in flags:
                return None  # etcd exits: a variable that a flag shadows
            if eq and key.startswith("ETCD_"):
                conf[name] = value
    ip = rec["sim"].get("private_ip") or ""
    return {k: v.replace("$private_ipv4", ip) for k, v in conf.items()}


def running(rec: dict[str, Any], now: float, starting: str = "",
            data: dict[str, Any] | None = None) -> Member | None:
    """The member this droplet runs now (its data dir made on its first start), or None;
    the droplet whose root is STARTING counts as started (systemctl is starting it)."""
    if model.status_at(rec, now) != "active" or boots.down(Path(rec["sim"]["root"]), now):
        return None
    conf = config(rec)
    root = Path(rec["sim"]["root"])
    if conf is None or (units.stopped(root, UNIT) and str(root) != starting):
        return None
    if not all((root / PKI.lstrip("/") / f).is_file() for f in TLS_FILES):
        return None  # tls-ready.service holds etcd back
    member = Member(rec, conf)
    if member.db() is None and not first_start(member, data, now):
        return None
    return member


def first_start(member: Member, data: dict[str, Any] | None, now: float) -> bool:
    """etcd on an empty data dir: it must find itself in the initial cluster; then the data
    dir records that cluster (initial-cluster-state new), or, with state existing, the cluster
    of a running member whose membership already has it (member add), with that member's data
    (etcd sends a joining member a snapshot)."""
    initial = data3.parse_initial(member.conf.get("initial-cluster", ""))
    if [member.name, member.peer] not in initial:
        return False
    target = member.root / member.conf.get("data-dir", data3.DATA_DIR).lstrip("/")
    if member.conf.get("initial-cluster-state", "new") == "existing":
        for rec in (data or {"droplets": {}})["droplets"].values():
            if rec is member.rec or data3.read_db(Path(rec["sim"]["root"])) is None:
                continue
            source = running(rec, now)
            db = source.db() if source else None
            if db and [member.name, member.peer] in db["members"]:
                data3.write_db(target, {**db, "name": member.name})
                return True
        return False  # etcd exits: no member of the existing cluster knows it
    token = member.conf.get("initial-cluster-token", "etcd-cluster")
    data3.write_db(target, {"cluster_id": data3.cluster_id(token, initial), "token": token,
                            "name": member.name, "members": initial, "keys": {},
                            "revision": 1})
    return True


def members_now(data: dict[str, Any], now: float, starting: str = "") -> list[Member]:
    return [m for rec in data["droplets"].values()
            if (m := running(rec, now, starting, data)) is not None]


def quorum(member: Member, live: list[Member]) -> bool:
    db = member.db() or {}
    peers = [m for m in live if (m.db() or {}).get("cluster_id") == db.get("cluster_id")]
    return len(peers) * 2 > len(db.get("members", []))


def leader(member: Member, live: list[Member]) -> Member | None:
    db = member.db() or {}
    if not quorum(member, live):
        return None
    same = [m for m in live if (m.db() or {}).get("cluster_id") == db.get("cluster_id")]
    return min(same, key=lambda m: m.name)


def reconfigure(live: list[Member], via: Member, members: list[list[str]]) -> None:
    """A membership change through VIA: recorded in every running member of its cluster."""
    cid = (via.db() or {})["cluster_id"]
    for member in live:
        db = member.db() or {}
        if db.get("cluster_id") == cid:
            db["members"] = members
            data3.write_db(member.root / data3.DATA_DIR.lstrip("/"), db)


def put(state_file: Path, keys: dict[str, str]) -> None:
    """For tests: what the apiserver writes, replicated to every running member's data dir."""
    data = st.load(state_file)
    for member in members_now(data, time.time()):
        db = member.db() or {}
        db["keys"].update(keys)
        db["revision"] += len(keys)
        data3.write_db(member.root / data3.DATA_DIR.lstrip("/"), db)
