"""Issue 9 rows 6 and 14: droplets whose user data points at a re-created etcd or controller
stop the apply (REPLACE=1 re-creates them); every droplet's record gets its user data hash."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.applying import Apply

WORKERS = ("do-cluster-worker-01", "do-cluster-worker-02")


@pytest.fixture
def apply(cluster_copy: Path, tmp_path: Path) -> Apply:
    return Apply.create(cluster_copy, tmp_path / "sim")


def _sent(apply: Apply, name: str) -> str:
    return (apply.root(name) / "var/lib/dosim/user-data").read_text()


def _recreate(apply: Apply, name: str, target: str) -> dict[str, str]:
    old = apply.droplets()[name]
    apply.doctl("compute", "droplet", "delete", str(old["id"]), "--force")
    apply.make(target)
    new = apply.droplets()[name]["sim"]
    assert new["public_ip"] != old["sim"]["public_ip"]
    return new


def test_workers_of_a_recreated_controller_are_an_error_and_replace_recreates_them(
        apply: Apply) -> None:
    """`make worker` said "2 worker(s) ready" though every worker's user data pointed at the
    old controller."""
    apply.make("etcd", "controller", "worker", WORKERS="2")
    old_ids = {n: apply.droplets()[n]["id"] for n in WORKERS}
    ctrl = _recreate(apply, "do-cluster-controller-01", "controller")
    posts = apply.calls("POST /v2/droplets")

    proc = apply.make("worker", check=False, WORKERS="2")
    assert proc.returncode != 0
    assert "worker(s) ready" not in proc.stderr
    err = proc.stderr.replace("\n", " ")
    assert "do-cluster-worker-01 do-cluster-worker-02 run with other user data" in err
    assert f"https://{ctrl['public_ip']}" in err  # what changed is shown
    assert "'make worker REPLACE=1'" in err
    assert f"doctl compute droplet delete {old_ids[WORKERS[0]]} {old_ids[WORKERS[1]]}" in err
    assert apply.calls("POST /v2/droplets") == posts  # stopped before changing anything
    assert {n: apply.droplets()[n]["id"] for n in WORKERS} == old_ids

    out = apply.make("worker", WORKERS="2", REPLACE="1").stderr
    assert "REPLACE=1: deleting do-cluster-worker-01 do-cluster-worker-02" in out
    assert "2 worker(s) ready" in out
    workers = sorted(n for n in apply.droplets() if "-worker-" in n)
    assert workers == list(WORKERS)
    for name in WORKERS:
        assert apply.droplets()[name]["id"] != old_ids[name]
        assert f"--api-servers=https://{ctrl['public_ip']}" in _sent(apply, name)
        assert _sent(apply, name) == (apply.cluster / f"build/user-data/{name}.yaml").read_text()
    # a re-run now has nothing to replace
    assert "2 worker(s) ready" in apply.make("worker", WORKERS="2").stderr


def test_controller_of_a_recreated_etcd_is_an_error(apply: Apply) -> None:
    apply.make("etcd", "controller")
    etcd = _recreate(apply, "do-cluster-etcd-01", "etcd")
    proc = apply.make("controller", check=False)
    assert proc.returncode != 0 and "controller ready" not in proc.stderr
    assert "do-cluster-controller-01 run with other user data" in proc.stderr
    assert "'make controller REPLACE=1'" in proc.stderr
    out = apply.make("controller", REPLACE="1").stderr
    assert "controller ready" in out
    assert f"etcd-01=https://{etcd['private_ip']}:" in _sent(apply, "do-cluster-controller-01")


def test_droplets_of_an_interrupted_create_get_their_user_data_hash(apply: Apply) -> None:
    """A run stopped after the create (here: its wait for the IPs times out) left records
    without user_data_sha256, and later runs never added it."""
    apply.make("etcd", "controller")
    proc = apply.make("worker", check=False, WORKERS="2", DOSIM_IP_DELAY_SECONDS="3",
                      APPLY_TIMEOUT_SECONDS="1")
    assert proc.returncode != 0
    apply.make("worker", WORKERS="2")
    for name in WORKERS:
        record = json.loads((apply.cluster / f"state/droplets/{name}.json").read_text())
        sent = (apply.root(name) / "var/lib/dosim/user-data").read_bytes()
        assert record["user_data_sha256"] == hashlib.sha256(sent).hexdigest(), name
        assert record["user_data_sha256"] == apply.droplets()[name]["sim"]["user_data_sha256"]
