"""What the droplets' daemons answer over ssh: ``etcdctl`` (v2, etcd 2.2 as on the tutorial's
CoreOS) and ``systemctl``, derived from the simulated account and each droplet's user data.

Nothing runs: an etcd member is "up" while its droplet exists and is active; a proxy
(``proxy: on``) reaches the members its ``initial-cluster`` names by their private IPs. The
flannel key exists once a droplet whose user data sets it (the flanneld drop-in's
``etcdctl set``) became active after the member did (so a re-created member has lost it).
Messages and exit codes follow etcdctl 2.2 (etcdctl/command/cluster_health.go, error.go:
ExitServerError 4, ExitClusterNotHealthy 5) and systemctl.
"""

from __future__ import annotations

import hashlib
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import etcdstore, model, units
from . import state as st
from .units import UNIT_LOG, op_systemctl, restarts  # noqa: F401 (the daemons' API)

if TYPE_CHECKING:
    from .rops import Session

USER_DATA = "var/lib/dosim/user-data"
EXIT_SERVER_ERROR = 4
EXIT_CLUSTER_NOT_HEALTHY = 5


class Etcd2:
    """The ``coreos.etcd2`` section of a droplet's user data (flat ``key: value`` lines)."""

    def __init__(self, settings: dict[str, str]) -> None:
        self.settings = settings

    @classmethod
    def of(cls, user_data: str) -> Etcd2:
        settings: dict[str, str] = {}
        inside = False
        indent = 0
        for line in user_data.splitlines():
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            depth = len(line) - len(line.lstrip())
            if stripped == "etcd2:":
                inside, indent = True, depth
                continue
            if inside and depth <= indent:
                break
            if inside:
                key, _, value = stripped.partition(":")
                settings[key.strip()] = value.strip().strip('"')
        return cls(settings)

    @property
    def proxy(self) -> bool:
        return self.settings.get("proxy", "off") == "on"

    def peers(self) -> list[tuple[str, str]]:
        """(member name, peer URL) of ``initial-cluster``."""
        out = []
        for item in self.settings.get("initial-cluster", "").split(","):
            name, eq, url = item.strip().partition("=")
            if eq:
                out.append((name, url))
        return out


def _user_data(rec: dict[str, Any]) -> str:
    path = Path(rec["sim"]["root"]) / USER_DATA
    return path.read_text() if path.is_file() else ""


_ENV_FILE = re.compile(r"^\s*EnvironmentFile=(-?)(/\S+)\s*$", re.MULTILINE)


def etcd_settings(rec: dict[str, Any]) -> dict[str, str] | None:
    """etcd2's settings on this droplet: the user data's ``coreos.etcd2`` overridden by the
    ``EnvironmentFile=`` its drop-in names (``ETCD_INITIAL_CLUSTER`` -> ``initial-cluster``:
    systemd lets the file win over Environment=). None while etcd2 cannot start: a file
    named without ``-`` that does not exist (a static cluster's member waits for it)."""
    text = _user_data(rec)
    settings = dict(Etcd2.of(text).settings)
    for optional, path in _ENV_FILE.findall(text):
        host = Path(rec["sim"]["root"]) / path.lstrip("/")
        if not host.is_file():
            if optional:
                continue
            return None
        for line in host.read_text().splitlines():
            key, eq, value = line.strip().partition("=")
            if eq and key.startswith("ETCD_"):
                settings[key[5:].lower().replace("_", "-")] = value
    if settings.get("proxy", "off") != "on" and "initial-cluster" not in settings:
        # etcd's default for a named member: itself at its advertised peer URLs
        settings["initial-cluster"] = "{}={}".format(settings.get("name", "default"), settings.get(
            "initial-advertise-peer-urls", "http://localhost:2380").split(",")[0].strip())
    ip = rec["sim"].get("private_ip") or ""
    return {k: v.replace("$private_ipv4", ip) for k, v in settings.items()}


def _peers(settings: dict[str, str]) -> list[tuple[str, str]]:
    return Etcd2(settings).peers()


def _host(url: str) -> str:
    return url.split("//", 1)[-1].rsplit(":", 1)[0]


def _member_id(name: str, peer_url: str) -> str:
    return hashlib.sha256(f"{name} {peer_url}".encode()).hexdigest()[:16]


