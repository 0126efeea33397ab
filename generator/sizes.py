"""Droplet sizes: what a slug holds (generator/data/droplet-sizes.json, one table) and whether
it holds the least its role needs in the baked profile (generator.profiles)."""

from __future__ import annotations

import json
from functools import cache

from generator import TEMPLATE_ROOT, profiles

DATA = TEMPLATE_ROOT / "generator" / "data" / "droplet-sizes.json"
# The answer naming each role's size.
ROLE_ANSWERS = {"etcd": "etcd_size", "controller": "controller_size", "worker": "worker_size"}


@cache
def table() -> dict[str, tuple[int, int]]:
    """slug -> (vCPUs, memory MiB)."""
    sizes = json.loads(DATA.read_text())["sizes"]
    return {slug: (int(s["vcpus"]), int(s["memory"])) for slug, s in sizes.items()}


def describe(vcpus: int, memory: int) -> str:
    return f"{vcpus} vCPU, {memory / 1024:g} GB"


def too_small(profile: str, role: str, slug: str) -> str | None:
    """Why slug cannot hold role in this profile (None: it can, or the table does not know
    it, or the profile sets no minimum)."""
    least = profiles.profile(profile).min_sizes.get(role)
    held = table().get(slug)
    if least is None or held is None or (held[0] >= least[0] and held[1] >= least[1]):
        return None
    bigger = sorted((s for s, (v, m) in table().items() if v >= least[0] and m >= least[1]),
                    key=lambda s: table()[s])
    return (f"{slug!r} holds {describe(*held)}; the {profile} profile's {role} needs at least "
            f"{describe(*least)} ({profiles.profile(profile).min_size_reasons[role]}); "
            f"use {bigger[0] if bigger else 'a larger size'} or larger")
