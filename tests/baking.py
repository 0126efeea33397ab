"""Bake the template the way a user does (cookiecutter's API, hooks included)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from cookiecutter.main import cookiecutter

from generator import TEMPLATE_ROOT


def bake(output_dir: Path, **answers: Any) -> Path:
    """Render the template with these answers (others default) into output_dir."""
    return Path(
        cookiecutter(
            str(TEMPLATE_ROOT),
            no_input=True,
            extra_context={key: str(value) for key, value in answers.items()},
            output_dir=str(output_dir),
        )
    )


def copy_cluster(cluster: Path, destination: Path) -> Path:
    """A private, writable copy of a baked cluster (keeps modes, so keys stay 0600)."""
    target = destination / cluster.name
    shutil.copytree(cluster, target, symlinks=True)
    return target
