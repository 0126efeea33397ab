"""What the person answering reads beyond cookiecutter's own words: each prompt's limits per
profile, from the answer schema (the prompts in cookiecutter.json state them; a test holds the
two together), and after refused answers how to re-run with them kept, with no cookiecutter
traceback after the errors.

cookiecutter shows a prompt's text as written (it renders defaults, never prompts), so a limit
that differs between the profiles is stated for each: "tutorial: 1.1.x; current: 1.37.0"."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from generator import profiles, releases, sizes
from generator.schema import BY_ANSWER, ETCD_COUNTS, PROFILES

# The answers cookiecutter prompts for (cookiecutter.json: the keys without a leading '_').
PROMPTED = ("cluster_name", "region", "image", "ssh_key_name", "admin_cidrs",
            "kubernetes_version", "worker_count", "etcd_count", "controller_count", "etcd_size",
            "controller_size", "worker_size")

# Limits that are no single rule of the schema: the profile's image, the pinned releases.
_IMAGE = {"tutorial": "a slug or a custom image's numeric ID",
          "current": "empty (make image imports Flatcar) or a custom image's numeric ID"}


def _one_of(values: tuple[str, ...] | list[str]) -> str:
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


def limit(answer: str, profile: str) -> str:
    """What ANSWER may be in PROFILE, in a few words (the schema's rule, narrowed by the
    profile's facts: generator/profiles.py)."""
    facts = profiles.profile(profile)
    if answer == "image":
        return _IMAGE[profile]
    if answer == "kubernetes_version":
        if facts.kubernetes_minors:
            return _one_of([f"{minor}x" for minor in facts.kubernetes_minors])
        return f"{_one_of(sorted(releases.data()['kubernetes']))} (pinned sums)"
    role = next((r for r, a in sizes.ROLE_ANSWERS.items() if a == answer), None)
    if role and role in facts.min_sizes:
        return f"a size slug of at least {sizes.describe(*facts.min_sizes[role])}"
    if answer == "etcd_count":
        return _one_of(ETCD_COUNTS)
    rule = BY_ANSWER[answer].rule
    if rule.kind == "int":
        return f"{rule.a}-{rule.b}"
    return rule.fix.removeprefix("use ").split(" (")[0].split("; ")[0]


def limits(answer: str) -> str:
    """The limits as a prompt states them: once when the profiles agree, else per profile."""
    each = {profile: limit(answer, profile) for profile in PROFILES}
    if len(set(each.values())) == 1:
        return each[PROFILES[0]]
    return "; ".join(f"{profile}: {text}" for profile, text in each.items())


# Templates given as one of these are fetched by cookiecutter; anything else is a local path.
_REMOTE = ("gh:", "gl:", "bb:", "git@", "git+", "https://", "http://", "ssh://", "file://")


def replay_hint(answers: Mapping[str, Any], template_root: Path) -> str:
    """How to bake again with these answers: cookiecutter saved them in its replay file before
    any hook ran (cookiecutter.main dumps the context, then generates)."""
    template = str(answers.get("_template", ""))
    if not template.startswith(_REMOTE):
        template = str(template_root)
    replay_dir = Path("~/.cookiecutter_replay")  # cookiecutter's default
    with contextlib.suppress(Exception):  # a broken user config: say the default
        from cookiecutter.config import get_user_config

        replay_dir = Path(get_user_config()["replay_dir"])
    replay = replay_dir / f"{template_root.name}.json"
    return (f"Your answers are kept in {replay} (the COOKIECUTTER_CONFIG or --config-file "
            f"replay_dir, if you set one): fix the answer(s) named above there, then bake "
            f"again with them:\n  cookiecutter --replay {template}")


class _HookFailure(logging.Filter):
    """cookiecutter logs a failed hook with its traceback after the hook's own errors
    (cookiecutter.hooks: logger.exception): drop that record, so the errors stay last."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return type(error).__name__ != "FailedHookException"


def quiet_hook_failures() -> None:
    """Install the filter on cookiecutter's hook logger (once per process)."""
    logger = logging.getLogger("cookiecutter.hooks")
    if not any(isinstance(f, _HookFailure) for f in logger.filters):
        logger.addFilter(_HookFailure())
