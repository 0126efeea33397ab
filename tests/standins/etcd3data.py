"""The current profile's etcd v3 members as files in the droplets: each member's data dir
(``/var/lib/etcd/member/snap/db``, the unit's --data-dir) holds the stand-in's record of its
cluster (the cluster ID that etcd derives from the initial cluster and token, the membership,
the keys and the revision), and a snapshot file (``etcdctl snapshot save``) holds the same
with a sha256 over it, as etcd appends one (etcdutl checks it on restore). ``etcdutl
snapshot status|restore`` (etcd v3.6 etcdutl/README.md; the flags of snapshot restore:
--name, --initial-cluster, --initial-cluster-token, --initial-advertise-peer-urls,
--data-dir) read and write these files."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .rops import Session

DATA_DIR = "/var/lib/etcd"
DB = "member/snap/db"
WAL = "member/wal/0000000000000000-0000000000000000.wal"
MAGIC = "dosim etcd v3 snapshot\n"
VERSION = "3.6.0"  # etcdutl snapshot status's storage version of a 3.6 snapshot


def cluster_id(token: str, members: list[list[str]]) -> str:
    """etcd derives the cluster ID from the sorted peer URLs and the token (membership.go)."""
    text = ",".join(sorted(url for _, url in members)) + "/" + token
    return str(int(hashlib.sha256(text.encode()).hexdigest()[:15], 16))


def member_id(name: str, peer: str, token: str) -> str:
    return str(int(hashlib.sha256(f"{peer}/{token}/{name}".encode()).hexdigest()[:15], 16))


def parse_initial(text: str) -> list[list[str]]:
    out = []
    for item in text.split(","):
        name, eq, url = item.strip().partition("=")
        if eq:
            out.append([name, url])
    return out


def read_db(root: Path, data_dir: str = DATA_DIR) -> dict[str, Any] | None:
    path = root / data_dir.lstrip("/") / DB
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "cluster_id" in data else None


def write_db(target: Path, db: dict[str, Any]) -> None:
    (target / "member/snap").mkdir(parents=True, exist_ok=True)
    (target / "member/wal").mkdir(parents=True, exist_ok=True)
    (target / DB).write_text(json.dumps(db, sort_keys=True) + "\n")
    (target / WAL).write_text("dosim wal\n")


def snapshot_bytes(db: dict[str, Any]) -> bytes:
    body = (MAGIC + json.dumps({"keys": db["keys"], "revision": db["revision"]},
                               sort_keys=True) + "\n").encode()
    return body + hashlib.sha256(body).hexdigest().encode()


def read_snapshot(data: bytes) -> tuple[dict[str, Any] | None, str]:
    """(its contents, "") or (None, etcdutl's complaint)."""
    body, digest = data[:-64], data[-64:]
    if not data.startswith(MAGIC.encode()) or len(data) < len(MAGIC) + 64:
        return None, "invalid database"
    if hashlib.sha256(body).hexdigest().encode() != digest:
        return None, "snapshot file integrity check failed. expected sha256 hash mismatch"
    try:
        return json.loads(body[len(MAGIC):]), ""
    except ValueError:
        return None, "invalid database"


def status_json(snap: dict[str, Any], size: int) -> str:
    keys = json.dumps(snap["keys"], sort_keys=True).encode()
    return json.dumps({"hash": int(hashlib.sha256(keys).hexdigest()[:8], 16),
                       "revision": snap["revision"], "totalKey": len(snap["keys"]),
                       "totalSize": size, "version": VERSION})


def _flags(args: list[str], known: tuple[str, ...]) -> tuple[dict[str, str], list[str]] | str:
    opts: dict[str, str] = {}
    rest: list[str] = []
    while args:
        arg = args.pop(0)
        if not arg.startswith("-"):
            rest.append(arg)
            continue
        flag, eq, value = arg.partition("=")
        flag = {"-w": "--write-out"}.get(flag, flag)
        if flag not in known:
            return f"Error: unknown flag: {flag}"
        if not eq:
            if not args:
                return f"Error: flag needs an argument: {flag}"
            value = args.pop(0)
        opts[flag] = value
    return opts, rest


def op_etcdutl(s: Session, args: list[str]) -> int:
    if args[:2] == ["snapshot", "status"]:
        parsed = _flags(args[2:], ("--write-out",))
        if isinstance(parsed, str) or len(parsed[1]) != 1 or parsed[0].get(
                "--write-out", "simple") != "json":
            sys.stderr.write(f"{parsed if isinstance(parsed, str) else 'Error: snapshot status '}"
                             "(dosim: snapshot status FILE -w json)\n")
            return 1
        return _status(s, parsed[1][0])
    if args[:2] == ["snapshot", "restore"]:
        parsed = _flags(args[2:], ("--name", "--initial-cluster", "--initial-cluster-token",
                                   "--initial-advertise-peer-urls", "--data-dir"))
        if isinstance(parsed, str) or len(parsed[1]) != 1:
            sys.stderr.write(f"{parsed if isinstance(parsed, str) else 'Error: snapshot path'}"
                             " (dosim: snapshot restore FILE --name ... --data-dir D)\n")
            return 1
        return _restore(s, parsed[1][0], parsed[0])
    sys.stderr.write(f"etcdutl {' '.join(args[:2])}: not simulated (dosim: snapshot status, "
                     "snapshot restore)\n")
    return 2


def _read_file(s: Session, path: str) -> bytes | None:
    dp = s.dpath(path)
    host = s.host(dp)
    if not host.is_file():
        sys.stderr.write(f"Error: stat {path}: no such file or directory\n")
        return None
    if not s.can_read(dp):
        sys.stderr.write(f"Error: open {path}: permission denied\n")
        return None
    return host.read_bytes()


def _status(s: Session, path: str) -> int:
    data = _read_file(s, path)
    if data is None:
        return 1
    snap, why = read_snapshot(data)
    if snap is None and why.startswith("invalid"):
        sys.stderr.write(f"Error: {why}\n")
        return 1
    if snap is None:  # status reads the database, not the appended hash
        snap, _ = read_snapshot(data[:-64] + hashlib.sha256(data[:-64]).hexdigest().encode())
    if snap is None:
        sys.stderr.write("Error: invalid database\n")
        return 1
    print(status_json(snap, len(data)))
    return 0


def _restore(s: Session, path: str, opts: dict[str, str]) -> int:
    name = opts.get("--name", "default")
    initial = parse_initial(opts.get("--initial-cluster", "default=http://localhost:2380"))
    peer = opts.get("--initial-advertise-peer-urls", "http://localhost:2380")
    target = opts.get("--data-dir", f"{name}.etcd")
    if [name, peer] not in initial:
        sys.stderr.write(f"Error: --initial-cluster has {name}=... but missing from "
                         f"--initial-advertise-peer-urls={peer}\n")
        return 1
    dp = s.dpath(target)
    host = s.host(dp)
    if host.exists() and any(host.iterdir()):
        sys.stderr.write(f"Error: data-dir {target!r} not empty or could not be read\n")
        return 1
    data = _read_file(s, path)
    if data is None:
        return 1
    snap, why = read_snapshot(data)
    if snap is None:
        sys.stderr.write(f"Error: {why}\n")
        return 1
    parent = dp.rsplit("/", 1)[0] or "/"
    if not s.can_write_dir(parent):
        sys.stderr.write(f"Error: mkdir {target}: permission denied\n")
        return 1
    token = opts.get("--initial-cluster-token", "etcd-cluster")
    write_db(host, {"cluster_id": cluster_id(token, initial), "token": token, "name": name,
                    "members": initial, "keys": snap["keys"], "revision": snap["revision"]})
    s.set_owner(dp, s.actor())
    return 0
