"""The kubeconfigs with the real kubectl, against a local HTTPS stand-in for the apiserver
(127.0.0.1:<free port>, the apiserver cert, client certs required by the cluster's CA)."""

from __future__ import annotations

import json
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import CONTROLLER_PUBLIC_IP
from tests.integration.support import (
    StubApiServer,
    applied_user_data,
    cloudinit_config,
    run,
    server_context,
    settings,
)


@pytest.fixture
def apiserver(issued_cluster: Path) -> Iterator[StubApiServer]:
    pki = issued_cluster / "pki"
    ctx = server_context(pki / "apiserver.pem", pki / "apiserver-key.pem", pki / "ca.pem")
    stub = StubApiServer(ctx, settings(issued_cluster)["KUBERNETES_VERSION"])
    with stub.running():
        yield stub


def kubectl(kubectl_bin: str, home: Path, kubeconfig: Path, *args: str) -> tuple[int, str]:
    """kubectl with only this kubeconfig, its caches under home; (status, stdout+stderr)."""
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    result = run([kubectl_bin, f"--kubeconfig={kubeconfig}", "--request-timeout=10s", *args],
                 env=env)
    return result.returncode, result.stdout + result.stderr


def admin_kubeconfig(cluster: Path, server: str) -> Path:
    """./kubeconfig as the apply writes it: CONTROLLER_PUBLIC_IP filled in (here with the
    stand-in's port too); its pki/ paths resolve relative to the file."""
    text = (cluster / "client/admin-kubeconfig.yaml").read_text()
    path = cluster / "kubeconfig"
    path.write_text(text.replace("CONTROLLER_PUBLIC_IP", server))
    return path


def assert_kubectl_works(kubectl_bin: str, home: Path, config: Path, stub: StubApiServer,
                         client_cn: str, *extra: str) -> None:
    status, out = kubectl(kubectl_bin, home, config, *extra, "version", "-o", "json")
    assert status == 0, out
    version = json.loads(out[out.index("{"):out.rindex("}") + 1])  # a skew warning may follow
    assert version["serverVersion"]["gitVersion"] == stub.objects["/version"]["gitVersion"]

    status, out = kubectl(kubectl_bin, home, config, *extra, "get", "namespaces")
    assert status == 0, out
    rows = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert rows == ["NAME", "default", "kube-system"], out  # client-side printing, as for 1.1
    assert ("/api/v1/namespaces", client_cn) in stub.requests
    assert {cn for _, cn in stub.requests} == {client_cn}


def test_admin_kubeconfig_with_kubectl(cluster_copy: Path, issued_cluster: Path,
                                       apiserver: StubApiServer, kubectl_bin: str,
                                       tmp_path: Path) -> None:
    shutil.copytree(issued_cluster / "pki", cluster_copy / "pki", dirs_exist_ok=True)
    config = admin_kubeconfig(cluster_copy, f"{CONTROLLER_PUBLIC_IP}:{apiserver.port}")
    assert_kubectl_works(kubectl_bin, tmp_path, config, apiserver, "kube-admin")


def worker_kubeconfig(cluster: Path, ssl_dir: Path, server: str) -> tuple[Path, str]:
    """The worker's kubeconfig from its cloud-config write_files, with its absolute
    /etc/kubernetes/ssl paths moved to ssl_dir (ca.pem, worker.pem, worker-key.pem as the
    apply installs them), and the kubelet's --api-servers from the worker's unit (the
    kubeconfig has no server: the kubelet gets it as a flag; kubectl gets --server)."""
    user_data = applied_user_data(cluster, "worker.yaml", "http://unused:2380",
                                  server)
    config = cloudinit_config(user_data)
    conf = settings(cluster)
    pki = cluster / "pki"
    ssl_dir.mkdir()
    for source, target in (("ca", "ca"), ("worker-01", "worker"),
                           ("worker-01-key", "worker-key")):
        shutil.copy(pki / f"{source}.pem", ssl_dir / f"{target}.pem")

    (kubeconfig_file,) = [f for f in config["write_files"] if "kubeconfig" in f["path"]]
    content = kubeconfig_file["content"].replace(conf["SSL_DIR"], str(ssl_dir))
    assert "server" not in json.dumps(yaml.safe_load(content))
    path = ssl_dir.parent / "worker-kubeconfig.yaml"
    path.write_text(content)

    units = {unit["name"]: unit for unit in config["coreos"]["units"]}
    kubelet = units["kube-kubelet.service"]["content"].replace("\\\n", " ")
    (exec_start,) = [line for line in kubelet.splitlines() if line.startswith("ExecStart=")]
    args = shlex.split(exec_start)
    assert f"--kubeconfig={kubeconfig_file['path']}" in args
    (api_servers,) = [arg.split("=", 1)[1] for arg in args if arg.startswith("--api-servers=")]
    return path, api_servers


def test_worker_kubeconfig_with_kubectl(issued_cluster: Path, apiserver: StubApiServer,
                                        kubectl_bin: str, tmp_path: Path) -> None:
    config, server = worker_kubeconfig(issued_cluster, tmp_path / "ssl",
                                       f"{CONTROLLER_PUBLIC_IP}:{apiserver.port}")
    assert server == apiserver.url
    assert_kubectl_works(kubectl_bin, tmp_path, config, apiserver, "kube-worker-01",
                         f"--server={server}")


def test_kubeconfig_with_wrong_ca_fails(cluster_copy: Path, issued_cluster: Path,
                                        foreign_cluster: Path, apiserver: StubApiServer,
                                        kubectl_bin: str, tmp_path: Path) -> None:
    """Negative twin: the admin kubeconfig trusting another bake's CA rejects the server."""
    shutil.copytree(issued_cluster / "pki", cluster_copy / "pki", dirs_exist_ok=True)
    shutil.copy(foreign_cluster / "pki/ca.pem", cluster_copy / "pki/ca.pem")
    config = admin_kubeconfig(cluster_copy, f"{CONTROLLER_PUBLIC_IP}:{apiserver.port}")
    for args in (("version",), ("get", "namespaces")):
        status, out = kubectl(kubectl_bin, tmp_path, config, *args)
        assert status != 0, out
        assert "x509: certificate signed by unknown authority" in out \
            or "certificate signature" in out, out
    assert ("/api/v1/namespaces", "kube-admin") not in apiserver.requests
