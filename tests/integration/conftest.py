"""Fixtures for the integration tests: the real consumers' binaries (skip, or fail under
CI=true, naming the Debian package), processes stopped at teardown, certs issued by the
apply's openssl steps."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.baking import bake, copy_cluster
from tests.integration.current_etcd_cluster import CurrentEtcd
from tests.integration.etcd_cluster import EtcdCluster, issue_member_certs
from tests.integration.k8s_plane import Plane, require_k8s, start_plane
from tests.integration.support import (
    CONTROLLER_PUBLIC_IP,
    Spawn,
    issue_node_certs,
    require_program,
    settings,
    stop,
)


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


@pytest.fixture(scope="module")
def plane(issued_cluster: Path, etcd_bin: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    k8s = require_k8s()
    cluster = copy_cluster(issued_cluster, tmp_path_factory.mktemp("plane"))
    cp = start_plane(cluster, tmp_path_factory.mktemp("plane-run"))
    # ./kubeconfig as scripts/controller.sh writes it (the public IP, here with its port)
    (cluster / "kubeconfig").write_text((cluster / "client/admin-kubeconfig.yaml").read_text()
                                        .replace("CONTROLLER_PUBLIC_IP",
                                                 f"{CONTROLLER_PUBLIC_IP}:{cp.secure_port}"))
    try:
        yield Plane(cluster, cp, settings(cluster), k8s)
    finally:
        cp.stop()


@pytest.fixture
def three(bake_with: Callable[..., Path], etcd_bin: str, spawn: Spawn,
          tmp_path: Path) -> EtcdCluster:
    """A static etcd cluster of 3 members from an etcd_count=3 bake (issue 12)."""
    cluster = issue_node_certs(bake_with(etcd_count="3"))
    issue_member_certs(cluster)
    return EtcdCluster(cluster, etcd_bin, spawn, tmp_path)


@pytest.fixture(scope="session")
def current_cluster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One bake of the current profile (Flatcar + current Kubernetes), shared read-only."""
    return bake(tmp_path_factory.mktemp("current"), profile="current")


@pytest.fixture(scope="module")
def current_etcd3(etcd_bin: str, etcdctl_bin: str, openssl_bin: str,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[CurrentEtcd]:
    """Three members of an etcd_count=3 current bake, running (one cluster per module)."""
    cluster = bake(tmp_path_factory.mktemp("current-etcd3"), profile="current", etcd_count="3")
    etcd = CurrentEtcd(cluster, etcd_bin, etcdctl_bin, tmp_path_factory.mktemp("etcd3-run"))
    etcd.prepare()
    try:
        for member in etcd.members:
            etcd.start(member)
        for member in etcd.members:
            etcd.wait_healthy(member)
        yield etcd
    finally:
        etcd.stop_all()
