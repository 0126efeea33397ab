"""Issue 19 items 1 and 3, issue 18 rows 2 and 8, on the real etcd: the very remote command
texts of the current profile's scripts/lib/etcd3.sh (make status, make backup, make restore)
run against three members started from the rendered unit (tests/integration/
current_etcd_cluster.py), following etcd's v3 disaster recovery guide
(https://etcd.io/docs/v3.6/op-guide/recovery/): `etcdctl snapshot save` from the leader over
mTLS, `snapshot status`, every member's data dir restored beside the live one from the same
snapshot with its name, the initial cluster and token and its peer URL, then etcd stopped,
the data dirs switched (the old one kept aside), started: every key and value as before. A
truncated snapshot is refused on every member before anything stops.

What stands in for the droplet: `sudo` runs its command as this user (skipping `chown`: no
such user here), systemd's stop/start of etcd is this test stopping and starting the member's
process; paths (data dir, PKI dir, the login user's home) are the test's. etcd 3.4 has no
etcdutl: its `etcdctl snapshot status` and `snapshot restore` are the same commands with the
same flags (etcd v3.4 etcdctl/README.md; etcdutl/README.md of v3.6: "snapshot restore ...
--name --initial-cluster --initial-cluster-token --initial-advertise-peer-urls --data-dir"),
so ETCD3_ETCDUTL is 3.4's etcdctl here."""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.current_etcd_cluster import CurrentEtcd, Member

SUDO = 'sudo() { if [[ "$1" == chown ]]; then return 0; fi; "$@"; }; '


def lib(etcd: CurrentEtcd, member: Member, call: str) -> str:
    """A library function's output in the cluster repo, with the member's paths and 3.4's
    programs in place of the droplet's."""
    sets = {"ETCD3_ETCDCTL": etcd.etcdctl_bin, "ETCD3_ETCDUTL": etcd.etcdctl_bin,
            "ETCD_PKI_DIR": str(member.pki), "ETCD3_DATA_DIR": str(member.data_dir),
            "SSH_USER": os.environ.get("USER", "root")}
    script = ("set -euo pipefail; source scripts/lib/common.sh; "
              + "".join(f"{k}={shlex.quote(v)}; " for k, v in sets.items()) + call)
    return subprocess.run(["bash", "-c", script], cwd=etcd.cluster, capture_output=True,
                          text=True, check=True, env={"PATH": os.environ["PATH"]}).stdout


def on_member(command: str, home: Path) -> subprocess.CompletedProcess[str]:
    """A remote command text as ssh runs it on the member (bash -c in the login home)."""
    home.mkdir(exist_ok=True)
    return subprocess.run(["bash", "-c", SUDO + command], cwd=home, capture_output=True,
                          text=True, timeout=120, check=False,
                          env={"PATH": os.environ["PATH"], "ETCDCTL_API": "3"})


def keyspace(etcd: CurrentEtcd, member: Member) -> dict[str, str]:
    got = etcd.ctl(member, "get", "", "--prefix", "-w", "json")
    assert got.returncode == 0, got
    return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv["value"]).decode()
            for kv in json.loads(got.stdout).get("kvs", [])}


