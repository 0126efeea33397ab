"""Flatcar's coreos-cloudinit (../shared/cloudinit/flatcar-coreos-cloudinit, built from
flatcar/coreos-cloudinit; sha256 in its README) validates the current profile's user data as
the apply sends it; a planted defect is reported."""

from __future__ import annotations

import hashlib
import lzma
import os
import re
from pathlib import Path

import pytest

from generator import TEMPLATE_ROOT
from tests.integration.current_nodes import ROLES, user_data_text
from tests.integration.support import run

# ../shared beside the template checkout (a worktree one level deeper: ../../shared)
SHARED = next((d for d in (TEMPLATE_ROOT.parent / "shared" / "cloudinit",
                           TEMPLATE_ROOT.parent.parent / "shared" / "cloudinit") if d.is_dir()),
              TEMPLATE_ROOT.parent / "shared" / "cloudinit")
NAME = "flatcar-coreos-cloudinit"


@pytest.fixture(scope="session")
def flatcar_validator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    readme, packed = SHARED / "README.md", SHARED / f"{NAME}.xz"
    if not (readme.is_file() and packed.is_file()):
        message = f"{packed} is missing (the validators live in ../shared/cloudinit)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    want = re.search(rf"`{re.escape(NAME)}\.xz` \| `([0-9a-f]{{64}})`", readme.read_text())
    assert want, f"{readme} lists no sha256 for {NAME}"
    binary = tmp_path_factory.mktemp("flatcar") / NAME
    binary.write_bytes(lzma.decompress(packed.read_bytes()))
    assert hashlib.sha256(binary.read_bytes()).hexdigest() == want[1]
    binary.chmod(0o755)
    return binary


def validate(validator: Path, text: str, tmp_path: Path) -> tuple[int, list[str]]:
    path = tmp_path / "user-data.yaml"
    path.write_text(text)
    result = run([str(validator), "-validate", "-from-file", str(path)])
    return result.returncode, re.findall(r"line \d+: (?:error|warning): .*", result.stderr)


@pytest.mark.parametrize("role", ROLES)
def test_flatcar_cloudinit_accepts_current_user_data(
        current_cluster: Path, flatcar_validator: Path, role: str, tmp_path: Path) -> None:
    assert validate(flatcar_validator, user_data_text(current_cluster, role), tmp_path) == (0, [])


@pytest.mark.parametrize("role, old, new, message", [
    ("etcd", "reboot_strategy:", "reboot_stratgy:", 'unrecognized key "reboot_stratgy"'),
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
