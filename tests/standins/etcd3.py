"""``/opt/bin/etcdctl`` (v3, etcd 3.6's JSON) and ``/opt/bin/etcdutl`` on the current
profile's droplets, answering from the members etcd3members.py finds in the simulated account,
and systemd's start of etcd.service (a blocking start waits for a quorum).

Simulated (etcdctl v3.6 ctlv3/command): the global flags ``--endpoints --cacert --cert --key
--dial-timeout --command-timeout -w json``; ``member list``, ``endpoint health|status
[--cluster]``, ``get KEY [--prefix] [--limit N] [--rev R]``, ``snapshot save FILE``. etcd
listens on the private IP only: any other endpoint is refused. Every call must name the three
TLS files, readable where it runs (the key is 0600 root: sudo), else the server refuses it.
Output shapes: etcdctl's printer_json.go (member list, endpoint health's
[{endpoint, health, took, error}], endpoint status's [{Endpoint, Status}], get's RangeResponse)."""

from __future__ import annotations

import base64
import json
import re
import sys
import time
from typing import TYPE_CHECKING, Any

from . import etcd3data as data3
from . import state as st
from . import units
from .daemons import tls_files_problem
from .etcd3members import (
    Member,
    installed,
    leader,
    members_now,
    quorum,
    reconfigure,
    version,
)

if TYPE_CHECKING:
    from .rops import Session

UNIT = "etcd.service"
DEADLINE = "context deadline exceeded"


GLOBAL = ("--endpoints", "--cacert", "--cert", "--key", "--dial-timeout", "--command-timeout",
          "--write-out")
LOCAL = {"member list": (), "endpoint health": ("--cluster",), "endpoint status": ("--cluster",),
         "get": ("--prefix", "--limit", "--rev"), "snapshot save": (),
         "member add": ("--peer-urls",), "member remove": ()}
BOOLEAN = ("--cluster", "--prefix")


def _parse(args: list[str]) -> tuple[str, dict[str, str], list[str]] | str:
    opts: dict[str, str] = {}
    words: list[str] = []
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if not arg.startswith("-"):
            words.append(arg)
            continue
        flag, eq, value = arg.partition("=")
        flag = {"-w": "--write-out"}.get(flag, flag)
        command = " ".join(words[:2]) if " ".join(words[:2]) in LOCAL else " ".join(words[:1])
        if flag not in GLOBAL and flag not in LOCAL.get(command, ()):
            return f"Error: unknown flag: {flag}"
        if flag in BOOLEAN:
            opts[flag] = value or "true"
            continue
        if not eq:
            if not rest:
                return f"Error: flag needs an argument: {flag}"
            value = rest.pop(0)
        opts[flag] = value
    command = " ".join(words[:2]) if " ".join(words[:2]) in LOCAL else " ".join(words[:1])
    if command not in LOCAL:
        return f"etcdctl {' '.join(words[:2])}: not simulated (dosim: {', '.join(LOCAL)})"
    return command, opts, words[len(command.split()):]


def _tls_problem(s: Session, opts: dict[str, str]) -> str | None:
    return tls_files_problem(s, [opts.get(f) for f in ("--cacert", "--cert", "--key")],
                             "remote error: tls: certificate required")


def _ids(member: Member) -> tuple[int, int]:
    db = member.db() or {}
    return int(db["cluster_id"]), int(data3.member_id(member.name, member.peer, db["token"]))


def _header(member: Member) -> dict[str, int]:
    cluster, me = _ids(member)
    return {"cluster_id": cluster, "member_id": me,
            "revision": (member.db() or {}).get("revision", 1), "raft_term": 2}


