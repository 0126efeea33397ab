"""A droplet's file system: a directory under DOSIM_ROOT plus a JSON side file for owners.

Droplet paths (``/etc/kubernetes/ssl/ca.pem``) map to ``<root>/etc/kubernetes/ssl/ca.pem``.
Symlinks are real and keep their targets exactly as given (``/etc/...``), so they dangle on
the host; :func:`resolve` follows them the way the droplet's kernel would.  Tests do not run
as ``root``/``core``, so ownership is bookkeeping in ``<root>.meta.json``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from . import boots, yamlfast
from . import state as st

MAX_SYMLINKS = 40


def meta_path(root: Path) -> Path:
    return root.with_name(root.name + ".meta.json")


def droplet_root(name: str, state_file: Path | None = None) -> Path:
    """Root directory of the live droplet called ``name`` (for tests and helpers)."""
    path = state_file or st.state_path()
    data = st.load(path)
    roots = [d["sim"]["root"] for d in data["droplets"].values() if d["name"] == name]
    if len(roots) != 1:
        raise LookupError(f"{len(roots)} live droplets are named {name!r}")
    return Path(roots[0])


def _parts(path: str) -> list[str]:
    return [p for p in PurePosixPath(path).parts if p != "/"]


def normalize(path: str) -> str:
    """Lexically clean an absolute droplet path (``..`` cannot climb above ``/``)."""
    out: list[str] = []
    for part in _parts(path):
        if part == ".":
            continue
        if part == "..":
            if out:
                out.pop()
            continue
        out.append(part)
    return "/" + "/".join(out)


def resolve(root: Path | str, path: str, *, follow_last: bool = True) -> Path:
    """Host path for droplet path ``path``, following symlinks inside the droplet root."""
    root = Path(root)
    done: list[str] = []
    pending = _parts(path)
    hops = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = root.joinpath(*done, part)
        if candidate.is_symlink() and (pending or follow_last):
            hops += 1
            if hops > MAX_SYMLINKS:
                raise OSError(errno.ELOOP, "Too many levels of symbolic links", path)
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            pending = _parts(target) + pending
            continue
        done.append(part)
    return root.joinpath(*done)


def droplet_path(root: Path, host: Path) -> str:
    """Inverse of :func:`resolve` for a host path inside ``root`` (no symlink handling)."""
    rel = os.path.relpath(os.path.abspath(host), os.path.abspath(root))
    if rel == ".":
        return "/"
    if rel.startswith(".."):
        raise ValueError(f"{host} is outside the droplet root {root}")
    return "/" + rel.replace(os.sep, "/")


def canonical(root: Path, path: str, *, follow_last: bool = True) -> str:
    """The droplet path with every symlink resolved (the key owners are stored under)."""
    return droplet_path(root, resolve(root, path, follow_last=follow_last))


def default_owner(path: str) -> str:
    parts = _parts(path)
    if len(parts) >= 2 and parts[0] == "home":
        return f"{parts[1]}:{parts[1]}"
    return "root:root"


@contextlib.contextmanager
def meta(root: Path, *, write: bool = True) -> Iterator[dict[str, Any]]:
    """The droplet's metadata under an fcntl lock (parallel ssh sessions may share a droplet)."""
    path = meta_path(root)
    with open(path.with_name(path.name + ".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
        try:
            data = json.loads(path.read_text()) if path.exists() else {"owners": {}}
            data.setdefault("owners", {})
            yield data
            if write:
                tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
                os.replace(tmp, path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def owner_of(root: Path | str, path: str) -> str:
    """Recorded ``user:group`` of droplet path ``path`` (symlinks followed)."""
    root = Path(root)
    key = canonical(root, path)
    with meta(root, write=False) as data:
        return data["owners"].get(key, default_owner(key))


def create_root(base: Path, name: str, droplet_id: int, live_roots: set[str]) -> Path:
    """Make a fresh root for a new droplet; a name already in use gets ``name@id``."""
    base.mkdir(parents=True, exist_ok=True)
    root = base / name
    if str(root) in live_roots:
        root = base / f"{name}@{droplet_id}"
    if root.exists() or meta_path(root).exists():
        retire_root(base, root, f"stale-{int(time.time() * 1000)}")
    for sub in ("home/core", "etc", "tmp", "var/log", "opt", "srv", "root"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    (root / "root").chmod(0o700)
    boots.new_boot_id(root)
    with meta(root) as data:
        data.update({"droplet_id": droplet_id, "name": name, "owners": {}})
    return root


def retire_root(base: Path, root: Path, tag: str) -> None:
    """A deleted droplet's disk is gone for the droplet, but kept for post-mortems."""
    graveyard = base / ".deleted"
    graveyard.mkdir(parents=True, exist_ok=True)
    if root.exists():
        shutil.move(str(root), str(graveyard / f"{root.name}-{tag}"))
    for side in (meta_path(root), meta_path(root).with_name(meta_path(root).name + ".lock")):
        if side.exists():
            suffix = side.name[len(root.name):]
            shutil.move(str(side), str(graveyard / f"{root.name}-{tag}{suffix}"))


def log(root: Path, entry: dict[str, Any]) -> None:
    """Append one JSON line to the droplet's ``/var/log/dosim-ssh.log``."""
    path = root / "var" / "log" / "dosim-ssh.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {"t": round(time.time(), 3), **entry}
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(json.dumps(entry, sort_keys=True) + "\n")
        fcntl.flock(fh, fcntl.LOCK_UN)


def read_log(root: Path | str) -> list[dict[str, Any]]:
    path = Path(root) / "var" / "log" / "dosim-ssh.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# The kubelet's static pod directory: cloud-init writes these user-data files at first boot, and
# a script may move them (make rotate-certs restarts a static pod so). Other written files are
# not simulated; nothing else reads them from the droplet.
STATIC_POD_DIR = "/etc/kubernetes/manifests"


def write_static_pods(root: Path, user_data: str) -> list[str]:
    """Write the user data's files under STATIC_POD_DIR into the droplet (root:root, their
    permissions); returns their paths. A user data that is no YAML cloud-config writes none."""
    written = []
    for item in yamlfast.write_files(user_data):
        path = str(item.get("path", ""))
        if str(PurePosixPath(path).parent) != STATIC_POD_DIR:
            continue
        target = resolve(root, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(str(item.get("content", "")))
        target.chmod(int(str(item.get("permissions", "0644")), 8))
        written.append(path)
    return written
