"""Two controllers (controller_count=2) with the real Kubernetes 1.1.2 apiserver: both run the
command of the controller's user data on ONE etcd (v2, the node's etcd2 proxy), with the one
apiserver certificate the apply issues for all controllers (pki.sh with the load balancer's IP
in APISERVER_LB_IP). An object created through one is served by the other, each answers for the
load balancer's address (TLS passes through the TCP load balancer, so the client checks the
apiserver's certificate against the LB IP), and an unauthenticated /healthz gets 401 — why the
load balancer's health check is TCP (scripts/lib/loadbalancer.sh). Everything binds 127.0.0.1
and is stopped at the end of the module."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.baking import bake
from tests.integration.k8s_plane import ADVERTISE, Plane, https_get, require_k8s, start_plane
from tests.integration.support import (
    CONTROLLER_PRIVATE_IP,
    CONTROLLER_PUBLIC_IP,
    LOOPBACK,
    client_context,
    free_port,
    settings,
)
from tests.k8s.controlplane import ControlPlane, NotReady, Rewriter

# The second controller's addresses and the load balancer's, as test IPs (all loopback).
SECOND_PUBLIC_IP, SECOND_PRIVATE_IP, LB_IP = "127.0.0.4", "127.0.0.5", "127.0.0.6"


@pytest.fixture(scope="module")
def ha_cluster(tmp_path_factory: pytest.TempPathFactory, etcd_bin: str) -> Path:
    cluster = bake(tmp_path_factory.mktemp("ha-k8s"), controller_count=2)
    script = ("set -euo pipefail; set -a; . ./settings.env; set +a; . scripts/lib/pki.sh; "
              f"APISERVER_LB_IP={LB_IP} pki_issue_apiserver {CONTROLLER_PUBLIC_IP} "
              f"{CONTROLLER_PRIVATE_IP} {SECOND_PUBLIC_IP} {SECOND_PRIVATE_IP}")
    subprocess.run(["bash", "-c", script], cwd=cluster, check=True, capture_output=True)
    return cluster


@pytest.fixture(scope="module")
def planes(ha_cluster: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[Plane, ControlPlane]]:
    k8s = require_k8s()
    first = start_plane(ha_cluster, tmp_path_factory.mktemp("ha-first"), only_apiserver=True)
    spec, s = first.spec, settings(ha_cluster)
    # the second controller: the same command, its own ports, the first one's etcd
    ports = {int(s["ETCD_CLIENT_PORT"]): first.rewriter.port(first.etcd_port),
             spec.secure_port: free_port(), spec.local_port: free_port()}
    second = ControlPlane(spec, Rewriter(LOOPBACK, ports, dict(first.rewriter.host_paths),
                                         advertise=ADVERTISE),
                          tmp_path_factory.mktemp("ha-second"), first.etcd_port)
    try:
        second.start_component("kube-apiserver", spec.apiserver, f"{second.local_url}/healthz",
                               [f"--insecure-port={second.rewriter.port(spec.local_port)}"])
    except NotReady as error:
        first.stop()
        pytest.fail(str(error))
    try:
        yield Plane(ha_cluster, first, s, k8s), second
    finally:
        second.stop()
        first.stop()


def kubeconfig(plane: Plane, port: int, name: str) -> Path:
    """./kubeconfig as controller.sh writes it, pointed at one apiserver's port."""
    path = plane.cluster / f"kubeconfig-{name}"
    path.write_text((plane.cluster / "client/admin-kubeconfig.yaml").read_text()
                    .replace("CONTROLLER_PUBLIC_IP", f"{CONTROLLER_PUBLIC_IP}:{port}"))
    return path


def test_an_object_made_through_one_apiserver_is_served_by_the_other(
        planes: tuple[Plane, ControlPlane]) -> None:
    plane, second = planes
    one = kubeconfig(plane, plane.cp.secure_port, "one")
    two = kubeconfig(plane, second.secure_port, "two")
    manifest = plane.cluster / "ns.yaml"
    manifest.write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: made-on-one\n")
    made = plane.kubectl("create", "-f", str(manifest), kubeconfig=one)
    assert made.returncode == 0, made.stderr
    seen = plane.kubectl("get", "namespace", "made-on-one", "-o", "name", kubeconfig=two)
    assert seen.returncode == 0 and seen.stdout.strip() == "namespace/made-on-one", seen.stderr
    gone = plane.kubectl("delete", "namespace", "made-on-one", kubeconfig=two)
    assert gone.returncode == 0, gone.stderr
    phase = plane.kubectl("get", "namespace", "made-on-one", "-o",
                          "jsonpath={.status.phase}", kubeconfig=one)
    # deleted through the other: gone, or Terminating while the namespace controller is away
    assert phase.returncode != 0 or phase.stdout == "Terminating"


def test_both_answer_for_the_load_balancers_address(planes: tuple[Plane, ControlPlane]) -> None:
    plane, second = planes
    pki = plane.cluster / "pki"
    admin = client_context(pki / "ca.pem", pki / "admin.pem", pki / "admin-key.pem")
    for port in (plane.cp.secure_port, second.secure_port):
        for name in (LB_IP, CONTROLLER_PUBLIC_IP, SECOND_PUBLIC_IP, SECOND_PRIVATE_IP,
                     f"{plane.settings['CONTROLLER_PREFIX']}-02"):
            status, body = https_get(port, name, admin, "/api/v1/namespaces/kube-system")
            assert status == 200, (port, name, body)
        # an address the certificate does not name is refused by the client
        with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
            https_get(port, "127.0.0.9", admin, "/healthz")


def test_healthz_without_a_client_certificate_is_401(planes: tuple[Plane, ControlPlane]) -> None:
    plane, second = planes
    anonymous = ssl.create_default_context(cafile=str(plane.cluster / "pki/ca.pem"))
    for port in (plane.cp.secure_port, second.secure_port):
        assert https_get(port, LB_IP, anonymous, "/healthz")[0] == 401
