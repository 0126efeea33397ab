"""tests/rehearse.sh: the README's main job, offline, end to end (addons, smoke, status too)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.applying import REPO


def test_rehearsal_runs_every_target_and_reruns_clean(cluster_copy: Path) -> None:
    proc = subprocess.run(["bash", str(REPO / "tests/rehearse.sh"), str(cluster_copy)],
                          capture_output=True, text=True, timeout=300, check=False,
                          stdin=subprocess.DEVNULL)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    for text in ("---- etcd ready", "---- controller ready", "---- 1 worker(s) ready",
                 "service/kube-dns created", "replicationcontroller/kube-dns-v9 created",
                 "kubernetes.default -> 10.3.0.1", "answered on 1 worker(s)",
                 "status of do-cluster: 0 failed", "etcd       OK: 1 member(s) healthy",
                 "flannel    OK: pod network 10.2.0.0/16", "apiserver  OK",
                 "nodes      OK: 1 of 1 worker(s) Ready", "kube-dns   OK: service 10.3.0.10",
                 "re-run: 0 droplets created", "== Rehearsal summary"):
        assert text in out, text
    assert "rehearsal-dummy-token" not in out
