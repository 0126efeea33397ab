"""Rule 14 (`current` profile): every flag and config field is one the pinned release has.

Flags of the components' command lines (static pods, DaemonSets/Deployments in manifests/ and
user data, ExecStart of the cloud-configs' units) are checked against the upstream flag sets,
and KubeletConfiguration / KubeProxyConfiguration / KubeSchedulerConfiguration documents
(files, write_files, ConfigMap data) against the fields of their upstream Go types
(generator/audit/upstream.py). The tutorial profile's 1.1.2 flags are checked by the real
binaries instead (tests/integration), so this rule stays out of its way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath
from typing import Any

import yaml

from generator.audit.cluster import LOCAL_DIRS, USER_DATA_DIR, Cluster, Manifest, nget
from generator.audit.commands import arg_line, args, containers, program
from generator.audit.report import ERROR, WARNING, Finding
from generator.audit.upstream import ConfigSchema, FlagTable, config_schemas, flag_tables
from generator.audit.yamlnodes import Text, YamlSyntaxError, at_path, compose_all

PROFILE = "current"
# Binaries (or image names) as the tables name them.
ALIASES = {"flannel": "flanneld"}
# Go's flag package (not pflag): -name and --name are the same flag.
GO_FLAG = {"etcd", "flanneld", "do-csi-plugin", "csi-provisioner", "csi-attacher", "csi-resizer",
           "csi-node-driver-registrar"}
# pflag one-letter shorthands the Kubernetes components define.
SHORTHANDS = {"v": "v", "h": "help"}
NEGATIVE = re.compile(r"^-\d")
MINOR = re.compile(r"^v?(\d+\.\d+)(?:\.\d+)?(?:[-+].*)?$")
# Directories whose YAML is read elsewhere (cloud-configs, manifests) or is not a source.
SKIP_DIRS = {*LOCAL_DIRS, "cloud-config", "manifests", USER_DATA_DIR.split("/")[0]}


def component(words: list[str], image: str = "") -> str:
    name = program(words) if words else PurePosixPath(image.split("@")[0].split(":")[0]).name
    return ALIASES.get(name, name)


def flag_findings(table: FlagTable, words: list[str], rel: str,
                  line_of: Callable[[str], int]) -> Iterator[Finding]:
    """Findings for the flag words of one command line; line_of(word) -> file line."""
    for word in words:
        if word == "--":
            return
        if not word.startswith("-") or word == "-" or NEGATIVE.match(word):
            continue  # a value or an argument
        dashes = 2 if word.startswith("--") else 1
        name = word[dashes:].split("=", 1)[0]
        if dashes == 1 and table.component not in GO_FLAG:
            if name in SHORTHANDS:
                name = SHORTHANDS[name]
            else:
                letters = ", ".join("-" + c for c in name)
                yield Finding(rel, line_of(word), ERROR, "flags.unknown",
                              f"{table.component}: -{name} has one dash: pflag reads it as the "
                              f"shorthands {letters}; write --{name}")
                continue
        yield from _name_findings(table, name, rel, line_of(word))


def _name_findings(table: FlagTable, name: str, rel: str, line: int) -> Iterator[Finding]:
    flag = f"--{name}"
    if name in table.removed:
        yield Finding(rel, line, ERROR, "flags.removed",
                      f"{table.component}: {flag} is not accepted by {table.release}: "
                      f"{table.removed[name]}; remove it")
    elif name not in table.flags:
        close = table.closest(name)
        hint = f"did you mean --{close}? " if close else ""
        yield Finding(rel, line, ERROR, "flags.unknown",
                      f"{table.component}: {flag} is not a flag of {table.component} "
                      f"{table.release} (upstream: {table.origin}); {hint}fix or remove it")
    elif name in table.deprecated:
        yield Finding(rel, line, WARNING, "flags.deprecated",
                      f"{table.component}: {flag} is {table.deprecated[name]}")


def version_finding(table: FlagTable, version: str, what: str, rel: str, line: int
                    ) -> Iterator[Finding]:
    """The flags are checked against table.version: a component at another minor needs
    that release's table, not this one."""
    match = MINOR.match(version)
    if match and match[1] != table.version and match[1] not in table.earlier:
        yield Finding(rel, line, ERROR, "flags.version",
                      f"{table.component}: {what} is {version}, but the upstream flag table is "
                      f"for {table.version} ({table.origin}); pin {table.version}.x or add the "
                      f"{match[1]} table to generator/data/upstream/flags/")


def _at(table: FlagTable, version: str) -> FlagTable:
    """TABLE for the minor of VERSION (v1.36.4, 1.36.4) when it records that minor."""
    match = MINOR.match(version)
    return table.at(match[1]) if match else table


