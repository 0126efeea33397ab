"""The hooks find generator/ through the template cookiecutter renders, not the cwd."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from generator import TEMPLATE_ROOT

COOKIECUTTER = [sys.executable, "-m", "cookiecutter", "--no-input"]


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=os.environ.copy())


def test_bake_from_a_relative_template_path_elsewhere(tmp_path: Path) -> None:
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    relative = os.path.relpath(TEMPLATE_ROOT, workdir)
    result = run([*COOKIECUTTER, relative, "-o", "out"], workdir)
    assert result.returncode == 0, result.stderr
    assert (workdir / "out/do-cluster/pki/ca.pem").is_file()


def test_bake_from_a_git_clone(tmp_path: Path) -> None:
    """cookiecutter clones the template into its own folder and runs the hooks from there."""
    source = tmp_path / "template.git"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=TEMPLATE_ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        if (TEMPLATE_ROOT / name).exists():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(TEMPLATE_ROOT / name, source / name)
    for git_args in (["init", "-q"], ["add", "-A"],
                     ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "template"]):
        subprocess.run(["git", *git_args], cwd=source, check=True)
    workdir = tmp_path / "user"
    workdir.mkdir()
    result = run([*COOKIECUTTER, f"git+file://{source}", "-o", "out"], workdir)
    assert result.returncode == 0, result.stderr
    assert (workdir / "out/do-cluster/pki/admin.pem").is_file()
    # A rejected answer is still caught when the hooks run from the clone.
    bad = run([*COOKIECUTTER, f"git+file://{source}", "-o", "bad", "worker_count=0"], workdir)
    assert bad.returncode != 0
    assert "worker_count" in bad.stderr
    assert not (workdir / "bad/do-cluster").exists()
