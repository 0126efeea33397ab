"""``scp`` stand-in: copy local files to ``user@IP:path`` (or back) inside a droplet root.

Remote paths: ``""``, ``~`` and relative paths are under the user's home; absolute paths
are droplet paths.  Writes obey the droplet's permission model: ``core`` cannot drop files
into ``/etc``.  New files belong to the login user; without ``-p`` modes get umask 022.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import sys
from pathlib import Path, PurePosixPath

from . import dropletfs as fs
from . import remote
from . import state as st
from .rops import UMASK, Session, home_of, parent

NO_ARG = "346ABCOpqRrTv"
WITH_ARG = "cDFiJloPSX"
_REMOTE = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>\d{1,3}(?:\.\d{1,3}){3}|[A-Za-z][\w.-]*):"
                     r"(?P<path>.*)$")


class CopyError(Exception):
    pass


def _remote(spec: str) -> re.Match[str] | None:
    return None if spec.startswith(("/", "./")) else _REMOTE.match(spec)


def _droplet_dest(s: Session, path: str) -> str:
    if path in ("", "~"):
        return home_of(s.user)
    return s.dpath(path) if path.startswith(("/", "~")) else s.dpath(home_of(s.user) + "/" + path)


def _session(rec_root: Path, user: str) -> Session:
    return Session(rec_root, user, user == "root", home_of(user))


def upload(s: Session, sources: list[str], dest: str, *, recursive: bool, preserve: bool) -> None:
    into = s.host(dest).is_dir()
    if len(sources) > 1 and not into:
        raise CopyError(f"scp: {dest}: Not a directory")
    for src in sources:
        local = Path(src)
        if not local.exists():
            raise CopyError(f"scp: {src}: No such file or directory")
        if local.is_dir() and not recursive:
            raise CopyError(f"scp: {src}: not a regular file")
        target = dest + "/" + local.name if into else dest
        if not s.host(parent(target)).is_dir():
            raise CopyError(f"scp: {parent(target)}: No such file or directory")
        if not s.can_write_dir(parent(target)) or (
            s.host(target).is_file() and not s.can_write_file(target)
        ):
            raise CopyError(f"scp: {target}: Permission denied")
        thost = s.host(target)
        if local.is_dir():
            shutil.copytree(local, thost, symlinks=False, dirs_exist_ok=True)
            entries = [target] + [target + "/" + str(p.relative_to(thost))
                                  for p in sorted(thost.rglob("*"))]
        else:
            shutil.copyfile(local, thost)
            entries = [target]
        for dp in entries:
            host = s.host(dp)
            if host.is_file():
                mode = stat.S_IMODE((Path(src) if dp == target else host).stat().st_mode)
                host.chmod(mode if preserve else mode & ~UMASK)
            s.set_owner(dp, s.actor())
        fs.log(s.root, {"kind": "scp", "direction": "upload", "local": os.path.abspath(src),
                        "remote": target, "user": s.user})


def download(s: Session, source: str, dest: str, *, recursive: bool) -> None:
    sources = s.expand(source)
    for sp in sources:
        dp = s.dpath(sp)
        host = s.host(dp)
        if not host.exists():
            raise CopyError(f"scp: {dp}: No such file or directory")
        if host.is_dir() and not recursive:
            raise CopyError(f"scp: {dp}: not a regular file")
        if not s.can_read(dp):
            raise CopyError(f"scp: {dp}: Permission denied")
        local = Path(dest)
        target = local / PurePosixPath(dp).name if local.is_dir() else local
        if host.is_dir():
            shutil.copytree(host, target, dirs_exist_ok=True)
        else:
            shutil.copyfile(host, target)
        fs.log(s.root, {"kind": "scp", "direction": "download", "local": str(target.absolute()),
                        "remote": dp, "user": s.user})


def main(argv: list[str]) -> int:
    try:
        inv = remote.parse("scp", argv, NO_ARG, WITH_ARG)
        if len(inv.operands) < 2:
            raise remote.RemoteFailure("usage: scp [-346ABCOpqRrsTv] ... source ... target", 1)
        *sources, target = inv.operands
        recursive, preserve = "r" in inv.flags, "p" in inv.flags
        remote_target = _remote(target)
        remote_sources = [m for m in map(_remote, sources) if m]
        if remote_target and remote_sources or len(remote_sources) > 1:
            raise remote.RemoteFailure("dosim-scp: remote-to-remote copies are not simulated", 1)
        if remote_target:
            user, _host, rec = remote.connect(
                inv, f"{remote_target['user'] or ''}@{remote_target['host']}".lstrip("@"))
            s = _session(Path(rec["sim"]["root"]), user)
            upload(s, sources, _droplet_dest(s, remote_target["path"]), recursive=recursive,
                   preserve=preserve)
            return 0
        if remote_sources and len(sources) == 1:
            m = remote_sources[0]
            user, _host, rec = remote.connect(inv, f"{m['user'] or ''}@{m['host']}".lstrip("@"))
            s = _session(Path(rec["sim"]["root"]), user)
            path = m["path"]
            download(s, path if path.startswith(("/", "~")) else
                     home_of(user) + "/" + (path or "."), target, recursive=recursive)
            return 0
        raise remote.RemoteFailure("dosim-scp: local-to-local copies are not simulated", 1)
    except remote.RemoteFailure as err:
        sys.stderr.write(f"{err}\n")
        return err.status
    except CopyError as err:
        sys.stderr.write(f"{err}\n")
        return 1
    except st.ConfigError as err:
        sys.stderr.write(f"dosim scp: {err}\n")
        return 255


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
