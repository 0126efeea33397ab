"""Rule 2: systemd units and drop-ins in the cloud-configs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath

from generator.audit.cluster import CloudConfig, Cluster, Unit
from generator.audit.report import ERROR, Finding
from generator.audit.systemd import Directive
from generator.profiles import Profile

# Sections systemd reads, by unit type ("X-" sections are always allowed).
SECTIONS = {
    ".service": {"Unit", "Service", "Install"},
    ".socket": {"Unit", "Socket", "Install"},
    ".timer": {"Unit", "Timer", "Install"},
    ".mount": {"Unit", "Mount", "Install"},
    ".automount": {"Unit", "Automount", "Install"},
    ".path": {"Unit", "Path", "Install"},
    ".swap": {"Unit", "Swap", "Install"},
    ".slice": {"Unit", "Slice", "Install"},
    ".target": {"Unit", "Install"},
    # networkd files, which coreos-cloudinit also installs from coreos.units
    ".network": {"Match", "Link", "Network", "Address", "Route", "DHCP"},
    ".netdev": {"Match", "NetDev", "VLAN", "MACVLAN", "VXLAN", "Tunnel", "Peer", "Tun", "Tap",
                "Bond"},
    ".link": {"Match", "Link"},
}
EXEC_KEYS = {"ExecStart", "ExecStartPre", "ExecStartPost", "ExecReload", "ExecStop",
             "ExecStopPost"}
REQUIRE_KEYS = {"Requires", "Requisite", "Wants", "BindsTo", "PartOf"}
ORDER_KEYS = {"After", "Before"}
# Binaries whose service runs containers (the tutorial: such units need flanneld first).
CONTAINER_RUNNERS = {"docker", "kubelet", "rkt"}
DOCKER = {"docker.service", "docker.socket"}


def _section_findings(config: CloudConfig, unit: Unit) -> Iterator[Finding]:
    allowed = SECTIONS.get(PurePosixPath(unit.name).suffix)
    if allowed is None:
        yield Finding(config.rel, unit.line, ERROR, "unit.name",
                      f"{unit.name!r} has no unit type systemd knows")
        return
    for part in unit.all_parts():
        for line_no, message in part.errors:
            yield Finding(config.rel, line_no, ERROR, "unit.syntax", message)
        for section, line_no in part.sections:
            if section not in allowed and not section.startswith("X-"):
                yield Finding(
                    config.rel, line_no, ERROR, "unit.section",
                    f"[{section}] is not a section of a {PurePosixPath(unit.name).suffix} unit "
                    f"({', '.join(sorted(allowed))})",
                )


def _exec_findings(config: CloudConfig, unit: Unit, profile: Profile) -> Iterator[Finding]:
    for part in unit.all_parts():
        for d in part.directives:
            if d.key in EXEC_KEYS and d.value:
                binary = d.value.lstrip("-@+!:").split()[0] if d.value.lstrip("-@+!:") else ""
                if not binary.startswith("/"):
                    yield Finding(config.rel, d.line, ERROR, "unit.exec",
                                  f"{d.key}={binary!r} is not an absolute path")
    if unit.parsed and unit.name.endswith(".service") and not unit.parsed.values("ExecStart"):
        yield Finding(config.rel, unit.line, ERROR, "unit.exec",
                      f"{unit.name} has content but no ExecStart=; it can never start")
    if not unit.content and not unit.dropins and unit.name not in profile.os_units:
        yield Finding(config.rel, unit.line, ERROR, "unit.content",
                      f"{unit.name} has no content and is not a unit {profile.os} ships")


def _deps(unit: Unit, keys: set[str]) -> list[tuple[str, Directive]]:
    return [
        (name, d)
        for part in unit.all_parts()
        for d in part.directives
        if d.key in keys
        for name in d.value.split()
    ]


def _graph(config: CloudConfig, keys: set[str]) -> dict[str, list[tuple[str, Directive]]]:
    graph: dict[str, list[tuple[str, Directive]]] = {u.name: [] for u in config.units}
    for unit in config.units:
        for name, d in _deps(unit, keys):
            if d.key == "Before":  # A Before=B orders B after A
                graph.setdefault(name, []).append((unit.name, d))
            else:
                graph[unit.name].append((name, d))
    return graph


def _cycle(graph: dict[str, list[tuple[str, Directive]]]) -> list[tuple[str, Directive]] | None:
    """One cycle as its edges (target, directive), or None. Unit graphs are small."""
    done: set[str] = set()

    def visit(node: str, path: list[tuple[str, Directive]], on_path: list[str]) -> list | None:
        for target, d in graph.get(node, []):
            if target in on_path:
                return path[on_path.index(target):] + [(target, d)]
            if target not in done:
                found = visit(target, [*path, (target, d)], [*on_path, target])
                if found:
                    return found
        done.add(node)
        return None

    for start in graph:
        if start not in done and (found := visit(start, [], [start])):
            return found
    return None


def _closure(graph: dict[str, list[tuple[str, Directive]]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target, _ in graph.get(todo.pop(), []):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _runs_containers(unit: Unit) -> bool:
    if unit.name == "docker.service":
        return True
    if any(name in DOCKER for name, _ in _deps(unit, REQUIRE_KEYS)):
        return True
    return any(
        PurePosixPath(word).name in CONTAINER_RUNNERS
        for part in unit.all_parts()
        for d in part.directives
        if d.key in EXEC_KEYS
        for word in d.value.lstrip("-@+!:").split()[:1]
    )


def check_config(config: CloudConfig, profile: Profile) -> Iterator[Finding]:
    defined = {u.name for u in config.units}
    for unit in config.units:
        yield from _section_findings(config, unit)
        yield from _exec_findings(config, unit, profile)
        for keys, rule in ((REQUIRE_KEYS, "unit.requires"), (ORDER_KEYS, "unit.after")):
            for name, d in _deps(unit, keys):
                if name not in defined and name not in profile.os_units:
                    yield Finding(
                        config.rel, d.line, ERROR, rule,
                        f"{unit.name}: {d.key}={name} names a unit neither defined in this "
                        f"cloud-config nor shipped by {profile.os}",
                    )
    requires, order = _graph(config, REQUIRE_KEYS), _graph(config, ORDER_KEYS)
    for graph in (requires, order):
        if cycle := _cycle(graph):
            names = " -> ".join([cycle[-1][0]] + [name for name, _ in cycle])
            yield Finding(config.rel, cycle[0][1].line, ERROR, "unit.cycle",
                          f"dependency cycle: {names}")
    network = profile.pod_network_unit
    if network is None:  # flannel is a DaemonSet: pods wait for it, no host unit does
        return
    for unit in config.units:
        if not _runs_containers(unit):
            continue
        missing = [
            key for key, graph in (("Requires", requires), ("After", order))
            if network not in _closure(graph, unit.name)
        ]
        if missing:
            yield Finding(
                config.rel, unit.line, ERROR, "unit.flannel",
                f"{unit.name} runs containers but does not {' and '.join(missing)} "
                f"{network} (directly or through docker.service)",
            )


def check(cluster: Cluster) -> Iterator[Finding]:
    for config in cluster.cloud_configs:
        yield from check_config(config, cluster.profile)
