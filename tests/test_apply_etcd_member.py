"""Issue 18, High 1: a lost etcd member is replaced on its own, never cascades.

A member of a formed 3-member cluster deleted by hand: make worker/controller stop naming it
and `make etcd` (no healthy droplet called stale, nothing re-created); make plan and make
status point at make etcd; make etcd replaces just that member (member remove, member add,
started with initial-cluster-state existing), keeping the membership before it; afterwards
make controller worker changes nothing. With the quorum lost make etcd refuses before it
creates a droplet or issues a certificate. Rehearsed on the DigitalOcean and etcdctl stand-ins.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.applying import Apply, snapshot
from tests.baking import bake

CLUSTER_DIR = Path(__file__).resolve().parents[1] / "{{cookiecutter.cluster_name}}"
MEMBERS = ["do-cluster-etcd-01", "do-cluster-etcd-02", "do-cluster-etcd-03"]


@pytest.fixture(scope="module")
def lost(tmp_path_factory: pytest.TempPathFactory) -> Apply:
    """A 3-member cluster with a controller and a worker, then etcd-03 deleted by hand."""
    base = tmp_path_factory.mktemp("etcd-member")
    apply = Apply.create(bake(base / "bake", etcd_count="3", worker_count="1"), base / "sim")
    apply.make("etcd", "controller", "worker")
    apply.doctl("compute", "droplet", "delete", str(apply.droplets()[MEMBERS[2]]["id"]), "--force")
    return apply


def ids(apply: Apply) -> dict[str, int]:
    return {n: r["id"] for n, r in apply.droplets().items()}


def test_every_script_stops_on_a_failure_inside_a_command_substitution() -> None:
    """Without inherit_errexit a die inside $(...) is swallowed (the empty member address)."""
    scripts = sorted(CLUSTER_DIR.glob("scripts/*.sh")) + \
        sorted(CLUSTER_DIR.glob("profiles/current/node/*.sh"))
    assert scripts
    for script in scripts:
        lines = script.read_text().splitlines()
        # set before anything but the platform check runs (bash 3.2 lacks the option)
        at = lines.index("shopt -s inherit_errexit")
        assert lines.index("set -euo pipefail") < at, script
        assert not [line for line in lines[:at] if line.startswith("source ")
                    and "platform.sh" not in line], script


def test_worker_and_controller_name_the_lost_member_and_touch_nothing(lost: Apply) -> None:
    before = ids(lost)
    for target in ("worker", "controller"):
        proc = lost.make(target, check=False)
        assert proc.returncode != 0
        assert f"etcd member(s) {MEMBERS[2]} of the formed cluster are gone" in proc.stderr
        assert "the other 2 of 3 keep the quorum and every other droplet is fine: 'make etcd'" \
            f" replaces just {MEMBERS[2]}" in proc.stderr
        assert f"then re-run 'make {target}'" in proc.stderr
        assert "https://:" not in proc.stderr and "REPLACE=1" not in proc.stderr
        assert "other user data" not in proc.stderr
    assert ids(lost) == before


def test_plan_and_status_point_at_make_etcd(lost: Apply) -> None:
    plan = json.loads(lost.make("plan", OUTPUT="json").stdout)
    rows = {r["name"]: r for r in plan["items"]}
    assert rows[MEMBERS[2]]["action"] == "create"
    assert "replaces a lost member: it joins the running etcd cluster" in rows[MEMBERS[2]]["detail"]
    assert not [n for n, r in rows.items() if "re-create" in r["detail"]]
    status = lost.make("status", check=False).stderr
    assert f"bring back {MEMBERS[2]} (a member whose droplet is gone: make etcd replaces just it" \
        in status


def test_make_etcd_replaces_just_the_lost_member(lost: Apply) -> None:
    s = lost.settings()
    cluster_file = lost.cluster / "state/etcd-initial-cluster"
    formed = cluster_file.read_text().strip()
    before = ids(lost)
    posts = lost.calls("POST /v2/droplets")
    out = lost.make("etcd").stderr
    assert lost.calls("POST /v2/droplets") == posts + 1
    after = ids(lost)
    assert {n: i for n, i in after.items() if n != MEMBERS[2]} == \
        {n: i for n, i in before.items() if n != MEMBERS[2]}
    new_ip = lost.droplets()[MEMBERS[2]]["sim"]["private_ip"]
    port = s["ETCD_PEER_PORT"]
    membership = formed.rsplit(",", 1)[0] + f",{MEMBERS[2]}=https://{new_ip}:{port}"
    assert cluster_file.read_text() == membership + "\n"
    assert (lost.cluster / "state/etcd-past-clusters").read_text() == formed + "\n"
    env = (lost.root(MEMBERS[2]) / s["ETCD_CLUSTER_ENV"].lstrip("/")).read_text()
    assert env == (f"ETCD_NAME={MEMBERS[2]}\nETCD_INITIAL_CLUSTER={membership}\n"
                   "ETCD_INITIAL_CLUSTER_STATE=existing\n")
    assert f"{MEMBERS[2]}: removing the lost member" in out
    assert f"{MEMBERS[2]}: member add {MEMBERS[2]} https://{new_ip}:{port}" in out
    assert f"replaced: {MEMBERS[2]} (joined the running cluster" in out

    # the proxies named the membership before: not stale, nothing re-created
    lost.make("controller", "worker")
    assert ids(lost) == after
    layer = next(la for la in json.loads(lost.make("status", OUTPUT="json", check=False).stdout)
                 ["layers"] if la["layer"] == "etcd")
    assert layer["status"] == "OK", layer
    rerun = lost.make("etcd").stderr
    assert "joins the etcd cluster" not in rerun and ids(lost) == after


def test_without_quorum_make_etcd_refuses_before_creating_anything(lost: Apply) -> None:
    """Runs last: two of three members gone."""
    for name in MEMBERS[1:]:
        lost.doctl("compute", "droplet", "delete", str(lost.droplets()[name]["id"]), "--force")
    posts = lost.calls("POST /v2/droplets")
    files = snapshot(lost.cluster / "pki", lost.cluster / "state/droplets")
    proc = lost.make("etcd", check=False)
    assert proc.returncode != 0
    assert "1 of 3 left, no quorum" in proc.stderr and "make restore BACKUP=" in proc.stderr
    assert lost.calls("POST /v2/droplets") == posts
    assert snapshot(lost.cluster / "pki", lost.cluster / "state/droplets") == files
