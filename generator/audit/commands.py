"""Commands as the rules read them: flags of unit ExecStart lines and of pod containers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from generator.audit.cluster import CloudConfig, Manifest
from generator.audit.systemd import Directive
from generator.audit.yamlnodes import at_path

FLAG = re.compile(r"^(--?[\w-]+)=(.*)$")


def flags(values: list[str]) -> dict[str, str]:
    """--name=value words as {--name: value} (quotes around a word dropped)."""
    return {m[1]: m[2] for v in values if (m := FLAG.match(v.strip('"')))}


def program(words: list[str]) -> str:
    """The binary a command runs, without systemd's prefixes and the directory."""
    return PurePosixPath(words[0].lstrip("-@+!:")).name if words else ""


def execs(config: CloudConfig, binary: str) -> Iterator[Directive]:
    """Every ExecStart of the cloud-config's units that runs binary."""
    for unit in config.units:
        for part in unit.all_parts():
            for d in part.values("ExecStart"):
                if program(d.value.split()) == binary:
                    yield d


def containers(m: Manifest) -> Iterator[tuple[list[str | int], dict[str, Any]]]:
    """(path, container) of a Pod or of a controller's pod template."""
    data = m.data if isinstance(m.data, dict) else {}
    base: list[str | int] = ["spec"] if m.kind == "Pod" else ["spec", "template", "spec"]
    spec: Any = data
    for step in base:
        spec = spec.get(step) if isinstance(spec, dict) else None
    for i, container in enumerate((spec or {}).get("containers") or []):
        if isinstance(container, dict):
            yield [*base, "containers", i], container


def args(container: dict[str, Any]) -> list[str]:
    return [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]


def arg_line(m: Manifest, path: list[str | int], container: dict, needle: str) -> int:
    """File line of the first command/args word that holds needle (else the container's)."""
    for key in ("command", "args"):
        for j, arg in enumerate(container.get(key) or []):
            if needle in str(arg):
                return m.line_of(at_path(m.node, [*path, key, j]))
    return m.line_of(at_path(m.node, path))
