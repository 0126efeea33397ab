"""The cluster repo as the rules see it: settings, cloud-configs and manifests, parsed once.

Parse problems (YAML syntax, a missing setting) become findings here; the rules then
work on whatever parsed.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath

import yaml

from generator import profiles
from generator.audit import systemd
from generator.audit.report import ERROR, Finding
from generator.audit.yamlnodes import (
    Text,
    YamlSyntaxError,
    compose_all,
    construct,
    duplicate_keys,
    items,
    line,
)

SETTING = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$")
# Directories the apply fills with machine-local state; never audited as sources.
LOCAL_DIRS = ("pki", "state", ".git")
# Cloud-configs as the apply submits them (placeholders substituted), one per droplet.
USER_DATA_DIR = "build/user-data"
# What the apply leaves beside the bake's files (git-ignored): the user data it sent, the
# admin kubeconfig it wrote, etcd backups; pki/ then also holds the node certificates and
# state/ the droplets' addresses. The bake-time audit judges the bake's own files only.
APPLY_OUTPUTS = ("build", "backups", "kubeconfig")
# Where the apply records each droplet (id, public_ip, private_ip): scripts/lib/common.sh.
DROPLET_STATE_DIR = "state/droplets"


@dataclass(frozen=True)
class Setting:
    value: str
    line: int


def read_settings(path: Path) -> dict[str, Setting]:
    settings: dict[str, Setting] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        if match := SETTING.match(raw.strip()):
            value = match[2].strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            settings[match[1]] = Setting(value, number)
    return settings


def normal(key: str) -> str:
    """coreos-cloudinit treats '-' and '_' in keys alike."""
    return key.replace("-", "_")


def nget(node: yaml.Node | None, key: str) -> yaml.Node | None:
    for k, v in items(node) if node is not None else ():
        if normal(str(k.value)) == key:
            return v
    return None


def scalar_text(node: yaml.Node | None) -> Text | None:
    return Text.of(node) if isinstance(node, yaml.ScalarNode) else None


@dataclass
class WriteFile:
    path: str
    line: int
    content: Text | None  # decoded when the entry has an encoding we can undo

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name


@dataclass
class Unit:
    name: str
    line: int
    content: Text | None
    dropins: list[tuple[str, Text]]

    @cached_property
    def parsed(self) -> systemd.UnitFile | None:
        return systemd.parse(self.content) if self.content else None

    @cached_property
    def parsed_dropins(self) -> list[systemd.UnitFile]:
        return [systemd.parse(text) for _, text in self.dropins]

    def all_parts(self) -> list[systemd.UnitFile]:
        return ([self.parsed] if self.parsed else []) + self.parsed_dropins


@dataclass
class CloudConfig:
    rel: str
    text: str
    root: yaml.Node | None
    files: list[WriteFile] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)
    # etcd, controller or worker: the source's file name, or the droplet's a rendered copy is
    # named after (CLUSTER_NAME-worker-02.yaml); "" when the name says no role
    role: str = ""

    @property
    def rendered(self) -> bool:
        """User data the apply rendered for one droplet (build/user-data/NAME.yaml)."""
        return self.rel.startswith(USER_DATA_DIR + "/")

    def unit(self, name: str) -> Unit | None:
        return next((u for u in self.units if u.name == name), None)


@dataclass
class Manifest:
    """One YAML document: a standalone file or the content of a write_files entry."""

    rel: str
    node: yaml.Node
    first_line: int = 1  # file line of the document's line 1 (embedded: inside a block)
    host_path: str | None = None  # where a cloud-config writes it
    cloud_config: CloudConfig | None = None

    @cached_property
    def data(self) -> object:
        return construct(self.node)

    def line_of(self, node: yaml.Node) -> int:
        return self.first_line + line(node) - 1

    @property
    def kind(self) -> str | None:
        return self.data.get("kind") if isinstance(self.data, dict) else None


def _decode(content: str, encoding: str) -> str | None:
    raw: bytes = content.encode()
    try:
        if "base64" in encoding or "b64" in encoding:
            raw = base64.b64decode(raw)
        if "gz" in encoding:
            raw = gzip.decompress(raw)
        return raw.decode()
    except (ValueError, OSError):
        return None


def _write_files(root: yaml.Node) -> list[WriteFile]:
    entries = nget(root, "write_files")
    result = []
    for entry in entries.value if isinstance(entries, yaml.SequenceNode) else []:
        path, content = nget(entry, "path"), scalar_text(nget(entry, "content"))
        encoding = scalar_text(nget(entry, "encoding"))
        if not isinstance(path, yaml.ScalarNode):
            continue
        if content and encoding:
            decoded = _decode(content.value, encoding.value)
            content = Text(decoded, content.first_line, False) if decoded is not None else None
        result.append(WriteFile(str(path.value), line(path), content))
    return result


def _units(root: yaml.Node) -> list[Unit]:
    units = nget(nget(root, "coreos"), "units")
    result = []
    for entry in units.value if isinstance(units, yaml.SequenceNode) else []:
        name = nget(entry, "name")
        if not isinstance(name, yaml.ScalarNode):
            continue
        dropins = []
        raw_dropins = nget(entry, "drop_ins")
        for dropin in raw_dropins.value if isinstance(raw_dropins, yaml.SequenceNode) else []:
            dname, dcontent = nget(dropin, "name"), scalar_text(nget(dropin, "content"))
            if isinstance(dname, yaml.ScalarNode) and dcontent:
                dropins.append((str(dname.value), dcontent))
        content = scalar_text(nget(entry, "content"))
        result.append(Unit(str(name.value), line(name), content, dropins))
    return result


class Cluster:
    def __init__(self, root: Path, applied: bool = True) -> None:
        """applied=False: the bake's own files only (see APPLY_OUTPUTS)."""
        self.root = root
        self.applied = applied
        self.skipped_dirs = LOCAL_DIRS + (() if applied else APPLY_OUTPUTS)
        self.findings: list[Finding] = []
        self.settings = self._settings()
        self.cloud_configs = [self._cloud_config(p) for p in self._cloud_config_paths()]
        self.manifests = self._standalone_manifests() + self._embedded_manifests()

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def error(self, rel: str, line_no: int, rule: str, message: str) -> None:
        self.findings.append(Finding(rel, line_no, ERROR, rule, message))

    def setting(self, key: str) -> str | None:
        found = self.settings.get(key)
        return found.value if found else None

    @cached_property
    def profile(self) -> profiles.Profile:
        """The baked profile's facts: what each rule judges this repo by."""
        return profiles.profile(self.setting("PROFILE"))

    def recorded_ips(self, droplet: str) -> tuple[str, str] | None:
        """(public, private) IP the apply recorded for a droplet, if it recorded any."""
        if not self.applied:
            return None
        try:
            record = json.loads((self.root / DROPLET_STATE_DIR / f"{droplet}.json").read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict):
            return None
        public, private = record.get("public_ip"), record.get("private_ip")
        return (public, private) if isinstance(public, str) and isinstance(private, str) else None

    def _settings(self) -> dict[str, Setting]:
        path = self.root / "settings.env"
        if not path.is_file():
            self.error("settings.env", 1, "facts.settings", "settings.env is missing")
            return {}
        return read_settings(path)

    def _cloud_config_paths(self) -> list[Path]:
        rendered = sorted((self.root / USER_DATA_DIR).glob("*.yaml")) if self.applied else []
        return sorted((self.root / "cloud-config").glob("*.yaml")) + rendered

    def _role(self, path: Path) -> str:
        if path.parent.name == "cloud-config":
            return path.stem
        droplet = re.fullmatch(rf"{re.escape(self.setting('CLUSTER_NAME') or '')}-(.+)-[0-9]+",
                               path.stem)
        return droplet[1] if droplet else ""

    def _parse(self, rel: str, text: str, first_line: int = 1) -> list[yaml.Node]:
        try:
            nodes = compose_all(text)
        except YamlSyntaxError as err:
            self.error(rel, first_line + err.line - 1, "yaml.syntax", err.message)
            return []
        for key in (k for node in nodes for k in duplicate_keys(node)):
            self.error(
                rel, first_line + line(key) - 1, "yaml.duplicate-key",
                f"key {key.value!r} repeats in the same mapping; only the last one counts",
            )
        return nodes

    def _cloud_config(self, path: Path) -> CloudConfig:
        rel, text = self.rel(path), path.read_text()
        nodes = self._parse(rel, text)
        root = nodes[0] if nodes else None
        config = CloudConfig(rel, text, root, role=self._role(path))
        if isinstance(root, yaml.MappingNode):
            config.files, config.units = _write_files(root), _units(root)
        return config

    def yaml_paths(self, *dirs: str) -> list[Path]:
        return sorted(p for d in dirs for p in (self.root / d).rglob("*.y*ml"))

    def _standalone_manifests(self) -> list[Manifest]:
        result = []
        for path in self.yaml_paths("manifests"):
            rel = self.rel(path)
            result += [Manifest(rel, node) for node in self._parse(rel, path.read_text())]
        return result

    def _embedded_manifests(self) -> list[Manifest]:
        result = []
        for config in self.cloud_configs:
            for wf in config.files:
                if wf.content is None or not wf.path.endswith((".yaml", ".yml", ".json")):
                    continue
                for node in self._parse(config.rel, wf.content.value, wf.content.first_line):
                    result.append(
                        Manifest(config.rel, node, wf.content.first_line, wf.path, config)
                    )
        return result

    def api_objects(self) -> list[Manifest]:
        """Manifests that are Kubernetes API objects (not kubeconfigs)."""
        return [m for m in self.manifests if m.kind and m.kind != "Config"]
