"""etcd_count=3 (issue 12): a static etcd cluster rehearsed against the DigitalOcean stand-in.

All members are created in one call; each gets its own certificate (SAN: its private IP) and,
over ssh, its name and the initial cluster (ETCD_CLUSTER_ENV) that etcd2 waits for; every
proxy lists all members. Re-runs create nothing, a changed etcd_count is refused, destroy
removes every member."""

from __future__ import annotations

import json
import re
import stat
import tarfile
from pathlib import Path

import pytest

from tests.applying import Apply, cert_sans
from tests.baking import bake
from tests.standins import dropletfs

MEMBERS = ["do-cluster-etcd-01", "do-cluster-etcd-02", "do-cluster-etcd-03"]


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Apply:
    base = tmp_path_factory.mktemp("etcd-cluster")
    apply = Apply.create(bake(base / "bake", etcd_count="3", worker_count="2"), base / "sim")
    apply.make("etcd", "controller", "worker")
    return apply


def initial_cluster(apply: Apply) -> str:
    port = apply.settings()["ETCD_PEER_PORT"]
    return ",".join(f"{n}=https://{apply.droplets()[n]['sim']['private_ip']}:{port}"
                    for n in MEMBERS)


def status_json(apply: Apply) -> dict[str, object]:
    proc = apply.make("status", OUTPUT="json", check=False)
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def etcd_layer(apply: Apply) -> dict[str, object]:
    layers = status_json(apply)["layers"]
    assert isinstance(layers, list)
    return next(layer for layer in layers if layer["layer"] == "etcd")


def test_members_created_at_once_with_their_own_certificate_and_initial_cluster(
        applied: Apply) -> None:
    s = applied.settings()
    droplets = applied.droplets()
    assert sorted(n for n in droplets if "-etcd-" in n) == MEMBERS
    # one create call for all members (doctl posts each droplet: 3 + controller + 2 workers)
    assert applied.calls("POST /v2/droplets") == 6
    assert f"creating 3 droplet(s) in {s['REGION']} ({s['ETCD_SIZE']}, {s['IMAGE']}): " \
        f"{' '.join(MEMBERS)}" in applied.outputs[0]
    initial = initial_cluster(applied)
    assert (applied.cluster / "state/etcd-initial-cluster").read_text() == initial + "\n"
    for nn, name in enumerate(MEMBERS, start=1):
        rec = droplets[name]
        assert rec["tags"] == ["k8s-do:do-cluster", "k8s-do:do-cluster:etcd"]
        env = (applied.root(name) / s["ETCD_CLUSTER_ENV"].lstrip("/")).read_text()
        assert env == f"ETCD_NAME={name}\nETCD_INITIAL_CLUSTER={initial}\n"
        assert applied.owner(name, s["ETCD_CLUSTER_ENV"]) == "root:root"
        assert applied.mode(name, s["ETCD_CLUSTER_ENV"]) == 0o644
        cert = applied.cluster / f"pki/etcd-{nn:02d}.pem"
        assert cert_sans(cert) == {f"IP Address:{rec['sim']['private_ip']}"}
        on_droplet = applied.root(name) / s["ETCD_SSL_DIR"].lstrip("/") / "etcd.pem"
        assert on_droplet.read_bytes() == cert.read_bytes()
        sent = (applied.root(name) / "var/lib/dosim/user-data").read_text()
        assert "initial-cluster:" not in sent and f"EnvironmentFile={s['ETCD_CLUSTER_ENV']}" in sent
    for name in ("do-cluster-controller-01", "do-cluster-worker-01", "do-cluster-worker-02"):
        sent = (applied.root(name) / "var/lib/dosim/user-data").read_text()
        assert f'initial-cluster: "{initial}"' in sent


def test_status_shows_every_member_and_the_leader(applied: Apply) -> None:
    layer = etcd_layer(applied)
    assert layer["status"] == "OK", layer
    members = layer["members"]
    assert isinstance(members, list)
    assert [m["name"] for m in members] == MEMBERS
    assert all(m["health"] == "healthy" for m in members)
    assert [m["name"] for m in members if m["leader"]] == [layer["leader"]]
    text = applied.make("status", check=False).stderr
    assert re.search(r"\n  etcd +OK: 3 of 3 member\(s\) healthy, leader ", text), text


