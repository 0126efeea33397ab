"""etcd 3.4 (v2 API) run from the rendered cloud-configs' coreos.etcd2 sections, translated to
etcd's environment as coreos-cloudinit does; $private_ipv4 is 127.0.0.1 and every template
port (2379, 2380) is remapped to a free one per address."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest

from generator import TEMPLATE_ROOT
from tests.integration.support import (
    CONTROLLER_PUBLIC_IP,
    Spawn,
    applied_user_data,
    cloudinit_config,
    etcd2_environment,
    etcd_process_env,
    first_url,
    remap_ports,
    run,
    settings,
    wait_exit,
    wait_http,
)

Ports = dict[tuple[str, str], int]


def etcd_env(cluster: Path, user_data: str, ports: Ports) -> dict[str, str]:
    """The ETCD_* variables coreos-cloudinit derives from user_data, ports remapped."""
    conf = settings(cluster)
    remapped = remap_ports(user_data, {conf["ETCD_CLIENT_PORT"], conf["ETCD_PEER_PORT"]}, ports)
    return etcd2_environment(cloudinit_config(remapped))


def start_member(cluster: Path, user_data: str, spawn: Spawn, etcd_bin: str,
                 tmp_path: Path, ports: Ports) -> dict[str, str]:
    """Start the etcd droplet's member from user_data; wait for /health; its environment."""
    env = etcd_env(cluster, user_data, ports)
    proc, log = spawn("etcd-member", [etcd_bin], etcd_process_env(env, tmp_path / "member"))
    client = first_url(env["ETCD_ADVERTISE_CLIENT_URLS"])
    assert json.loads(wait_http(f"{client}/health", proc, log)) == {"health": "true"}
    return env


def etcdctl_v2(etcdctl_bin: str, endpoint: str, *args: str) -> CompletedProcess[str]:
    """etcdctl speaking the v2 API (etcd2's, and flannel's of the time) to endpoint."""
    env = {"ETCDCTL_API": "2", "ETCDCTL_ENDPOINTS": endpoint}
    return run([etcdctl_bin, *args], env=env)


def test_etcd_member_from_cloud_config_is_healthy(
        default_cluster: Path, etcd_bin: str, etcdctl_bin: str, spawn: Spawn,
        tmp_path: Path) -> None:
    user_data = (default_cluster / "cloud-config/etcd.yaml").read_text()
    env = start_member(default_cluster, user_data, spawn, etcd_bin, tmp_path, {})
    assert len(env["ETCD_LISTEN_CLIENT_URLS"].split(",")) == 2  # private IP and loopback
    for url in env["ETCD_LISTEN_CLIENT_URLS"].split(","):
        assert etcdctl_v2(etcdctl_bin, url.strip(), "cluster-health").returncode == 0

    client = first_url(env["ETCD_ADVERTISE_CLIENT_URLS"])
    health = etcdctl_v2(etcdctl_bin, client, "cluster-health")
    assert health.returncode == 0 and "cluster is healthy" in health.stdout, health
    members = etcdctl_v2(etcdctl_bin, client, "member", "list").stdout
    peer = first_url(env["ETCD_INITIAL_ADVERTISE_PEER_URLS"])
    name = settings(default_cluster)["ETCD_MEMBER"]
    assert f"name={name} peerURLs={peer} clientURLs={client}" in members


def test_etcd_member_refuses_broken_initial_cluster(
        default_cluster: Path, etcd_bin: str, spawn: Spawn, tmp_path: Path) -> None:
    """Negative twin: initial-cluster naming another member than `name` stops etcd."""
    user_data = (default_cluster / "cloud-config/etcd.yaml").read_text()
    broken = re.sub(r'initial-cluster: "[^=]+=', 'initial-cluster: "etcd-99=', user_data)
    assert broken != user_data
    env = etcd_env(default_cluster, broken, {})
    proc, log = spawn("etcd-member", [etcd_bin], etcd_process_env(env, tmp_path / "member"))
    status = wait_exit(proc)
    assert status not in (None, 0), "etcd ran with a broken initial-cluster"
    assert "couldn't find local name" in log.read_text()


