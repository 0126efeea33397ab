"""etcdctl's key and data-dir commands over ssh (what `make backup` sends), beside
daemons.py's health and membership: ``ls --recursive [-p]``, ``set`` of a hidden key (``/_``:
etcd v2 lists it nowhere), and ``backup --data-dir D --backup-dir B`` (etcdctl 2.2
etcdctl/command/backup_command.go: a copy of the member's snap/ and wal/ under B/member/).

The store holds what daemons.py derives (the flannel key); a member's data dir is CoreOS's
``/var/lib/etcd2`` (etcd2.service's ETCD_DATA_DIR), there once its etcd runs."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .rops import Session

DATA_DIR = "/var/lib/etcd2"
# make restore's runtime drop-in and the membership a restored founder keeps (dosim's record).
RESTORE_DROPIN = "run/systemd/system/etcd2.service.d/90-force-new-cluster.conf"
CLUSTER = "var/lib/dosim/etcd-restored.json"
# etcd's default peer URL, what --force-new-cluster leaves (etcd v2 admin guide).
DEFAULT_PEER = "http://localhost:2380"
# The keys the stand-in's store can hold (daemons.py derives their values).
KNOWN_KEYS = ("/coreos.com/network/config",)


def listing(keys: dict[str, str], slash_dirs: bool) -> list[str]:
    """`ls --recursive` of the store: every directory (with `-p`: ending in /) and key."""
    out: set[str] = set()
    for key in keys:
        parts = key.strip("/").split("/")
        for depth in range(1, len(parts)):
            out.add("/" + "/".join(parts[:depth]) + ("/" if slash_dirs else ""))
        out.add(key)
    return sorted(out)


def op_ls(args: list[str], keys: dict[str, str]) -> int:
    flags = {a for a in args if a.startswith("-")}
    if not flags <= {"--recursive", "-r", "-p"} or [a for a in args if not a.startswith("-")
                                                     and a != "/"]:
        sys.stderr.write(f"etcdctl ls {' '.join(args)}: not simulated (dosim: ls --recursive "
                         "[-p] [/])\n")
        return 2
    if not flags & {"--recursive", "-r"}:
        sys.stderr.write("etcdctl ls without --recursive: not simulated (dosim)\n")
        return 2
    for line in listing(keys, "-p" in flags):
        print(line)
    return 0


def op_set_hidden(args: list[str]) -> int:
    if len(args) != 2 or not args[0].startswith("/_"):
        sys.stderr.write("etcdctl set: only a hidden key (/_...) is simulated (dosim)\n")
        return 2
    print(args[1])
    return 0


def op_backup(s: Session, args: list[str], keys: dict[str, str] | None) -> int:
    """keys: the member's store, None when this droplet runs no member (no data dir)."""
    opts: dict[str, str] = {}
    rest = list(args)
    while rest:
        flag = rest.pop(0)
        if flag not in ("--data-dir", "--backup-dir") or not rest:
            sys.stderr.write(f"etcdctl backup {' '.join(args)}: not simulated (dosim: "
                             "--data-dir D --backup-dir B)\n")
            return 2
        opts[flag] = rest.pop(0)
    if set(opts) != {"--data-dir", "--backup-dir"}:
        sys.stderr.write("etcdctl backup: --data-dir and --backup-dir are required (dosim)\n")
        return 2
    data = s.dpath(opts["--data-dir"])
    if keys is None or data != DATA_DIR:
        sys.stderr.write(f"open {opts['--data-dir']}/member/snap: no such file or directory\n")
        return 1
    if not s.as_root:  # etcd2.service runs as etcd: its data dir is 0700 etcd
        sys.stderr.write(f"open {opts['--data-dir']}/member/snap: permission denied\n")
        return 1
    target = s.host(s.dpath(opts["--backup-dir"]))
    (target / "member/snap").mkdir(parents=True, exist_ok=True)
    (target / "member/wal").mkdir(parents=True, exist_ok=True)
    (target / "member/snap/db").write_text(json.dumps({"keys": keys}, sort_keys=True) + "\n")
    (target / "member/wal/0000000000000000-0000000000000000.wal").write_text("dosim wal\n")
    return 0


def restored_members(data: dict[str, Any]) -> list[tuple[str, str]] | None:
    """The membership of a reconfigured cluster (name, peer URL): restored (kept by its
    founder) or changed at runtime (kept by the member that answered); None while the static
    cluster's initial membership holds."""
    path = _founder_path(data)
    if path is None:
        return None
    return [(n, u) for n, u in json.loads(path.read_text())["members"]]