def test_rerun_creates_nothing_and_redelivers_nothing(applied: Apply) -> None:
    ids = {n: r["id"] for n, r in applied.droplets().items()}
    posts = applied.calls("POST /v2/droplets")
    out = applied.make("etcd", "controller", "worker").stderr
    assert {n: r["id"] for n, r in applied.droplets().items()} == ids
    assert applied.calls("POST /v2/droplets") == posts
    for name in MEMBERS:
        assert f"{name}: initial cluster already delivered" in out


@pytest.mark.parametrize("count", ["1", "5"])
def test_a_changed_etcd_count_is_refused(applied: Apply, count: str) -> None:
    settings = applied.cluster / "settings.env"
    text = settings.read_text()
    ids = {n: r["id"] for n, r in applied.droplets().items()}
    try:
        settings.write_text(text.replace("\nETCD_COUNT=3\n", f"\nETCD_COUNT={count}\n"))
        proc = applied.make("etcd", check=False)
    finally:
        settings.write_text(text)
    assert proc.returncode != 0
    assert (f"ETCD_COUNT={count} but the etcd cluster of do-cluster was formed with 3 member(s)"
            in proc.stderr)
    assert "members cannot be added or removed" in proc.stderr
    assert {n: r["id"] for n, r in applied.droplets().items()} == ids


def test_a_single_member_cluster_refuses_three(cluster_copy: Path, tmp_path: Path) -> None:
    apply = Apply.create(cluster_copy, tmp_path / "sim")
    apply.make("etcd")
    settings = cluster_copy / "settings.env"
    settings.write_text(settings.read_text().replace("\nETCD_COUNT=1\n", "\nETCD_COUNT=3\n"))
    proc = apply.make("etcd", check=False)
    assert proc.returncode != 0
    assert "ETCD_COUNT=3 but the etcd cluster of do-cluster was formed with 1 member(s)" \
        in proc.stderr
    assert list(apply.droplets()) == ["do-cluster-etcd-01"]


def test_backup_of_the_leader_into_private_files(applied: Apply) -> None:
    """make backup on the stand-in: the leader's key list, the synced write, the archive."""
    out = applied.make("backup").stderr
    backups = applied.cluster / "backups"
    (stamp,) = [p for p in backups.iterdir()]
    assert stat.S_IMODE(backups.stat().st_mode) == 0o700
    assert stat.S_IMODE(stamp.stat().st_mode) == 0o700
    assert sorted(p.name for p in stamp.iterdir()) == ["backup.json", "etcd2-data.tar.gz",
                                                       "keys.txt"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in stamp.iterdir())
    assert "/backups/" in (applied.cluster / ".gitignore").read_text().splitlines()
    meta = json.loads((stamp / "backup.json").read_text())
    leader = etcd_layer(applied)["leader"]
    assert meta["member"] == leader and meta["keys"] == 1  # flannel's network config
    # issue 20: the backup says whether it holds encrypted Secrets (1.1 cannot encrypt them)
    assert meta["encryption"]["secrets_encrypted"] is False and "plain text" in out
    assert (stamp / "keys.txt").read_text() == \
        "/coreos.com/\n/coreos.com/network/\n/coreos.com/network/config\n"
    with tarfile.open(stamp / "etcd2-data.tar.gz") as archive:
        assert {"member/snap/db", "member/wal"} <= set(archive.getnames())
    assert f"etcd2-data.tar.gz  {meta['archive_bytes']} bytes" in out and "1 keys" in out
    assert not (applied.root(str(leader)) / "tmp/etcd2-backup").exists()
    sessions = [e["script"] for e in dropletfs.read_log(applied.root(str(leader)))
                if e.get("kind") == "session"]
    order = [next(i for i, c in enumerate(sessions) if word in c)
             for word in ("ls --recursive", "set /_k8s-do/backup", "etcdctl backup")]
    assert order == sorted(order)


