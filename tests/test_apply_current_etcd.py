"""Issue 19 items 1 and 3 (issue 18 rows 2, 8, 13) on the stand-ins: a current bake with
etcd_count=3 applied (make image etcd controller): three members, each with its own
certificate and the initial cluster delivered over ssh; make status shows every member's
health, the leader and the count against ETCD_COUNT (etcdctl v3 over mTLS on a member);
make backup takes an etcd v3 snapshot with what it holds; make restore checks the backup
here and on every member before it stops anything, then brings every member back from the
same snapshot. The stand-ins' etcdctl/etcdutl are tests/standins/etcd3.py."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import time
from pathlib import Path

import pytest

from tests.applying import REPO, Apply, cert_sans, static_pod_moves, unit_ops
from tests.baking import bake
from tests.standins import dropletfs, etcd3members, units

MEMBERS = ["do-cluster-etcd-01", "do-cluster-etcd-02", "do-cluster-etcd-03"]
KEYS = {f"/registry/namespaces/ns-{i}": f'{{"n":{i}}}' for i in range(5)} | {
    "/registry/secrets/default/token": "k8s:enc:aescbc:v1:key1:opaque"}


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Apply:
    base = tmp_path_factory.mktemp("current-etcd3")
    apply = Apply.create(bake(base / "bake", profile="current", etcd_count="3"), base / "sim")
    apply.env["PATH"] = f"{REPO / 'tests/fake_kubectl_current'}:{apply.env['PATH']}"
    apply.make("image", "etcd", "controller")
    etcd3members.put(apply.sim / "account.json", KEYS)
    return apply


def test_members_have_their_own_certificate_and_the_delivered_cluster(applied: Apply) -> None:
    droplets = applied.droplets()
    port = applied.settings()["ETCD_PEER_PORT"]
    initial = ",".join(f"{n}=https://{droplets[n]['sim']['private_ip']}:{port}" for n in MEMBERS)
    for nn, name in enumerate(MEMBERS, 1):
        root = applied.root(name)
        installed = root / "etc/etcd/pki/etcd.pem"
        assert installed.read_bytes() == (applied.cluster / f"pki/etcd-{nn:02d}.pem").read_bytes()
        assert f"IP Address:{droplets[name]['sim']['private_ip']}" in cert_sans(installed)
        assert applied.mode(name, "/etc/etcd/pki/etcd-key.pem") == 0o600
        env = (root / "etc/etcd-cluster.env").read_text()
        assert env == f"ETCD_NAME={name}\nETCD_INITIAL_CLUSTER={initial}\n"
    # the apiserver's --etcd-servers as the controller's fill-endpoints writes it in
    (ctl,) = [c for p, c in applied.node_files("do-cluster-controller-01").items()
              if p.endswith("/kube-apiserver.yaml")]
    client = applied.settings()["ETCD_CLIENT_PORT"]
    assert "--etcd-servers=" + ",".join(
        f"https://{droplets[n]['sim']['private_ip']}:{client}" for n in MEMBERS) in ctl


def test_status_shows_every_member_the_leader_and_the_count(applied: Apply) -> None:
    seen = applied.status_layer("etcd-members")
    assert seen["status"] == "OK", seen
    assert "3 of 3 member(s) healthy, leader do-cluster-etcd-01 (etcd 3.6.14)" in str(
        seen["detail"])
    members = seen["members"]
    assert isinstance(members, list) and sorted(m["name"] for m in members) == MEMBERS
    # one member stopped: the quorum holds, the layer says which one to bring back
    root = applied.root(MEMBERS[2])
    log = units.restarts(root)
    log.setdefault("etcd.service", {"restarts": 0})["stopped"] = True
    units._save(root, log)
    try:
        seen = applied.status_layer("etcd-members")
        assert seen["status"] == "WARN" and "2 of 3" in str(seen["detail"]), seen
        assert "bring back do-cluster-etcd-03" in str(seen["detail"])
    finally:
        log["etcd.service"]["stopped"] = False
        units._save(root, log)


def backup(applied: Apply) -> Path:
    proc = applied.make("backup")
    out = proc.stdout + proc.stderr
    line = next(x for x in out.splitlines() if "make restore BACKUP=" in x)
    return applied.cluster / line.split("BACKUP=", 1)[1].strip()


@pytest.fixture(scope="module")
def made(applied: Apply) -> Path:
    return backup(applied)


def test_backup_records_the_snapshot_and_what_it_holds(applied: Apply, made: Path) -> None:
    meta = json.loads((made / "backup.json").read_text())
    assert meta["cluster"] == "do-cluster" and meta["etcd_version"] == "3.6.14"
    assert meta["etcd_count"] == 3 and meta["members"] == 3 and meta["member_names"] == MEMBERS
    assert meta["keys"] == len(KEYS) and meta["secrets"] == 1 and meta["secrets_encrypted"]
    assert meta["member"] == "do-cluster-etcd-01"  # the leader
    snap = made / meta["snapshot"]
    assert meta["archive_bytes"] == snap.stat().st_size
    assert meta["archive_sha256"] == hashlib.sha256(snap.read_bytes()).hexdigest()
    for path in (snap, made / "backup.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    assert not (applied.root(MEMBERS[0]) / "home/core" / meta["snapshot"]).exists()


def test_restore_brings_every_member_back_from_the_same_snapshot(applied: Apply,
                                                                   made: Path) -> None:
    """Kubernetes' "Operating etcd clusters" (Restoring an etcd cluster): every API server
    stopped before the restore, restarted after it with the scheduler, the controller manager
    and the kubelet; here the controller's static pods are moved aside before etcd stops on any
    member and put back (kubelet restarted, /readyz awaited) once every member serves again."""
    etcd3members.put(applied.sim / "account.json", {"/registry/late": "after the backup"})
    proc = applied.make("restore", BACKUP=str(made.relative_to(applied.cluster)), FORCE="1",
                        STATIC_POD_SECONDS="0")
    out = proc.stdout + proc.stderr
    assert "restored into /var/lib/etcd.restored" in out
    assert f"etcd of do-cluster restored from {made.relative_to(applied.cluster)}" in out
    assert "control plane: 1 controller(s) restarted one at a time, each apiserver ready" in out
    controller = "do-cluster-controller-01"
    (out_at, _), (back_at, _) = static_pod_moves(applied, controller, ".restoring")
    stops = [t for m in MEMBERS for t, verb in unit_ops(applied, m, "etcd") if verb == "stop"]
    starts = [t for m in MEMBERS for t, verb in unit_ops(applied, m, "etcd") if verb == "start"]
    assert out_at < min(stops) and max(starts) < back_at, (out_at, stops, starts, back_at)
    assert [v for _, v in unit_ops(applied, controller, "kubelet.service")][-1] == "restart"
    assert not list((applied.root(controller) / "etc/kubernetes/manifests.restoring").glob("*"))
    for name in MEMBERS:
        assert applied.etcd3_keys(name) == KEYS, name
        assert not (applied.root(name) / "var/lib/etcd.before-restore").exists()
        assert not (applied.root(name) / "var/lib/etcd.restored").exists()
    assert applied.status_layer("etcd-members")["status"] == "OK"


def test_a_controller_out_of_reach_stops_the_restore_before_etcd_and_a_rerun_finishes(
        applied: Apply, made: Path) -> None:
    """A careless operator's restore while the controller cannot be reached: the control plane
    cannot be stopped, so etcd is never stopped (every member keeps serving its data) and the
    error says how to start the control plane again; once the controller answers, the same
    command restores."""
    from tests.standins import state as standin_state

    controller = "do-cluster-controller-01"
    etcd3members.put(applied.sim / "account.json", {"/registry/late": "after the backup"})
    live = {n: applied.etcd3_keys(n) for n in MEMBERS}
    with standin_state.locked(applied.sim / "account.json") as data:
        (rec,) = [r for r in data["droplets"].values() if r["name"] == controller]
        rec["sim"]["sshd_at"] = time.time() + 86400
    backup = str(made.relative_to(applied.cluster))
    stops = sum(v == "stop" for n in MEMBERS for _, v in unit_ops(applied, n, "etcd"))
    proc = applied.make("restore", BACKUP=backup, FORCE="1", STATIC_POD_SECONDS="0",
                        check=False)
    assert proc.returncode != 0
    assert f"{controller}: stopping the static pods failed" in proc.stderr
    assert "etcd is untouched; start the control plane again on every controller:" in proc.stderr
    assert {n: applied.etcd3_keys(n) for n in MEMBERS} == live
    assert sum(v == "stop" for n in MEMBERS for _, v in unit_ops(applied, n, "etcd")) == stops
    applied.bring_up(controller)
    assert applied.status_layer("etcd-members")["status"] == "OK"
    applied.make("restore", BACKUP=backup, FORCE="1", STATIC_POD_SECONDS="0")
    assert {n: applied.etcd3_keys(n) for n in MEMBERS} == {n: KEYS for n in MEMBERS}
    assert (applied.root(controller) / "etc/kubernetes/manifests/kube-apiserver.yaml").is_file()


def bad_copy(applied: Apply, made: Path, tmp: Path, **changes: object) -> Path:
    copy = tmp / made.name
    shutil.copytree(made, copy)
    meta = json.loads((copy / "backup.json").read_text())
    meta.update(changes)
    (copy / "backup.json").write_text(json.dumps(meta))
    return copy


def sessions(applied: Apply) -> int:
    return sum(len(dropletfs.read_log(applied.root(n))) for n in MEMBERS)


def stops(applied: Apply) -> list[bool]:
    return [bool(units.restarts(applied.root(n)).get("etcd.service", {}).get("stopped"))
            for n in MEMBERS]


@pytest.mark.parametrize("damage, words", [
    ("truncated", "truncated or replaced; nothing was changed"),
    ("malformed", "backup.json lacks or garbles: revision (a number)"),
    ("other cluster", "was taken of prod, not of do-cluster: not restoring it here"),
    ("not etcd", "etcdutl snapshot status failed (exit 1): Error: invalid database"),
])
def test_a_bad_backup_changes_nothing(applied: Apply, made: Path, tmp_path: Path, damage: str,
                                      words: str) -> None:
    tmp = tmp_path / "bad"
    tmp.mkdir()
    if damage == "truncated":
        bad = bad_copy(applied, made, tmp)
        snap = bad / "etcd-snapshot.db"
        snap.write_bytes(snap.read_bytes()[:100])
    elif damage == "malformed":
        bad = bad_copy(applied, made, tmp, revision="7")
    elif damage == "other cluster":
        bad = bad_copy(applied, made, tmp, cluster="prod")
    else:  # consistent here (size and sha256 recorded), refused by etcdutl on the members
        bad = bad_copy(applied, made, tmp)
        snap = bad / "etcd-snapshot.db"
        snap.write_bytes(b"not an etcd database at all, but recorded as the snapshot" * 10)
        meta = json.loads((bad / "backup.json").read_text())
        meta.update(archive_bytes=snap.stat().st_size,
                    archive_sha256=hashlib.sha256(snap.read_bytes()).hexdigest())
        (bad / "backup.json").write_text(json.dumps(meta))
    before, ssh = {n: applied.etcd3_keys(n) for n in MEMBERS}, sessions(applied)
    proc = applied.make("restore", BACKUP=str(bad), FORCE="1", check=False)
    assert proc.returncode != 0
    assert words in proc.stderr, proc.stderr
    assert "nothing was" in proc.stderr
    assert stops(applied) == [False, False, False]
    assert {n: applied.etcd3_keys(n) for n in MEMBERS} == before
    if damage == "not etcd":  # refused on the first member, which keeps serving
        assert applied.status_layer("etcd-members")["status"] == "OK"
    else:  # refused here: not one ssh session
        assert sessions(applied) == ssh


def test_a_lost_member_is_replaced_alone(applied: Apply) -> None:
    """Issue 18 row 1, the current profile's hooks: a member's droplet deleted by hand; make
    status names it, make etcd replaces just it (member remove, member add, its settings with
    initial-cluster-state existing), it gets the cluster's data, and make controller finds the
    controller current (created with the membership before)."""
    victim = MEMBERS[1]
    gone = applied.droplets()[victim]["id"]
    applied.doctl("compute", "droplet", "delete", str(gone), "--force")
    seen = applied.status_layer("etcd-members")
    assert seen["status"] == "WARN" and f"bring back {victim}" in str(seen["detail"]), seen
    others = {n: r["id"] for n, r in applied.droplets().items()}
    out = applied.make("etcd")
    text = out.stdout + out.stderr
    assert f"replaced: {victim}" in text and "removing the lost member" in text
    now = applied.droplets()
    assert now[victim]["id"] != gone
    assert {n: now[n]["id"] for n in others} == others
    env = (applied.root(victim) / "etc/etcd-cluster.env").read_text()
    assert "ETCD_INITIAL_CLUSTER_STATE=existing" in env
    seen = applied.status_layer("etcd-members")
    assert seen["status"] == "OK" and "3 of 3" in str(seen["detail"]), seen
    assert applied.etcd3_keys(victim) == applied.etcd3_keys(MEMBERS[0])
    again = applied.make("controller")
    assert "creating" not in (again.stdout + again.stderr)
    assert {n: r["id"] for n, r in applied.droplets().items() if n in others} == others


def test_status_fails_when_the_cluster_has_fewer_members_than_etcd_count(
        applied: Apply) -> None:
    """Issue 18 row 8: three healthy answers are not "OK" when the membership is smaller than
    ETCD_COUNT (a member removed, e.g. by an interrupted restore): make status says so."""
    import time

    from tests.standins import state

    data = state.load(applied.sim / "account.json")
    live = etcd3members.members_now(data, time.time())
    db = live[0].db()
    assert db is not None
    kept = db["members"]
    etcd3members.reconfigure(live, live[0], kept[:2])
    try:
        seen = applied.status_layer("etcd-members")
        assert seen["status"] == "FAIL", seen
        assert "the cluster has 2 member(s), ETCD_COUNT is 3" in str(seen["detail"])
    finally:
        etcd3members.reconfigure(live, live[0], kept)
    assert applied.status_layer("etcd-members")["status"] == "OK"