def network_config_command(config: dict[str, Any]) -> list[str]:
    """The flanneld drop-in's ExecStartPre, split as systemd splits it (shell-like quotes)."""
    units = {unit["name"]: unit for unit in config["coreos"]["units"]}
    (dropin,) = units["flanneld.service"]["drop-ins"]
    (line,) = [line for line in dropin["content"].splitlines()
               if line.startswith("ExecStartPre=")]
    return shlex.split(line.removeprefix("ExecStartPre="))


DEFAULTS = json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text())


@pytest.mark.parametrize("answers", [
    {},
    {"pod_network": "10.244.0.0/16", "flannel_backend": "host-gw"},
], ids=["default", "custom-network"])
def test_flannel_network_config_through_etcd_proxies(
        answers: dict[str, str], request: pytest.FixtureRequest,
        bake_with: Callable[..., Path], etcd_bin: str, etcdctl_bin: str, spawn: Spawn,
        tmp_path: Path) -> None:
    """Member from etcd.yaml; controller and worker proxies from their user data as the apply
    writes it (ETCD_PEER = the member's peer URL). The controller's drop-in command stores the
    network config through its proxy (ETCDCTL_ENDPOINTS = the proxy's remapped port, standing
    for etcdctl's default localhost:2379); the member and the worker's proxy read it back."""
    cluster = bake_with(**answers) if answers else request.getfixturevalue("default_cluster")
    ports: Ports = {}
    member = start_member(cluster, (cluster / "cloud-config/etcd.yaml").read_text(), spawn,
                          etcd_bin, tmp_path, ports)
    etcd_peer = first_url(member["ETCD_INITIAL_ADVERTISE_PEER_URLS"])

    proxies: dict[str, str] = {}
    configs: dict[str, dict[str, Any]] = {}
    for role in ("controller", "worker"):
        user_data = applied_user_data(cluster, f"{role}.yaml", etcd_peer,
                                      CONTROLLER_PUBLIC_IP)
        configs[role] = cloudinit_config(user_data)
        env = etcd_env(cluster, user_data, ports)
        assert env["ETCD_PROXY"] == "on"
        proc, log = spawn(f"etcd-proxy-{role}", [etcd_bin],
                          etcd_process_env(env, tmp_path / f"proxy-{role}"))
        proxies[role] = first_url(env["ETCD_LISTEN_CLIENT_URLS"])
        wait_http(f"{proxies[role]}/v2/keys/", proc, log)

    argv = network_config_command(configs["controller"])
    assert argv[:3] == ["/usr/bin/etcdctl", "set", "/coreos.com/network/config"]
    stored = etcdctl_v2(etcdctl_bin, proxies["controller"], *argv[1:])
    assert stored.returncode == 0, stored

    expected = {"Network": answers.get("pod_network", DEFAULTS["pod_network"]),
                "Backend": {"Type": answers.get("flannel_backend",
                                                DEFAULTS["flannel_backend"][0])}}
    client = first_url(member["ETCD_ADVERTISE_CLIENT_URLS"])
    for endpoint in (client, proxies["worker"]):  # the member; flanneld on a worker
        got = etcdctl_v2(etcdctl_bin, endpoint, "get", "/coreos.com/network/config")
        assert got.returncode == 0, got
        assert got.stdout.strip() == argv[3]
        assert json.loads(got.stdout) == expected


def test_etcd_proxy_fails_without_the_apply_substitution(
        default_cluster: Path, etcd_bin: str, etcdctl_bin: str, spawn: Spawn,
        tmp_path: Path) -> None:
    """Negative twin: the controller cloud-config as baked (ETCD_PEER not substituted) gives
    a proxy that exits, and the drop-in's command cannot store the network config."""
    user_data = (default_cluster / "cloud-config/controller.yaml").read_text()
    env = etcd_env(default_cluster, user_data, {})
    assert env["ETCD_INITIAL_CLUSTER"].endswith("=ETCD_PEER")
    proc, log = spawn("etcd-proxy", [etcd_bin], etcd_process_env(env, tmp_path / "proxy"))
    status = wait_exit(proc)
    assert status not in (None, 0), "etcd proxy ran with ETCD_PEER unsubstituted"
    assert "URL scheme must be http" in log.read_text()
    argv = network_config_command(cloudinit_config(user_data))
    stored = etcdctl_v2(etcdctl_bin, first_url(env["ETCD_LISTEN_CLIENT_URLS"]), *argv[1:])
    assert stored.returncode != 0