def op_etcdctl3(s: Session, args: list[str]) -> int:
    parsed = _parse(args)
    if isinstance(parsed, str):
        sys.stderr.write(parsed + "\n")
        return 1
    command, opts, rest = parsed
    simple = command in ("snapshot save", "member add", "member remove") or (
        command == "member list" and opts.get("--write-out") == "simple")
    if opts.get("--write-out", "simple") != "json" and not simple:
        sys.stderr.write("etcdctl: only -w json is simulated, and -w simple for member list "
                         "(dosim)\n")
        return 2
    now = time.time()
    with st.locked(write=False) as data:
        live = members_now(data, now)
        me = next((r for r in data["droplets"].values() if r["sim"]["root"] == str(s.root)), None)
    if me is None or not installed(me, "etcdctl"):
        sys.stderr.write("bash: /opt/bin/etcdctl: No such file or directory\n")
        return 127
    endpoints = [e for e in opts.get("--endpoints", "127.0.0.1:2379").split(",") if e]
    problem = _tls_problem(s, opts)
    by_url = {m.client: m for m in live}
    if problem is not None or not any(e in by_url for e in endpoints):
        sys.stderr.write(f"{{\"level\":\"warn\",\"msg\":\"retrying of unary invoker failed\","
                         f"\"error\":\"{problem or 'connection refused'}\"}}\nError: {DEADLINE}\n")
        return 1
    first = next(by_url[e] for e in endpoints if e in by_url)
    if command in ("member add", "member remove"):
        return _reconfigure(command, first, live, rest, opts)
    if command == "member list" and opts.get("--write-out") == "simple":
        db = first.db() or {}
        port = first.client.rsplit(":", 1)[1]
        started = {m.peer for m in live}
        for n, p in db["members"]:
            print(f"{int(data3.member_id(n, p, db['token'])):x}, "
                  f"{'started' if p in started else 'unstarted'}, {n if p in started else ''}, "
                  f"{p}, {p.rsplit(':', 1)[0] + ':' + port if p in started else ''}, false")
        return 0
    if command == "member list":
        db = first.db() or {}
        port = first.client.rsplit(":", 1)[1]
        members = [{"ID": int(data3.member_id(n, p, db["token"])), "name": n, "peerURLs": [p],
                    "clientURLs": [p.rsplit(":", 1)[0] + ":" + port]} for n, p in db["members"]]
        print(json.dumps({"header": _header(first), "members": members}))
        return 0
    if command.startswith("endpoint"):
        if opts.get("--cluster") == "true":
            db = first.db() or {}
            port = first.client.rsplit(":", 1)[1]
            endpoints = [p.rsplit(":", 1)[0] + ":" + port for _, p in db["members"]]
        return _endpoint(command, endpoints, by_url, live)
    if command == "snapshot save":
        return _snapshot_save(s, endpoints, first, rest)
    return _get(first, live, rest, opts)


def _reconfigure(command: str, via: Member, live: list[Member], rest: list[str],
                 opts: dict[str, str]) -> int:
    """etcdctl member add NAME --peer-urls=URL / member remove HEXID (ctlv3 member_command.go
    messages), through a member of a cluster with a quorum."""
    if not quorum(via, live):
        sys.stderr.write(f"Error: {DEADLINE}\n")
        return 1
    db = via.db() or {}
    cid = int(db["cluster_id"])
    ids = {int(data3.member_id(n, p, db["token"])): [n, p] for n, p in db["members"]}
    if command == "member remove":
        if len(rest) != 1 or not re.fullmatch(r"[0-9a-f]{1,16}", rest[0]):
            sys.stderr.write("Error: member ID is not provided\n" if not rest else
                             f"Error: bad member ID arg (strconv.ParseUint: parsing "
                             f"\"{rest[0]}\": invalid syntax), expecting ID in Hex\n")
            return 1
        gone = ids.pop(int(rest[0], 16), None)
        if gone is None:
            sys.stderr.write("Error: etcdserver: member not found\n")
            return 1
        reconfigure(live, via, list(ids.values()))
        print(f"Member {int(rest[0], 16):16x} removed from cluster {cid:16x}")
        return 0
    url = opts.get("--peer-urls", "")
    if len(rest) != 1 or not url:
        sys.stderr.write("Error: member name not provided\n" if len(rest) != 1 else
                         "Error: member peer urls not provided\n")
        return 1
    if any(p == url for _, p in ids.values()):
        sys.stderr.write("Error: etcdserver: Peer URLs already exists\n")
        return 1
    members = [*ids.values(), [rest[0], url]]
    new = int(data3.member_id(rest[0], url, db["token"]))
    reconfigure(live, via, members)
    print(f"Member {new:16x} added to cluster {cid:16x}\n")
    print(f'ETCD_NAME="{rest[0]}"')
    print('ETCD_INITIAL_CLUSTER="{}"'.format(",".join(f"{n}={p}" for n, p in members)))
    print(f'ETCD_INITIAL_ADVERTISE_PEER_URLS="{url}"')
    print('ETCD_INITIAL_CLUSTER_STATE="existing"')
    return 0


