"""Issue 9 rows 11 and 14: signing errors are shown and leave no partial file; partial files
of an interrupted run are removed."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.applying import Apply


@pytest.fixture
def apply(cluster_copy: Path, tmp_path: Path) -> Apply:
    return Apply.create(cluster_copy, tmp_path / "sim")


def _partial_files(pki: Path) -> list[str]:
    return sorted(p.name for p in pki.iterdir() if ".tmp" in p.name or p.suffix == ".csr")


def test_truncated_ca_key_fails_with_openssls_message(apply: Apply) -> None:
    """make controller exited 1 with no message and left apiserver.csr and an empty
    apiserver.pem.tmp. (With etcd over TLS, make etcd signs first: the etcd member's cert.)"""
    pki = apply.cluster / "pki"
    ca_key = pki / "ca-key.pem"
    ca_key.write_bytes(ca_key.read_bytes()[:200])
    proc = apply.make("etcd", "controller", check=False)
    assert proc.returncode != 0
    err = proc.stderr
    assert "ERROR: signing pki/etcd.pem failed (openssl x509" in err
    assert "pki/ca-key.pem" in err
    # openssl's own words (3.x: "Could not read CA private key"; 1.1: "unable to load")
    assert "private key" in err.split("signing pki/etcd.pem failed")[1].lower()
    assert _partial_files(pki) == []
    assert not (pki / "etcd.pem").exists()


def test_bad_cert_days_fails_with_openssls_message(apply: Apply) -> None:
    # CERT_DAYS set after settings.env was read: the signing step itself must report it
    script = ('source scripts/lib/common.sh; CERT_DAYS=abc; '
              'WORKER_IP=10.133.0.9 pki_sign worker-09 kube-worker-09 openssl/worker.cnf')
    proc = subprocess.run(["bash", "-c", script], cwd=apply.cluster, env=apply.env,
                          capture_output=True, text=True, check=False)
    assert proc.returncode != 0
    assert "signing pki/worker-09.pem failed" in proc.stderr and "CERT_DAYS=abc" in proc.stderr
    assert "abc" in proc.stderr.split("): ", 1)[1]  # openssl names the bad value
    assert _partial_files(apply.cluster / "pki") == []
    assert (apply.cluster / "pki/worker-09-key.pem").stat().st_mode & 0o777 == 0o600


def test_certificates_signed_at_once_get_their_own_random_serials(apply: Apply) -> None:
    """make worker signs its workers' certificates in parallel, and make up runs its levels
    side by side: one shared pki/ca.srl (-CAcreateserial) is read and rewritten by every
    signing, so two at once could take the same serial. Each signing has its own serial file,
    started at random (OpenSSL's load_serial with create: rand_serial, apps/apps.c)."""
    script = ('source scripts/lib/common.sh; for n in 07 08 09; do WORKER_IP=10.133.0.$n '
              'pki_sign worker-$n kube-worker-$n openssl/worker.cnf & done; wait')
    subprocess.run(["bash", "-c", script], cwd=apply.cluster, env=apply.env, check=True,
                   capture_output=True, text=True)
    pki = apply.cluster / "pki"
    serials = {subprocess.run(["openssl", "x509", "-in", str(pki / f"worker-{n}.pem"), "-noout",
                               "-serial"], capture_output=True, text=True, check=True).stdout
               for n in ("07", "08", "09")}
    assert len(serials) == 3
    # random (159 bits), not counted up from one shared file's first serial
    assert all(int(s.strip().split("=")[1], 16) >= 2**64 for s in serials), serials
    assert sorted(p.name for p in pki.glob("*.srl")) == []
    assert _partial_files(pki) == []


def test_a_key_another_process_is_writing_is_awaited_not_made_twice(apply: Apply) -> None:
    """make up generates the keys in the background while its levels run: a level needing a
    key whose openssl genrsa is still computing (its pki/NAME-key.pem.tmp.PID open, the PID
    alive) waits for it instead of generating a second one; the partial file of a process that
    is gone does not hold it up."""
    pki = apply.cluster / "pki"
    key = pki / "worker-05-key.pem"
    computing = subprocess.Popen(["sleep", "120"])  # stands for a genrsa still computing
    try:
        (pki / f"worker-05-key.pem.tmp.{computing.pid}").write_bytes(b"")
        new_key = ["bash", "-c", "source scripts/lib/common.sh; pki_new_key pki/worker-05-key.pem"]
        waiting = subprocess.run(["timeout", "5", *new_key], cwd=apply.cluster, env=apply.env,
                                 capture_output=True, text=True, check=False)
        assert waiting.returncode == 124, waiting.stderr  # still waiting when stopped
        assert not key.exists()
    finally:
        computing.kill()
        computing.wait()
    subprocess.run(new_key, cwd=apply.cluster, env=apply.env, capture_output=True, check=True)
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")


def test_a_partial_key_whose_pid_lives_on_is_awaited_no_longer_than_the_timeout(
        apply: Apply) -> None:
    """A partial file left by a killed run, whose pid now names another living process, holds
    the key up only until APPLY_TIMEOUT_SECONDS: then the key is generated."""
    pki = apply.cluster / "pki"
    other = subprocess.Popen(["sleep", "120"])
    try:
        (pki / f"worker-06-key.pem.tmp.{other.pid}").write_bytes(b"")
        subprocess.run(["bash", "-c", "source scripts/lib/common.sh; "
                        "pki_new_key pki/worker-06-key.pem"], cwd=apply.cluster,
                       env={**apply.env, "APPLY_TIMEOUT_SECONDS": "1"}, capture_output=True,
                       check=True, timeout=60)
    finally:
        other.kill()
        other.wait()
    assert (pki / "worker-06-key.pem").read_text().startswith("-----BEGIN PRIVATE KEY-----")


def test_partial_files_of_an_interrupted_run_are_removed(apply: Apply) -> None:
    """An interrupted key generation left empty pki/*.pem.tmp.PID files forever."""
    pki = apply.cluster / "pki"
    for name in ("worker-01-key.pem.tmp.4242", "apiserver.pem.tmp.4243", "worker-02.csr"):
        (pki / name).write_bytes(b"")
    out = apply.make("etcd", "controller").stderr
    assert "removed partial files of an interrupted run" in out
    assert _partial_files(pki) == []


def test_interrupted_key_generation_leaves_no_partial_key(apply: Apply, tmp_path: Path) -> None:
    """A key generation stopped by SIGTERM (or ^C) removes its own partial file."""
    fake = tmp_path / "bin" / "openssl"
    fake.parent.mkdir()
    # genrsa that has opened its output and is still computing
    fake.write_text('#!/usr/bin/env bash\nwhile [[ $# -gt 0 ]]; do [[ "$1" == -out ]] && '
                    ': >"$2"; shift; done\nexec sleep 120\n')
    fake.chmod(0o755)
    env = {**apply.env, "PATH": f"{fake.parent}{os.pathsep}{apply.env['PATH']}"}
    proc = subprocess.Popen(["bash", "-c", 'source scripts/lib/common.sh; pki_new_key "$1"',
                             "test", "pki/worker-05-key.pem"], cwd=apply.cluster, env=env,
                            start_new_session=True, stderr=subprocess.DEVNULL)
    pki = apply.cluster / "pki"
    deadline = time.monotonic() + 60
    while not list(pki.glob("worker-05-key.pem.tmp.*")):
        assert time.monotonic() < deadline, "the key generation never started"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    # the subshell that owns the partial file may outlive the top shell: wait for the group
    while True:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline + 60, "the key generation did not stop"
        time.sleep(0.05)
    assert _partial_files(pki) == [] and not (pki / "worker-05-key.pem").exists()
