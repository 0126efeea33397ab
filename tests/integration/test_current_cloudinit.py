"""Flatcar's coreos-cloudinit (../shared/cloudinit/flatcar-coreos-cloudinit, built from
flatcar/coreos-cloudinit; sha256 in its README) validates the current profile's user data as
the apply sends it; a planted defect is reported."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.integration.cloudinit_validators import unpack_validator, validate
from tests.integration.current_nodes import ROLES, user_data_text


@pytest.fixture(scope="session")
def flatcar_validator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return unpack_validator("flatcar-coreos-cloudinit", tmp_path_factory)


@pytest.mark.parametrize("role", ROLES)
def test_flatcar_cloudinit_accepts_current_user_data(
        current_cluster: Path, flatcar_validator: Path, role: str, tmp_path: Path) -> None:
    text = user_data_text(current_cluster, role)
    assert validate(flatcar_validator, text, tmp_path) == (0, [])
    # every node keeps its downloaded updates waiting for make os-update: coreos-cloudinit
    # writes REBOOT_STRATEGY=off to /etc/coreos/update.conf and masks locksmithd
    # (flatcar/coreos-cloudinit system/update.go File() and Units())
    assert yaml.safe_load(text)["coreos"]["update"] == {"reboot_strategy": "off"}


@pytest.mark.parametrize("role, old, new, message", [
    ("etcd", "reboot_strategy:", "reboot_stratgy:", 'unrecognized key "reboot_stratgy"'),
    # config/update.go: reboot_strategy valid:"^(etcd-lock|reboot|off)$" (make os-update's
    # README: "off" stops and masks locksmithd, system/update.go)
    ("worker", 'reboot_strategy: "off"', 'reboot_strategy: "never"', "invalid value never"),
    ("worker", "command: start", "command: begin", "invalid value begin"),
    # what the tutorial profile wrote: Flatcar ships no etcd2
    ("etcd", "coreos:\n  units:", "coreos:\n  etcd2:\n    name: etcd-01\n  units:", "etcd2"),
])
def test_flatcar_cloudinit_reports_a_planted_defect(
        current_cluster: Path, flatcar_validator: Path, tmp_path: Path,
        role: str, old: str, new: str, message: str) -> None:
    text = user_data_text(current_cluster, role)
    assert old in text
    status, found = validate(flatcar_validator, text.replace(old, new, 1), tmp_path)
    assert status == 1 and any(message in f for f in found), found
