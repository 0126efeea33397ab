"""Issue 18, High 2 and rows 8, 13: make restore checks a backup before it stops anything.

On a 3-member etcd cluster of the stand-ins: a damaged, hostile or foreign backup (truncated,
an entry leaving its directory, a link, the wrong layout, another cluster's, a malformed
backup.json) is refused with the reason before any command reaches a member; a backup dir
with a colon is copied as a local path; a failure after the stop prints the way back, which
works, because the data dirs were kept aside. backup.json records the cluster, the etcd
version and the member and key counts; make status compares the member count with ETCD_COUNT.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.applying import Apply
from tests.baking import bake
from tests.standins import dropletfs

MEMBERS = ["do-cluster-etcd-01", "do-cluster-etcd-02", "do-cluster-etcd-03"]


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory: pytest.TempPathFactory) -> tuple[Apply, Path]:
    """A 3-member etcd cluster (and the controller that sets the flannel key) with a backup."""
    base = tmp_path_factory.mktemp("restore-checks")
    apply = Apply.create(bake(base / "bake", etcd_count="3", worker_count="1"), base / "sim")
    apply.make("etcd", "controller")
    apply.make("backup")
    (stamp,) = list((apply.cluster / "backups").iterdir())
    return apply, stamp


def sessions(apply: Apply) -> list[int]:
    return [len(dropletfs.read_log(apply.root(n))) for n in MEMBERS]


def forge(apply: Apply, good: Path, name: str, entries: list[tarfile.TarInfo] | None = None,
          raw: bytes | None = None, **meta: object) -> str:
    """backups/<name>: the good backup with another archive (its sha256 recorded) or meta."""
    dest = apply.cluster / "backups" / name
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(good, dest)
    if entries is not None:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for info in entries:
                data = b"x" if info.isfile() else None
                if data is not None:
                    info.size = len(data)
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
        raw = buffer.getvalue()
    document = json.loads((good / "backup.json").read_text())
    if raw is not None:
        (dest / "etcd2-data.tar.gz").write_bytes(raw)
        document["archive_sha256"] = hashlib.sha256(raw).hexdigest()
    document.update(meta)
    (dest / "backup.json").write_text(json.dumps(document))
    return f"backups/{name}"


def entry(name: str, kind: bytes = tarfile.REGTYPE, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    if kind == tarfile.DIRTYPE:
        info.mode = 0o700
    return info


LAYOUT = [entry("member", tarfile.DIRTYPE), entry("member/snap", tarfile.DIRTYPE),
          entry("member/snap/db"), entry("member/wal", tarfile.DIRTYPE),
          entry("member/wal/0000000000000000-0000000000000000.wal")]


def test_backup_records_cluster_version_and_counts(backed_up: tuple[Apply, Path]) -> None:
    apply, stamp = backed_up
    meta = json.loads((stamp / "backup.json").read_text())
    assert meta["cluster"] == "do-cluster"
    assert meta["etcd_version"] == "2.2.3"  # the stand-in's etcdctl --version
    assert meta["members"] == 3 and meta["keys"] == 1
    assert meta["archive_sha256"] == hashlib.sha256(
        (stamp / "etcd2-data.tar.gz").read_bytes()).hexdigest()


def test_status_compares_the_member_count_with_etcd_count(
        backed_up: tuple[Apply, Path]) -> None:
    apply, _ = backed_up
    settings = apply.cluster / "settings.env"
    text = settings.read_text()
    try:
        settings.write_text(text.replace("\nETCD_COUNT=3\n", "\nETCD_COUNT=5\n"))
        out = apply.make("status", check=False).stderr
    finally:
        settings.write_text(text)
    assert re.search(r"etcd +WARN: 3 of 3 member\(s\) healthy, leader do-cluster-etcd-01, but "
                     "ETCD_COUNT=5: the membership differs", out), out


def bad_backups(apply: Apply, good: Path) -> dict[str, tuple[str, str]]:
    whole = (good / "etcd2-data.tar.gz").read_bytes()
    return {
        "truncated": (forge(apply, good, "truncated", raw=whole[: len(whole) // 2]),
                      "is damaged (gzip -t fails: truncated or not gzip)"),
        "swapped": (forge(apply, good, "swapped", archive_sha256="0" * 64),
                    "is not the archive backup.json recorded (sha256 differs)"),
        "dotdot": (forge(apply, good, "dotdot", [*LAYOUT, entry("member/../../etc/passwd")]),
                   "has an entry leaving its directory (member/../../etc/passwd)"),
        "absolute": (forge(apply, good, "absolute", [*LAYOUT, entry("/etc/cron.d/x")]),
                     "has an entry leaving its directory (/etc/cron.d/x)"),
        "link": (forge(apply, good, "link", [*LAYOUT, entry("member/l", tarfile.SYMTYPE,
                                                             "/etc")]),
                 "holds a link or special file"),
        "layout": (forge(apply, good, "layout", LAYOUT[:3]),
                   "lacks an entry matching ^member/wal/[^/]+\\.wal$"),
        "outside": (forge(apply, good, "outside", [*LAYOUT, entry("notes.txt")]),
                    "has an entry outside member/ (notes.txt)"),
        "other": (forge(apply, good, "other", cluster="prod"),
                  "was taken of prod, not of do-cluster: not restoring it here"),
        "unnamed": (forge(apply, good, "unnamed", cluster=None),
                    "backup.json lacks or garbles: cluster (a name)"),
        "keys": (forge(apply, good, "keys", keys="many"), "lacks or garbles: keys (a number)"),
    }


def test_a_bad_backup_is_refused_before_anything_reaches_a_member(
        backed_up: tuple[Apply, Path]) -> None:
    apply, good = backed_up
    before = sessions(apply)
    for kind, (path, reason) in bad_backups(apply, good).items():
        proc = apply.make("restore", BACKUP=path, FORCE="1", check=False)
        assert proc.returncode != 0, kind
        assert reason in proc.stderr and "nothing was changed" in proc.stderr, (kind, proc.stderr)
    garbled = apply.cluster / "backups/garbled"
    shutil.copytree(good, garbled)
    (garbled / "backup.json").write_text("{not json")
    proc = apply.make("restore", BACKUP="backups/garbled", FORCE="1", check=False)
    assert "backups/garbled/backup.json is not a JSON object" in proc.stderr
    assert sessions(apply) == before


def test_another_clusters_backup_with_force_other_cluster_reaches_the_confirmation(
        backed_up: tuple[Apply, Path]) -> None:
    apply, _ = backed_up
    proc = apply.make("restore", BACKUP="backups/other", FORCE_OTHER_CLUSTER="1", check=False)
    assert "no terminal to confirm on" in proc.stderr
    assert "of prod, 3 member(s), etcd 2.2.3" in proc.stderr


def test_a_copy_damaged_on_a_member_stops_before_etcd_stops(
        backed_up: tuple[Apply, Path]) -> None:
    """The archive is checked on every member after the copy: a member whose copy differs
    (here: its home has a read-only file of that name left behind) stops the restore."""
    apply, good = backed_up
    home = apply.root(MEMBERS[2]) / "home/core"
    (home / "etcd2-data.tar.gz").write_bytes(b"left over")
    (home / "etcd2-data.tar.gz").chmod(0o400)
    try:
        proc = apply.make("restore", BACKUP=f"backups/{good.name}", FORCE="1", check=False)
    finally:
        (home / "etcd2-data.tar.gz").unlink()
    assert proc.returncode != 0
    assert "nothing was stopped or changed" in proc.stderr, proc.stderr
    for name in MEMBERS:
        log = dropletfs.read_log(apply.root(name))
        assert not any("systemctl stop etcd2" in e.get("script", "") for e in log), name


def test_a_failure_after_the_stop_prints_the_way_back_which_works(
        backed_up: tuple[Apply, Path]) -> None:
    """An archive of the right shape that etcd cannot start from (no snap/db): the founder's
    --force-new-cluster start fails after every member stopped. The printed commands put the
    kept data dirs back and every member serves again."""
    apply, good = backed_up
    for name in MEMBERS:  # a running member's data dir (the stand-in derives its store)
        data = apply.root(name) / "var/lib/etcd2/member/snap"
        data.mkdir(parents=True, exist_ok=True)
        (data / "db").write_text(f"{name}'s data\n")
    path = forge(apply, good, "nodb", [e for e in LAYOUT if e.name != "member/snap/db"])
    proc = apply.make("restore", BACKUP=path, FORCE="1", check=False, APPLY_TIMEOUT_SECONDS="3")
    assert proc.returncode != 0
    assert "get back to the data before the restore" in proc.stderr
    assert (apply.root(MEMBERS[0]) / "var/lib/etcd2.before-restore").is_dir()
    way_back = proc.stderr.split("for each member in turn: ", 1)[1].strip().splitlines()[0]
    commands = [c.strip() for c in way_back.split(" ssh ")]
    assert len(commands) == 3
    for command in commands:
        option, known, target, script = command.removeprefix("ssh ").split(" ", 3)
        done = subprocess.run(["ssh", "-i", apply.env["SSH_IDENTITY_FILE"], option, known,
                               target, script.strip("'")], cwd=apply.cluster, env=apply.env,
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    for name in MEMBERS:
        db = apply.root(name) / "var/lib/etcd2/member/snap/db"
        assert db.read_text() == f"{name}'s data\n", name
        assert not (apply.root(name) / "var/lib/etcd2.before-restore").exists()
    layer = next(la for la in json.loads(apply.make("status", OUTPUT="json", check=False).stdout)
                 ["layers"] if la["layer"] == "etcd")
    assert layer["status"] == "OK", layer


def test_a_backup_path_with_a_colon_is_restored(backed_up: tuple[Apply, Path]) -> None:
    """Runs last: a real restore. scp reads "pre:v2/..." as host pre: copied as ./pre:v2/..."""
    apply, good = backed_up
    shutil.copytree(good, apply.cluster / "pre:v2")
    out = apply.make("restore", BACKUP="pre:v2", FORCE="1").stderr
    assert "keys: 1 now; the backup listed 1" in out
    for name in MEMBERS:
        assert not (apply.root(name) / "var/lib/etcd2.before-restore").exists(), name
        assert not (apply.root(name) / "home/core/etcd2-data.tar.gz").exists(), name


def test_the_readme_says_what_a_restore_into_a_new_cluster_breaks(
        backed_up: tuple[Apply, Path]) -> None:
    """Row 7: destroy deletes the service-account key; the backup does not carry it."""
    apply, _ = backed_up
    text = " ".join((apply.cluster / "README.md").read_text().split())
    assert "The service-account key is not in it" in text
    assert "type `kubernetes.io/service-account-token`) so the controller manager issues" in text
    assert "is replaced on its own: `make controller` and `make worker` stop naming it" in text
