"""Fixtures for the integration tests: the real consumers' binaries (skip, or fail under
CI=true, naming the Debian package), processes stopped at teardown, certs issued by the
apply's openssl steps."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.baking import bake, copy_cluster
from tests.integration.support import Spawn, require_program, stop

# Test addresses for the controller (its public IP is the one TLS clients verify) and worker.
CONTROLLER_PUBLIC_IP = "127.0.0.1"
CONTROLLER_PRIVATE_IP = "127.0.0.2"
WORKER_IP = "127.0.0.3"
ETCD_IP = "127.0.0.1"  # support.LOOPBACK: $private_ipv4 in the etcd tests
# The node whose etcd proxy dials the member: etcd 3.4 checks a peer client certificate's IP
# SAN against the address it connects from (on a droplet: the node's private IP, which its
# certificate carries); in the tests the proxies connect from 127.0.0.1.
PROXY_NODE = "02"


@pytest.fixture(scope="session")
def etcd_bin() -> str:
    return require_program("etcd", "etcd-server")


@pytest.fixture(scope="session")
def etcdctl_bin() -> str:
    return require_program("etcdctl", "etcd-client")


@pytest.fixture(scope="session")
def openssl_bin() -> str:
    return require_program("openssl", "openssl")


@pytest.fixture(scope="session")
def kubectl_bin() -> str:
    return require_program("kubectl", "kubernetes-client")


@pytest.fixture(scope="session")
def systemd_analyze_bin() -> str:
    return require_program("systemd-analyze", "systemd")


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """spawn(name, argv, env) -> (process, log): started in its own session, logging to
    tmp_path/name.log; every process is stopped (terminate, wait, kill) at teardown."""
    procs: list[subprocess.Popen[bytes]] = []

    def _spawn(name: str, argv: list[str], env: dict[str, str]) -> tuple[
            subprocess.Popen[bytes], Path]:
        log = tmp_path / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        procs.append(proc)
        return proc, log

    yield _spawn
    for proc in procs:
        stop(proc)


def issue_node_certs(cluster: Path) -> Path:
    """The apply's openssl steps in cluster: apiserver, worker-01, worker-PROXY_NODE and etcd
    member certs for test IPs (the member's private IP is ETCD_IP, what $private_ipv4 becomes
    in the tests)."""
    script = (
        "set -euo pipefail; set -a; . ./settings.env; set +a; . scripts/lib/pki.sh; "
        ". scripts/lib/etcdtls.sh; "
        f"pki_issue_apiserver {CONTROLLER_PUBLIC_IP} {CONTROLLER_PRIVATE_IP}; "
        f"pki_issue_worker 01 {WORKER_IP}; pki_issue_worker {PROXY_NODE} {ETCD_IP}; "
        f"pki_issue_etcd {ETCD_IP}"
    )
    subprocess.run(["bash", "-c", script], cwd=cluster, check=True, capture_output=True)
    return cluster


@pytest.fixture(scope="session")
def issued_cluster(default_cluster: Path, openssl_bin: str,
                   tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the default bake with pki/apiserver*.pem and pki/worker-01*.pem issued
    (shared read-only; admin and CA come from the bake)."""
    return issue_node_certs(copy_cluster(default_cluster, tmp_path_factory.mktemp("issued")))


@pytest.fixture(scope="session")
def foreign_cluster(openssl_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another bake, hence another CA: its pki/ holds certs our cluster must not trust."""
    return issue_node_certs(bake(tmp_path_factory.mktemp("foreign"), cluster_name="other"))
