"""Issue 24 item 1: `make up` builds the whole current-profile cluster in one run (make image,
every droplet created at once, then etcd, controller, worker, addons: the very scripts of
those targets) under one lock. Its creates go out back to back before any wait (one boot on
the critical path); a re-run creates nothing, a droplet deleted by hand is re-created alone, a
run cut at its first ssh wait resumes, two runs at once create each droplet once, and a lock
descriptor that is not the held lock's opens nothing."""

from __future__ import annotations

import json
import re
import subprocess
from itertools import pairwise
from pathlib import Path

import pytest

from tests.applying import NEVER_SECONDS, Apply, squeezed
from tests.baking import copy_cluster

ETCD, CONTROLLER = "do-cluster-etcd-01", "do-cluster-controller-01"
WORKER = "do-cluster-worker-01"
CREATES = "POST /v2/droplets"


@pytest.fixture(scope="module")
def baked(current_cluster: Path) -> Path:
    """The session's bake of the current profile's defaults (copied before any apply)."""
    return current_cluster


def _fresh(baked: Path, base: Path) -> Apply:
    apply = Apply.create(copy_cluster(baked, base), base / "sim")
    apply.make("image")
    return apply


@pytest.fixture(scope="module")
def upped(baked: Path, tmp_path_factory: pytest.TempPathFactory) -> Apply:
    apply = _fresh(baked, tmp_path_factory.mktemp("up"))
    apply.make("up")
    return apply


def test_up_ends_with_a_ready_cluster_its_addons_and_a_passing_smoke(upped: Apply) -> None:
    out = squeezed(upped.outputs[-1])
    for target in ("image", "etcd", "controller", "worker", "addons"):
        assert f"make {target}: " in out, target
    assert "cluster do-cluster up" in out
    assert sorted(upped.droplets()) == [CONTROLLER, ETCD, WORKER]
    assert upped.calls(CREATES) == 3
    upped.make("smoke")
    status = squeezed(upped.make("status").stderr)
    assert "status of do-cluster: 0 failed" in status
    assert "Ready" in status


def test_every_create_goes_out_before_any_wait(upped: Apply) -> None:
    """One droplet boot on the critical path: the creates of the three roles are consecutive
    requests (no listing, no poll between them), and each role's in one request."""
    log = upped.account()["api_log"]
    creates = [i for i, e in enumerate(log) if e["call"] == CREATES]
    assert len(creates) == 3
    assert creates == list(range(creates[0], creates[0] + 3)), [e["call"] for e in log]
    assert "every droplet created" in upped.outputs[1]


def test_the_levels_run_side_by_side(upped: Apply) -> None:
    """Right after the creates, make etcd, controller and worker run at once, each line of
    theirs headed by its target (one controller: no load balancer for the workers to wait
    for)."""
    out = upped.outputs[1]
    assert "make etcd, controller and worker at once" in out
    for target in ("etcd", "controller", "worker"):
        assert re.search(rf"(?m)^{target} *\| \[", out), target


def test_the_tutorial_up_creates_a_level_once_the_previous_has_addresses(
        default_cluster: Path, tmp_path: Path) -> None:
    """The tutorial's user data names the previous level's addresses: polls come between its
    creates (the reason the current profile's user data names none)."""
    apply = Apply.create(copy_cluster(default_cluster, tmp_path), tmp_path / "sim")
    proc = apply.make("up")
    log = apply.account()["api_log"]
    creates = [i for i, e in enumerate(log) if e["call"] == CREATES]
    assert len(creates) == 3
    assert all(b - a > 1 for a, b in pairwise(creates)), [e["call"] for e in log]
    assert "created one level after the other" in squeezed(proc.stderr)


def test_a_second_up_creates_nothing(upped: Apply) -> None:
    ids = {name: rec["id"] for name, rec in upped.droplets().items()}
    creates = upped.calls(CREATES)
    upped.make("up")
    assert upped.calls(CREATES) == creates
    assert {name: rec["id"] for name, rec in upped.droplets().items()} == ids


