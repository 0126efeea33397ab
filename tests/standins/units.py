"""``systemctl`` on the droplets: ``restart``, ``start``, ``stop`` UNIT..., ``daemon-reload``,
``reboot`` (root; boots.py), ``is-active`` UNIT...; a unit is one the user data defines or the
CoreOS image ships.
State per droplet in ``var/lib/dosim/systemd.json``: ``{unit: {"restarts": n, "at": t,
"stopped": bool}}``. A start hook (daemons.py: etcd2) may refuse a start as systemd reports a
failed unit."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .rops import Session

USER_DATA = "var/lib/dosim/user-data"
UNIT_LOG = "var/lib/dosim/systemd.json"
# Units every CoreOS image ships, besides those the user data defines.
IMAGE_UNITS = ("etcd2.service", "fleet.service", "flanneld.service", "docker.service",
               "sshd.service", "systemd-networkd.service", "update-engine.service",
               "locksmithd.service")
_UNIT_SUFFIXES = (".service", ".socket", ".timer", ".path", ".mount", ".target")
# unit -> check run on start/restart: an error message refuses it (the unit fails).
START_HOOKS: dict[str, Callable[[Session], str | None]] = {}
# False while `systemctl --no-block` runs: the start is queued, nobody waits for readiness.
BLOCKING = True


def units_of(user_data: str) -> set[str]:
    names = re.findall(r"^\s*-\s*name:\s*\"?([\w@.-]+)\"?\s*$", user_data, re.MULTILINE)
    return {n for n in names if n.endswith(_UNIT_SUFFIXES)} | set(IMAGE_UNITS)


def restarts(root: Path) -> dict[str, Any]:
    """For tests: ``{unit: {"restarts": n, "at": t, "stopped": bool}}``."""
    path = root / UNIT_LOG
    return json.loads(path.read_text()) if path.is_file() else {}


def stopped(root: Path, unit: str) -> bool:
    return bool(restarts(root).get(unit, {}).get("stopped"))


def _save(root: Path, log: dict[str, Any]) -> None:
    path = root / UNIT_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(log, indent=1, sort_keys=True) + "\n")


def start_all(root: Path) -> None:
    """A boot: every unit runs again (what ``systemctl stop`` stopped included)."""
    log = restarts(root)
    for entry in log.values():
        entry["stopped"] = False
    _save(root, log)


def op_systemctl(s: Session, args: list[str]) -> int:
    global BLOCKING
    no_block = "--no-block" in args
    flags = [a for a in args if a.startswith("-") and a != "--no-block"]
    words = [a for a in args if not a.startswith("-")]
    verbs = ("restart", "start", "stop", "is-active", "daemon-reload", "reboot")
    if flags or not words or words[0] not in verbs or \
            (len(words) < 2) != (words[0] in ("daemon-reload", "reboot")):
        sys.stderr.write(f"systemctl {' '.join(args)}: not simulated (dosim: [--no-block] "
                         "restart|start|stop|is-active UNIT..., daemon-reload, reboot)\n")
        return 2
    if words[0] == "reboot":
        from . import boots  # boots.py uses this module

        return boots.reboot(s)
    verb, names = words[0], [u if "." in u else u + ".service" for u in words[1:]]
    known = units_of((s.root / USER_DATA).read_text() if (s.root / USER_DATA).is_file() else "")
    if verb == "is-active":
        active = [u in known and not stopped(s.root, u) for u in names]
        for ok in active:
            print("active" if ok else "inactive")
        return 0 if all(active) else 3
    if not s.as_root:
        what = "reload daemon" if verb == "daemon-reload" else f"{verb} {names[0]}"
        sys.stderr.write(f"Failed to {what}: Interactive authentication required.\n")
        return 1
    if verb == "daemon-reload":
        return 0
    for unit in names:
        if unit not in known:
            sys.stderr.write(f"Failed to {verb} {unit}: Unit {unit} not found.\n")
            return 5
    log = restarts(s.root)
    for unit in names:
        entry = log.setdefault(unit, {"restarts": 0})
        if verb == "stop":
            entry["stopped"] = True
            continue
        hook = START_HOOKS.get(unit)
        BLOCKING = not no_block
        try:
            problem = hook(s) if hook else None
        finally:
            BLOCKING = True
        if problem:
            entry["stopped"] = True
            _save(s.root, log)
            sys.stderr.write(f"Job for {unit} failed because the control process exited with "
                             f"error code.\nSee \"systemctl status {unit}\" and \"journalctl "
                             f"-xe\" for details.\n(dosim: {problem})\n")
            return 1
        entry["stopped"] = False
        entry["restarts"] += verb == "restart"
        entry["at"] = time.time()
    _save(s.root, log)
    return 0