def _pod_flags(m: Manifest, tables: dict[str, FlagTable]) -> Iterator[Finding]:
    for path, container in containers(m):
        words = [str(w) for w in container.get("command") or []]
        image = str(container.get("image") or "")
        name = component(words, image)
        if name not in tables:
            continue
        tag = image.split("@")[0].rpartition(":")[2] if ":" in image.split("/")[-1] else ""
        yield from version_finding(tables[name], tag, f"image {image}", m.rel,
                                   m.line_of(at_path(m.node, [*path, "image"])))
        flag_words = args(container)[1:] if words else args(container)
        yield from flag_findings(_at(tables[name], tag), flag_words, m.rel,
                                 lambda w, p=path, c=container: arg_line(m, p, c, w))


def _unit_flags(cluster: Cluster, tables: dict[str, FlagTable]) -> Iterator[Finding]:
    # The kubelet a unit runs is the release settings.env pins (the node fetches that one).
    pinned = cluster.settings.get("KUBERNETES_VERSION")
    if pinned:
        yield from version_finding(tables["kubelet"], pinned.value, "KUBERNETES_VERSION",
                                   "settings.env", pinned.line)
    for config in cluster.cloud_configs:
        for unit in config.units:
            for part in unit.all_parts():
                for d in part.values("ExecStart"):
                    words = d.value.lstrip("-@+!:").split()
                    name = component(words)
                    if name in tables:
                        yield from flag_findings(_at(tables[name], pinned.value if pinned else ""),
                                                 words[1:], config.rel, d.line_of)


def _fields(spec: dict[str, Any] | None, value: Any, path: list[str | int]
            ) -> Iterator[list[str | int]]:
    """The path of every key of value the type does not have."""
    if spec is None:
        return
    if "fields" in spec and isinstance(value, dict):
        for key, sub in value.items():
            if key not in spec["fields"]:
                yield [*path, key]
            else:
                yield from _fields(spec["fields"][key], sub, [*path, key])
    elif "list" in spec and isinstance(value, list):
        for i, item in enumerate(value):
            yield from _fields(spec["list"], item, [*path, i])
    elif "map" in spec and isinstance(value, dict):
        for key, item in value.items():
            yield from _fields(spec["map"], item, [*path, key])


def config_findings(schema: ConfigSchema, m: Manifest) -> Iterator[Finding]:
    data = m.data if isinstance(m.data, dict) else {}
    if data.get("apiVersion") != schema.api_version:
        yield Finding(m.rel, m.line_of(at_path(m.node, ["apiVersion"])), ERROR,
                      "config.api-version",
                      f"{schema.kind}: apiVersion {data.get('apiVersion')!r}; {schema.release} "
                      f"reads {schema.api_version}")
    for path in _fields({"fields": schema.fields}, data, []):
        where = ".".join(map(str, path))
        yield Finding(m.rel, m.line_of(at_path(m.node, path)), ERROR, "config.unknown-field",
                      f"{schema.kind}: {where} is not a field of {schema.api_version} "
                      f"{schema.kind} ({schema.release}, upstream: {schema.origin}); the component "
                      "refuses the file (strict decoding): fix or remove it")


def _configmap_documents(m: Manifest) -> Iterator[Manifest]:
    """The YAML documents held in a ConfigMap's data values, placed at their file lines."""
    data = nget(m.node, "data")
    for _, value in data.value if isinstance(data, yaml.MappingNode) else ():
        if isinstance(value, yaml.ScalarNode):
            text = Text.of(value)
            try:
                nodes = compose_all(text.value)
            except YamlSyntaxError:
                continue  # not YAML (a Corefile, a script): nothing to check here
            for node in nodes:
                yield Manifest(m.rel, node, m.first_line + text.first_line - 1)


def _other_yaml(cluster: Cluster) -> Iterator[Manifest]:
    """YAML files outside cloud-config/ and manifests/ (node/kubelet-config.yaml, ...)."""
    for path in sorted(cluster.root.rglob("*.y*ml")):
        rel = cluster.rel(path)
        if rel.split("/")[0] in SKIP_DIRS:
            continue
        try:
            nodes = compose_all(path.read_text())
        except (YamlSyntaxError, UnicodeDecodeError):
            continue  # the syntax rules report it
        yield from (Manifest(rel, node) for node in nodes)


def check(cluster: Cluster) -> Iterator[Finding]:
    if cluster.profile.name != PROFILE:
        return
    tables, schemas = flag_tables(), config_schemas()
    documents = [*cluster.manifests, *_other_yaml(cluster)]
    documents += [d for m in documents if m.kind == "ConfigMap" for d in _configmap_documents(m)]
    for m in documents:
        if not isinstance(m.data, dict):
            continue
        if m.kind in schemas:
            yield from config_findings(schemas[str(m.kind)], m)
        else:
            yield from _pod_flags(m, tables)
    yield from _unit_flags(cluster, tables)
