"""systemd-analyze verify on every unit of the current profile's cloud-configs, written into a
scratch root as Flatcar's coreos-cloudinit writes them (see test_systemd.py for the method)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.integration.current_nodes import (
    ROLES,
    droplet_config,
    exec_argv,
    units,
)
from tests.integration.test_systemd import copy_systemd_targets, stub, verify

# Programs the Flatcar image provides (stubbed; /bin is /usr/bin there).
FLATCAR_PROGRAMS = ("bash", "curl", "tar", "sha256sum", "mkdir", "chmod", "mv", "containerd")
# Flatcar's units the cloud-configs start or restart without content: minimal stand-ins.
FLATCAR_UNITS = {"containerd.service": "/usr/bin/containerd",
                 "systemd-modules-load.service": "/usr/bin/true",
                 "systemd-sysctl.service": "/usr/bin/true"}


def downloaded(content: str) -> list[str]:
    """What a unit's commands put on disk: fetch-verified's DEST, the members tar extracts."""
    made = []
    for key in ("ExecStartPre", "ExecStart"):
        for argv in exec_argv(content, key):
            if argv[0].endswith("/fetch-verified"):
                made.append(argv[3])
            elif argv[0] == "/usr/bin/tar" and "-C" in argv:
                target = argv[argv.index("-C") + 1]
                made += [f"{target}/{Path(member).name}" for member in argv
                         if "/" in member and not member.startswith(("/", "-"))]
    return made


def flatcar_root(root: Path, config: dict[str, Any]) -> list[str]:
    copy_systemd_targets(root / "usr/lib/systemd/system")
    (root / "bin").symlink_to("usr/bin")
    for program in (*FLATCAR_PROGRAMS, "true"):
        stub(root / "usr/bin" / program)
    for name, exec_start in FLATCAR_UNITS.items():
        (root / "usr/lib/systemd/system" / name).write_text(
            f"[Unit]\nDescription=Flatcar {name} (stand-in)\n[Service]\nExecStart={exec_start}\n")
    for item in config.get("write_files", []):
        target = root / item["path"].lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(item["content"])
        target.chmod(int(item.get("permissions", "0644"), 8))
    directory = root / "etc/systemd/system"
    directory.mkdir(parents=True)
    for name, unit in units(config).items():
        if "content" in unit:
            (directory / name).write_text(unit["content"])
            for path in downloaded(unit["content"]):
                stub(root / path.lstrip("/"))
        else:
            assert name in FLATCAR_UNITS, f"{name} has no content and Flatcar ships no such unit"
    return list(units(config))


@pytest.mark.parametrize("role", ROLES)
def test_current_units_verify(role: str, current_cluster: Path, systemd_analyze_bin: str,
                              tmp_path: Path) -> None:
    names = flatcar_root(tmp_path / "root", droplet_config(current_cluster, role))
    status, out = verify(systemd_analyze_bin, tmp_path / "root", names)
    assert status == 0 and out == "", out


BREAKAGES = {
    # id: (role, text in the rendered cloud-config, replacement, what systemd says)
    "relative-exec": ("worker", "ExecStart=/opt/bin/kubelet", "ExecStart=opt/bin/kubelet",
                      "Neither a valid executable"),
    "not-fetched": ("etcd", "ExecStart=/opt/bin/etcd", "ExecStart=/opt/bin/etcd3",
                    "/opt/bin/etcd3 is not executable"),
    "bad-type": ("etcd", "Type=notify", "Type=notified", "Failed to parse service type"),
    "requires-missing": ("controller", "Requires=containerd.service kubelet-install.service",
                         "Requires=docker.service kubelet-install.service",
                         "docker.service not found"),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_broken_current_unit_fails_verify(breakage: str, current_cluster: Path,
                                          systemd_analyze_bin: str, tmp_path: Path) -> None:
    role, text, replacement, message = BREAKAGES[breakage]
    cluster = tmp_path / "cluster"
    shutil.copytree(current_cluster / "cloud-config", cluster / "cloud-config")
    path = cluster / f"cloud-config/{role}.yaml"
    rendered = path.read_text()
    assert rendered.count(text) == 1, breakage
    path.write_text(rendered.replace(text, replacement))
    names = flatcar_root(tmp_path / "root", droplet_config(cluster, role))
    status, out = verify(systemd_analyze_bin, tmp_path / "root", names)
    assert status != 0 or out != "", "verify passed a broken unit"
    assert message in out, out
