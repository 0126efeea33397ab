"""Issue 12 row 3: `make backup` / `make restore` on the real etcd 3.4 (v2 API). The very
command texts scripts/lib/etcdbackup.sh builds for the droplets run here against a 3-member
cluster started from the rendered user data and the delivered initial cluster
(tests/integration/etcd_cluster.py): the leader's key list, a synced write (without it the
last write's commit sat in the WAL's unsynced buffer and the restore lost it: found here),
`etcdctl backup` of its live data dir streamed as a tar.gz, then every member stopped and
wiped, the archive unpacked into the first member's data dir, etcd started once with the
restore drop-in's ETCD_FORCE_NEW_CLUSTER, then
normally, its peer URL updated, the two others added back (member add + their re-join
environment). Every key comes back with its value.

What stands in for the droplet: `sudo` runs its command as this user (and skips `chown -R
etcd:etcd`: there is no etcd user here); systemd's stop/start of etcd2 is this test stopping
and starting the etcd process with the environment the units and drop-ins define; paths
(ETCD_DATA_DIR, the scratch dir) and the loopback client port are the test's."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.integration.etcd_cluster import EtcdCluster, parse_env_file
from tests.integration.support import stop
from tests.integration.test_etcd import etcdctl_v2, node_tls
from tests.integration.test_etcd_cluster import healthy_members, members_of, retry

SUDO = 'sudo() { if [[ "$1" == chown ]]; then return 0; fi; "$@"; }; '


def lib(cluster: Path, call: str, **overrides: str) -> str:
    """The output of a library call in the cluster repo, after overriding variables."""
    sets = "".join(f"{k}={shlex.quote(v)}; " for k, v in overrides.items())
    env = {"PATH": os.environ["PATH"], **{k: v for k, v in overrides.items()
                                          if k in ("ETCD_DATA_DIR", "ETCD_BACKUP_TMP")}}
    return subprocess.run(["bash", "-c", f"set -euo pipefail; source scripts/lib/common.sh; "
                           f"{sets}{call}"], cwd=cluster, env=env, capture_output=True,
                          text=True, check=True).stdout


def on_droplet(command: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """A remote command text as ssh runs it on the member (bash -c), sudo standing in."""
    return subprocess.run(["bash", "-c", SUDO + command], cwd=cwd, capture_output=True,
                          env={"PATH": os.environ["PATH"], "ETCDCTL_API": "2"}, timeout=120,
                          check=False)


def store(url: str) -> dict[str, str]:
    """Every key of the v2 store with its value (GET /v2/keys/?recursive=true)."""
    with urllib.request.urlopen(f"{url}/v2/keys/?recursive=true", timeout=10) as r:  # noqa: S310
        root = json.load(r)["node"]
    out: dict[str, str] = {}

    def walk(node: dict[str, Any]) -> None:
        for child in node.get("nodes", []):
            if child.get("dir"):
                walk(child)
            else:
                out[child["key"]] = child["value"]

    walk(root)
    return out


def test_backup_wipe_restore_gives_back_every_key(
        three: EtcdCluster, etcdctl_bin: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    cluster = three.cluster
    three.prepare()
    for m in three.members:
        three.start(m)
    for m in three.members:
        three.wait_healthy(m)
    tls = node_tls(cluster, tmp_path)
    # what a cluster holds: flannel's config, apiserver objects, a lease directory, an empty dir
    writes = [("/coreos.com/network/config", '{"Network":"10.2.0.0/16"}'),
              *((f"/registry/namespaces/ns-{i:02d}", json.dumps({"kind": "Namespace", "n": i}))
                for i in range(40)),
              ("/coreos.com/network/subnets/10.2.7.0-24", '{"PublicIP":"10.0.0.2"}')]
    entry = three.members[0].loopback
    for key, value in writes:
        assert etcdctl_v2(etcdctl_bin, entry, "--no-sync", "set", key, value).returncode == 0
    assert etcdctl_v2(etcdctl_bin, entry, "--no-sync", "mkdir", "/registry/empty").returncode == 0
    # make backup takes the leader's data dir (backup.sh: it has persisted every commit)
    leader = next(m["name"] for m in members_of(etcdctl_bin, entry, tls) if m["leader"] == "true")
    first = next(m for m in three.members if m.name == leader)
    three.members.remove(first)
    three.members.insert(0, first)  # the restore's founder: the first member; here the leader
    before = store(first.loopback)
    assert len(before) == len(writes)

    port = first.loopback.rsplit(":", 1)[1]
    member_env = {"ETCD_DATA_DIR": str(first.data_dir),
                  "ETCD_BACKUP_TMP": str(tmp_path / "scratch-backup"),
                  "ETCD_CLIENT_PORT": port}
    home = tmp_path / "home"
    home.mkdir()
    # backup.sh's order: the key list, the synced write, the copy of the live data dir
    listed = on_droplet(lib(cluster, "etcd_keys_cmd", **member_env), home)
    assert listed.returncode == 0, listed.stderr.decode()
    key_list = tmp_path / "backups" / "keys.txt"
    key_list.parent.mkdir()
    key_list.write_bytes(listed.stdout)
    synced = on_droplet(lib(cluster, "etcd_sync_cmd 20261127T000000Z", **member_env), home)
    assert synced.returncode == 0, synced.stderr.decode()
    backup = on_droplet(lib(cluster, "etcd_backup_cmd", **member_env), home)
    assert backup.returncode == 0, backup.stderr.decode()
    archive = tmp_path / "backups" / "etcd2-data.tar.gz"
    archive.write_bytes(backup.stdout)
    assert not (tmp_path / "scratch-backup").exists()
    backup_keys = int(lib(cluster, f"key_count <{shlex.quote(str(key_list))}").strip())
    assert backup_keys == len(before)

    # the disaster: every member stopped, every data dir gone
    for m in three.members:
        assert m.proc is not None
        stop(m.proc)
        subprocess.run(["rm", "-rf", str(m.data_dir)], check=True)

    # make restore: the founder from the archive, --force-new-cluster once, then normally
    (home / "etcd2-data.tar.gz").write_bytes(archive.read_bytes())
    unpack = on_droplet(lib(cluster, "etcd_unpack_cmd", **member_env), home)
    assert unpack.returncode == 0, unpack.stderr.decode()
    dropin = lib(cluster, "etcd_restore_dropin")
    force = dict(line.removeprefix("Environment=").split("=", 1)
                 for line in dropin.splitlines() if line.startswith("Environment="))
    assert force == {"ETCD_FORCE_NEW_CLUSTER": "true"}
    three.start(first, **force)
    three.wait_healthy(first)
    assert first.proc is not None
    stop(first.proc)
    three.start(first)
    three.wait_healthy(first)
    listing = on_droplet(lib(cluster, "etcd_local_cmd member list", **member_env), home)
    member_id = listing.stdout.decode().split(":", 1)[0]
    assert "peerURLs=http://localhost:2380" in listing.stdout.decode()  # the guide's warning
    url = first.env["ETCD_INITIAL_ADVERTISE_PEER_URLS"]
    update = on_droplet(lib(cluster, f"etcd_local_cmd member update {member_id} {url}",
                            **member_env), home)
    assert update.returncode == 0, update
    initial = f"{first.name}={url}"
    for m in three.members[1:]:
        peer = m.env["ETCD_INITIAL_ADVERTISE_PEER_URLS"]
        add = retry(lambda m=m, peer=peer: on_droplet(
            lib(cluster, f"etcd_local_cmd member add {m.name} {peer}", **member_env), home),
            lambda r: r.returncode == 0)  # type: ignore[attr-defined]
        assert add.returncode == 0, add  # type: ignore[attr-defined]
        initial += f",{m.name}={peer}"
        rejoin = parse_env_file(lib(cluster, f"etcd_rejoin_env {m.name} {initial}"))
        assert rejoin["ETCD_INITIAL_CLUSTER_STATE"] == "existing"
        m.env.update(rejoin)
        three.start(m)
        three.wait_healthy(m)

    health = retry(lambda: etcdctl_v2(etcdctl_bin, first.loopback, "cluster-health", tls=tls),
                   lambda r: healthy_members(r) == 3)
    assert healthy_members(health) == 3, health
    after = {m.name: store(m.loopback) for m in three.members}
    for name, keys in after.items():
        assert keys == before, name
    relisted = on_droplet(lib(cluster, "etcd_keys_cmd", **member_env), home)
    (tmp_path / "relisted.txt").write_bytes(relisted.stdout)
    restored_keys = int(lib(cluster, f"key_count <{tmp_path / 'relisted.txt'}").strip())
    assert restored_keys == backup_keys
    assert relisted.stdout.splitlines() and \
        sorted(relisted.stdout.splitlines()) == sorted(key_list.read_bytes().splitlines())
    assert b"/registry/empty/" in relisted.stdout
    with capsys.disabled():
        print(f"\n[backup/restore] keys before {len(before)}, in the backup's list {backup_keys},"
              f" after restore {restored_keys} (same values on each of "
              f"{len(after)} members); archive {archive.stat().st_size} bytes")


def run_lib(cluster: Path, call: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A library call in the cluster repo that may fail (its exit status and message)."""
    script = f"set -euo pipefail; source scripts/lib/common.sh; {call}"
    return subprocess.run(["bash", "-c", script], cwd=cluster,
                          env={"PATH": os.environ["PATH"], **env}, capture_output=True,
                          text=True, check=False)


