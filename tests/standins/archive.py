"""``tar`` on the droplets: only what `make backup` and `make restore` send: ``tar -C DIR -czf -
PATH...`` (a gzip'd archive of PATH under DIR on stdout, binary: it runs as its own process,
not through the op server), ``tar -xzf FILE -C DIR`` (members only below DIR) and ``tar -tzf
FILE`` (make restore's check of the copied archive). Reading and
writing need the permissions the droplet's kernel would check."""

from __future__ import annotations

import hashlib
import io
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .rops import Session


def op_sha256sum(s: Session, args: list[str]) -> int:
    """``sha256sum FILE...`` (coreutils' output: digest, two spaces, the name as given)."""
    if not args or any(a.startswith("-") for a in args):
        sys.stderr.write(f"sha256sum {' '.join(args)}: not simulated (dosim: sha256sum FILE...)\n")
        return 2
    rc = 0
    for name in args:
        dp = s.dpath(name)
        if not s.host(dp).is_file():
            sys.stderr.write(f"sha256sum: {name}: No such file or directory\n")
            rc = 1
        elif not s.can_read(dp):
            sys.stderr.write(f"sha256sum: {name}: Permission denied\n")
            rc = 1
        else:
            print(f"{hashlib.sha256(s.host(dp).read_bytes()).hexdigest()}  {name}")
    return rc


def _extract(s: Session, archive: str, directory: str) -> int:
    import tarfile  # only where tar runs: its import costs every stand-in start ~2 ms

    src, dest = s.dpath(archive), s.dpath(directory)
    if not s.host(src).is_file():
        sys.stderr.write(f"tar: {archive}: Cannot open: No such file or directory\n")
        return 2
    if not s.host(dest).is_dir():
        sys.stderr.write(f"tar: {directory}: Cannot open: No such file or directory\n")
        return 2
    if not s.can_read(src) or not s.can_write_dir(dest):
        sys.stderr.write(f"tar: {directory}: Cannot open: Permission denied\n")
        return 2
    with tarfile.open(s.host(src), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.name.startswith("/") or ".." in member.name.split("/") or \
                    not (member.isfile() or member.isdir()):
                sys.stderr.write(f"tar: {member.name}: refused (dosim)\n")
                return 2
        tar.extractall(s.host(dest), filter="data")
    return 0


def _list(s: Session, archive: str) -> int:
    """``tar -tzf FILE``: the entry names; a damaged archive fails as GNU tar does."""
    import tarfile

    src = s.dpath(archive)
    if not s.host(src).is_file():
        sys.stderr.write(f"tar: {archive}: Cannot open: No such file or directory\n")
        return 2
    if not s.can_read(src):
        sys.stderr.write(f"tar: {archive}: Cannot open: Permission denied\n")
        return 2
    try:
        with tarfile.open(s.host(src), mode="r:gz") as tar:
            names = tar.getnames()
    except (tarfile.TarError, EOFError, OSError):
        sys.stderr.write("gzip: stdin: unexpected end of file\ntar: Child returned status 1\n"
                         "tar: Error is not recoverable: exiting now\n")
        return 2
    for name in names:
        print(name)
    return 0


def op_tar(s: Session, args: list[str]) -> int:
    if len(args) == 4 and args[0] == "-xzf" and args[2] == "-C":
        return _extract(s, args[1], args[3])
    if len(args) == 2 and args[0] == "-tzf":
        return _list(s, args[1])
    if len(args) < 5 or args[0] != "-C" or args[2] != "-czf" or args[3] != "-":
        sys.stderr.write(f"tar {' '.join(args)}: not simulated (dosim: tar -C DIR -czf - "
                         "PATH..., tar -xzf FILE -C DIR, tar -tzf FILE)\n")
        return 2
    base = s.dpath(args[1])
    if not s.host(base).is_dir():
        sys.stderr.write(f"tar: {args[1]}: Cannot open: No such file or directory\n")
        return 2
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in args[4:]:
            dp = s.dpath(base + "/" + name)
            path = s.host(dp)
            if not path.exists():
                sys.stderr.write(f"tar: {name}: Cannot stat: No such file or directory\n")
                return 2
            for item in [path, *sorted(path.rglob("*"))]:
                rel = item.relative_to(s.host(base))
                if not s.can_read(s.dpath(base + "/" + str(rel))):
                    sys.stderr.write(f"tar: {rel}: Cannot open: Permission denied\n")
                    return 2
            archive.add(path, arcname=name)
    sys.stdout.flush()
    sys.stdout.buffer.write(buffer.getvalue())
    sys.stdout.buffer.flush()
    return 0