def test_restore_asks_first_and_needs_a_backup(applied: Apply) -> None:
    (stamp,) = list((applied.cluster / "backups").iterdir())
    before = [dropletfs.read_log(applied.root(n)) for n in MEMBERS]
    missing = applied.make("restore", check=False)
    assert missing.returncode != 0 and "which backup? e.g. the latest: make restore " \
        f"BACKUP=backups/{stamp.name} " in missing.stderr
    wrong = applied.make("restore", BACKUP="backups/nope", check=False)
    assert wrong.returncode != 0 and "not a backup made by make backup" in wrong.stderr
    refused = applied.make("restore", BACKUP=f"backups/{stamp.name}", check=False)
    assert refused.returncode != 0
    assert "no terminal to confirm on; run 'make restore BACKUP=" in refused.stderr
    assert [dropletfs.read_log(applied.root(n)) for n in MEMBERS] == before  # nothing ran


def test_restore_reforms_the_cluster_from_the_backup(applied: Apply) -> None:
    """make restore FORCE=1 on the stand-in: etcd2 stopped everywhere, the founder unpacked and
    started with --force-new-cluster, then normally, its peer URL set; the others re-added."""
    s = applied.settings()
    (stamp,) = list((applied.cluster / "backups").iterdir())
    out = applied.make("restore", BACKUP=f"backups/{stamp.name}", FORCE="1").stderr
    assert "keys: 1 now; the backup listed 1" in out
    founder = applied.root(MEMBERS[0])
    assert (founder / "var/lib/etcd2/member/snap/db").is_file()
    assert applied.owner(MEMBERS[0], "/var/lib/etcd2/member/snap/db") == "etcd:etcd"
    assert applied.mode(MEMBERS[0], "/var/lib/etcd2") == 0o700
    assert not (founder / "run/systemd/system/etcd2.service.d/90-force-new-cluster.conf").exists()
    port = s["ETCD_PEER_PORT"]
    for nn, name in enumerate(MEMBERS[1:], start=2):
        env = (applied.root(name) / s["ETCD_CLUSTER_ENV"].lstrip("/")).read_text()
        joined = ",".join(f"{n}=https://{applied.droplets()[n]['sim']['private_ip']}:{port}"
                          for n in MEMBERS[:nn])
        assert env == (f"ETCD_NAME={name}\nETCD_INITIAL_CLUSTER={joined}\n"
                       "ETCD_INITIAL_CLUSTER_STATE=existing\n")
    for name in MEMBERS:
        sessions = [e["script"] for e in dropletfs.read_log(applied.root(name))
                    if e.get("kind") == "session"]
        assert any("systemctl stop etcd2" in c for c in sessions), name
    layer = etcd_layer(applied)
    assert layer["status"] == "OK", layer
    assert [m["name"] for m in layer["members"]] == MEMBERS  # type: ignore[union-attr]
    # a later make etcd keeps the re-formed cluster as it is
    rerun = applied.make("etcd").stderr
    assert all(f"{n}: initial cluster already delivered" in rerun for n in MEMBERS)


def test_one_member_lost_keeps_the_quorum_then_destroy_removes_all(applied: Apply) -> None:
    """Runs last in this module: it deletes a member, then the cluster."""
    lost = applied.droplets()[MEMBERS[2]]["id"]
    applied.doctl("compute", "droplet", "delete", str(lost), "--force")
    layer = etcd_layer(applied)
    assert layer["status"] == "WARN", layer
    assert "2 of 3 member(s) healthy" in str(layer["detail"])
    members = {m["name"]: m for m in layer["members"]}  # type: ignore[union-attr]
    assert members[MEMBERS[2]]["health"] == "unreachable"
    assert layer["leader"] in MEMBERS[:2]

    applied.make("destroy", FORCE="1")
    assert applied.droplets() == {}
    assert applied.account()["firewalls"] == {}
    pki = applied.cluster / "pki"
    assert not list(pki.glob("etcd-*.pem"))
    assert not (applied.cluster / "state/etcd-initial-cluster").exists()
