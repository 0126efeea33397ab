"""The generated control plane booted with the real Kubernetes 1.1.2 binaries
(../shared/k8s-1.1.2, built from the release commit; tests/k8s/binaries.py checks their sums).

kube-apiserver, kube-scheduler and kube-controller-manager run the commands of the pod
manifests that the controller's user data (as the apply renders it) writes; etcd 3.4 with the
v2 API stands for the node's etcd2 proxy; the certificates come from the apply's pki.sh. On
this one machine only ports, listen/advertised addresses and host paths are rewritten
(asserted below). Everything binds 127.0.0.1 and is stopped at the end of the module.
The worker kubelet runs in namespaces of its own (tests/k8s/workernode.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError

import pytest

from generator import TEMPLATE_ROOT
from tests.baking import copy_cluster
from tests.integration.conftest import (
    CONTROLLER_PRIVATE_IP,
    CONTROLLER_PUBLIC_IP,
    WORKER_IP,
    issue_node_certs,
)
from tests.integration.support import (
    LOOPBACK,
    applied_user_data,
    client_context,
    free_port,
    run,
    settings,
)
from tests.k8s import binaries
from tests.k8s.controlplane import ControllerSpec, ControlPlane, NotReady, Rewriter

FORBIDDEN = "the server does not allow access to the requested resource"
# The apiserver refuses to advertise a loopback address; it never contacts this one.
ADVERTISE = "192.0.2.10"
# What one machine may force us to rewrite: listen/advertise addresses, ports, host paths.
MACHINE_FLAGS = {"--etcd-servers", "--bind-address", "--secure_port", "--advertise-address",
                 "--tls-cert-file", "--tls-private-key-file", "--client-ca-file",
                 "--service-account-key-file", "--master", "--service-account-private-key-file",
                 "--root-ca-file", "--authorization-policy-file"}


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


# --- the controller ---------------------------------------------------------------------


def test_control_plane_runs_every_generated_flag(plane: Plane) -> None:
    rewritten = {before.split("=", 1)[0] for before, _ in plane.cp.rewriter.rewrites
                 if before.startswith("--")}
    assert rewritten <= MACHINE_FLAGS, rewritten - MACHINE_FLAGS
    # every flag of the manifest reached the binary (and 1.1.2 accepted them all: it serves)
    running = json.loads(Path(f"/proc/{plane.cp.processes.started[1][1].pid}/cmdline")
                         .read_bytes().replace(b"\0", b'","').decode().join(['["', '"]'])
                         .replace(',""]', "]"))
    assert [a.split("=")[0] for a in running[1:len(plane.cp.spec.apiserver)]] == \
        [a.split("=")[0] for a in plane.cp.spec.apiserver[1:]]
    assert "Serving securely" in plane.cp.processes.log("kube-apiserver")


def test_served_certificate_names_public_private_and_service_ip(plane: Plane) -> None:
    pki = plane.cluster / "pki"
    admin = client_context(pki / "ca.pem", pki / "admin.pem", pki / "admin-key.pem")
    for name in (CONTROLLER_PUBLIC_IP, CONTROLLER_PRIVATE_IP,
                 plane.settings["APISERVER_SERVICE_IP"], plane.settings["CONTROLLER_NAME"]):
        status, body = https_get(plane.cp.secure_port, name, admin, "/api/v1/namespaces")
        assert status == 200, (name, body)
    # without a client certificate: 401, as the tutorial's curl shows
    anonymous = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    assert https_get(plane.cp.secure_port, CONTROLLER_PUBLIC_IP, anonymous,
                     "/api/v1/namespaces")[0] == 401


def test_kube_system_namespace_comes_from_the_unit(plane: Plane) -> None:
    result = plane.cp.kube_system_result
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["metadata"]["name"] == "kube-system"
    names = [n["metadata"]["name"] for n in plane.cp.api("GET", "/api/v1/namespaces")["items"]]
    assert "kube-system" in names


def test_scheduler_and_controller_manager_answer_their_liveness_probes(plane: Plane) -> None:
    import urllib.request

    for probe in (plane.cp.spec.scheduler_probe, plane.cp.spec.controller_manager_probe):
        with urllib.request.urlopen(plane.cp.probe_url(probe), timeout=5) as response:  # noqa: S310
            assert response.read() == b"ok"


def test_service_account_tokens_are_signed_with_the_apiserver_key(plane: Plane) -> None:
    def secrets() -> list[Any]:  # the controller-manager makes the account, then its token
        try:
            account = plane.cp.api("GET", "/api/v1/namespaces/default/serviceaccounts/default")
        except HTTPError as error:
            if error.code == 404:
                return []
            raise
        return list(account.get("secrets") or [])

    name = eventually(secrets, "the default service account's token")[0]["name"]
    token = plane.cp.api("GET", f"/api/v1/namespaces/default/secrets/{name}")
    assert token["type"] == "kubernetes.io/service-account-token"


# --- kubectl 1.1.2 with the generated kubeconfigs --------------------------------------------


def test_admin_kubeconfig_with_kubectl_1_1_2(plane: Plane) -> None:
    version = plane.kubectl("version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.count('GitVersion:"v1.1.2"') == 2  # client and server
    namespaces = plane.kubectl("get", "namespaces", "-o", "name")
    assert "namespace/kube-system" in namespaces.stdout.split(), namespaces.stderr


def test_kubeconfig_of_another_ca_is_refused(plane: Plane, foreign_cluster: Path) -> None:
    foreign = plane.cluster / "foreign-kubeconfig"
    foreign.write_text(plane.kubeconfig.read_text().replace("pki/", f"{foreign_cluster}/pki/"))
    result = plane.kubectl("get", "namespaces", kubeconfig=foreign)
    assert result.returncode != 0
    assert "x509: certificate signed by unknown authority" in result.stderr


def worker_kubeconfig(plane: Plane, tmp_path: Path) -> Path:
    """node/worker-kubeconfig.yaml with worker-01's certificate as install_tls links it."""
    ssl_dir = plane.settings["SSL_DIR"]
    (tmp_path / "ssl").mkdir()
    for src, dst in (("worker-01.pem", "worker.pem"), ("worker-01-key.pem", "worker-key.pem"),
                     ("ca.pem", "ca.pem")):
        shutil.copy(plane.cluster / "pki" / src, tmp_path / "ssl" / dst)
    config = tmp_path / "worker-kubeconfig.yaml"
    config.write_text((plane.cluster / "node/worker-kubeconfig.yaml").read_text()
                      .replace(ssl_dir, str(tmp_path / "ssl")))
    return config


