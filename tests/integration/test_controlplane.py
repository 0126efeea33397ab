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
import re
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any
from urllib.error import HTTPError

import pytest

from tests.baking import copy_cluster
from tests.integration.k8s_plane import (
    Plane,
    eventually,
    https_get,
    require_k8s,
    start_plane,
)
from tests.integration.support import (
    CONTROLLER_PRIVATE_IP,
    CONTROLLER_PUBLIC_IP,
    WORKER_IP,
    applied_user_data,
    client_context,
    issue_node_certs,
    settings,
)
from tests.k8s.userdata import cloudinit_text, unit_content, unit_exec_start

# What one machine may force us to rewrite: listen/advertise addresses, ports, host paths.
MACHINE_FLAGS = {"--etcd-servers", "--bind-address", "--secure_port", "--advertise-address",
                 "--tls-cert-file", "--tls-private-key-file", "--client-ca-file",
                 "--service-account-key-file", "--master", "--service-account-private-key-file",
                 "--root-ca-file", "--authorization-policy-file"}
FORBIDDEN = "the server does not allow access to the requested resource"



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


def test_worker_kubeconfig_with_kubectl_1_1_2(plane: Plane, tmp_path: Path) -> None:
    """The kubeconfig the worker's cloud-config writes (write_files), its /etc/kubernetes/ssl
    paths moved to a scratch dir holding what the apply installs there; the server is the
    kubelet unit's --api-servers (the kubeconfig has none), rendered as the apply renders it."""
    server = f"{CONTROLLER_PUBLIC_IP}:{plane.cp.secure_port}"
    config = cloudinit_text(applied_user_data(plane.cluster, "worker.yaml", "http://unused:2380",
                                              server), WORKER_IP, WORKER_IP)
    ssl_dir = tmp_path / "ssl"
    ssl_dir.mkdir()
    for src, dst in (("worker-01.pem", "worker.pem"), ("worker-01-key.pem", "worker-key.pem"),
                     ("ca.pem", "ca.pem")):
        shutil.copy(plane.cluster / "pki" / src, ssl_dir / dst)
    (written,) = [f for f in config["write_files"] if f["path"].endswith("kubeconfig.yaml")]
    kubeconfig = tmp_path / "worker-kubeconfig.yaml"
    kubeconfig.write_text(written["content"].replace(plane.settings["SSL_DIR"], str(ssl_dir)))
    kubelet = unit_exec_start(unit_content(config, "kube-kubelet.service"))
    assert f"--kubeconfig={written['path']}" in kubelet
    (api_servers,) = [a.split("=", 1)[1] for a in kubelet if a.startswith("--api-servers=")]
    assert api_servers == f"https://{server}"
    # 1.1 answers an unauthenticated request on the secure port with 401: success means the
    # worker's certificate authenticated it
    result = plane.kubectl("--server", api_servers, "get", "namespaces", kubeconfig=kubeconfig)
    assert result.returncode == 0, result.stderr
    assert "kube-system" in result.stdout


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


