"""make rotate-certs in the current profile refuses CA=1 before any API call or file change
(every certificate and kubeconfig trusts pki/ca.pem); the rotation itself is rehearsed in
tests/test_apply_current_ha.py."""

from __future__ import annotations

from pathlib import Path

from tests.applying import Apply, snapshot
from tests.baking import bake


def test_rotate_certs_never_rotates_the_ca(tmp_path: Path) -> None:
    cluster = bake(tmp_path / "bake", profile="current")
    apply = Apply.create(cluster, tmp_path / "sim")
    before, calls = snapshot(cluster / "pki"), apply.calls()
    proc = apply.make("rotate-certs", check=False, CA="1")
    assert proc.returncode != 0
    assert "CA=1: rotating the CA is not done here" in proc.stderr
    assert snapshot(cluster / "pki") == before
    assert apply.calls() == calls
