"""Lint results kept on disk, keyed by everything that decides them: the tool and its version,
its configuration, and the checked text (sha256 of all of them). Bakes and audits of clusters
share almost every file, so each distinct text is checked once per machine, not once per bake.

The directory is $K8S_DO_LINT_CACHE, else $XDG_CACHE_HOME/k8s-do/lint (~/.cache/k8s-do/lint);
K8S_DO_LINT_CACHE=off checks every time. Safe under concurrent writers (parallel bakes, test
workers): an entry is written to a temporary file beside it and renamed into place, so a reader
sees a whole entry or none; an unreadable entry is a miss and is written again. Its jinja/
holds the template's compiled Jinja templates (generator/jinja_ext.py), keyed likewise by
source, Jinja and its options."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ENV = "K8S_DO_LINT_CACHE"
OFF = "off"


def cache_dir() -> Path | None:
    raw = os.environ.get(ENV, "")
    if raw == OFF:
        return None
    if raw:
        return Path(raw)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "k8s-do" / "lint"


def tool_id(binary: str) -> str:
    """A program's identity without running it: its real path, size and change time (an
    upgrade replaces the file)."""
    real = os.path.realpath(binary)
    stat = os.stat(real)
    return f"{real}:{stat.st_size}:{stat.st_mtime_ns}"


def key(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _path(directory: Path, entry: str) -> Path:
    return directory / entry[:2] / f"{entry}.json"


def get(entry: str) -> Any | None:
    directory = cache_dir()
    if directory is None:
        return None
    try:
        return json.loads(_path(directory, entry).read_text())["value"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def put(entry: str, value: Any) -> None:
    """Store value (JSON) under entry; a cache that cannot be written is only slower."""
    directory = cache_dir()
    if directory is None:
        return
    target = _path(directory, entry)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{entry[:8]}.")
    except OSError:
        return
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump({"value": value}, handle)
        os.replace(partial, target)
    except OSError:
        Path(partial).unlink(missing_ok=True)


def cached(entry: str, compute: Callable[[], Any]) -> Any:
    """The stored value of entry, else compute() stored and returned."""
    value = get(entry)
    if value is None:
        value = compute()
        put(entry, value)
    return value
