"""Regions, sizes and images the simulated API accepts (slugs as DigitalOcean spells them)."""

from __future__ import annotations

import re
from typing import Any

REGIONS: dict[str, str] = {
    "nyc1": "New York 1",
    "nyc2": "New York 2",
    "nyc3": "New York 3",
    "sfo1": "San Francisco 1",
    "sfo2": "San Francisco 2",
    "sfo3": "San Francisco 3",
    "ams2": "Amsterdam 2",
    "ams3": "Amsterdam 3",
    "sgp1": "Singapore 1",
    "lon1": "London 1",
    "fra1": "Frankfurt 1",
    "tor1": "Toronto 1",
    "blr1": "Bangalore 1",
    "syd1": "Sydney 1",
    "atl1": "Atlanta 1",
}

# Legacy slugs (the 2015 tutorial era) -> (memory MiB, vcpus, disk GB).
_LEGACY_SIZES: dict[str, tuple[int, int, int]] = {
    "512mb": (512, 1, 20),
    "1gb": (1024, 1, 30),
    "2gb": (2048, 2, 40),
    "4gb": (4096, 2, 60),
    "8gb": (8192, 4, 80),
    "16gb": (16384, 8, 160),
}

# The sizes `doctl compute size list` serves: slug -> (memory MiB, vcpus, disk GB, transfer TB,
# price_monthly USD). Fields as godo's Size struct (godo/sizes.go: slug, memory, vcpus, disk,
# price_monthly, price_hourly, regions, available, transfer, description). Slugs, specs and
# monthly prices: DigitalOcean's Basic (regular SSD) plans after the July 2022 price change, as
# tabulated in https://gist.github.com/colinwilson/cd31bde012f6727b24b2fc4ebee749c0 ($4 .. $96);
# price_hourly is price_monthly / 672, DigitalOcean's monthly cap of 672 hours ($6 -> 0.00893).
# Other slugs (legacy "2gb", premium, CPU-optimized) can still be created here but are not
# listed, so their price is unknown, as for a size DigitalOcean no longer sells.
SIZES: dict[str, tuple[int, int, int, float, float]] = {
    "s-1vcpu-512mb-10gb": (512, 1, 10, 0.5, 4.0),
    "s-1vcpu-1gb": (1024, 1, 25, 1.0, 6.0),
    "s-1vcpu-2gb": (2048, 1, 50, 2.0, 12.0),
    "s-2vcpu-2gb": (2048, 2, 60, 3.0, 18.0),
    "s-2vcpu-4gb": (4096, 2, 80, 4.0, 24.0),
    "s-4vcpu-8gb": (8192, 4, 160, 5.0, 48.0),
    "s-8vcpu-16gb": (16384, 8, 320, 6.0, 96.0),
}
HOURS_A_MONTH = 672

# Current slugs look like s-2vcpu-4gb, s-1vcpu-512mb-10gb, c-4, g-2vcpu-8gb, s-2vcpu-4gb-amd.
_MODERN = re.compile(
    r"^(?P<family>s|c|c2|g|gd|m|m3|m6|so|so1_5)-(?P<vcpus>\d+)vcpu-(?P<mem>\d+)(?P<unit>gb|mb)"
    r"(?:-(?P<disk>\d+)gb)?(?:-(?:amd|intel))?$"
)
_CPU_OPTIMIZED = re.compile(r"^(?P<family>c|c2)-(?P<vcpus>\d+)(?:-intel)?$")

_IMAGE_PREFIXES = (
    "coreos-",
    "fedora-coreos-",
    "flatcar-",
    "ubuntu-",
    "debian-",
    "fedora-",
    "centos-",
    "centos-stream-",
    "rockylinux-",
    "almalinux-",
)