def until(check: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def written(current_etcd3: CurrentEtcd) -> dict[str, str]:
    """What a cluster holds: namespaces, an encrypted-looking secret, flannel's config."""
    first = current_etcd3.members[0]
    keys = {f"/registry/namespaces/ns-{i:02d}": json.dumps({"kind": "Namespace", "n": i})
            for i in range(30)}
    keys["/registry/secrets/default/token"] = "k8s:enc:aescbc:v1:key1:opaque"
    keys["/registry/configmaps/kube-flannel/cfg"] = '{"Network":"10.2.0.0/16"}'
    for key, value in keys.items():
        assert current_etcd3.ctl(first, "put", key, value).returncode == 0
    return keyspace(current_etcd3, first)


def homes(etcd: CurrentEtcd) -> dict[str, Path]:
    return {m.name: etcd.work / f"{m.name}-home" for m in etcd.members}


def test_status_sees_every_member_its_health_and_the_leader(current_etcd3: CurrentEtcd) -> None:
    first = current_etcd3.members[0]
    url, home = first.client, homes(current_etcd3)[first.name]

    def members() -> list[dict[str, object]]:
        outs = [on_member(lib(current_etcd3, first, f"{fn} {url}"), home).stdout
                for fn in ("etcd3_member_list_cmd", "etcd3_health_cmd", "etcd3_status_cmd")]
        return json.loads(lib(current_etcd3, first, "etcd3_members " + " ".join(
            shlex.quote(o) for o in outs)))  # type: ignore[no-any-return]

    seen = members()
    assert sorted(m["name"] for m in seen) == [m.name for m in current_etcd3.members]  # type: ignore[type-var]
    assert all(m["healthy"] for m in seen) and sum(bool(m["leader"]) for m in seen) == 1
    assert {m["version"] for m in seen} == {"3.4.23"} or all(m["version"] for m in seen)
    down = current_etcd3.members[-1]
    current_etcd3.stop(down)
    try:
        seen = members()  # a stopped member refuses connections: unhealthy at once
        assert len(seen) == 3  # still a member, unhealthy: counted against ETCD_COUNT
        gone = next(m for m in seen if m["name"] == down.name)
        assert not gone["healthy"] and gone["error"] and not gone["leader"]
        assert sum(bool(m["healthy"]) for m in seen) == 2
    finally:
        current_etcd3.start(down)
        current_etcd3.wait_healthy(down)


def snapshot(etcd: CurrentEtcd, tmp_path: Path) -> tuple[Path, dict[str, int], int, int]:
    """make backup's commands on the leader: save, status, the key and secret counts."""
    leader = etcd.leader(etcd.members[0])
    assert leader is not None
    home = homes(etcd)[leader.name]
    name = lib(etcd, leader, 'echo "$ETCD3_SNAPSHOT"').strip()
    saved = on_member(lib(etcd, leader, f"etcd3_snapshot_save_cmd {leader.client} {name}"), home)
    assert saved.returncode == 0, saved.stderr
    status = on_member(lib(etcd, leader, f"etcd3_snapshot_status_cmd {name}"), home)
    assert status.returncode == 0, status.stderr
    snap = json.loads(status.stdout)
    counts = []
    for prefix in ("''", "/registry/secrets/"):
        out = on_member(lib(etcd, leader, f"etcd3_count_cmd {leader.client} {snap['revision']} "
                                          f"{prefix}"), home)
        assert out.returncode == 0, out.stderr
        counts.append(json.loads(out.stdout))
    secret = base64.b64decode(counts[1]["kvs"][0]["value"]).decode()
    assert secret.startswith("k8s:enc:")  # backup.json's secrets_encrypted reads this
    kept = tmp_path / name
    kept.write_bytes((home / name).read_bytes())
    return kept, snap, counts[0]["count"], counts[1]["count"]


def restore_on_every_member(etcd: CurrentEtcd, archive: Path
                            ) -> list[subprocess.CompletedProcess[str]]:
    """make restore's part before any stop: each member's copy checked and restored beside."""
    initial = ",".join(f"{m.name}={m.peer}" for m in etcd.members)
    name = archive.name
    results = []
    for m in etcd.members:
        home = homes(etcd)[m.name]
        home.mkdir(exist_ok=True)
        (home / name).write_bytes(archive.read_bytes())
        results.append(on_member(lib(etcd, m, f"etcd3_snapshot_status_cmd {name}"), home))
        results.append(on_member(lib(etcd, m, f"etcd3_restore_cmd {name} {m.name} "
                                              f"{initial} {m.peer}"), home))
    return results


def test_a_truncated_snapshot_is_refused_on_every_member_which_keeps_serving(
        current_etcd3: CurrentEtcd, written: dict[str, str], tmp_path: Path) -> None:
    archive, _, _, _ = snapshot(current_etcd3, tmp_path)
    bad = tmp_path / "bad" / archive.name
    bad.parent.mkdir()
    bad.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    results = restore_on_every_member(current_etcd3, bad)
    restores = results[1::2]
    assert all(r.returncode != 0 for r in restores), [r.stderr[-300:] for r in restores]
    for m in current_etcd3.members:
        assert m.proc is not None and m.proc.poll() is None, m.name
        assert keyspace(current_etcd3, m) == written, m.name
    first = current_etcd3.members[0]
    assert current_etcd3.ctl(first, "endpoint", "health", "--cluster").returncode == 0


def test_backup_restore_round_trip_gives_back_every_key_and_value(
        current_etcd3: CurrentEtcd, written: dict[str, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    etcd = current_etcd3
    before = keyspace(etcd, etcd.members[0])
    archive, snap, keys, secrets = snapshot(etcd, tmp_path)
    assert keys == len(before) and secrets == 1
    first = etcd.members[0]
    # after the backup: a key changed, one deleted, one added; the restore undoes all three
    assert etcd.ctl(first, "put", "/registry/namespaces/ns-00", "changed").returncode == 0
    assert etcd.ctl(first, "del", "/registry/namespaces/ns-01").returncode == 0
    assert etcd.ctl(first, "put", "/registry/late", "x").returncode == 0

    results = restore_on_every_member(etcd, archive)
    for r in results:
        assert r.returncode == 0, r.stderr[-500:]
    for status in results[0::2]:
        got = json.loads(status.stdout)
        assert (got["hash"], got["revision"]) == (snap["hash"], snap["revision"])
    for m in etcd.members:  # systemctl stop etcd on every member
        etcd.stop(m)
    for m in etcd.members:
        swap = on_member(lib(etcd, m, "etcd3_swap_cmd"), homes(etcd)[m.name])
        assert swap.returncode == 0, swap.stderr
        assert Path(f"{m.data_dir}.before-restore").is_dir()
    for m in etcd.members:  # systemctl start --no-block etcd
        etcd.start(m)
    for m in etcd.members:
        etcd.wait_healthy(m)
    until(lambda: etcd.ctl(first, "endpoint", "health", "--cluster").returncode == 0)
    after = {m.name: keyspace(etcd, m) for m in etcd.members}
    for name, got in after.items():
        assert got == before, name
    for m in etcd.members:
        drop = on_member(lib(etcd, m, "etcd3_drop_aside_cmd"), homes(etcd)[m.name])
        assert drop.returncode == 0 and not Path(f"{m.data_dir}.before-restore").exists()
    with capsys.disabled():
        print(f"\n[current backup/restore] snapshot {archive.stat().st_size} bytes, revision "
              f"{snap['revision']}, {keys} keys ({secrets} secret); after restore "
              f"{len(before)} keys with the same values on each of {len(after)} members")
