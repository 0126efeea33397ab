"""Issue 12: etcd_count=3 on the real etcd 3.4 (v2 API), configured from the rendered member
user data and the initial cluster `make etcd` delivers (tests/integration/etcd_cluster.py).
The members form one cluster; with one member killed, flannel's key is still read and written
through a node's proxy; the member rejoins when restarted; a wrong initial cluster is refused
by etcd itself."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.etcd_cluster import (
    EtcdCluster,
    delivered_env_files,
    member_names,
)
from tests.integration.support import (
    CONTROLLER_PUBLIC_IP,
    applied_user_data,
    cloudinit_config,
    stop,
    wait_exit,
    wait_http,
)
from tests.integration.test_etcd import etcdctl_v2, network_config_command, node_tls

FLANNEL_KEY = "/coreos.com/network/config"


def retry(call: Callable[[], object], ok: Callable[[object], bool], timeout: float = 60
          ) -> object:
    """call() until ok(result) (an election after a kill takes a moment), bounded."""
    deadline = time.monotonic() + timeout
    while True:
        result = call()
        if ok(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def healthy_members(result: object) -> int:
    """Members etcdctl cluster-health found healthy."""
    return len(re.findall(r"^member \S+ is healthy", getattr(result, "stdout", ""), re.M))


def members_of(etcdctl_bin: str, endpoint: str, tls: dict[str, str]) -> list[dict[str, str]]:
    out = etcdctl_v2(etcdctl_bin, endpoint, "member", "list", tls=tls).stdout
    return [m.groupdict() for m in re.finditer(
        r"^(?P<id>[0-9a-f]+): name=(?P<name>\S+) .*isLeader=(?P<leader>true|false)$", out, re.M)]


def test_three_members_form_a_cluster_survive_one_loss_and_rejoin(
        three: EtcdCluster, etcdctl_bin: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    three.prepare()
    first = three.members[0].env
    assert "ETCD_NAME" in first and first["ETCD_INITIAL_CLUSTER_STATE"] == "new"
    for member in three.members:
        three.start(member)
    for member in three.members:
        three.wait_healthy(member)
    names = member_names(three.cluster)
    tls = node_tls(three.cluster, tmp_path)
    listed = retry(lambda: members_of(etcdctl_bin, three.members[0].loopback, tls),
                   lambda ms: len([m for m in ms if m["leader"] == "true"]) == 1)
    assert sorted(m["name"] for m in listed) == names  # type: ignore[union-attr]
    leader = next(m["name"] for m in listed if m["leader"] == "true")  # type: ignore[union-attr]
    health = etcdctl_v2(etcdctl_bin, three.members[0].loopback, "cluster-health", tls=tls)
    assert health.returncode == 0 and healthy_members(health) == 3, health
    assert "cluster is healthy" in health.stdout

    proxy, proc, log = three.proxy("worker")
    ctl_proxy, ctl_proc, ctl_log = three.proxy("controller")
    wait_http(f"{proxy}/v2/keys/", proc, log)
    wait_http(f"{ctl_proxy}/v2/keys/", ctl_proc, ctl_log)

    # kill the leader: the two others elect a new one and keep serving
    victim = next(m for m in three.members if m.name == leader)
    assert victim.proc is not None
    stop(victim.proc)
    user_data = applied_user_data(three.cluster, "controller.yaml", "x=https://10.0.0.1:2380",
                                  CONTROLLER_PUBLIC_IP)
    argv = network_config_command(cloudinit_config(user_data))
    stored = retry(lambda: etcdctl_v2(etcdctl_bin, ctl_proxy, *argv[1:]),
                   lambda r: r.returncode == 0)  # type: ignore[attr-defined]
    assert stored.returncode == 0, stored  # type: ignore[attr-defined]
    got = retry(lambda: etcdctl_v2(etcdctl_bin, proxy, "--no-sync", "get", FLANNEL_KEY),
                lambda r: r.returncode == 0)  # type: ignore[attr-defined]
    assert got.returncode == 0, got  # type: ignore[attr-defined]
    assert got.stdout.strip() == argv[4]  # type: ignore[attr-defined]
    alive = [m for m in three.members if m is not victim]
    after = retry(lambda: members_of(etcdctl_bin, alive[0].loopback, tls),
                  lambda ms: any(m["leader"] == "true" for m in ms))
    new_leader = next(m["name"] for m in after if m["leader"] == "true")  # type: ignore[union-attr]
    unhealthy = etcdctl_v2(etcdctl_bin, alive[0].loopback, "cluster-health",
                           tls=tls)
    assert healthy_members(unhealthy) == 2, unhealthy
    assert "cluster is degraded" in unhealthy.stdout or "unhealthy" in unhealthy.stdout

    # the killed member restarts from its data dir and rejoins; it sees the key written
    three.start(victim)
    three.wait_healthy(victim)
    healthy = retry(lambda: etcdctl_v2(etcdctl_bin, victim.loopback, "cluster-health",
                                       tls=tls),
                    lambda r: healthy_members(r) == 3)  # type: ignore[attr-defined]
    assert healthy_members(healthy) == 3, healthy  # type: ignore[attr-defined]
    mine = retry(lambda: etcdctl_v2(etcdctl_bin, victim.loopback, "get", FLANNEL_KEY, tls=tls),
                 lambda r: r.returncode == 0)  # type: ignore[attr-defined]
    assert json.loads(mine.stdout) == json.loads(argv[4])  # type: ignore[attr-defined]
    with capsys.disabled():
        print(f"\n[etcd_count=3] members {len(listed)}: {sorted(names)}; leader {leader}; "  # type: ignore[arg-type]
              f"killed {victim.name}; new leader {new_leader}; flannel key written and read "
              f"through the controller's and a worker's proxy with 2 of 3; {victim.name} "
              f"rejoined: 3 of 3 healthy")


def test_a_wrong_initial_cluster_is_refused_by_etcd(three: EtcdCluster) -> None:
    """Negative twin: a member whose delivered initial cluster gives it another member's peer
    URL (the IPs swapped) does not start: etcd's own check."""
    files = delivered_env_files(three.cluster)
    swapped = files[0].replace("10.0.0.1:", "10.0.0.X:").replace("10.0.0.2:", "10.0.0.1:") \
        .replace("10.0.0.X:", "10.0.0.2:")
    assert swapped != files[0]
    three.prepare([swapped, *files[1:]])
    member = three.members[0]
    three.start(member)
    assert member.proc is not None and member.log is not None
    status = wait_exit(member.proc)
    assert status not in (None, 0), "etcd ran with a wrong initial cluster"
    wrong = three.peer_of["10.0.0.2"]
    assert (f"--initial-cluster has {member.name}={wrong} but missing from "
            "--initial-advertise-peer-urls=") in member.log.read_text(), member.log.read_text()
