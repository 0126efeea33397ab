"""The kubelet binary on a current-profile droplet: what ``kubelet-install.service`` installs.

The unit runs ``fetch-verified URL SUM /opt/bin/kubelet`` (profiles/current/node/
fetch-verified.sh): at first boot as the user data defines it, and on every ``systemctl
start|restart kubelet-install.service`` with the ExecStart its drop-ins in
``/etc/systemd/system/kubelet-install.service.d/*.conf`` leave (systemd: an empty
``ExecStart=`` clears the list, files read in name order). dl.k8s.io is simulated by the
template's pinned release data: a release it pins is served with its published sha256 (the
stand-in writes a small file saying which release and sum it stands for; no real binary), any
other URL is a 404. As fetch-verified does, a download whose sum is not the one given is not
installed and the unit fails; the old binary stays.

Fault knob (tests): ``DOSIM_FAIL_UNIT=NAME:UNIT[,NAME:UNIT...]`` fails that unit's next starts on
droplet NAME as a cut download would (curl exit 56), until the test removes the knob.

Stdlib only: the droplet's file operations run in a Python started without site-packages.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from . import dropletfs, units

if TYPE_CHECKING:
    from .rops import Session

UNIT = "kubelet-install.service"
DEST = "/opt/bin/kubelet"
DROPIN_DIR = "etc/systemd/system/kubelet-install.service.d"
RELEASES = Path(__file__).resolve().parents[2] / "generator" / "data" / "kubernetes-release.json"
URL = re.compile(r"^https://dl\.k8s\.io/v(\d+\.\d+\.\d+)/bin/linux/amd64/kubelet$")
STUB = re.compile(r"^dosim kubelet v(\S+) sha256 ([0-9a-f]{64})$")
FAIL_ENV = "DOSIM_FAIL_UNIT"


def _unit_text(user_data: str) -> str:
    """The content of UNIT as the user data's coreos.units entry gives it ("" when none)."""
    lines = user_data.splitlines()
    for i, line in enumerate(lines):
        if re.match(rf"^\s*-\s*name:\s*\"?{re.escape(UNIT)}\"?\s*$", line):
            indent = len(line) - len(line.lstrip())
            body = []
            for rest in lines[i + 1:]:
                if rest.strip() and len(rest) - len(rest.lstrip()) <= indent:
                    break
                body.append(rest)
            text = "\n".join(body)
            start = text.find("content: |")
            if start < 0:
                return ""
            return "\n".join(ln.strip() for ln in text[start:].splitlines()[1:])
    return ""


def _exec_starts(text: str, starts: list[str]) -> list[str]:
    text = re.sub(r"\\\n\s*", " ", text)
    for line in text.splitlines():
        if line.startswith("ExecStart="):
            value = line.partition("=")[2].strip()
            starts = starts + [value] if value else []
    return starts


def exec_start(root: Path) -> list[str]:
    """The unit's effective ExecStart lines (user data, then its drop-ins)."""
    user_data = (root / units.USER_DATA).read_text() if (root / units.USER_DATA).is_file() else ""
    starts = _exec_starts(_unit_text(user_data), [])
    dropins = root / DROPIN_DIR
    for conf in sorted(dropins.glob("*.conf")) if dropins.is_dir() else []:
        starts = _exec_starts(conf.read_text(), starts)
    return starts


def published_sum(version: str) -> str | None:
    """The sha256 dl.k8s.io publishes for the kubelet of VERSION (None: not served here)."""
    entry = json.loads(RELEASES.read_text())["kubernetes"].get(version, {}).get("kubelet")
    return str(entry["sha256"]) if entry else None


def install(root: Path, name: str = "") -> str | None:
    """Run the unit's fetch-verified lines; an error message when one fails."""
    faults = {f.strip() for f in os.environ.get(FAIL_ENV, "").split(",")}
    if f"{name}:{UNIT}" in faults:
        return "curl: (56) Recv failure: Connection reset by peer (dosim: DOSIM_FAIL_UNIT)"
    for line in exec_start(root):
        words = line.split()
        if len(words) < 4 or not words[0].endswith("/fetch-verified") or words[3] != DEST:
            return f"{UNIT}: ExecStart '{line}' is not simulated (fetch-verified URL SUM {DEST})"
        url, want = words[1], words[2]
        match = URL.match(url)
        sha = published_sum(match[1]) if match else None
        if match is None or sha is None:
            return f"curl: (22) The requested URL returned error: 404 ({url})"
        if sha != want:
            return f"fetch-verified: {url} does not match its pinned sha256 {want}; not installed"
        target = root / DEST.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"dosim kubelet v{match[1]} sha256 {sha}\n")
        target.chmod(0o755)
    return None


def installed_version(root: Path) -> str | None:
    """vX.Y.Z of the kubelet binary on the droplet (None: none installed)."""
    path = root / DEST.lstrip("/")
    match = STUB.match(path.read_text().strip()) if path.is_file() else None
    return f"v{match[1]}" if match else None


def _on_start(s: Session) -> str | None:
    return install(s.root, json.loads(dropletfs.meta_path(s.root).read_text()).get("name", ""))


units.START_HOOKS[UNIT] = _on_start
