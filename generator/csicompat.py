"""csi-digitalocean's published Kubernetes compatibility (the current profile's CSI add-on):
which Kubernetes releases the pinned driver release is published for. One source for the
README's statement, settings.env's CSI_KUBERNETES_MINORS (make plan) and the audit's rule."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# digitalocean/csi-digitalocean README.md "Kubernetes Compatibility" at tag v4.16.0: the
# driver version each Kubernetes release requires. "v3": a v3 release; "v4.2.0+": that
# release or a later one of the same major.
SOURCE = 'digitalocean/csi-digitalocean README.md "Kubernetes Compatibility" at tag v4.16.0'
REQUIRED = {
    "1.19": "v3", "1.20": "v3", "1.21": "v3", "1.22": "v4", "1.23": "v4.2.0+",
    "1.24": "v4.3.0+", "1.25": "v4.4.0+", "1.26": "v4.5.0+", "1.27": "v4.6.0+",
    "1.28": "v4.7.0+", "1.29": "v4.8.0+", "1.30": "v4.9.0+", "1.31": "v4.12.0+",
    "1.32": "v4.13.0+", "1.33": "v4.14.0+", "1.34": "v4.15.0+", "1.35": "v4.16.0+",
}
_VERSION = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?\+?$")


def _parts(version: str) -> tuple[int, int, int] | None:
    match = _VERSION.match(version)
    if not match:
        return None
    major, minor, patch = (int(p or 0) for p in match.groups())
    return major, minor, patch


def release(answers: Mapping[str, Any]) -> str:
    """The driver release the bake pins: its plugin image's tag."""
    return str(answers["_csi_do_image"]).rpartition(":")[2]


def meets(pinned: str, required: str) -> bool:
    have, want = _parts(pinned), _parts(required)
    return bool(have and want and have[0] == want[0] and have >= want)


def minors(pinned: str) -> list[str]:
    """The Kubernetes releases (major.minor) the driver release is published for."""
    return [minor for minor, required in REQUIRED.items() if meets(pinned, required)]


def problem(pinned: str, kubernetes_version: str) -> str | None:
    """Why the pinned driver is not published for this Kubernetes version (None: it is)."""
    minor = ".".join(kubernetes_version.lstrip("v").split(".")[:2])
    if minor in REQUIRED and meets(pinned, REQUIRED[minor]):
        return None
    published = minors(pinned)
    span = f"{published[0]} to {published[-1]}" if published else "no Kubernetes release"
    need = (f"Kubernetes {minor} needs csi-digitalocean {REQUIRED[minor]}" if minor in REQUIRED
            else f"Kubernetes {minor} is not in its table yet")
    return (f"csi-digitalocean {pinned} is published for Kubernetes {span} ({SOURCE}); {need}: "
            "volumes may not work; pin a release published for it when there is one")


def minors_setting(answers: Mapping[str, Any]) -> str:
    """settings.env's CSI_KUBERNETES_MINORS: comma-separated (settings hold no spaces)."""
    return ",".join(minors(release(answers)))


def bake_problem(answers: Mapping[str, Any]) -> str:
    """problem() for the bake's answers, or "" (the README's compatibility line)."""
    return problem(release(answers), str(answers["kubernetes_version"])) or ""
