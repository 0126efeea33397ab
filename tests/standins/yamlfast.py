"""YAML as the stand-ins read it: PyYAML's safe loading through libyaml where PyYAML has it
(the pure-Python parser took ~30 ms per node's user data, read dozens of times by one kubectl
call), and each distinct cloud-config's write_files parsed once a process."""

from __future__ import annotations

import functools
from typing import Any

import yaml

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str) -> Any:
    return yaml.load(text, Loader=LOADER)


def load_all(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=LOADER))


@functools.lru_cache(maxsize=128)
def write_files(user_data: str) -> tuple[dict[str, Any], ...]:
    """The write_files items of a cloud-config (none where it is no YAML mapping); shared
    between callers, so read only."""
    try:
        config = load(user_data)
    except yaml.YAMLError:
        return ()
    items = config.get("write_files") if isinstance(config, dict) else None
    return tuple(item for item in items or [] if isinstance(item, dict))