def test_worker_kubeconfig_with_kubectl_1_1_2(plane: Plane, tmp_path: Path) -> None:
    config = worker_kubeconfig(plane, tmp_path)
    result = plane.kubectl("--server", f"https://{CONTROLLER_PUBLIC_IP}:{plane.cp.secure_port}",
                           "get", "namespaces", kubeconfig=config)
    assert result.returncode == 0, result.stderr


def test_abac_admin_may_everything_a_worker_only_what_a_kubelet_does(
        plane: Plane, tmp_path: Path) -> None:
    """Issue 10 row 3: --authorization-mode=ABAC with policy/abac-policy.jsonl. The admin
    creates a namespace; worker-01's certificate may not (403), but may list pods, register
    a node and write its status, and read services (kube-proxy)."""
    server = ("--server", f"https://{CONTROLLER_PUBLIC_IP}:{plane.cp.secure_port}")
    worker = worker_kubeconfig(plane, tmp_path)
    ns = tmp_path / "ns.json"
    ns.write_text(json.dumps({"apiVersion": "v1", "kind": "Namespace",
                              "metadata": {"name": "abac-probe"}}))
    denied = plane.kubectl(*server, "create", "-f", str(ns), kubeconfig=worker)
    # kubectl 1.1.2's words for the apiserver's 403
    assert denied.returncode != 0 and FORBIDDEN in denied.stderr, denied.stderr
    allowed = plane.kubectl("create", "-f", str(ns))
    assert allowed.returncode == 0, allowed.stderr
    assert 'namespace "abac-probe" created' in allowed.stdout
    delete = plane.kubectl(*server, "delete", "namespace", "abac-probe", kubeconfig=worker)
    assert delete.returncode != 0 and FORBIDDEN in delete.stderr, delete.stderr

    node = tmp_path / "node.json"
    node.write_text(json.dumps({"apiVersion": "v1", "kind": "Node",
                                "metadata": {"name": "abac-node",
                                             "labels": {"kubernetes.io/hostname": "abac-node"}}}))
    for args in (("get", "pods", "--all-namespaces"), ("get", "services", "--all-namespaces"),
                 ("get", "endpoints", "--all-namespaces"), ("create", "-f", str(node)),
                 ("label", "node", "abac-node", "abac=yes")):
        result = plane.kubectl(*server, *args, kubeconfig=worker)
        assert result.returncode == 0, (args, result.stderr)
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"apiVersion": "v1", "kind": "Secret",
                                  "metadata": {"name": "abac-secret"}, "data": {}}))
    wrote = plane.kubectl(*server, "create", "-f", str(secret), kubeconfig=worker)
    assert wrote.returncode != 0 and FORBIDDEN in wrote.stderr, wrote.stderr


# --- the apply scripts against it --------------------------------------------------------------


