"""The upstream flag sets and config-type field trees of the `current` profile's components.

Data: generator/data/upstream/flags/<component>.json and config/<Kind>.json, each naming the
upstream files (repository, ref, path) it was read from.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
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

    def closest(self, name: str) -> str | None:
        found = difflib.get_close_matches(name, self.flags, n=1, cutoff=0.7)
        return found[0] if found else None


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
            raw["removed"], _origin(raw["sources"][0]),
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
