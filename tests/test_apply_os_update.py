"""make os-update (issue 22 item 4, current profile) on one shared cluster applied on the
stand-ins: three etcd members, one controller, two workers, the add-ons.

Flatcar's update-engine downloads each update to the passive partition by itself; locksmithd
reboots into it as REBOOT_STRATEGY in /etc/flatcar/update.conf says (reboot, etcd-lock, off;
"off - causes locksmithd to exit and do nothing": github.com/flatcar/locksmith README,
flatcar.org/docs/latest/setup/releases/update-strategies). The cloud-configs set
coreos.update.reboot_strategy, which Flatcar's coreos-cloudinit writes to
/etc/coreos/update.conf (a link to /etc/flatcar: flatcar.org/docs/latest/setup/releases/
update-conf) and, for "off", answers by stopping and masking locksmithd.service
(flatcar/coreos-cloudinit system/update.go Units(); config/update.go accepts
etcd-lock|reboot|off). The update then waits, `update_engine_client -status` printing
CURRENT_OP=UPDATE_STATUS_UPDATED_NEED_REBOOT (flatcar/update_engine
src/update_engine/update_engine_client.cc), until make os-update reboots the node.

The ssh stand-in keeps each droplet's update status and reboots (tests/standins/boots.py): a
reboot's record names the droplets that were down at that moment, which is what "one at a
time" is checked against (no timing). Each test leaves every node up, uncordoned and without
a waiting update, and its run finished: they run in any order."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.applying import Apply, guarded_deployment, kubectl
from tests.baking import copy_cluster
from tests.current_profile import bake_current
from tests.standins import boots

NEW_OS = "4230.2.4"
DRAIN_SECONDS = "1"


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Apply:
    cluster = bake_current(tmp_path_factory.mktemp("os-update-bake"), etcd_count="3",
                           worker_count="2")
    base = tmp_path_factory.mktemp("os-update")
    apply = Apply.create(copy_cluster(cluster, base), base / "sim")
    apply.make("image")
    apply.make("etcd", "controller", "worker")
    apply.make("addons")
    return apply


def name(apply: Apply, role: str, nn: int) -> str:
    return f"{apply.settings()[role.upper() + '_PREFIX']}-{nn:02d}"


def all_nodes(apply: Apply) -> list[str]:
    return sorted(apply.droplets())


def reboots(apply: Apply) -> dict[str, list[dict[str, object]]]:
    return {n: boots.boots(apply.root(n)) for n in all_nodes(apply)}


def node_objects(apply: Apply) -> dict[str, dict[str, object]]:
    items = json.loads(kubectl(apply, "get", "nodes", "-o", "json"))["items"]
    return {n["metadata"]["name"]: n for n in items}


def ssh(apply: Apply, node: str, command: str) -> subprocess.CompletedProcess[str]:
    ip = apply.droplets()[node]["sim"]["public_ip"]
    return subprocess.run(
        ["ssh", "-i", str(apply.sim / "id_test"), "-o", "StrictHostKeyChecking=no",
         "-o", f"UserKnownHostsFile={apply.sim / 'known_hosts'}", f"core@{ip}", command],
        env=apply.env, capture_output=True, text=True, check=False)


def new_reboots(before: dict[str, list[dict[str, object]]],
                after: dict[str, list[dict[str, object]]]) -> dict[str, list[dict[str, object]]]:
    fresh = {n: after[n][len(before.get(n, [])):] for n in after}
    return {n: v for n, v in fresh.items() if v}


def test_pending_updates_reboot_one_node_at_a_time(applied: Apply) -> None:
    etcd2, ctl = name(applied, "etcd", 2), name(applied, "controller", 1)
    w2 = name(applied, "worker", 2)
    for node in (etcd2, ctl, w2):
        boots.mark_pending(applied.root(node), NEW_OS)
    before, calls, start = reboots(applied), applied.calls(), time.monotonic()
    proc = applied.make("os-update")
    took = time.monotonic() - start
    done = new_reboots(before, reboots(applied))
    # each node with a waiting update rebooted once, into it; the others were left alone
    assert sorted(done) == sorted([etcd2, ctl, w2]), done
    assert all(len(v) == 1 and v[0]["to"] == NEW_OS for v in done.values()), done
    for node in set(all_nodes(applied)) - {etcd2, ctl, w2}:
        assert f"{node}: no update waits (update_engine_client -status): skipped" in proc.stderr
    # one at a time: no other droplet was down while each rebooted; etcd, controller, worker
    assert all(v[0]["others_down"] == [] for v in done.values()), done
    order = sorted(done, key=lambda n: float(done[n][0]["at"]))  # type: ignore[arg-type]
    assert order == [etcd2, ctl, w2]
    # every update applied, every node Ready and schedulable again, etcd healthy
    assert all(boots.status(applied.root(n))["current_op"] == boots.IDLE for n in done)
    nodes = node_objects(applied)
    assert all(n["status"]["conditions"][0]["status"] == "True" for n in nodes.values())
    assert not any(n["spec"].get("unschedulable") for n in nodes.values())
    drains = [c for c in applied.kube()["calls"] if " drain " in f" {c} "]
    assert any(f"drain {w2} --ignore-daemonsets" in c for c in drains)
    assert not any(f"drain {name(applied, 'worker', 1)} " in c for c in drains)
    assert applied.status_layer("etcd-members")["status"] == "OK"
    assert not (applied.cluster / "state/os-update").exists()
    print(f"\nmake os-update, 3 of {len(all_nodes(applied))} nodes rebooted: "
          f"{applied.calls() - calls} API calls, {took:.1f}s ({took / 3:.1f}s per node)")
    # nothing waits any more: a second run reboots nothing, and makes the same few API calls
    again = applied.make("os-update")
    assert reboots(applied) == {n: before[n] + done.get(n, []) for n in before}
    assert "rebooted: none" in again.stderr


def test_a_budget_blocking_the_drain_stops_with_the_node_as_it_was(
        applied: Apply, tmp_path: Path) -> None:
    w1 = name(applied, "worker", 1)
    boots.mark_pending(applied.root(w1), NEW_OS)
    manifest = tmp_path / "guarded.yaml"
    manifest.write_text(guarded_deployment(2))
    kubectl(applied, "apply", "-f", str(manifest))
    before = reboots(applied)
    proc = applied.make("os-update", check=False, DRAIN_TIMEOUT_SECONDS=DRAIN_SECONDS)
    assert proc.returncode != 0
    assert "Cannot evict pod as it would violate the pod's disruption budget." in proc.stderr
    assert f"draining {w1} stopped after {DRAIN_SECONDS}s" in proc.stderr
    assert "'make os-update FORCE=1'" in proc.stderr
    # not rebooted, uncordoned again, the update still waits
    assert reboots(applied) == before
    assert not node_objects(applied)[w1]["spec"].get("unschedulable")
    assert boots.status(applied.root(w1))["current_op"] == boots.NEED_REBOOT
    # the budget gone, the same command goes on (the run resumes) and reboots it
    kubectl(applied, "delete", "-f", str(manifest))
    proc = applied.make("os-update", DRAIN_TIMEOUT_SECONDS=DRAIN_SECONDS)
    assert "resuming the OS update run" in proc.stderr
    assert list(new_reboots(before, reboots(applied))) == [w1]
    assert not node_objects(applied)[w1]["spec"].get("unschedulable")


def test_a_member_is_not_rebooted_when_the_quorum_would_be_lost(applied: Apply) -> None:
    e1, e3 = name(applied, "etcd", 1), name(applied, "etcd", 3)
    boots.mark_pending(applied.root(e1), NEW_OS)
    stop = ssh(applied, e3, "sudo systemctl stop etcd.service")
    assert stop.returncode == 0, stop.stderr
    before = reboots(applied)
    proc = applied.make("os-update", check=False)
    assert proc.returncode != 0
    assert f"rebooting {e1} would leave 1 of 3 etcd member(s) healthy: no quorum" in proc.stderr
    assert reboots(applied) == before
    # the member back, the same command reboots e1 and waits for it to be healthy again
    start = ssh(applied, e3, "sudo systemctl start etcd.service")
    assert start.returncode == 0, start.stderr
    applied.make("os-update")
    assert list(new_reboots(before, reboots(applied))) == [e1]
    assert applied.status_layer("etcd-members")["status"] == "OK"


def test_an_interrupted_run_resumes_without_a_second_reboot(applied: Apply) -> None:
    w2 = name(applied, "worker", 2)
    boots.mark_pending(applied.root(w2), NEW_OS)
    before = reboots(applied)
    # the worker stays down longer than the run waits: cut while it reboots
    proc = applied.make("os-update", check=False, DOSIM_REBOOT_SECONDS="20",
                        APPLY_TIMEOUT_SECONDS="2")
    assert proc.returncode != 0
    assert f"{w2}: not back from its reboot after 2s" in proc.stderr
    assert list(new_reboots(before, reboots(applied))) == [w2]
    assert node_objects(applied)[w2]["spec"].get("unschedulable") is True
    # the re-run finds it rebooted (a new boot id), waits for it, uncordons it: no 2nd reboot
    proc = applied.make("os-update")
    assert "resuming the OS update run" in proc.stderr
    assert f"{w2}: rebooted before this run stopped" in proc.stderr
    assert len(new_reboots(before, reboots(applied))[w2]) == 1
    assert not node_objects(applied)[w2]["spec"].get("unschedulable")


def test_help_makes_no_api_call(applied: Apply) -> None:
    calls = applied.calls()
    proc = subprocess.run(["scripts/os-update.sh", "--help"], cwd=applied.cluster,
                          env=applied.env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: scripts/os-update.sh")
    assert "FORCE=1" in proc.stdout
    assert applied.calls() == calls
    assert "os-update" in applied.make("help").stdout


def test_the_tutorial_profile_has_no_os_update(tmp_path: Path) -> None:
    from tests.baking import bake

    apply = Apply.create(copy_cluster(bake(tmp_path / "bake"), tmp_path), tmp_path / "sim")
    calls = apply.calls()
    proc = apply.make("os-update", check=False)
    assert proc.returncode != 0
    assert "make os-update: the tutorial's Kubernetes release has neither kubectl cordon" \
        in proc.stderr, proc.stderr
    assert apply.calls() == calls


def test_the_standin_is_strict_about_reboots_and_update_status(applied: Apply) -> None:
    """As on Flatcar: a reboot needs root (logind asks polkit), update_engine_client answers
    -status and nothing the stand-in does not simulate."""
    w1 = name(applied, "worker", 1)
    before = reboots(applied)
    proc = ssh(applied, w1, "systemctl reboot")
    assert proc.returncode == 1 and "Interactive authentication required" in proc.stderr
    assert reboots(applied) == before
    proc = ssh(applied, w1, "update_engine_client -check_for_update")
    assert proc.returncode == 2 and "not simulated" in proc.stderr
    status = ssh(applied, w1, "update_engine_client -status").stdout.splitlines()
    assert [line.split("=")[0] for line in status] == [
        "LAST_CHECKED_TIME", "PROGRESS", "CURRENT_OP", "NEW_VERSION", "NEW_SIZE"]
    assert "CURRENT_OP=UPDATE_STATUS_IDLE" in status
