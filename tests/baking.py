"""Bake the template the way a user does (cookiecutter's API, hooks included)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from cookiecutter.generate import generate_context
from cookiecutter.main import cookiecutter
from cookiecutter.prompt import prompt_for_config

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


def default_answers(**overrides: str) -> dict[str, Any]:
    """The answers a --no-input bake uses (choices at their first entry, profile-dependent
    defaults rendered), as cookiecutter itself computes them, with overrides applied."""
    context = generate_context(str(TEMPLATE_ROOT / "cookiecutter.json"), extra_context=overrides)
    return prompt_for_config(context, no_input=True)
