"""YAML read as node trees, so every value keeps its line and its raw scalar text.

coreos-cloudinit (go-yaml, YAML 1.1) reads `proxy: on` into a string field as "on";
PyYAML would construct True. Working on composed nodes keeps the text and the marks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

NULL = "tag:yaml.org,2002:null"
# libyaml's parser when PyYAML has it: the same nodes and marks, several times faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlSyntaxError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def compose_all(text: str) -> list[yaml.Node]:
    """Every non-empty document of text; YamlSyntaxError with the 1-based line."""
    try:
        return [node for node in yaml.compose_all(text, Loader=_LOADER) if node]
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlSyntaxError(line, f"{err.problem or err}".strip()) from err


def line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def construct(node: yaml.Node) -> Any:
    """Plain Python data of a node (as yaml.safe_load would give)."""
    return yaml.SafeLoader("").construct_document(node)


def items(node: yaml.Node) -> Iterator[tuple[yaml.ScalarNode, yaml.Node]]:
    if isinstance(node, yaml.MappingNode):
        yield from node.value


def duplicate_keys(node: yaml.Node) -> Iterator[yaml.ScalarNode]:
    """Keys repeated within one mapping (the later value silently wins elsewhere)."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                if k.value in seen:
                    yield k
                seen.add(k.value)
            yield from duplicate_keys(v)
    elif isinstance(node, yaml.SequenceNode):
        for child in node.value:
            yield from duplicate_keys(child)


def at_path(node: yaml.Node, path: list[str | int]) -> yaml.Node:
    """The node a JSON-schema error path points at (the deepest one that exists). A block
    mapping or list starts on its first item's line, so for those the key is returned."""
    key: yaml.Node | None = None
    for step in path:
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if k.value == str(step)), None)
            if found is None:
                break
            key, node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            if step >= len(node.value):
                break
            key, node = None, node.value[step]
        else:
            break
    if key is not None and isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        return key
    return node


@dataclass(frozen=True)
class Text:
    """A string scalar and where its lines sit in the file that holds it."""

    value: str
    first_line: int  # file line of the value's first line
    block: bool  # literal/folded block: value line k is file line first_line + k - 1

    @classmethod
    def of(cls, node: yaml.ScalarNode) -> Text:
        block = node.style in ("|", ">")
        # A block scalar's text starts on the line after its indicator.
        return cls(node.value, line(node) + (1 if block else 0), block)

    def line(self, k: int) -> int:
        """File line of the value's 1-based line k (the scalar's line if not a block)."""
        return self.first_line + k - 1 if self.block else self.first_line
