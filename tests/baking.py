"""Bake the template the way a user does (cookiecutter's API, hooks included).

Most suites check the tutorial profile's files (its 1.1.2 flags and control plane, the
tutorial's listings), so these helpers answer profile=tutorial unless told another profile;
profile=None leaves the answer to cookiecutter, as a user's --no-input bake does (the first
choice: generator.schema.DEFAULT_PROFILE)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from cookiecutter.generate import generate_context
from cookiecutter.main import cookiecutter
from cookiecutter.prompt import prompt_for_config

from generator import TEMPLATE_ROOT

TUTORIAL = "tutorial"


def _with_profile(profile: str | None, answers: dict[str, Any]) -> dict[str, str]:
    chosen = {key: str(value) for key, value in answers.items()}
    return chosen if profile is None else {"profile": profile, **chosen}


def bake(output_dir: Path, profile: str | None = TUTORIAL, **answers: Any) -> Path:
    """Render the template with this profile and these answers (others default) into
    output_dir."""
    return Path(
        cookiecutter(
            str(TEMPLATE_ROOT),
            no_input=True,
            extra_context=_with_profile(profile, answers),
            output_dir=str(output_dir),
        )
    )


def copy_cluster(cluster: Path, destination: Path) -> Path:
    """A private, writable copy of a baked cluster (keeps modes, so keys stay 0600)."""
    target = destination / cluster.name
    shutil.copytree(cluster, target, symlinks=True)
    return target


def default_answers(profile: str | None = TUTORIAL, **overrides: str) -> dict[str, Any]:
    """The answers a --no-input bake of this profile uses (choices at their first entry,
    profile-dependent defaults rendered), as cookiecutter itself computes them, with overrides
    applied."""
    context = generate_context(str(TEMPLATE_ROOT / "cookiecutter.json"),
                               extra_context=_with_profile(profile, overrides))
    return prompt_for_config(context, no_input=True)
