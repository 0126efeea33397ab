"""Rule 3: files embedded in cloud-configs equal their standalone copies byte for byte.

(Embedded scripts go through shellcheck in lint.py, embedded manifests through manifests.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from generator.audit.cluster import Cluster, WriteFile
from generator.audit.report import ERROR, Finding

# Where the standalone copies of node files live in the cluster repo.
STANDALONE_DIRS = ("node", "manifests")


def standalone_copies(cluster: Cluster) -> dict[str, list[Path]]:
    copies: dict[str, list[Path]] = {}
    for directory in STANDALONE_DIRS:
        for path in sorted((cluster.root / directory).rglob("*")):
            if path.is_file():
                copies.setdefault(path.name, []).append(path)
    return copies


def _first_difference(embedded: str, standalone: str) -> int:
    for k, (a, b) in enumerate(zip(embedded.split("\n"), standalone.split("\n"), strict=False)):
        if a != b:
            return k + 1
    return min(embedded.count("\n"), standalone.count("\n")) + 1


def _compare(cluster: Cluster, rel: str, wf: WriteFile, copy: Path) -> Iterator[Finding]:
    if wf.content is None:
        return
    standalone = copy.read_text()
    if wf.content.value != standalone:
        k = _first_difference(wf.content.value, standalone)
        yield Finding(
            rel, wf.content.line(k), ERROR, "embed.copy",
            f"{wf.path} differs from {cluster.rel(copy)} (from its line {k}); "
            "the node would run something else than the file you reviewed",
        )


def check(cluster: Cluster) -> Iterator[Finding]:
    copies = standalone_copies(cluster)
    # rendered user data: userdata.source ties it to its cloud-config, checked here
    for config in (c for c in cluster.cloud_configs if not c.rendered):
        for wf in config.files:
            candidates = copies.get(wf.name, [])
            if len(candidates) == 1:
                yield from _compare(cluster, config.rel, wf, candidates[0])