class Member:
    def __init__(self, name: str, peer_url: str, rec: dict[str, Any] | None) -> None:
        self.name = name
        self.peer_url = peer_url
        self.rec = rec  # the droplet serving it, None when none answers

    @property
    def client_url(self) -> str:
        assert self.rec is not None
        conf = etcd_settings(self.rec) or {}
        url = conf.get("advertise-client-urls", "http://:2379").split(",")[0].strip()
        scheme, port = url.split("://", 1)[0], url.rsplit(":", 1)[-1]
        return f"{scheme}://{self.rec['sim']['private_ip']}:{port}"


def _live_member(data: dict[str, Any], name: str, ip: str, now: float) -> dict[str, Any] | None:
    """The active droplet with private IP ``ip`` running etcd member ``name``. A URL with an
    empty host (``https://:2380``) reaches none: etcd accepts it and dials its own loopback
    (etcd 3.4: "dial tcp :2380: connect: connection refused")."""
    if not ip:
        return None
    for rec in data["droplets"].values():
        if rec["sim"].get("private_ip") != ip or model.status_at(rec, now) != "active":
            continue
        conf = etcd_settings(rec)
        if conf is None or Etcd2(conf).proxy or conf.get("name") != name:
            continue
        if units.stopped(Path(rec["sim"]["root"]), "etcd2.service"):
            continue
        restored = etcdstore.restored_members(data)
        if restored is not None:  # reconfigured: the membership its record keeps
            if etcdstore.is_founder(rec) or (
                    (name, conf.get("initial-advertise-peer-urls", "").split(",")[0].strip())
                    in restored and (etcdstore.bootstrapped(data, rec)
                                     or conf.get("initial-cluster-state") == "existing")):
                return rec
            continue
        # etcd refuses to start when its initial cluster does not name it
        if any(n == name for n, _ in _peers(conf)):
            return rec
    return None


def _member_at(data: dict[str, Any], name: str, url: str, now: float) -> dict[str, Any] | None:
    """The droplet serving member ``name`` of a reconfigured membership at ``url`` (a restored
    founder keeps DEFAULT_PEER until its peer URL is updated: found by name)."""
    if url != etcdstore.DEFAULT_PEER:
        return _live_member(data, name, _host(url), now)
    for rec in data["droplets"].values():
        conf = etcd_settings(rec) if model.status_at(rec, now) == "active" else None
        if conf and conf.get("name") == name:
            return _live_member(data, name, rec["sim"].get("private_ip", ""), now)
    return None


def _members(s: Session, data: dict[str, Any], now: float) -> tuple[list[Member], str]:
    """The members this droplet's etcd (member or proxy) reaches, and its client endpoint."""
    me = next((r for r in data["droplets"].values() if r["sim"]["root"] == str(s.root)), None)
    if me is None:
        return [], "http://127.0.0.1:2379"
    settings = etcd_settings(me)
    if not settings:
        return [], "http://127.0.0.1:2379"
    conf = Etcd2(settings)
    port = settings.get("listen-client-urls", ":2379").split(",")[-1].rsplit(":", 1)[-1]
    endpoint = f"http://127.0.0.1:{port}"
    if not conf.proxy and _live_member(data, settings.get("name", ""), me["sim"].get(
            "private_ip", ""), now) is None:
        return [], endpoint  # etcd2 is not running (not started yet, or refused its config)
    restored = etcdstore.restored_members(data)
    static = [Member(n, url, _live_member(data, n, _host(url), now)) for n, url in conf.peers()]
    # a member keeps the reconfigured membership; a proxy learns it from a member it reaches
    if restored is not None and (not conf.proxy or any(m.rec is not None for m in static)):
        return [Member(n, url, _member_at(data, n, url, now)) for n, url in restored], endpoint
    return static, endpoint


def _flannel_setters(data: dict[str, Any], member: Member, key: str, now: float) -> list[str]:
    """Values the active droplets set ``key`` to through this member since it came up."""
    assert member.rec is not None
    pattern = re.compile(r"etcdctl (?:--no-sync )?set " + re.escape(key) + r" '([^']*)'")
    values = []
    for rec in data["droplets"].values():
        if model.status_at(rec, now) != "active":
            continue
        if rec["sim"]["active_at"] < member.rec["sim"]["active_at"]:
            continue
        text = _user_data(rec)
        conf = Etcd2.of(text)
        if rec is not member.rec and not any(_host(u) == member.rec["sim"]["private_ip"]
                                             for _, u in conf.peers()):
            continue
        values += pattern.findall(text)
    return values


