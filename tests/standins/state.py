"""The simulated account: one JSON file, mutated only under an exclusive fcntl lock."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

STATE_VERSION = 1


class ConfigError(Exception):
    """The stand-in itself is misconfigured (not a simulated API error)."""


def state_path() -> Path:
    raw = os.environ.get("DOSIM_STATE", "")
    if not raw:
        raise ConfigError("DOSIM_STATE is not set (path of the simulated account's JSON file)")
    return Path(raw).absolute()


def droplets_root(path: Path | None = None) -> Path:
    """Directory holding one root file system per droplet."""
    raw = os.environ.get("DOSIM_ROOT", "")
    if raw:
        return Path(raw).absolute()
    return (path or state_path()).parent / "droplets"


def empty_state() -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "config": {},
        "api_calls": {"total": 0},
        "api_errors": {},
        "api_retries": 0,
        "api_log": [],
        "next_id": {"droplet": 300000001, "action": 900000001, "key": 41000001},
        "ip_cursor": {"public": 0, "private": {}},
        "droplets": {},
        "deleted_droplets": [],
        "actions": {},
        "ssh_keys": [],
        "tags": [],
        "firewalls": {},
        "load_balancers": {},
        "images": {},
    }


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def locked(path: Path | None = None, *, write: bool = True) -> Iterator[dict[str, Any]]:
    """Yield the account; with ``write`` the (possibly changed) account is saved atomically.

    The lock lives on a side file so the JSON itself can be replaced with ``os.replace``
    (readers never see a half-written file, even without the lock).
    """
    path = path or state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(_lock_path(path), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
        try:
            data = load(path)
            yield data
            if write:
                _save(path, data)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def load(path: Path) -> dict[str, Any]:
    if not path.exists() or path.stat().st_size == 0:
        return empty_state()
    with open(path) as fh:
        data = json.load(fh)
    base = empty_state()
    for key, value in base.items():
        data.setdefault(key, value)
    return data


def _save(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def knob(data: dict[str, Any] | None, name: str, default: T, cast: Callable[[str], T]) -> T:
    """A fault/latency setting: env ``DOSIM_<NAME>`` wins over ``config.<name>`` in the state."""
    env = os.environ.get("DOSIM_" + name.upper())
    if env not in (None, ""):
        try:
            return cast(env)
        except ValueError as exc:
            raise ConfigError(f"DOSIM_{name.upper()}={env!r}: {exc}") from exc
    if data is not None:
        value = data.get("config", {}).get(name.lower())
        if value not in (None, ""):
            return cast(str(value))
    return default


def parse_kind_call_set(spec: str) -> tuple[str, frozenset[int]]:
    """``"POST /v2/droplets:4-9"`` -> (the call kind, that kind's own call numbers)."""
    kind, sep, numbers = spec.rpartition(":")
    if not sep or not kind:
        raise ValueError("expected KIND:NUMBERS, e.g. 'POST /v2/droplets:4-9'")
    return kind, parse_call_set(numbers)


def parse_call_set(spec: str) -> frozenset[int]:
    """``"3"``, ``"3,7"`` or ``"3-5,9"`` -> call numbers."""
    numbers: set[int] = set()
    for part in spec.replace(" ", "").split(","):
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            numbers.update(range(int(lo), int(hi) + 1))
        else:
            numbers.add(int(part))
    return frozenset(numbers)
