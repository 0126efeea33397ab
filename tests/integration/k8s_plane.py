"""The generated control plane on this machine, for the tests that boot it with the real
Kubernetes 1.1.2 binaries (../shared/k8s-1.1.2, sum-checked by tests/k8s/binaries.py): where it
listens, kubectl 1.1.2 and the apply scripts against it."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.support import (
    CONTROLLER_PRIVATE_IP,
    CONTROLLER_PUBLIC_IP,
    LOOPBACK,
    applied_user_data,
    free_port,
    run,
    settings,
)
from tests.k8s import binaries
from tests.k8s.controlplane import ControlPlane, NotReady, Rewriter
from tests.k8s.userdata import ControllerSpec

# The apiserver refuses to advertise a loopback address; it never contacts this one.
ADVERTISE = "192.0.2.10"


def require_k8s() -> Path:
    try:
        return binaries.bin_dir()
    except binaries.Unavailable as error:
        if os.environ.get("CI") == "true":
            pytest.fail(str(error))
        pytest.skip(str(error))


@dataclass
class Plane:
    cluster: Path
    cp: ControlPlane
    settings: dict[str, str]
    bin: Path

    @property
    def kubeconfig(self) -> Path:
        return self.cluster / "kubeconfig"

    def kubectl(self, *args: str,
                kubeconfig: Path | None = None) -> subprocess.CompletedProcess[str]:
        return run([str(self.bin / "kubectl"), "--kubeconfig",
                    str(kubeconfig or self.kubeconfig), *args])

    def script(self, name: str, kubectl_dir: Path | None = None,
               ) -> subprocess.CompletedProcess[str]:
        """scripts/NAME.sh with kubectl from kubectl_dir (1.1.2 by default) first on PATH."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBECONFIG")}
        env.update(PATH=f"{kubectl_dir or self.bin}{os.pathsep}{env['PATH']}",
                   APPLY_TIMEOUT_SECONDS="60", APPLY_POLL_SECONDS="0.2")
        return run(["bash", f"scripts/{name}.sh"], cwd=self.cluster, env=env)

    def bash(self, snippet: str) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, PATH=f"{self.bin}{os.pathsep}{os.environ['PATH']}",
                   APPLY_TIMEOUT_SECONDS="60", APPLY_POLL_SECONDS="0.2")
        return run(["bash", "-c", f"set -euo pipefail; source scripts/lib/common.sh; {snippet}"],
                   cwd=self.cluster, env=env)


def start_plane(cluster: Path, work: Path, *, only_apiserver: bool = False) -> ControlPlane:
    """The controller's control plane from cluster's files, ports remapped to free ones."""
    s = settings(cluster)
    user_data = applied_user_data(cluster, "controller.yaml",
                                  f"http://{CONTROLLER_PRIVATE_IP}:{s['ETCD_PEER_PORT']}",
                                  CONTROLLER_PUBLIC_IP)
    spec = ControllerSpec.from_user_data(user_data, CONTROLLER_PUBLIC_IP, CONTROLLER_PRIVATE_IP)
    ssl_dir = work / "ssl"  # what install_tls puts in SSL_DIR on the controller
    ssl_dir.mkdir(parents=True)
    for name in ("apiserver.pem", "apiserver-key.pem", "ca.pem"):
        shutil.copy(cluster / "pki" / name, ssl_dir / name)
    shutil.copy(cluster / "policy/abac-policy.jsonl", ssl_dir)  # install_policy (authz.sh)
    etcd_port = int(s["ETCD_CLIENT_PORT"])
    ports = {p: free_port() for p in (etcd_port, spec.secure_port, spec.local_port,
                                      spec.scheduler_probe.port,
                                      spec.controller_manager_probe.port)}
    plane = ControlPlane(spec, Rewriter(LOOPBACK, ports, {s["SSL_DIR"]: str(ssl_dir)},
                                        advertise=ADVERTISE), work, etcd_port)
    try:
        plane.start_apiserver() if only_apiserver else plane.start()
    except NotReady as error:
        plane.stop()
        pytest.fail(str(error))
    return plane


def https_get(port: int, server_name: str, ctx: ssl.SSLContext, path: str) -> tuple[int, str]:
    """GET path from 127.0.0.1:port, checking the certificate against server_name."""
    with socket.create_connection((LOOPBACK, port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=server_name) as tls:
        tls.sendall(f"GET {path} HTTP/1.0\r\nHost: {server_name}\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


def eventually(check: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


