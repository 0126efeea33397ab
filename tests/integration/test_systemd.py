"""systemd-analyze verify on every unit and drop-in of each cloud-config, written into a scratch
root as coreos-cloudinit writes them on the droplet (`--root`, so executables are looked up
in that root, not on this machine)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.support import (
    CONTROLLER_PUBLIC_IP,
    applied_user_data,
    cloudinit_config,
    etcd2_environment,
    run,
)

# Programs the CoreOS image provides (stubbed; /bin is /usr/bin there). The kubelet is
# bundled in alpha/beta (_kubelet_source=bundled).
COREOS_PROGRAMS = ("bash", "curl", "chmod", "mkdir", "cp", "etcd2", "etcdctl", "flanneld",
                   "docker", "kubelet")
# CoreOS's own units that the cloud-configs extend with drop-ins: minimal stand-ins.
COREOS_UNITS = {"etcd2.service": "/usr/bin/etcd2", "flanneld.service": "/usr/bin/flanneld",
                "docker.service": "/usr/bin/docker daemon"}
# An ExecStartPre that downloads a program (`curl -sLo /opt/bin/kubelet ...`) makes it exist.
DOWNLOAD = re.compile(r"/usr/bin/curl\s+-\w*o\s+(\S+)")


def copy_systemd_targets(units: Path) -> None:
    """systemd's own targets and slices (what every service depends on), from this machine;
    not its services, which are this machine's packages, not CoreOS's (Debian's etcd.service)."""
    host = next((d for d in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
                 if (d / "network-online.target").exists()), None)
    if host is None:
        pytest.fail("systemd's units (network-online.target) missing: apt-get install systemd")
    units.mkdir(parents=True)
    for path in host.iterdir():
        if path.suffix in (".target", ".slice") and not path.is_dir():
            shutil.copy(path, units / path.name, follow_symlinks=False)


def stub(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)


def coreos_root(root: Path, config: dict[str, Any]) -> list[str]:
    """Write config's write_files, etcd2 environment, units and drop-ins under root as
    coreos-cloudinit does; return the names of the units it starts."""
    copy_systemd_targets(root / "usr/lib/systemd/system")
    (root / "bin").symlink_to("usr/bin")
    for program in COREOS_PROGRAMS:
        stub(root / "usr/bin" / program)
    for name, exec_start in COREOS_UNITS.items():
        (root / "usr/lib/systemd/system" / name).write_text(
            f"[Unit]\nDescription=CoreOS {name} (stand-in)\n[Service]\nExecStart={exec_start}\n")

    for item in config.get("write_files", []):
        target = root / item["path"].lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(item["content"])
        target.chmod(int(item.get("permissions", "0644"), 8))

    if "etcd2" in config["coreos"]:
        dropin = root / "run/systemd/system/etcd2.service.d/20-cloudinit.conf"
        dropin.parent.mkdir(parents=True)
        dropin.write_text("[Service]\n" + "".join(
            f'Environment="{key}={value}"\n'
            for key, value in etcd2_environment(config).items()))

    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    for unit in config["coreos"]["units"]:
        if "content" in unit:
            (units / unit["name"]).write_text(unit["content"])
            for path in DOWNLOAD.findall(unit["content"]):
                stub(root / path.lstrip("/"))
        for dropin in unit.get("drop-ins", []):
            (units / f"{unit['name']}.d").mkdir(exist_ok=True)
            (units / f"{unit['name']}.d" / dropin["name"]).write_text(dropin["content"])
    return [unit["name"] for unit in config["coreos"]["units"]]


def verify(systemd_analyze_bin: str, root: Path, names: list[str]) -> tuple[int, str]:
    result = run([systemd_analyze_bin, f"--root={root}", "--man=no", "--generators=no",
                  "verify", *names], env={"PATH": "/usr/bin:/bin", "SYSTEMD_LOG_COLOR": "0"})
    return result.returncode, (result.stdout + result.stderr).strip()


def user_data(cluster: Path, role: str) -> dict[str, Any]:
    """The role's cloud-config as the droplet reads it (apply's sed, then cloudinit's)."""
    text = applied_user_data(cluster, f"{role}.yaml", "http://10.0.0.2:2380",
                             CONTROLLER_PUBLIC_IP)
    return cloudinit_config(text, private_ipv4="10.0.0.3", public_ipv4="192.0.2.3")


ROLES = ("etcd", "controller", "worker")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("answers", [
    {}, {"_update_group": "stable", "_kubelet_source": "download"}, {"etcd_count": "3"},
], ids=["default", "kubelet-download", "etcd-cluster"])
def test_units_verify(role: str, answers: dict[str, str], request: pytest.FixtureRequest,
                      bake_with: Callable[..., Path], systemd_analyze_bin: str,
                      tmp_path: Path) -> None:
    cluster = bake_with(**answers) if answers else request.getfixturevalue("default_cluster")
    root = tmp_path / "root"
    names = coreos_root(root, user_data(cluster, role))
    status, out = verify(systemd_analyze_bin, root, names)
    assert status == 0 and out == "", out


BREAKAGES: dict[str, tuple[str, str, str, str]] = {
    # id: (role, text in the rendered cloud-config, replacement, what systemd says)
    "relative-exec": ("controller", "ExecStart=/opt/bin/pull-kube-images.sh",
                      "ExecStart=opt/bin/pull-kube-images.sh", "Neither a valid executable"),
    "bad-type": ("worker", "Type=oneshot\n        RemainAfterExit=yes\n        ExecStartPre",
                 "Type=one-shot\n        RemainAfterExit=yes\n        ExecStartPre",
                 "Failed to parse service type"),
    "unwritten-script": ("controller", "ExecStart=/opt/bin/pull-kube-images.sh",
                         "ExecStart=/opt/bin/pull-kube-image.sh", "is not executable"),
    "not-downloaded": ("worker", "ExecStartPre=/usr/bin/curl -sLo /opt/bin/kube-proxy",
                       "ExecStartPre=/usr/bin/curl -sLo /opt/bin/kube-proxy.new",
                       "/opt/bin/kube-proxy is not executable"),
    "dropin-requires-missing": ("controller", "Requires=etcd2.service",
                                "Requires=etcd.service", "etcd.service not found"),
}
# A static etcd cluster's member (etcd_count=3): its etcd2 drop-in waits for the delivered
# initial cluster; a misspelled wait unit is caught.
CLUSTER_BREAKAGES = {
    "cluster-ready-missing": ("etcd", "Requires=etcd-cluster-ready.service",
                              "Requires=etcd-cluster-wait.service",
                              "etcd-cluster-wait.service not found"),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_broken_unit_fails_verify(breakage: str, cluster_copy: Path, systemd_analyze_bin: str,
                                  tmp_path: Path) -> None:
    """Negative twins: one broken line in a cloud-config, and verify reports it."""
    role, text, replacement, message = BREAKAGES[breakage]
    path = cluster_copy / f"cloud-config/{role}.yaml"
    rendered = path.read_text()
    assert rendered.count(text) == 1
    path.write_text(rendered.replace(text, replacement))
    root = tmp_path / "root"
    names = coreos_root(root, user_data(cluster_copy, role))
    status, out = verify(systemd_analyze_bin, root, names)
    assert status != 0 or out != "", "verify passed a broken unit"
    assert message in out, out


@pytest.mark.parametrize("breakage", list(CLUSTER_BREAKAGES))
def test_broken_cluster_member_unit_fails_verify(
        breakage: str, bake_with: Callable[..., Path], systemd_analyze_bin: str,
        tmp_path: Path) -> None:
    role, text, replacement, message = CLUSTER_BREAKAGES[breakage]
    cluster = bake_with(etcd_count="3")
    path = cluster / f"cloud-config/{role}.yaml"
    rendered = path.read_text()
    assert rendered.count(text) == 1
    path.write_text(rendered.replace(text, replacement))
    root = tmp_path / "root"
    names = coreos_root(root, user_data(cluster, role))
    status, out = verify(systemd_analyze_bin, root, names)
    assert status != 0 or out != "", "verify passed a broken unit"
    assert message in out, out
