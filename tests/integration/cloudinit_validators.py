"""The real cloud-config validators of ../shared/cloudinit (CoreOS's coreos-cloudinit v1.13.0
and Flatcar's build), unpacked from their .xz and checked against the sha256 their README lists;
missing: the tests skip, and fail under CI=true."""

from __future__ import annotations

import hashlib
import lzma
import os
import re
from pathlib import Path

import pytest

from generator import TEMPLATE_ROOT
from tests.integration.support import run

# ../shared beside the template checkout (a worktree one level deeper: ../../shared)
SHARED = next((d for d in (TEMPLATE_ROOT.parent / "shared" / "cloudinit",
                           TEMPLATE_ROOT.parent.parent / "shared" / "cloudinit") if d.is_dir()),
              TEMPLATE_ROOT.parent / "shared" / "cloudinit")


def unpack_validator(name: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """../shared/cloudinit/NAME.xz unpacked into a temporary folder, sha256-checked."""
    readme, packed = SHARED / "README.md", SHARED / f"{name}.xz"
    if not (readme.is_file() and packed.is_file()):
        message = f"{packed} is missing (the validators live in ../shared/cloudinit)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    want = re.search(rf"`{re.escape(name)}\.xz` \| `([0-9a-f]{{64}})`", readme.read_text())
    assert want, f"{readme} lists no sha256 for {name}"
    binary = tmp_path_factory.mktemp("cloudinit") / name
    binary.write_bytes(lzma.decompress(packed.read_bytes()))
    assert hashlib.sha256(binary.read_bytes()).hexdigest() == want[1]
    binary.chmod(0o755)
    return binary


def validate(validator: Path, text: str, tmp_path: Path) -> tuple[int, list[str]]:
    """The validator's exit code and its `line N: error|warning: ...` reports on TEXT."""
    path = tmp_path / "user-data.yaml"
    path.write_text(text)
    result = run([str(validator), "-validate", "-from-file", str(path)])
    return result.returncode, re.findall(r"line \d+: (?:error|warning): .*", result.stderr)
