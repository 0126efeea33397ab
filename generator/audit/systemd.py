"""A systemd unit file (or drop-in) parsed into directives that know their file lines."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from generator.audit.yamlnodes import Text

SECTION = re.compile(r"^\[([^\]]+)\]\s*$")


@dataclass(frozen=True)
class Directive:
    section: str
    key: str
    value: str  # continuation lines joined with a space, as systemd does
    segments: tuple[tuple[int, str], ...]  # (file line, physical text) of each line

    @property
    def line(self) -> int:
        return self.segments[0][0]

    def line_of(self, needle: str) -> int:
        """File line of the physical line that holds needle (a flag, a path)."""
        return next((ln for ln, text in self.segments if needle in text), self.line)


@dataclass
class UnitFile:
    directives: list[Directive] = field(default_factory=list)
    sections: list[tuple[str, int]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (file line, message)

    def values(self, key: str, section: str | None = None) -> list[Directive]:
        return [
            d for d in self.directives if d.key == key and section in (None, d.section)
        ]


def parse(text: Text) -> UnitFile:
    unit = UnitFile()
    section: str | None = None
    lines = text.value.split("\n")
    k = 0
    while k < len(lines):
        number, raw = k + 1, lines[k]
        k += 1
        stripped = raw.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if match := SECTION.match(stripped):
            section = match[1]
            unit.sections.append((section, text.line(number)))
            continue
        segments = [(text.line(number), raw)]
        while raw.rstrip().endswith("\\") and k < len(lines):
            raw = lines[k]
            k += 1
            segments.append((text.line(k), raw))
        joined = " ".join(s.rstrip().removesuffix("\\").strip() for _, s in segments)
        if section is None:
            unit.errors.append((text.line(number), f"{stripped!r} is outside any [Section]"))
        elif "=" not in joined:
            unit.errors.append((text.line(number), f"{stripped!r} is not KEY=VALUE"))
        else:
            key, value = joined.split("=", 1)
            unit.directives.append(
                Directive(section, key.strip(), value.strip(), tuple(segments))
            )
    return unit