def _unavailable(endpoint: str) -> str:
    return ("Error:  client: etcd cluster is unavailable or misconfigured\n"
            f"error #0: dial tcp {endpoint.split('//', 1)[-1]}: getsockopt: connection refused\n")


# etcdctl (v2) global options the scripts pass: TLS files and --no-sync.
_TLS_FLAGS = ("--ca-file", "--cert-file", "--key-file")


def _global_options(args: list[str]) -> tuple[dict[str, str], list[str]]:
    opts: dict[str, str] = {}
    while args and args[0].startswith("--"):
        flag, eq, value = args[0].partition("=")
        if flag == "--no-sync":
            opts[flag] = "1"
            args = args[1:]
        elif flag in ("--endpoint", "--endpoints") and (eq or len(args) > 1):
            opts["--endpoint"] = value if eq else args[1]
            args = args[1 if eq else 2:]
        elif flag in _TLS_FLAGS and (eq or len(args) > 1):
            opts[flag] = value if eq else args[1]
            args = args[1 if eq else 2:]
        else:
            break
    return opts, args


def _tls_problem(s: Session, opts: dict[str, str], members: list[Member]) -> str | None:
    """A member with ``client-cert-auth`` admits only a client presenting a certificate: the
    files must be given and readable here (etcd's keys are 0600 etcd: sudo)."""
    if not any(m.rec is not None and Etcd2.of(_user_data(m.rec)).settings.get(
            "client-cert-auth") == "true" for m in members):
        return None
    return tls_files_problem(s, [opts.get(flag) for flag in _TLS_FLAGS],
                             "remote error: tls: bad certificate")


def tls_files_problem(s: Session, paths: list[str | None], refused: str) -> str | None:
    """etcdctl's TLS files (also etcd3.py's): each given (else the server's REFUSED), present
    and readable where it runs."""
    for path in paths:
        if path is None:
            return refused
        dp = s.dpath(path)
        if not s.host(dp).is_file():
            return f"open {path}: no such file or directory"
        if not s.can_read(dp):
            return f"open {path}: permission denied"
    return None


def _store(data: dict[str, Any], member: Member, now: float) -> dict[str, str]:
    """The keys a live member holds (etcdstore.KNOWN_KEYS, derived as `get` does)."""
    keys = {}
    for key in etcdstore.KNOWN_KEYS:
        values = _flannel_setters(data, member, key, now)
        if values:
            keys[key] = values[-1]
    return keys


# the etcd release of the tutorial's CoreOS images (etcd2 2.2.x); etcdctl 2.2 prints its
# version with codegangsta/cli's default printer: "<name> version <version>"
ETCD_VERSION = "2.2.3"