def bootstrapped(data: dict[str, Any], rec: dict[str, Any]) -> bool:
    """rec ran as a member before the reconfiguration (a survivor, or the founder): it keeps
    its data dir; any other member must have joined with initial-cluster-state existing."""
    path = _founder_path(data)
    if path is None:
        return True
    return is_founder(rec) or rec["id"] in json.loads(path.read_text()).get("bootstrapped", [])


def is_founder(rec: dict[str, Any]) -> bool:
    return (Path(rec["sim"]["root"]) / CLUSTER).is_file()


def _founder_path(data: dict[str, Any]) -> Path | None:
    for rec in data["droplets"].values():
        path = Path(rec["sim"]["root"]) / CLUSTER
        if path.is_file():
            return path
    return None


def on_start(s: Session, data: dict[str, Any], name: str, own_peer: str, state: str
             ) -> str | None:
    """etcd2 starts: with the restore drop-in it needs a data dir (the unpacked backup) and
    becomes a one-member cluster at DEFAULT_PEER; a member joining a reconfigured cluster
    (initial-cluster-state existing) must have been added with its peer URL first."""
    dropin = s.root / RESTORE_DROPIN
    if dropin.is_file() and "ETCD_FORCE_NEW_CLUSTER=true" in dropin.read_text():
        if not (s.host(DATA_DIR) / "member/snap/db").is_file():
            return f"--force-new-cluster on {DATA_DIR} without a backup in it"
        for rec in data["droplets"].values():  # one membership record: the new cluster's
            (Path(rec["sim"]["root"]) / CLUSTER).unlink(missing_ok=True)
        (s.root / CLUSTER).parent.mkdir(parents=True, exist_ok=True)
        (s.root / CLUSTER).write_text(json.dumps({"members": [[name, DEFAULT_PEER]]}) + "\n")
        return None
    members = restored_members(data)
    me = next((r for r in data["droplets"].values() if r["sim"]["root"] == str(s.root)), None)
    if members is None or (me is not None and bootstrapped(data, me)):
        return None  # the static cluster, or a member restarted with its data dir
    if state != "existing":
        return "a new cluster beside the running one (initial-cluster-state is not existing)"
    if (name, own_peer) not in members:
        return f"member {name} ({own_peer}) was not added to the cluster"
    return None


def _member_id(name: str, peer_url: str) -> str:
    return hashlib.sha256(f"{name} {peer_url}".encode()).hexdigest()[:16]


def reconfigure(s: Session, data: dict[str, Any], args: list[str],
                ids: dict[str, tuple[str, str]],
                live: list[tuple[str, str, str]]) -> int:
    """``member update ID URL`` / ``member add NAME URL`` / ``member remove ID`` (etcdctl 2.2
    member_commands.go's output). The first reconfiguration of a static cluster records its
    membership on the member that answers (``live``: name, peer URL, droplet id of each
    member, None for the id of one that does not answer)."""
    path = _founder_path(data)
    if path is None:
        path = s.root / CLUSTER
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"members": [[n, u] for n, u, _ in live], "bootstrapped":
                                    [i for _, _, i in live if i is not None]}) + "\n")
    record = json.loads(path.read_text())
    members = record["members"]
    if args[0] in ("member-update", "member-remove") and args[1] not in ids:
        sys.stderr.write(f"client: etcd cluster is unavailable or misconfigured: member "
                         f"{args[1]} not found\n")
        return 1
    if args[0] == "member-update":
        for m in members:
            if (m[0], m[1]) == ids[args[1]]:
                m[1] = args[2]
        print(f"Updated member with ID {args[1]} in cluster")
    elif args[0] == "member-remove":
        members = [m for m in members if (m[0], m[1]) != ids[args[1]]]
        print(f"Removed member {args[1]} from cluster")
    else:
        if any(m[1] == args[2] for m in members):
            sys.stderr.write("client: etcd cluster is unavailable or misconfigured: "
                             "peerURL exists\n")
            return 1
        members.append([args[1], args[2]])
        print(f"Added member named {args[1]} with ID {_member_id(args[1], args[2])} to cluster")
        print()
        print(f'ETCD_NAME="{args[1]}"')
        print('ETCD_INITIAL_CLUSTER="{}"'.format(",".join(f"{n}={u}" for n, u in members)))
        print('ETCD_INITIAL_CLUSTER_STATE="existing"')
    record["members"] = members
    path.write_text(json.dumps(record) + "\n")
    return 0
