"""The audit on a current-profile bake: clean as baked (the tutorial's facts judging it:
test_audit_profiles.py); the template's pinned release sums are not taken for API tokens, any other
64-hex value still is."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from generator.audit import audit
from tests.baking import copy_cluster


@pytest.fixture(scope="module")
def current(current_cluster: Path) -> Path:
    return current_cluster  # the session's shared bake (conftest.py), read only


def test_a_current_bake_audits_clean(current: Path) -> None:
    report = audit(current)
    assert report.errors == 0, report.text()


def test_an_unpinned_64_hex_value_is_still_a_token(current: Path, tmp_path: Path) -> None:
    cluster = copy_cluster(current, tmp_path)
    unit = cluster / "node/kubelet-install.service"
    token = hashlib.sha256(b"not a release").hexdigest()
    unit.write_text(unit.read_text() + f"# {token}\n")
    found = [f for f in audit(cluster).findings if f.rule == "secrets.token"]
    assert [f.file for f in found] == ["node/kubelet-install.service"], found


def test_a_size_below_its_roles_minimum_is_reported(current: Path, tmp_path: Path) -> None:
    """Issue 17.2's broken twin for the audit: settings.env edited to a 1 GB controller."""
    cluster = copy_cluster(current, tmp_path)
    settings = cluster / "settings.env"
    text = settings.read_text()
    assert "CONTROLLER_SIZE=s-2vcpu-2gb\n" in text
    settings.write_text(text.replace("CONTROLLER_SIZE=s-2vcpu-2gb", "CONTROLLER_SIZE=s-1vcpu-1gb"))
    found = [f for f in audit(cluster).findings if f.severity == "error"]
    assert [(f.file, f.rule) for f in found] == [("settings.env", "settings.value")], found
    assert found[0].message.startswith("CONTROLLER_SIZE: 's-1vcpu-1gb' holds 1 vCPU, 1 GB")
