"""The Kubernetes 1.1.2 binaries built from the release commit (../shared/k8s-1.1.2, beside the
checkout): unpacked once into a cache outside the repo and checked against the sha256 sums that
the shared README lists. Missing: the tests skip, or fail under CI=true."""

from __future__ import annotations

import hashlib
import lzma
import os
import re
from pathlib import Path

from generator import TEMPLATE_ROOT

VERSION = "1.1.2"
SHARED = TEMPLATE_ROOT.parent / "shared" / f"k8s-{VERSION}"
NAMES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kubelet")
# README rows: | `kube-apiserver.xz` | `8d9d...` | static |
_ROW = re.compile(r"^\|\s*`(?P<name>[\w-]+)\.xz`\s*\|\s*`(?P<sha>[0-9a-f]{64})`", re.MULTILINE)


class Unavailable(Exception):
    """The binaries cannot be had here (no ../shared, a bad sum): the message says why."""


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "k8s-do-tests" / f"k8s-{VERSION}"


def expected_sums(shared: Path = SHARED) -> dict[str, str]:
    readme = shared / "README.md"
    if not readme.is_file():
        raise Unavailable(f"{readme} is missing: the Kubernetes {VERSION} binaries are in "
                          f"../shared/k8s-{VERSION} beside the checkout")
    sums = {m["name"]: m["sha"] for m in _ROW.finditer(readme.read_text())}
    missing = set(NAMES) - set(sums)
    if missing:
        raise Unavailable(f"{readme} lists no sha256 for {sorted(missing)}")
    return sums


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def binary(name: str, shared: Path = SHARED, cache: Path | None = None) -> Path:
    """The path of one verified binary, unpacked from NAME.xz on first use (atomically, so
    concurrent test runs share the cache)."""
    sums = expected_sums(shared)
    cache = cache or cache_dir()
    target = cache / name
    if target.is_file() and _sha256(target) == sums[name]:
        return target
    source = shared / f"{name}.xz"
    if not source.is_file():
        raise Unavailable(f"{source} is missing")
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / f".{name}.{os.getpid()}"
    with lzma.open(source) as packed, partial.open("wb") as out:
        while block := packed.read(1 << 20):
            out.write(block)
    got = _sha256(partial)
    if got != sums[name]:
        partial.unlink()
        raise Unavailable(f"{source} unpacks to sha256 {got}, the README says {sums[name]}")
    partial.chmod(0o755)
    partial.replace(target)
    return target


def bin_dir(shared: Path = SHARED, cache: Path | None = None) -> Path:
    """A directory holding all five verified binaries (put it first on PATH for kubectl 1.1.2)."""
    paths = [binary(name, shared, cache) for name in NAMES]
    return paths[0].parent
