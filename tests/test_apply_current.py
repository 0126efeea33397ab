"""Targets the current profile does not implement refuse with what to do instead, before any
API call or file change."""

from __future__ import annotations

from pathlib import Path

from tests.applying import Apply, snapshot
from tests.baking import bake


def test_rotate_certs_says_how_in_the_current_profile(tmp_path: Path) -> None:
    cluster = bake(tmp_path / "bake", profile="current")
    apply = Apply.create(cluster, tmp_path / "sim")
    before, calls = snapshot(cluster / "pki"), apply.calls()
    proc = apply.make("rotate-certs", check=False)
    assert proc.returncode != 0
    assert "re-issues the tutorial profile's node certificates only" in proc.stderr
    assert "re-run 'make controller' or 'make worker'" in proc.stderr
    assert snapshot(cluster / "pki") == before
    assert apply.calls() == calls
