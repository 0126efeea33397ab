"""A Flatcar droplet's operating system updates and reboots, as ssh shows them.

Flatcar's update_engine downloads an update to the passive partition by itself; the reboot
into it is left to the reboot manager (locksmithd, which the cloud-config's
``reboot_strategy: off`` stops and masks) or to the operator. ``update_engine_client -status``
prints the daemon's status (flatcar/update_engine src/update_engine/update_engine_client.cc
GetStatus: ``LAST_CHECKED_TIME=``, ``PROGRESS=``, ``CURRENT_OP=``, ``NEW_VERSION=``,
``NEW_SIZE=`` lines); ``CURRENT_OP=UPDATE_STATUS_UPDATED_NEED_REBOOT`` once an update waits
for the reboot (the status locksmith's updateengine package watches for).

State per droplet, in its root: ``var/lib/dosim/update-engine.json`` (``os_version``,
``current_op``, ``new_version``, ``new_size``; a test marks an update pending with
``mark_pending``) and ``var/lib/dosim/boots.json``, one entry per reboot: ``at``, ``up_at``
(``at`` + the ``reboot_seconds`` knob, DOSIM_REBOOT_SECONDS or ``config.reboot_seconds``,
default 1), ``from``/``to`` (the OS version before and after) and ``others_down`` (the droplets
of the account that were themselves rebooting then: the record a one-at-a-time rule is
checked against). Until ``up_at`` the droplet is down: ssh is refused, its etcd member and
kubelet do not run, its apiserver does not answer. A reboot starts every unit again (the
``stopped`` marks of ``systemctl stop`` are gone) and writes a new
``/proc/sys/kernel/random/boot_id``.

Stdlib only: the droplet's file operations run in a Python started without site-packages.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import model, units
from . import state as st

if TYPE_CHECKING:
    from .rops import Session

UPDATE_FILE = "var/lib/dosim/update-engine.json"
BOOT_LOG = "var/lib/dosim/boots.json"
BOOT_ID = "proc/sys/kernel/random/boot_id"
IDLE = "UPDATE_STATUS_IDLE"
NEED_REBOOT = "UPDATE_STATUS_UPDATED_NEED_REBOOT"
# the Flatcar stable release the droplets boot first (any version string would do)
FIRST_OS_VERSION = "4230.2.3"


def _read(path: Path, default: Any) -> Any:
    return json.loads(path.read_text()) if path.is_file() else default


def _write(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1, sort_keys=True) + "\n")


def status(root: Path) -> dict[str, Any]:
    return {"os_version": FIRST_OS_VERSION, "current_op": IDLE, "new_version": "0.0.0",
            "new_size": 0, "last_checked_time": 0, **_read(root / UPDATE_FILE, {})}


def mark_pending(root: Path, version: str, size: int = 312_000_000) -> None:
    """For tests: update_engine applied VERSION to the passive partition; it waits for a reboot."""
    _write(root / UPDATE_FILE, {**status(root), "current_op": NEED_REBOOT,
                                "new_version": version, "new_size": size,
                                "last_checked_time": int(time.time())})


def boots(root: Path) -> list[dict[str, Any]]:
    """For tests: the droplet's reboots, oldest first."""
    return list(_read(root / BOOT_LOG, []))


def down(root: Path, now: float | None = None) -> bool:
    """The droplet is rebooting: nothing on it answers."""
    log = boots(root)
    return bool(log) and (time.time() if now is None else now) < log[-1]["up_at"]


def new_boot_id(root: Path) -> None:
    """The kernel's random boot id, new at every boot (also the first: dropletfs.create_root)."""
    path = root / BOOT_ID
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{model.new_uuid()}\n")


def op_update_engine_client(s: Session, args: list[str]) -> int:
    if args not in (["-status"], ["--status"]):
        sys.stderr.write(f"update_engine_client {' '.join(args)}: not simulated (dosim: -status)\n")
        return 2
    now = status(s.root)
    progress = 1.0 if now["current_op"] == NEED_REBOOT else 0.0
    print(f"LAST_CHECKED_TIME={now['last_checked_time']}\nPROGRESS={progress:f}\n"
          f"CURRENT_OP={now['current_op']}\nNEW_VERSION={now['new_version']}\n"
          f"NEW_SIZE={now['new_size']}")
    return 0


def reboot(s: Session) -> int:
    """``systemctl reboot`` / ``reboot`` as root: the droplet goes down for reboot_seconds and
    comes back on the updated partition when an update waited."""
    if not s.as_root:
        sys.stderr.write("Failed to reboot system via logind: Interactive authentication "
                         "required.\n")
        return 1
    now = time.time()
    with st.locked(write=False) as data:
        seconds = st.knob(data, "reboot_seconds", 1.0, float)
        others = sorted(r["name"] for r in data["droplets"].values()
                        if r["sim"]["root"] != str(s.root) and down(Path(r["sim"]["root"]), now))
    before = status(s.root)
    after = dict(before)
    if before["current_op"] == NEED_REBOOT:
        after.update(os_version=before["new_version"], current_op=IDLE, new_version="0.0.0",
                     new_size=0)
    _write(s.root / UPDATE_FILE, after)
    _write(s.root / BOOT_LOG, [*boots(s.root), {
        "at": now, "up_at": now + seconds, "from": before["os_version"],
        "to": after["os_version"], "others_down": others}])
    units.start_all(s.root)
    new_boot_id(s.root)
    return 0


def op_reboot(s: Session, args: list[str]) -> int:
    if args:
        sys.stderr.write(f"reboot {' '.join(args)}: not simulated (dosim: reboot)\n")
        return 2
    return reboot(s)
