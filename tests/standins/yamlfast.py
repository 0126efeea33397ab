"""YAML as the stand-ins read it: PyYAML's safe loading through libyaml where PyYAML has it
(the pure-Python parser took ~30 ms per node's user data, read dozens of times by one kubectl
call), and each distinct cloud-config's write_files parsed once a process.

PyYAML is the stand-ins' one package beyond the standard library. Their wrappers start Python
with -S (no site: its .pth files, the editable install's finder among them, cost ~20 ms a
start, and doctl, ssh and scp are started thousands of times a run), so PyYAML is imported on
first use, from the interpreter's site-packages."""

from __future__ import annotations

import functools
import sys
import sysconfig
from types import ModuleType
from typing import Any


class Error(Exception):
    """Text that is no YAML (PyYAML's message)."""


@functools.cache
def _yaml() -> ModuleType:
    try:
        import yaml
    except ModuleNotFoundError:  # started with -S: the interpreter's own site-packages
        sys.path.append(sysconfig.get_path("purelib"))
        try:
            import yaml
        except ModuleNotFoundError:  # a distribution's python3 (dist-packages): site proper
            import site

            site.main()
            import yaml
    return yaml


def _loader() -> Any:
    yaml = _yaml()
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str) -> Any:
    try:
        return _yaml().load(text, Loader=_loader())
    except _yaml().YAMLError as exc:
        raise Error(str(exc)) from None


def load_all(text: str) -> list[Any]:
    try:
        return list(_yaml().load_all(text, Loader=_loader()))
    except _yaml().YAMLError as exc:
        raise Error(str(exc)) from None


def dump(data: Any) -> str:
    return str(_yaml().safe_dump(data, default_flow_style=False))


@functools.lru_cache(maxsize=128)
def write_files(user_data: str) -> tuple[dict[str, Any], ...]:
    """The write_files items of a cloud-config (none where it is no YAML mapping); shared
    between callers, so read only."""
    try:
        config = load(user_data)
    except Error:
        return ()
    items = config.get("write_files") if isinstance(config, dict) else None
    return tuple(item for item in items or [] if isinstance(item, dict))
