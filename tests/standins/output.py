"""doctl's two output formats (commands/displayers/output.go)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def go_json(obj: Any, *, indent: bool) -> str:
    """Go's encoding/json: HTML characters escaped; doctl indents its results by 2 spaces."""
    text = json.dumps(obj, indent=2 if indent else None,
                      separators=(",", ": ") if indent else (",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class Displayable:
    """One displayer: its items' JSON, default columns, headers and per-item values."""

    def __init__(self, items: list[dict[str, Any]], cols: list[str], headers: dict[str, str],
                 kv: Callable[[dict[str, Any]], dict[str, Any]], single: bool = False) -> None:
        self.items = items
        self.cols = cols
        self.headers = headers
        self.kv = kv
        self.single = single  # the JSON is the one item itself (account get), not an array


def _cell(value: Any) -> str:
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:f}"
    return str(value)


def tabwrite(rows: list[list[str]], padding: int = 4) -> str:
    """text/tabwriter with minwidth 0, padding 4, ' ' padchar: every cell but a line's last
    is a column padded to the widest cell plus ``padding``."""
    width: dict[int, int] = {}
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            width[i] = max(width.get(i, 0), len(cell))
    lines = []
    for row in rows:
        out = "".join(cell.ljust(width[i] + padding) for i, cell in enumerate(row[:-1]))
        lines.append(out + (row[-1] if row else ""))
    return "".join(line + "\n" for line in lines)


class DisplayError(Exception):
    pass


def render(d: Displayable, output: str, columns: str, no_header: bool) -> str:
    if output == "json":
        # doctl writes the indented JSON without a trailing newline.
        return go_json(d.items[0] if d.single else d.items, indent=True)
    if output != "text":
        raise DisplayError("unknown output type")
    cols = [c for c in "".join(columns.split()).split(",") if c] or d.cols
    rows: list[list[str]] = []
    if not no_header:
        for c in cols:
            if not d.headers.get(c):
                raise DisplayError(f'unknown column "{c}"')
        rows.append([d.headers[c] for c in cols])
    for item in d.items:
        values = d.kv(item)
        rows.append([_cell(values.get(c)) for c in cols])
    return tabwrite(rows)