def size_info(slug: str) -> tuple[int, int, int] | None:
    """(memory MiB, vcpus, disk GB) for a size slug, or None when the API would refuse it."""
    if slug in _LEGACY_SIZES:
        return _LEGACY_SIZES[slug]
    m = _MODERN.match(slug)
    if m:
        vcpus = int(m["vcpus"])
        mem = int(m["mem"]) * (1024 if m["unit"] == "gb" else 1)
        disk = int(m["disk"]) if m["disk"] else max(10, mem // 1024 * 25)
        return mem, vcpus, disk
    m = _CPU_OPTIMIZED.match(slug)
    if m:
        vcpus = int(m["vcpus"])
        return vcpus * 2048, vcpus, vcpus * 25
    return None


def size_object(slug: str, regions: list[str]) -> dict[str, Any]:
    """The API's size object; an unlisted slug has no price (the API would omit it)."""
    if slug in SIZES:
        memory, vcpus, disk, transfer, price = SIZES[slug]
    else:
        (memory, vcpus, disk), transfer, price = size_info(slug) or (0, 0, 0), 0.0, 0.0
    obj: dict[str, Any] = {
        "slug": slug,
        "memory": memory,
        "vcpus": vcpus,
        "disk": disk,
        "transfer": transfer,
        "price_monthly": price,
        "price_hourly": round(price / HOURS_A_MONTH, 5),
        "regions": regions,
        "available": True,
        "description": "Basic",
    }
    # godo: omitempty; Go's encoding/json writes a whole float64 without a fraction (6, not 6.0)
    return {k: int(v) if isinstance(v, float) and v.is_integer() else v
            for k, v in obj.items() if v not in (0, 0.0)}


def size_list() -> list[dict[str, Any]]:
    return [size_object(slug, sorted(REGIONS)) for slug in SIZES]


def image_object(image: str, extra: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The image for a slug or numeric ID, or None when the API would refuse it.

    Numeric IDs stand for custom images: only those ``extra`` configures (the API refuses an
    ID it does not know: "You specified an invalid image"; imported ones are images.py's).
    ``extra`` is ``config.images`` from the state file: ``{slug: {name, distribution}}``.
    """
    known = dict(extra or {})
    if image.isdigit():
        if image not in known:
            return None
        meta = known.get(image, {})
        return {
            "id": int(image),
            "name": meta.get("name", f"custom-image-{image}"),
            "distribution": meta.get("distribution", "Unknown"),
            "slug": "",
            "public": False,
            "regions": [],
            "type": "custom",
            "min_disk_size": 10,
            "size_gigabytes": 1.0,
            "status": "available",
        }
    if image not in known and not image.startswith(_IMAGE_PREFIXES):
        return None
    meta = known.get(image, {})
    distribution = meta.get("distribution") or _distribution(image)
    return {
        "id": 10_000_000 + sum(image.encode()) * 97 % 9_000_000,
        "name": meta.get("name", image.replace("-", " ")),
        "distribution": distribution,
        "slug": image,
        "public": True,
        "regions": sorted(REGIONS),
        "type": "base",
        "min_disk_size": 10,
        "size_gigabytes": 1.0,
        "status": "available",
    }


def _distribution(slug: str) -> str:
    if slug.startswith("coreos-"):
        return "CoreOS"
    if slug.startswith("fedora-coreos-"):
        return "Fedora CoreOS"
    if slug.startswith("flatcar-"):
        return "Flatcar"
    if slug.startswith("rockylinux-"):
        return "Rocky Linux"
    if slug.startswith("almalinux-"):
        return "AlmaLinux"
    return slug.split("-", 1)[0].capitalize()


def region_object(slug: str) -> dict[str, Any]:
    return {
        "slug": slug,
        "name": REGIONS.get(slug, slug),
        "sizes": [],
        "available": True,
        "features": ["backups", "ipv6", "metadata", "install_agent", "storage"],
    }


def login_users(image: dict[str, Any]) -> list[str]:
    """Users the image installs the droplet's ssh keys for: ``core`` on CoreOS-like images."""
    if image.get("distribution") in ("CoreOS", "Fedora CoreOS", "Flatcar"):
        return ["core"]
    if image.get("type") == "custom" and image.get("distribution") == "Unknown":
        return ["core", "root"]
    return ["root"]