def op_etcdctl(s: Session, args: list[str]) -> int:
    if args == ["--version"]:
        print(f"etcdctl version {ETCD_VERSION}")
        return 0
    opts, args = _global_options(args)
    if args[:2] == ["member", "list"] and len(args) == 2:
        args = ["member-list"]
    elif args[:2] in (["member", "update"], ["member", "add"]) and len(args) == 4:
        args = [f"member-{args[1]}", *args[2:]]
    elif args[:2] == ["member", "remove"] and len(args) == 3:
        args = ["member-remove", args[2]]
    if not args or args[0] not in ("cluster-health", "get", "member-list", "ls", "set",
                                   "backup", "member-update", "member-add", "member-remove"):
        sys.stderr.write(f"etcdctl: {args[:1]} is not simulated (dosim: cluster-health, get, "
                         "member list/add/remove/update, ls, set, backup)\n")
        return 2
    now = time.time()
    with st.locked(write=False) as data:
        members, endpoint = _members(s, data, now)
        up = [m for m in members if m.rec is not None]
        if args[0] == "backup":  # reads the data dir, asks no server
            me = [m for m in up if m.rec is not None and m.rec["sim"]["root"] == str(s.root)]
            return etcdstore.op_backup(s, args[1:], _store(data, me[0], now) if me else None)
        if "--endpoint" in opts and opts["--endpoint"].rstrip("/") != endpoint:
            sys.stderr.write(_unavailable(opts["--endpoint"]))
            return EXIT_SERVER_ERROR
        if not members:
            sys.stderr.write(_unavailable(endpoint))
            return EXIT_SERVER_ERROR
        # the plain-http loopback listener, without syncing to the https URLs: no certificate
        local = "--endpoint" in opts and "--no-sync" in opts
        problem = None if local else _tls_problem(s, opts, members)
        if problem is not None:
            sys.stderr.write("Error:  client: etcd cluster is unavailable or misconfigured\n"
                             f"error #0: {problem}\n")
            return EXIT_SERVER_ERROR
        if args[0] == "cluster-health":
            if not up:
                print("cluster may be unhealthy: failed to list members")
                sys.stderr.write(_unavailable(endpoint))
                return EXIT_SERVER_ERROR
            for m in members:
                if m.rec is None:
                    print(f"member {_member_id(m.name, m.peer_url)} is unreachable: "
                          f"[{m.peer_url}] are all unreachable")
                else:
                    print(f"member {_member_id(m.name, m.peer_url)} is healthy: got healthy "
                          f"result from {m.client_url}")
            healthy = len(up) == len(members)
            print("cluster is healthy" if healthy else "cluster is unhealthy")
            return 0 if healthy else EXIT_CLUSTER_NOT_HEALTHY
        if args[0] == "member-list":
            return _member_list(members, up, endpoint)
        if args[0] in ("member-update", "member-add", "member-remove"):
            if len(up) * 2 <= len(members):  # a configuration change needs the quorum
                sys.stderr.write(_unavailable(endpoint))
                return EXIT_SERVER_ERROR
            ids = {_member_id(m.name, m.peer_url): (m.name, m.peer_url) for m in members}
            live = [(m.name, m.peer_url, m.rec["id"] if m.rec else None) for m in members]
            return etcdstore.reconfigure(s, data, args, ids, live)
        if args[0] in ("ls", "set"):
            if not up:
                sys.stderr.write(_unavailable(endpoint))
                return EXIT_SERVER_ERROR
            if args[0] == "set":
                return etcdstore.op_set_hidden(args[1:])
            return etcdstore.op_ls(args[1:], _store(data, up[0], now))
        if len(args) != 2:
            sys.stderr.write("etcdctl get: one key (dosim)\n")
            return 2
        if not up:
            sys.stderr.write(_unavailable(endpoint))
            return EXIT_SERVER_ERROR
        values = _flannel_setters(data, up[0], args[1], now)
    if not values:
        top = "/" + args[1].strip("/").split("/")[0]
        sys.stderr.write(f"Error:  100: Key not found ({top}) [{len(members) + 3}]\n")
        return EXIT_SERVER_ERROR
    print(values[-1])
    return 0


def _member_list(members: list[Member], up: list[Member], endpoint: str) -> int:
    """etcdctl 2.2 ``member list`` (etcdctl/command/member_commands.go): one line per member
    of the membership, reachable or not; the leader (here: the first live member by name,
    while a majority is live) with isLeader=true."""
    if not up:
        sys.stderr.write(_unavailable(endpoint))
        return EXIT_SERVER_ERROR
    leader = min(m.name for m in up) if len(up) > len(members) // 2 else None
    for m in members:
        client = m.client_url if m.rec is not None else \
            m.peer_url.rsplit(":", 1)[0] + ":" + endpoint.rsplit(":", 1)[-1]
        print(f"{_member_id(m.name, m.peer_url)}: name={m.name} peerURLs={m.peer_url} "
              f"clientURLs={client} isLeader={'true' if m.name == leader else 'false'}")
    return 0


def _on_etcd2_start(s: Session) -> str | None:
    """etcd2 starting on this droplet (systemctl start/restart): its settings as systemd hands
    them over (the restore drop-in's ETCD_FORCE_NEW_CLUSTER included)."""
    with st.locked(write=False) as data:
        me = next((r for r in data["droplets"].values() if r["sim"]["root"] == str(s.root)), None)
        conf = etcd_settings(me) if me else None
        if me is None or conf is None or Etcd2(conf).proxy:
            return "etcd2 has no member configuration here (its EnvironmentFile is missing?)"
        own = conf.get("initial-advertise-peer-urls", "").split(",")[0].strip()
        return etcdstore.on_start(s, data, conf.get("name", ""), own,
                                  conf.get("initial-cluster-state", "new"))


units.START_HOOKS["etcd2.service"] = _on_etcd2_start
