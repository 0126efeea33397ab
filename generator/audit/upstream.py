"""The upstream flag sets and config-type field trees of the `current` profile's components.

Data: generator/data/upstream/flags/<component>.json and config/<Kind>.json, each naming the
upstream files (repository, ref, path) it was read from.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "data" / "upstream"


@dataclass(frozen=True)
class FlagTable:
    component: str
    release: str
    version: str  # major.minor the table holds
    flags: frozenset[str]
    deprecated: dict[str, str]
    removed: dict[str, str]
    origin: str  # the first upstream file, for messages
    # An earlier minor the same sources describe ("earlier" in the data file), with what it
    # lacks and what it still accepts: minor -> {"lacks": {flag: why}, "still": {flag: why}}.
    earlier: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)

    def closest(self, name: str) -> str | None:
        found = difflib.get_close_matches(name, self.flags, n=1, cutoff=0.7)
        return found[0] if found else None

    def at(self, minor: str) -> FlagTable:
        """The table for MINOR: this one, or an earlier minor it records the differences of."""
        if minor not in self.earlier:
            return self
        diff = self.earlier[minor]
        return dataclasses.replace(
            self, release=f"{minor} (the {self.version} table less its later changes)",
            version=minor, flags=(self.flags - set(diff["lacks"])) | set(diff["still"]),
            removed={**{k: v for k, v in self.removed.items() if k not in diff["still"]},
                     **diff["lacks"]}, earlier={})


@dataclass(frozen=True)
class ConfigSchema:
    kind: str
    api_version: str
    release: str
    fields: dict[str, Any]  # json name -> None (leaf) | {"fields"|"list"|"map": ...}
    origin: str


def _origin(source: dict[str, str]) -> str:
    return f"{source['repository']} {source['path']} @ {source['ref'].split(' ')[0]}"


@cache
def flag_tables() -> dict[str, FlagTable]:
    tables = {}
    for path in sorted((DATA / "flags").glob("*.json")):
        raw = json.loads(path.read_text())
        tables[raw["component"]] = FlagTable(
            raw["component"], raw["release"], raw["version"], frozenset(raw["flags"]),
            raw["deprecated"],
            raw["removed"], _origin(raw["sources"][0]), raw.get("earlier", {}),
        )
    return tables


@cache
def config_schemas() -> dict[str, ConfigSchema]:
    schemas = {}
    for path in sorted((DATA / "config").glob("*.json")):
        raw = json.loads(path.read_text())
        schemas[raw["kind"]] = ConfigSchema(raw["kind"], raw["apiVersion"], raw["release"],
                                            raw["fields"], _origin(raw["sources"][0]))
    return schemas
