"""Issue 19 item 1: etcd_count=3 in the current profile on the real etcd (Debian's 3.4), every
member from the rendered etcd.service and the initial cluster `make etcd` delivers
(tests/integration/current_etcd_cluster.py): peers over TLS with each member's own
certificate; the leader killed, writes go on, it rejoins; a member presenting another
cluster's certificate (another CA) is refused by its peers. One cluster for the module."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.current_etcd_cluster import CurrentEtcd, Member
from tests.integration.current_nodes import SERVER_EXT, issue, openssl


def until(check: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def test_three_members_form_one_cluster_with_their_delivered_names(
        current_etcd3: CurrentEtcd) -> None:
    first = current_etcd3.members[0]
    listed = current_etcd3.ctl(first, "member", "list", "-w", "simple")
    assert listed.returncode == 0, listed
    names = sorted(line.split(", ")[2] for line in listed.stdout.splitlines())
    assert names == [m.name for m in current_etcd3.members]
    until(lambda: current_etcd3.leader(first) is not None)
    statuses = current_etcd3.statuses(first)
    assert len(statuses) == 3
    assert len({s["Status"]["leader"] for s in statuses}) == 1  # type: ignore[index]


def test_the_leader_killed_writes_go_on_and_it_rejoins(
        current_etcd3: CurrentEtcd, capsys: pytest.CaptureFixture[str]) -> None:
    leader = current_etcd3.leader(current_etcd3.members[0])
    assert leader is not None
    current_etcd3.stop(leader)
    alive = [m for m in current_etcd3.members if m is not leader]
    endpoints = ",".join(m.client for m in alive)
    until(lambda: current_etcd3.ctl(alive[0], "put", "/registry/after-kill", "written",
                            endpoints=endpoints).returncode == 0)
    new_leader = None

    def elected() -> bool:
        nonlocal new_leader
        new_leader = current_etcd3.leader(alive[0], endpoints)
        return new_leader is not None
    until(elected)
    assert new_leader is not leader
    health = current_etcd3.ctl(alive[0], "endpoint", "health", "--cluster")
    assert health.returncode != 0 and "is unhealthy" in health.stdout + health.stderr

    current_etcd3.start(leader)  # the same data dir: it rejoins
    current_etcd3.wait_healthy(leader)
    until(lambda: current_etcd3.ctl(leader, "get", "/registry/after-kill", "--print-value-only",
                            "--consistency=s").stdout.strip() == "written")
    until(lambda: current_etcd3.ctl(leader, "endpoint", "health", "--cluster").returncode == 0)
    with capsys.disabled():
        print(f"\n[current etcd_count=3] killed leader {leader.name}; new leader "
              f"{new_leader.name if new_leader else '?'}; a write with 2 of 3 went through; "
              f"{leader.name} rejoined and reads it: 3 of 3 healthy")


def test_a_member_with_another_clusters_certificate_is_refused(
        current_etcd3: CurrentEtcd, tmp_path: Path) -> None:
    victim: Member = current_etcd3.members[-1]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=other cluster CA",
            "-days", "1", "-keyout", str(foreign / "ca-key.pem"), "-out", str(foreign / "ca.pem"))
    # the same name and SANs, only signed by the other CA (which it also trusts)
    issue(foreign / "ca.pem", foreign / "ca-key.pem", foreign, "etcd", victim.name, SERVER_EXT)
    current_etcd3.stop(victim)
    others = [m for m in current_etcd3.members if m is not victim]
    marks = {m.name: len(m.log.read_text()) for m in others if m.log}
    current_etcd3.start(victim, pki=foreign)
    try:
        def refused() -> bool:
            return any("rejected connection" in m.log.read_text()[marks[m.name]:]
                       and "bad certificate" in m.log.read_text()[marks[m.name]:]
                       for m in others if m.log)
        until(refused)
        health = current_etcd3.ctl(others[0], "endpoint", "health", "--cluster")
        assert health.returncode != 0 and victim.client in health.stdout + health.stderr
        assert current_etcd3.ctl(others[0], "put", "/registry/still", "ok").returncode == 0
    finally:
        current_etcd3.stop(victim)
        current_etcd3.start(victim)
        current_etcd3.wait_healthy(victim)
    until(lambda: current_etcd3.ctl(others[0], "endpoint", "health", "--cluster").returncode == 0)
