"""A worker's real kubelet 1.1.2, started from the worker unit of its rendered user data,
registers its node with a real apiserver; both run in network, mount and PID namespaces of their
own (tests/k8s/workernode.py), since the kubelet changes host settings."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from generator import TEMPLATE_ROOT
from tests.integration.k8s_plane import (
    ADVERTISE,
    require_k8s,
)
from tests.integration.support import (
    CONTROLLER_PRIVATE_IP,
    CONTROLLER_PUBLIC_IP,
    WORKER_IP,
    applied_user_data,
    run,
    settings,
)

# --- a worker's kubelet, in namespaces of its own -----------------------------------------------


def test_worker_kubelet_registers_its_node(issued_cluster: Path, etcd_bin: str,
                                           tmp_path: Path) -> None:
    require_k8s()
    if shutil.which("unshare") is None or os.geteuid() != 0:
        message = "the kubelet test needs root and unshare (util-linux): its own namespaces"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    s = settings(issued_cluster)
    etcd_peer = f"http://{CONTROLLER_PRIVATE_IP}:{s['ETCD_PEER_PORT']}"
    for role in ("controller", "worker"):
        (tmp_path / f"{role}.yaml").write_text(applied_user_data(
            issued_cluster, f"{role}.yaml", etcd_peer, CONTROLLER_PUBLIC_IP))
    controller_ssl = tmp_path / "controller-ssl"
    controller_ssl.mkdir()
    for name in ("apiserver.pem", "apiserver-key.pem", "ca.pem"):
        shutil.copy(issued_cluster / "pki" / name, controller_ssl / name)
    shutil.copy(issued_cluster / "policy/abac-policy.jsonl", controller_ssl)
    pki = issued_cluster / "pki"
    args = {"work": str(tmp_path / "ns"), "ssl_dir": s["SSL_DIR"], "advertise": ADVERTISE,
            "controller_user_data": str(tmp_path / "controller.yaml"),
            "controller_public_ip": CONTROLLER_PUBLIC_IP,
            "controller_private_ip": CONTROLLER_PRIVATE_IP,
            "controller_ssl": str(controller_ssl), "etcd_port": s["ETCD_CLIENT_PORT"],
            "worker_user_data": str(tmp_path / "worker.yaml"), "worker_public_ip": WORKER_IP,
            "worker_private_ip": WORKER_IP, "cert": str(pki / "worker-01.pem"),
            "key": str(pki / "worker-01-key.pem"), "ca": str(pki / "ca.pem"), "timeout": 90}
    (tmp_path / "args.json").write_text(json.dumps(args))
    proc = subprocess.run(
        ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child", sys.executable, "-m",
         "tests.k8s.workernode", str(tmp_path / "args.json")],
        cwd=TEMPLATE_ROOT, capture_output=True, text=True, timeout=240, check=False,
        env=dict(os.environ, PYTHONPATH=str(TEMPLATE_ROOT)))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert "error" not in result, result
    node = result["node"]
    assert node is not None, result["kubelet_log"]
    assert "--read-only-port=0" in result["kubelet"]  # lock-down: issue 10 row 4
    # named by --hostname-override=$public_ipv4, registered over TLS with the worker's cert
    assert node["metadata"]["name"] == WORKER_IP
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == WORKER_IP
    ready = {c["type"]: c for c in node["status"]["conditions"]}["Ready"]
    assert ready["message"] == "container runtime is down"  # no docker here: honest NotReady
    # the unit's ExecStartPre made the --config directory: no "Unable to read config path"
    assert all(pre["status"] == 0 for pre in result["exec_start_pre"]), result["exec_start_pre"]
    assert "Unable to read config path" not in result["kubelet_log"]
    assert {r[0].split("=")[0] for r in result["rewrites"]} <= {"--config", "--kubeconfig"}


def test_kubelet_1_1_2_can_close_the_read_only_port_not_cadvisor() -> None:
    """Issue 10 row 4: what the real 1.1.2 kubelet offers for closing its extra ports."""
    k8s = require_k8s()
    help_text = run([str(k8s / "kubelet"), "--help"]).stderr + run(
        [str(k8s / "kubelet"), "--help"]).stdout
    assert re.search(r"--read-only-port=10255: .*\(set to 0 to disable\)", help_text), help_text
    cadvisor = re.search(r"--cadvisor-port=4194: (.*)", help_text)
    assert cadvisor and "disable" not in cadvisor[1]
