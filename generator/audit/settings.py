"""Rule 10: settings.env re-checked with the answers' schema, as the apply checks it.

The same rules as the pre-generation hook (generator.answers.validate_settings) and as
scripts/lib/settings.sh (from settings.rules): plain KEY=value lines whose values make and
bash read alike and cannot run, every value within its rule, the pod network's room for the
workers, and the region of the droplets the apply recorded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from generator.answers import validate_settings
from generator.audit.cluster import DROPLET_STATE_DIR, SETTING, Cluster
from generator.audit.report import ERROR, Finding
from generator.schema import INERT_CHARS, INERT_VALUE

REL = "settings.env"


def _lines(cluster: Cluster) -> Iterator[tuple[int, str]]:
    path = cluster.root / REL
    if path.is_file():
        # split on \n only: a \r or other break inside a line is part of what make/bash read
        yield from enumerate(path.read_text(errors="replace").split("\n"), 1)


def check(cluster: Cluster) -> Iterator[Finding]:
    values: dict[str, str] = {}
    lines: dict[str, int] = {}
    for number, line in _lines(cluster):
        if not line:
            continue
        if line.startswith("#"):
            if line.endswith("\\"):
                yield Finding(REL, number, ERROR, "settings.text",
                              "a comment ending in '\\' swallows the next line in make")
        elif match := SETTING.fullmatch(line):
            values[match[1]], lines[match[1]] = match[2], number
            if not re.fullmatch(INERT_VALUE, match[2]):
                yield Finding(REL, number, ERROR, "settings.text",
                              f"{match[1]}: {match[2]!r} may only hold {INERT_CHARS} "
                              "(make includes this file and bash sources it, unquoted)")
        else:
            yield Finding(REL, number, ERROR, "settings.text",
                          f"{line!r} is not a KEY=value line; make and bash would run it")
    if not lines:
        return
    for error in validate_settings(values):
        yield Finding(REL, lines.get(error.field, 1), ERROR, "settings.value", str(error))
    region = values.get("REGION")
    for record in sorted((cluster.root / DROPLET_STATE_DIR).glob("*.json")):
        try:
            created_in = json.loads(record.read_text()).get("region")
        except (OSError, ValueError, AttributeError):
            continue
        if created_in and created_in != region:
            yield Finding(REL, lines.get("REGION", 1), ERROR, "settings.region",
                          f"REGION is {region}, but {record.stem} was created in {created_in}; "
                          f"set REGION={created_in} back (make destroy first to move)")