def test_a_bad_archive_leaves_every_member_serving(
        three: EtcdCluster, etcdctl_bin: str, tmp_path: Path) -> None:
    """Issue 18 High 2 on the real etcd 3.4: make restore's checks before the stop, in its
    order (backup_archive_verify here, then etcd_archive_check_cmd on each member's copy with
    the real gzip, tar and sha256sum), pass the real `etcdctl backup` archive and refuse a
    truncated one, one with a ../ entry and a copy damaged in transit, while all three members
    keep serving every key."""
    cluster = three.cluster
    three.prepare()
    for m in three.members:
        three.start(m)
    for m in three.members:
        three.wait_healthy(m)
    tls = node_tls(cluster, tmp_path)
    first = three.members[0]
    assert etcdctl_v2(etcdctl_bin, first.loopback, "--no-sync", "set", "/k", "v").returncode == 0
    before = store(first.loopback)
    member_env = {"ETCD_DATA_DIR": str(first.data_dir),
                  "ETCD_BACKUP_TMP": str(tmp_path / "scratch"),
                  "ETCD_CLIENT_PORT": first.loopback.rsplit(":", 1)[1]}
    home = tmp_path / "home"
    home.mkdir()
    backup = on_droplet(lib(cluster, "etcd_backup_cmd", **member_env), home)
    assert backup.returncode == 0, backup.stderr.decode()
    good = tmp_path / "good.tar.gz"
    good.write_bytes(backup.stdout)
    layout = "member '^member/snap/' '^member/wal/[^/]+\\.wal$'"
    verified = run_lib(cluster, f"backup_archive_verify {good} {layout}")
    assert verified.returncode == 0, verified.stderr  # the real layout passes

    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(backup.stdout[: len(backup.stdout) // 2])
    escaping = tmp_path / "escaping.tar.gz"
    subprocess.run(["tar", "-czf", str(escaping), "-C", str(tmp_path / "home"), "-P",
                    "--transform", "s|^|member/../../|", "."], check=True)
    for bad, reason in ((truncated, "is damaged (gzip -t fails"),
                        (escaping, "has an entry leaving its directory (member/../../")):
        refused = run_lib(cluster, f"backup_archive_verify {bad} {layout}")
        assert refused.returncode != 0 and reason in refused.stderr, refused.stderr

    sha = hashlib.sha256(good.read_bytes()).hexdigest()
    check = lib(cluster, f"etcd_archive_check_cmd {sha}").strip()
    (home / "etcd2-data.tar.gz").write_bytes(good.read_bytes())
    assert on_droplet(check, home).returncode == 0
    (home / "etcd2-data.tar.gz").write_bytes(good.read_bytes()[:-100])  # damaged in transit
    assert on_droplet(check, home).returncode != 0

    health = etcdctl_v2(etcdctl_bin, first.loopback, "cluster-health", tls=tls)
    assert healthy_members(health) == 3, health
    for m in three.members:
        assert store(m.loopback) == before, m.name
