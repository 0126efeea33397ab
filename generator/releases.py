"""The pinned sha256 sums of what the current profile's nodes download (one data file,
generator/data/kubernetes-release.json, each sum with its source)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from generator import TEMPLATE_ROOT

DATA = TEMPLATE_ROOT / "generator" / "data" / "kubernetes-release.json"
# Every node fetches the kubelet; the controller also kubectl (for an operator on it).
NODE_BINARIES = ("kubelet", "kubectl")
# What a node writes where no sum is pinned: never a valid sha256, so `sha256sum --check`
# refuses the download. (Only a bake of the other profile renders it: the answers check
# refuses a current bake without pinned sums.)
UNPINNED = "unpinned"
# Release tarballs pinned one sum per version: the answer naming the version -> its section.
TARBALLS = {"_etcd_version": "etcd", "_cni_plugins_version": "cni-plugins"}


@cache
def data() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DATA.read_text())
    return loaded


def pinned_sums() -> frozenset[str]:
    """Every sha256 the data file pins (public values: the audit does not take them for
    tokens)."""
    kubernetes = [entry["sha256"] for binaries in data()["kubernetes"].values()
                  for entry in binaries.values()]
    tarballs = [entry["sha256"] for section in TARBALLS.values()
                for entry in data()[section].values()]
    return frozenset(kubernetes + tarballs)


def k8s_sha256(answers: Mapping[str, Any], binary: str) -> str:
    entry = data()["kubernetes"].get(answers["kubernetes_version"], {}).get(binary)
    return str(entry["sha256"]) if entry else UNPINNED


def tarball_sha256(answers: Mapping[str, Any], answer: str) -> str:
    entry = data()[TARBALLS[answer]].get(answers[answer])
    return str(entry["sha256"]) if entry else UNPINNED


def etcd_sha256(answers: Mapping[str, Any]) -> str:
    return tarball_sha256(answers, "_etcd_version")


def cni_plugins_sha256(answers: Mapping[str, Any]) -> str:
    return tarball_sha256(answers, "_cni_plugins_version")


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def kubernetes_table() -> list[tuple[str, str, str]]:
    """(version, kubelet sha256, kubectl sha256) of every pinned Kubernetes release, oldest
    first: the cluster repo's releases.tsv, from which make upgrade takes its target's sums."""
    known = data()["kubernetes"]
    return [(version, known[version]["kubelet"]["sha256"], known[version]["kubectl"]["sha256"])
            for version in sorted(known, key=version_key)]


def unpinned(answers: Mapping[str, str]) -> list[tuple[str, str]]:
    """(answer, message) for each version of a current bake without pinned sums."""
    problems = []
    known = data()["kubernetes"]
    version = answers["kubernetes_version"]
    missing = [b for b in NODE_BINARIES if b not in known.get(version, {})]
    if missing:
        problems.append(("kubernetes_version", (
            f"{version!r} has no pinned sha256 for {', '.join(missing)}; use one of "
            f"{', '.join(sorted(known))} or add the sums (with their source) to "
            f"generator/data/{DATA.name}")))
    for answer, section in TARBALLS.items():
        if answers[answer] not in data()[section]:
            problems.append((answer, (
                f"{answers[answer]!r} has no pinned sha256; use one of "
                f"{', '.join(sorted(data()[section]))} or add its sum (with its source) to "
                f"generator/data/{DATA.name}")))
    return problems
