"""Issue 9 row 4: one apply at a time per cluster; keys are never replaced once written."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.applying import Apply

SSL = "etc/kubernetes/ssl"


@pytest.fixture
def apply(cluster_copy: Path, tmp_path: Path) -> Apply:
    return Apply.create(cluster_copy, tmp_path / "sim")


def _public_key(path: Path, *, cert: bool = False) -> str:
    args = ["openssl", "x509", "-pubkey", "-noout", "-in"] if cert else \
        ["openssl", "pkey", "-pubout", "-in"]
    return subprocess.run([*args, str(path)], capture_output=True, text=True, check=True).stdout


def test_two_concurrent_worker_runs_create_each_worker_once(apply: Apply) -> None:
    """Two `make worker WORKERS=2` at once created 4 droplets and a slower run's `mv`
    replaced a key the other had already signed. Whichever runs first, the other waits for
    the lock and then finds everything in place."""
    apply.make("etcd", "controller")
    # the IP delay keeps each run busy after its create, so without the lock both list
    # before either creates (the race of the issue); with it the order does not matter
    env = {**apply.env, "WORKERS": "2", "APPLY_LOCK_SECONDS": "240",
           "DOSIM_IP_DELAY_SECONDS": "2"}
    runs = [subprocess.Popen(["make", "--no-print-directory", "worker"], cwd=apply.cluster,
                             env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [run.communicate(timeout=280) for run in runs]
    for run, (_, err) in zip(runs, results, strict=True):
        assert run.returncode == 0, err
        assert "2 worker(s) ready" in err
    workers = sorted(n for n in apply.droplets() if "-worker-" in n)
    assert workers == ["do-cluster-worker-01", "do-cluster-worker-02"]
    assert apply.calls("POST /v2/droplets") == 4  # etcd, controller, 2 workers
    pki = apply.cluster / "pki"
    for nn, name in (("01", workers[0]), ("02", workers[1])):
        key = pki / f"worker-{nn}-key.pem"
        # the key the droplet got is the one in pki/, and the certificate is for that key
        assert (apply.root(name) / SSL / key.name).read_bytes() == key.read_bytes()
        assert _public_key(pki / f"worker-{nn}.pem", cert=True) == _public_key(key)
    assert not list(pki.glob("*.tmp*"))


def test_a_held_lock_stops_a_second_run_naming_the_holder(apply: Apply) -> None:
    apply.make("etcd")
    lock = apply.cluster / "state/apply.lock"
    with lock.open("r+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.seek(0)
        held.truncate()
        held.write("make worker, pid 4242 on ops-laptop, since 2026-01-01T00:00:00+0000\n")
        held.flush()
        proc = apply.make("controller", check=False, APPLY_LOCK_SECONDS="1")
    assert proc.returncode != 0
    assert "another apply of cluster do-cluster holds state/apply.lock" in proc.stderr
    assert "make worker, pid 4242 on ops-laptop" in proc.stderr
    assert "APPLY_LOCK_SECONDS" in proc.stderr
    assert set(apply.droplets()) == {"do-cluster-etcd-01"}  # nothing was created
    apply.make("controller")  # released: the next run goes ahead
    assert "make controller, pid" in lock.read_text()


def test_key_written_meanwhile_is_never_replaced(apply: Apply, tmp_path: Path) -> None:
    """The race itself, made deterministic: another run writes the key between this run's
    existence check and its rename (a wrapper `openssl` does it just before genrsa)."""
    wrapper = tmp_path / "bin" / "openssl"
    wrapper.parent.mkdir()
    wrapper.write_text(
        "#!/usr/bin/env bash\n"
        'if [[ "$1" == genrsa ]]; then printf "KEY OF THE OTHER RUN\\n" >"$OTHER_KEY"; fi\n'
        f'exec {shutil.which("openssl")} "$@"\n')
    wrapper.chmod(0o755)
    key = apply.cluster / "pki/worker-07-key.pem"
    env = {**apply.env, "PATH": f"{wrapper.parent}{os.pathsep}{apply.env['PATH']}",
           "OTHER_KEY": str(key)}
    proc = subprocess.run(["bash", "-c", "source scripts/lib/common.sh; pki_new_key \"$1\"",
                           "test", "pki/worker-07-key.pem"], cwd=apply.cluster, env=env,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert key.read_text() == "KEY OF THE OTHER RUN\n"
    assert not list(key.parent.glob("worker-07-key.pem.tmp*"))


def test_a_finished_runs_line_is_not_named_as_the_holder(apply: Apply) -> None:
    """The lock file keeps the last holder's line; a waiter reading it in the instant before
    the new holder writes its own would name a finished run: a pid of this host that is gone
    names no holder (a live one, or another host's, is named: the test above)."""
    lock = apply.cluster / "state/apply.lock"
    lock.parent.mkdir(exist_ok=True)
    dead = subprocess.Popen(["true"])  # a pid that has exited
    dead.wait()
    with lock.open("w+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write(f"make image, pid {dead.pid} on {os.uname().nodename}, since "
                   "2026-01-01T00:00:00+0000\n")
        held.flush()
        proc = apply.make("etcd", check=False, APPLY_LOCK_SECONDS="1")
    assert proc.returncode != 0
    assert "held by: unknown" in proc.stderr and "(holder unknown)" in proc.stderr
    assert "make image, pid" not in proc.stderr