def test_addons_script_creates_then_updates(plane: Plane) -> None:
    first = plane.script("addons")
    assert first.returncode == 0, first.stdout + first.stderr
    assert 'service "kube-dns" created' in first.stderr
    assert 'replicationcontroller "kube-dns-v9" created' in first.stderr
    svc = plane.cp.api("GET", "/api/v1/namespaces/kube-system/services/kube-dns")
    assert svc["spec"]["clusterIP"] == plane.settings["DNS_SERVICE_IP"]

    def dns_pods() -> list[Any]:  # the real controller-manager's replication
        return list(plane.cp.api("GET", "/api/v1/namespaces/kube-system/pods?labelSelector="
                                 "k8s-app%3Dkube-dns")["items"])

    assert len(eventually(dns_pods, "the kube-dns RC's pod")) == 1
    again = plane.script("addons")
    assert again.returncode == 0, again.stdout + again.stderr
    assert 'service "kube-dns" configured' in again.stderr
    assert 'replicationcontroller "kube-dns-v9" configured' in again.stderr
    assert "created" not in again.stderr
    assert len(dns_pods()) == 1


def test_a_half_created_manifest_is_completed(plane: Plane, tmp_path: Path) -> None:
    """An interrupted run left inspector.yaml's Service but not its ReplicationController:
    create fails on the Service, creates the RC; then every object is brought up to date."""
    text = (plane.cluster / "manifests/smoke/inspector.yaml").read_text()
    service = tmp_path / "service-only.yaml"
    service.write_text(text.split("---")[0])
    assert plane.kubectl("create", "-f", str(service)).returncode == 0
    result = plane.bash("kube_apply manifests/smoke/inspector.yaml")
    assert result.returncode == 0, result.stderr
    assert 'replicationcontroller "inspector-stable" configured' in result.stderr
    assert plane.kubectl("get", "-f", str(plane.cluster / "manifests/smoke/inspector.yaml")
                         ).returncode == 0


def test_a_manifest_the_apiserver_rejects_fails_with_its_message(plane: Plane) -> None:
    bad = plane.cluster / "manifests/addons/kube-dns-svc-outside.yaml"
    bad.write_text((plane.cluster / "manifests/addons/kube-dns-svc.yaml").read_text()
                   .replace(plane.settings["DNS_SERVICE_IP"], "10.99.0.10")
                   .replace("name: kube-dns\n", "name: kube-dns-outside\n", 1))
    result = plane.bash(f"kube_apply {bad}")
    assert result.returncode != 0
    assert "spec.clusterIP: invalid value '10.99.0.10'" in result.stderr
    assert "not in the valid range" in result.stderr


def test_a_current_kubectl_is_refused_before_it_talks(plane: Plane, kubectl_bin: str,
                                                      tmp_path: Path) -> None:
    version = run([kubectl_bin, "version", "--client"]).stdout
    minor = int(re.search(r"v1\.(\d+)", version).group(1))  # type: ignore[union-attr]
    if minor <= 2:
        pytest.skip(f"{kubectl_bin} is kubectl 1.{minor}, not a current one")
    # why: a current kubectl cannot map a 1.1 apiserver's resources at all
    direct = run([kubectl_bin, "--kubeconfig", str(plane.kubeconfig), "create",
                  "-f", "manifests/smoke/busybox.yaml"], cwd=plane.cluster)
    assert direct.returncode != 0 and "created" not in direct.stdout
    (tmp_path / "kubectl").symlink_to(kubectl_bin)
    result = plane.script("addons", kubectl_dir=tmp_path)
    assert result.returncode == 1
    assert f"kubectl 1.{minor}" in result.stderr
    assert "cannot drive this Kubernetes 1.1.2 cluster: use kubectl 1.0 to 1.2" in result.stderr


# --- broken twins ------------------------------------------------------------------------------


def test_a_flag_1_1_2_does_not_know_stops_the_apiserver(plane: Plane) -> None:
    argv = plane.cp.rewriter.command(plane.cp.spec.apiserver, str(plane.bin / "kube-apiserver"))
    result = subprocess.run([*argv, "--authorization-mode=RBAC,Node", "--no-such-flag=1"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "unknown flag: --no-such-flag" in result.stderr


def test_a_certificate_without_the_service_ip_is_refused_for_it(
        issued_cluster: Path, etcd_bin: str, openssl_bin: str, tmp_path: Path) -> None:
    require_k8s()
    cluster = copy_cluster(issued_cluster, tmp_path)
    cnf = cluster / "openssl/apiserver.cnf"
    cnf.write_text(re.sub(r"(?m)^IP\.1 = .*\n", "", cnf.read_text()))
    for name in ("apiserver.pem", "apiserver-key.pem"):
        (cluster / "pki" / name).unlink()
    issue_node_certs(cluster)
    cp = start_plane(cluster, tmp_path / "run", only_apiserver=True)
    try:
        pki = cluster / "pki"
        admin = client_context(pki / "ca.pem", pki / "admin.pem", pki / "admin-key.pem")
        assert https_get(cp.secure_port, CONTROLLER_PUBLIC_IP, admin, "/version")[0] == 200
        with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
            https_get(cp.secure_port, settings(cluster)["APISERVER_SERVICE_IP"], admin, "/version")
    finally:
        cp.stop()


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
