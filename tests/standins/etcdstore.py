"""etcdctl's key and data-dir commands over ssh (what `make backup` sends), beside
daemons.py's health and membership: ``ls --recursive [-p]``, ``set`` of a hidden key (``/_``:
etcd v2 lists it nowhere), and ``backup --data-dir D --backup-dir B`` (etcdctl 2.2
etcdctl/command/backup_command.go: a copy of the member's snap/ and wal/ under B/member/).

The store holds what daemons.py derives (the flannel key); a member's data dir is CoreOS's
``/var/lib/etcd2`` (etcd2.service's ETCD_DATA_DIR), there once its etcd runs."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .rops import Session

DATA_DIR = "/var/lib/etcd2"
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
