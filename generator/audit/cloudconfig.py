"""Rule 1: cloud-configs as coreos-cloudinit validates them, plus DigitalOcean's size cap."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

from generator.audit.cloudconfig_schema import (
    COMPATIBLE,
    HEADER,
    MAX_USER_DATA,
    PER_ETCD_MEMBER,
    PLACEHOLDERS,
    READ_ONLY_PREFIX,
    SCHEMA,
    VALUES,
)
from generator.audit.cluster import CloudConfig, Cluster, normal
from generator.audit.report import ERROR, Finding
from generator.audit.yamlnodes import NULL, line

VALID = {path: re.compile(rf"^(?:{regex})$") for path, regex in VALUES.items()}


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "mapping"
    if isinstance(node, yaml.SequenceNode):
        return "list"
    return node.tag.rsplit(":", 1)[-1]


def _walk(node: yaml.Node, schema: Any, path: str) -> Iterator[tuple[int, str, str]]:
    """(line, rule, message) for each structure/type/value problem under node."""
    if node.tag == NULL:
        return
    if isinstance(schema, dict):
        if not isinstance(node, yaml.MappingNode):
            yield line(node), "cloud-config.type", f"{path or 'document'} must be a mapping"
            return
        for key, value in node.value:
            name = normal(str(key.value))
            child = f"{path}.{name}" if path else name
            if name not in schema:
                yield (
                    line(key), "cloud-config.key",
                    f"{key.value!r} is not a key coreos-cloudinit knows here "
                    f"({path or 'top level'}); it would be ignored",
                )
            else:
                yield from _walk(value, schema[name], child)
    elif isinstance(schema, list):
        if not isinstance(node, yaml.SequenceNode):
            yield line(node), "cloud-config.type", f"{path} must be a list, not {_kind(node)}"
            return
        for item in node.value:
            yield from _walk(item, schema[0], f"{path}[]")
    elif not isinstance(node, yaml.ScalarNode) or _kind(node) not in COMPATIBLE[schema]:
        yield line(node), "cloud-config.type", f"{path} must be a {schema}, not {_kind(node)}"
    elif path in VALID and not VALID[path].match(str(node.value)):
        yield (
            line(node), "cloud-config.value",
            f"{path} is {node.value!r}; coreos-cloudinit accepts {VALUES[path]}",
        )


def _longest(cluster: Cluster, placeholder: str) -> str:
    """The longest value the apply can put in place of placeholder."""
    words = {key: cluster.setting(key) or "" for key in
             ("ETCD_PREFIX", "ETCD_PEER_PORT", "ETCD_CLIENT_PORT")}
    one = PLACEHOLDERS[placeholder].format(**{k: v or "65535" for k, v in words.items()})
    count = int(cluster.setting("ETCD_COUNT") or "1") if placeholder in PER_ETCD_MEMBER else 1
    return ",".join([one] * count)


def _size(config: CloudConfig, cluster: Cluster) -> Iterator[Finding]:
    text = config.text
    if not config.rendered:
        for placeholder in cluster.profile.user_data_placeholders:
            text = text.replace(placeholder, _longest(cluster, placeholder))
    size = len(text.encode())
    if size > MAX_USER_DATA:
        yield Finding(
            config.rel, 1, ERROR, "cloud-config.size",
            f"user data is {size} bytes after the apply's substitutions (longest IPs); "
            f"DigitalOcean accepts at most {MAX_USER_DATA}",
        )


def _leftover_placeholders(config: CloudConfig, cluster: Cluster) -> Iterator[Finding]:
    """User data the apply rendered must have every placeholder filled: a droplet that boots
    with `ETCD_PEER` in it never joins etcd, and its user data cannot be changed."""
    if not config.rendered:
        return
    for number, text in enumerate(config.text.splitlines(), start=1):
        for placeholder in cluster.profile.user_data_placeholders:
            if re.search(rf"\b{placeholder}\b", text):
                yield Finding(
                    config.rel, number, ERROR, "cloud-config.placeholder",
                    f"{placeholder} was not substituted; delete this file and re-run the make "
                    "target that renders it (before the droplet is created)",
                )


def check_config(config: CloudConfig, cluster: Cluster) -> Iterator[Finding]:
    if config.text.split("\n", 1)[0].rstrip("\r") != HEADER:
        yield Finding(
            config.rel, 1, ERROR, "cloud-config.header",
            f"the first line must be exactly {HEADER!r}, or coreos-cloudinit ignores the file",
        )
    if config.root is not None:
        for line_no, rule, message in _walk(config.root, SCHEMA, ""):
            yield Finding(config.rel, line_no, ERROR, rule, message)
    for wf in config.files:
        if not wf.path.startswith("/"):
            yield Finding(config.rel, wf.line, ERROR, "cloud-config.path",
                          f"write_files path {wf.path!r} is not absolute")
        elif wf.path.startswith(READ_ONLY_PREFIX):
            yield Finding(config.rel, wf.line, ERROR, "cloud-config.path",
                          f"{wf.path} is under /usr, read-only on CoreOS; use /opt or /etc")
    yield from _size(config, cluster)
    yield from _leftover_placeholders(config, cluster)


def check(cluster: Cluster) -> Iterator[Finding]:
    for config in cluster.cloud_configs:
        yield from check_config(config, cluster)