def test_a_worker_deleted_by_hand_is_recreated_alone(upped: Apply) -> None:
    before = {name: rec["id"] for name, rec in upped.droplets().items()}
    creates = upped.calls(CREATES)
    upped.doctl("compute", "droplet", "delete", str(before[WORKER]), "--force")
    upped.make("up")
    after = {name: rec["id"] for name, rec in upped.droplets().items()}
    assert upped.calls(CREATES) == creates + 1
    assert after[WORKER] != before[WORKER]
    assert {n: i for n, i in after.items() if n != WORKER} == \
        {n: i for n, i in before.items() if n != WORKER}
    assert "status of do-cluster: 0 failed" in squeezed(upped.make("status").stderr)


def test_a_cut_up_resumes_where_it_stopped(baked: Path, tmp_path: Path) -> None:
    apply = _fresh(baked, tmp_path)
    proc = apply.make("up", check=False, DOSIM_SSHD_DELAY_SECONDS=NEVER_SECONDS,
                      SSH_TIMEOUT_SECONDS="1")
    assert proc.returncode != 0
    # every droplet was created before the first wait and every key made while they booted;
    # then the levels ran side by side, each stopping at its first ssh wait
    err = squeezed(proc.stderr)
    for name in (ETCD, CONTROLLER, WORKER):
        assert f"waiting for ssh on {name}" in err, name
    assert "make up stopped: make etcd, make controller, make worker failed" in err
    assert "re-run 'make up'" in err
    assert sorted(apply.droplets()) == [CONTROLLER, ETCD, WORKER]
    for key in ("etcd", "apiserver", f"kubelet-{CONTROLLER}", f"kubelet-{WORKER}"):
        assert (apply.cluster / f"pki/{key}-key.pem").is_file(), key
    # signed, not installed: the state records no installed files
    record = json.loads((apply.cluster / f"state/droplets/{WORKER}.json").read_text())
    assert "components_sha256" not in record
    apply.bring_up(CONTROLLER, ETCD, WORKER)
    apply.make("up")
    assert sorted(apply.droplets()) == [CONTROLLER, ETCD, WORKER]
    assert apply.calls(CREATES) == 3
    assert "status of do-cluster: 0 failed" in squeezed(apply.make("status").stderr)


def test_two_concurrent_ups_create_each_droplet_once(baked: Path, tmp_path: Path) -> None:
    apply = _fresh(baked, tmp_path)
    # the IP delay keeps the first run busy after its creates: without the lock the second
    # lists before they exist and creates them again
    env = {**apply.env, "APPLY_LOCK_SECONDS": "280", "DOSIM_IP_DELAY_SECONDS": "1"}
    runs = [subprocess.Popen(["make", "--no-print-directory", "up"], cwd=apply.cluster, env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [run.communicate(timeout=290) for run in runs]
    for run, (_, err) in zip(runs, results, strict=True):
        assert run.returncode == 0, err
    # one waited; the holder it names is "make up", or "unknown" when it read the lock file in
    # the instant between the holder's flock and its writing its name
    waited = [err for _, err in results if "for state/apply.lock, held by: " in err]
    assert len(waited) == 1, results
    assert re.search(r"held by: (make up, pid|unknown)", waited[0]), waited
    assert sorted(apply.droplets()) == [CONTROLLER, ETCD, WORKER]
    assert apply.calls(CREATES) == 3


def test_a_lock_descriptor_on_another_file_does_not_pass_the_lock(upped: Apply) -> None:
    """APPLY_LOCK_FD only passes the lock when it is open on state/apply.lock: make etcd
    with stdin (descriptor 0) named still waits for a holder, then stops naming it."""
    lock = upped.cluster / "state/apply.lock"
    holder = subprocess.Popen(["flock", str(lock), "sleep", "30"])
    try:
        proc = upped.make("etcd", check=False, APPLY_LOCK_FD="0", APPLY_LOCK_SECONDS="1")
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode != 0
    assert "another apply of cluster do-cluster holds" in proc.stderr
