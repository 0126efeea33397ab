"""make upgrade KUBERNETES_VERSION=X.Y.Z (issue 22 item 1, current profile): the release table
in the cluster repo and the version skew policy (kubernetes.io/releases/version-skew-policy:
"upgrade ... one minor version at a time", "kubelet must not be newer than kube-apiserver",
kubectl "within one minor version (older or newer) of kube-apiserver"), refused before any
change; then the rehearsal against the stand-ins from a cluster applied at the previous minor.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import releases
from tests.applying import Apply
from tests.baking import copy_cluster
from tests.current_profile import bake_current

FROM, TO = "1.36.4", "1.37.0"


@pytest.fixture(scope="module")
def baked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Bare bakes at the previous and the current minor (nothing applied)."""
    return {v: bake_current(tmp_path_factory.mktemp(f"bake-{v}"), kubernetes_version=v)
            for v in (FROM, TO)}


def _bare(baked: dict[str, Path], version: str, tmp_path: Path) -> Apply:
    return Apply.create(copy_cluster(baked[version], tmp_path), tmp_path / "sim")


def test_the_release_table_is_the_pinned_data(baked: dict[str, Path]) -> None:
    rows = [line.split("\t") for line in (baked[FROM] / "releases.tsv").read_text().splitlines()
            if line and not line.startswith("#")]
    assert [tuple(r) for r in rows] == releases.kubernetes_table()
    assert [r[0] for r in rows] == [FROM, TO]
    # the previous minor's sums, from kubespray's checksums.yml (dl.k8s.io's .sha256 files)
    assert rows[0][1] == "cf2562db46c48ab84cc3791540778ee7fb1a0a008529adbb434723dd02ed8b4b"
    unit = (baked[FROM] / "node" / "kubelet-install.service").read_text()
    assert f"/v{FROM}/bin/linux/amd64/kubelet" in unit and rows[0][1] in unit


def _refused(apply: Apply, version: str, *words: str) -> None:
    calls = apply.calls()
    proc = apply.make("upgrade", f"KUBERNETES_VERSION={version}", check=False)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr
    # before any change: no API call, no state, the settings as baked
    assert apply.calls() == calls
    assert not (apply.cluster / "state" / "upgrade").exists()
    assert not (apply.cluster / "state" / "droplets").exists()


def test_a_skipped_minor_is_refused(baked: dict[str, Path], tmp_path: Path) -> None:
    apply = _bare(baked, FROM, tmp_path)
    table = apply.cluster / "releases.tsv"
    # a table that knows a 1.38 (its sum is not looked at: the skew check comes first)
    table.write_text(table.read_text() + "1.38.0\t" + "0" * 64 + "\t" + "0" * 64 + "\n")
    _refused(apply, "1.38.0", "skips 1.37", "version-skew-policy",
             f"Upgrade to {TO} first")
    assert apply.settings()["KUBERNETES_VERSION"] == FROM


def test_a_downgrade_is_refused(baked: dict[str, Path], tmp_path: Path) -> None:
    apply = _bare(baked, TO, tmp_path)
    _refused(apply, FROM, f"KUBERNETES_VERSION={FROM} is older than the cluster's {TO}",
             "downgrades are refused", "make restore")


def test_a_version_without_pinned_sums_is_refused(baked: dict[str, Path],
                                                   tmp_path: Path) -> None:
    apply = _bare(baked, FROM, tmp_path)
    _refused(apply, "1.36.5", "1.36.5 has no pinned kubelet sha256 in releases.tsv",
             f"use one of {FROM} {TO}")


def test_the_tutorial_profile_has_no_upgrade(tmp_path: Path) -> None:
    from tests.baking import bake

    apply = Apply.create(copy_cluster(bake(tmp_path / "bake"), tmp_path), tmp_path / "sim")
    calls = apply.calls()
    proc = apply.make("upgrade", "KUBERNETES_VERSION=1.2.0", check=False)
    assert proc.returncode != 0 and "the tutorial profile runs" in proc.stderr, proc.stderr
    assert apply.calls() == calls