def _endpoint(command: str, endpoints: list[str], by_url: dict[str, Member],
              live: list[Member]) -> int:
    out: list[dict[str, Any]] = []
    failed = False
    for url in endpoints:
        member = by_url.get(url)
        if command == "endpoint health":
            ok = member is not None and quorum(member, live)
            out.append({"endpoint": url, "health": ok, "took": "1.2ms"} if ok else
                       {"endpoint": url, "health": False, "took": "5s",
                        "error": f"rpc error: code = DeadlineExceeded desc = {DEADLINE}"})
            failed |= not ok
            continue
        if member is None:
            sys.stderr.write(f"Failed to get the status of endpoint {url} ({DEADLINE})\n")
            failed = True
            continue
        lead = leader(member, live)
        size = len(json.dumps((member.db() or {}).get("keys", {}))) + 20480
        out.append({"Endpoint": url, "Status": {
            "header": _header(member), "version": version(member.rec), "dbSize": size,
            "leader": _ids(lead)[1] if lead else 0,
            "raftIndex": _header(member)["revision"] + 10, "raftTerm": 2,
            "raftAppliedIndex": _header(member)["revision"] + 10, "dbSizeInUse": size,
            "isLearner": False, "storageVersion": data3.VERSION, "dbSizeQuota": 2147483648,
            "downgradeInfo": {"targetVersion": "", "enabled": False}}})
    print(json.dumps(out))
    if failed and command == "endpoint health":
        sys.stderr.write("Error: unhealthy cluster\n")
    return 1 if failed else 0


def _snapshot_save(s: Session, endpoints: list[str], member: Member, rest: list[str]) -> int:
    if len(endpoints) != 1:
        sys.stderr.write("Error: snapshot must be requested to one selected node, not multiple"
                         f" {endpoints}\n")
        return 1
    if len(rest) != 1:
        sys.stderr.write("Error: snapshot save expects one argument\n")
        return 1
    dp = s.dpath(rest[0])
    parent = dp.rsplit("/", 1)[0] or "/"
    if not s.can_write_dir(parent) or (s.host(dp).exists() and not s.can_write_file(dp)):
        sys.stderr.write(f"Error: could not open {rest[0]}.part (open {rest[0]}.part: "
                         "permission denied)\n")
        return 1
    host = s.host(dp)
    host.write_bytes(data3.snapshot_bytes(member.db() or {}))
    host.chmod(0o600)
    s.set_owner(dp, s.actor())
    print(f"Snapshot saved at {rest[0]}")
    return 0


def _get(member: Member, live: list[Member], rest: list[str], opts: dict[str, str]) -> int:
    if not quorum(member, live):
        sys.stderr.write(f"Error: {DEADLINE}\n")
        return 1
    if len(rest) != 1:
        sys.stderr.write("Error: get command needs one argument as key and an optional "
                         "argument as range_end\n")
        return 1
    db = member.db() or {}
    rev = int(opts.get("--rev", "0") or 0)
    if rev > db["revision"]:
        sys.stderr.write("Error: etcdserver: mvcc: required revision is a future revision\n")
        return 1
    key = rest[0]
    if opts.get("--prefix") == "true":
        keys = sorted(k for k in db["keys"] if k.startswith(key))
    else:
        keys = [key] if key in db["keys"] else []
    limit = int(opts.get("--limit", "0") or 0)
    shown = keys[:limit] if limit else keys
    kvs = [{"key": base64.b64encode(k.encode()).decode(), "create_revision": 2,
            "mod_revision": 2, "version": 1,
            "value": base64.b64encode(db["keys"][k].encode()).decode()} for k in shown]
    body: dict[str, Any] = {"header": _header(member)}
    if kvs:
        body["kvs"] = kvs
    if keys:
        body["count"] = len(keys)
    print(json.dumps(body))
    return 0


def op_etcdutl(s: Session, args: list[str]) -> int:
    with st.locked(write=False) as data:
        me = next((r for r in data["droplets"].values() if r["sim"]["root"] == str(s.root)), None)
    if me is None or not installed(me, "etcdutl"):
        sys.stderr.write("bash: /opt/bin/etcdutl: No such file or directory\n")
        return 127
    return data3.op_etcdutl(s, args)


def _on_start(s: Session) -> str | None:
    """systemctl start etcd: a member needing a quorum is ready (Type=notify) only once a
    majority runs; a blocking start before that times out (--no-block does not wait)."""
    if not units.BLOCKING:
        return None
    with st.locked(write=False) as data:
        me = next((r for r in data["droplets"].values() if r["sim"]["root"] == str(s.root)), None)
        live = members_now(data, time.time(), str(s.root))
    member = next((m for m in live if me is not None and m.rec["id"] == me["id"]), None)
    if member is None:
        return "etcd did not start (its settings, TLS files or data dir are missing)"
    if not quorum(member, live):
        return ("a timeout was exceeded: etcd waits for a quorum of its cluster "
                "(start it with --no-block)")
    return None


units.START_HOOKS[UNIT] = _on_start
