"""Output both kubectl versions share: jsonpath templates, aligned tables, label selectors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from core import KubectlError, Vocabulary

Labels = dict[str, str]


def jsonpath(obj: Any, expr: str) -> str:
    """The ``{.a.b[*].c}`` subset of kubectl's JSONPath (k8s.io/client-go util/jsonpath)."""
    expr = expr.strip()
    if not (expr.startswith("{") and expr.endswith("}")):
        raise KubectlError(f"error: error parsing jsonpath {expr}, unclosed or missing braces")
    path = expr[1:-1]
    if not path.startswith("."):
        raise KubectlError(f"error: error parsing jsonpath {expr}")
    values: list[Any] = [obj]
    for raw in path[1:].split("."):
        name, _, index = raw.partition("[")
        nxt: list[Any] = []
        for v in values:
            if name:
                v = v.get(name) if isinstance(v, dict) else None
            if v is None:
                continue
            if index:
                idx = index.rstrip("]")
                if not isinstance(v, list):
                    continue
                if idx == "*":
                    nxt.extend(v)
                elif int(idx) < len(v):
                    nxt.append(v[int(idx)])
            else:
                nxt.append(v)
        values = nxt
    return " ".join(str(v) for v in values)


def table(rows: list[list[str]]) -> str:
    """kubectl's column layout: three spaces between columns, trailing blanks trimmed."""
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return "".join("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n"
                   for r in rows)


def selector_text(selector: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>"


def matches(labels: dict[str, str], selector: dict[str, str]) -> bool:
    """Whether ``labels`` carry every ``key: value`` of a Service's (or RC's) selector."""
    return all(labels.get(k) == v for k, v in selector.items())


def pick(items: list[dict[str, Any]], selected: Callable[[Labels], bool] | None,
         name: str | None, missing: str) -> list[dict[str, Any]]:
    """``get``'s items: those the ``-l`` selector takes, by name; the one NAME or ``missing``."""
    if selected is not None:
        items = [i for i in items if selected(i["metadata"].get("labels") or {})]
    items = sorted(items, key=lambda i: i["metadata"]["name"])
    if name is not None:
        items = [i for i in items if i["metadata"]["name"] == name]
        if not items:
            raise KubectlError(missing)
    return items


def printed(items: list[dict[str, Any]], single: bool, output: str, vocab: Vocabulary,
            list_head: dict[str, str], ref: Callable[[str], str]) -> str | None:
    """``-o jsonpath=|json|name`` of ``get`` (None: the version's table); ``list_head`` is how
    the version's List begins, ``ref`` its ``resource/name`` of a name."""
    if not output:
        return None
    vocab.check_output(output, ("jsonpath", "json", "name"))
    target: Any = items[0] if single else {**list_head, "items": items}
    if output.startswith("jsonpath="):
        return jsonpath(target, output[len("jsonpath="):])
    if output == "json":
        return json.dumps(target, indent=4) + "\n"
    return "".join(f"{ref(i['metadata']['name'])}\n" for i in items)
