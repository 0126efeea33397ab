"""The current profile's PKI (issue 11): every component certificate issued by the apply's bash
(profiles/current/scripts/lib/components.sh with the openssl/*.cnf of the profile), checked by
`openssl verify` and `openssl x509` for the names the Node authorizer and RBAC's default
bindings expect, and the admin kubeconfig used by the real kubectl over mutual TLS against a
TLS stub on 127.0.0.1 serving the apiserver certificate."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.baking import copy_cluster
from tests.current_profile import (
    CONTROLLER,
    CONTROLLER_PRIVATE,
    CONTROLLER_PUBLIC,
    WORKER,
    WORKER_PRIVATE,
    WORKER_PUBLIC,
    bake_current,
    components,
    issue_all,
)
from tests.integration.support import run

# name in pki/ -> (subject as openssl prints it with -nameopt RFC2253, openssl -purpose)
EXPECTED = {
    "admin": ("CN=admin,O=system:masters", "sslclient"),
    "apiserver": ("CN=kube-apiserver", "sslserver"),
    "apiserver-kubelet-client": ("CN=kube-apiserver-kubelet-client,O=system:masters", "sslclient"),
    "apiserver-etcd-client": ("CN=kube-apiserver-etcd-client", "sslclient"),
    "controller-manager": ("CN=system:kube-controller-manager", "sslclient"),
    "scheduler": ("CN=system:kube-scheduler", "sslclient"),
    "kube-proxy": ("CN=system:kube-proxy", "sslclient"),
    f"kubelet-{WORKER}": (f"CN=system:node:{WORKER},O=system:nodes", "sslclient"),
    f"kubelet-{CONTROLLER}": (f"CN=system:node:{CONTROLLER},O=system:nodes", "sslserver"),
    "etcd": ("CN=etcd-01", "sslserver"),
}

@pytest.fixture(scope="module")
def current(openssl_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return issue_all(bake_current(tmp_path_factory.mktemp("current")))


@pytest.fixture(scope="module")
def foreign(openssl_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another render, hence another CA."""
    return issue_all(bake_current(tmp_path_factory.mktemp("foreign"), cluster_name="other"))


def x509(cert: Path, *options: str) -> str:
    result = run(["openssl", "x509", "-in", str(cert), "-noout", *options])
    assert result.returncode == 0, result.stderr
    return result.stdout


def sans(cert: Path) -> set[str]:
    lines = x509(cert, "-ext", "subjectAltName").splitlines()[1:]
    return {item.strip().replace("IP Address:", "IP:") for item in ",".join(lines).split(",")}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_certificate_verifies_and_names_its_user(current: Path, name: str) -> None:
    subject, purpose = EXPECTED[name]
    pki = current / "pki"
    result = run(["openssl", "verify", "-CAfile", str(pki / "ca.pem"), "-purpose", purpose,
                  str(pki / f"{name}.pem")])
    assert result.returncode == 0 and result.stdout.strip().endswith(": OK"), result
    assert x509(pki / f"{name}.pem", "-subject", "-nameopt", "RFC2253").strip() == \
        f"subject={subject}"


def test_kubelets_serve_and_authenticate(current: Path) -> None:
    """The kubelet certificate is the node's client (Node authorizer) and its server cert
    (the apiserver's logs/exec by name or IP)."""
    cert = current / "pki" / f"kubelet-{WORKER}.pem"
    for purpose in ("sslclient", "sslserver"):
        result = run(["openssl", "verify", "-CAfile", str(current / "pki/ca.pem"),
                      "-purpose", purpose, "-verify_ip", WORKER_PRIVATE, str(cert)])
        assert result.returncode == 0, result
    assert sans(cert) == {f"DNS:{WORKER}", f"IP:{WORKER_PRIVATE}", f"IP:{WORKER_PUBLIC}"}


def test_apiserver_sans(current: Path) -> None:
    assert sans(current / "pki/apiserver.pem") == {
        f"DNS:{CONTROLLER}", "DNS:kubernetes", "DNS:kubernetes.default",
        "DNS:kubernetes.default.svc", "DNS:kubernetes.default.svc.cluster.local",
        "IP:10.3.0.1", f"IP:{CONTROLLER_PUBLIC}", f"IP:{CONTROLLER_PRIVATE}", "IP:127.0.0.1",
    }


def test_apiserver_sans_follow_the_answers(openssl_bin: str, tmp_path: Path) -> None:
    cluster = bake_current(tmp_path, _service_cidr="10.96.0.0/16",
                             _dns_service_ip="10.96.0.10", _cluster_domain="k8s.example")
    issue_all(cluster)
    names = sans(cluster / "pki/apiserver.pem")
    assert {"IP:10.96.0.1", "DNS:kubernetes.default.svc.k8s.example"} <= names
    assert not {"IP:10.3.0.1", "DNS:kubernetes.default.svc.cluster.local"} & names


def test_no_client_certificate_is_a_server_certificate(current: Path) -> None:
    """Negative twin of the purpose checks: clientAuth-only certificates fail as servers."""
    for name in ("controller-manager", "scheduler", "kube-proxy", "apiserver-etcd-client"):
        result = run(["openssl", "verify", "-CAfile", str(current / "pki/ca.pem"),
                      "-purpose", "sslserver", str(current / "pki" / f"{name}.pem")])
        assert result.returncode != 0, name


def test_the_front_proxy_client_is_of_its_own_ca_only(current: Path) -> None:
    """Issue 21.3: the aggregation layer's client certificate (CN front-proxy-client, the
    apiserver's --requestheader-allowed-names) is signed by the bake's front-proxy CA, as
    kubeadm keeps it (cmd/kubeadm/app/constants/constants.go FrontProxyCACertAndKeyBaseName,
    FrontProxyClientCertCommonName); the cluster CA does not vouch for it, nor it for the
    cluster's certificates."""
    pki = current / "pki"
    client = str(pki / "front-proxy-client.pem")
    ok = run(["openssl", "verify", "-CAfile", str(pki / "front-proxy-ca.pem"), "-purpose",
              "sslclient", client])
    assert ok.returncode == 0 and ok.stdout.strip().endswith(": OK"), ok
    assert x509(pki / "front-proxy-client.pem", "-subject", "-nameopt", "RFC2253").strip() == \
        "subject=CN=front-proxy-client"
    assert x509(pki / "front-proxy-ca.pem", "-subject", "-nameopt", "RFC2253").strip() == \
        "subject=CN=front-proxy-ca"
    # negative twins: not of the cluster CA, and not a server certificate
    assert run(["openssl", "verify", "-CAfile", str(pki / "ca.pem"), client]).returncode != 0
    assert run(["openssl", "verify", "-CAfile", str(pki / "front-proxy-ca.pem"), "-purpose",
                "sslserver", client]).returncode != 0
    assert run(["openssl", "verify", "-CAfile", str(pki / "front-proxy-ca.pem"),
                str(pki / "apiserver.pem")]).returncode != 0


def test_the_service_account_public_key_is_the_key_s(current: Path) -> None:
    pki = current / "pki"
    derived = run(["openssl", "rsa", "-in", str(pki / "service-account-key.pem"), "-pubout"])
    assert derived.returncode == 0
    assert derived.stdout == (pki / "service-account.pub").read_text()


def digests(pki: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(pki.iterdir())
            if p.name.endswith((".pem", ".pub"))}


def test_keys_are_private_and_a_rerun_replaces_nothing(current: Path, tmp_path: Path) -> None:
    cluster = copy_cluster(current, tmp_path)
    pki = cluster / "pki"
    keys = sorted(pki.glob("*-key.pem"))
    assert len(keys) == 14  # CA, admin, front-proxy CA (bake) and the 11 issued here
    assert {oct(p.stat().st_mode & 0o777) for p in keys} == {"0o600"}
    before = digests(pki)
    issue_all(cluster)
    assert digests(pki) == before
    # A missing certificate is signed again with the kept key: same public key, new serial.
    cert = pki / f"kubelet-{WORKER}.pem"
    modulus = x509(cert, "-modulus")
    cert.unlink()
    issue_all(cluster)
    assert x509(cert, "-modulus") == modulus
    assert digests(pki) | {cert.name: before[cert.name]} == before


def test_a_partial_public_key_is_swept_and_derived_again(current: Path, tmp_path: Path) -> None:
    """An interrupted pki_issue_service_account leaves service-account.pub.tmp.PID; the apply's
    sweep removes it, and the public key is derived again from the kept key."""
    cluster = copy_cluster(current, tmp_path)
    pki = cluster / "pki"
    key = (pki / "service-account-key.pem").read_bytes()
    (pki / "service-account.pub").rename(pki / "service-account.pub.tmp.4242")
    result = components(cluster, "pki_sweep; pki_issue_service_account")
    assert result.returncode == 0, result.stderr
    assert "service-account.pub.tmp.4242" in result.stderr
    assert sorted(p.name for p in pki.glob("service-account*")) == [
        "service-account-key.pem", "service-account.pub"]
    assert (pki / "service-account-key.pem").read_bytes() == key
    assert (pki / "service-account.pub").read_text() == (
        current / "pki/service-account.pub").read_text()


def test_a_kubelet_needs_both_addresses(current: Path, tmp_path: Path) -> None:
    cluster = copy_cluster(current, tmp_path)
    result = components(cluster, f"pki_issue_kubelet {CONTROLLER}-x {WORKER_PRIVATE}")
    assert result.returncode != 0 and "NAME PRIVATE_IP PUBLIC_IP" in result.stderr
    assert not list((cluster / "pki").glob(f"kubelet-{CONTROLLER}-x*"))


def test_a_broken_kubelet_config_is_refused_by_ip(current: Path, tmp_path: Path) -> None:
    """Negative twin: openssl/kubelet.cnf without the private-IP SAN gives a certificate that
    openssl rejects when the apiserver checks the kubelet by that IP."""
    cluster = copy_cluster(current, tmp_path)
    cnf = cluster / "openssl/kubelet.cnf"
    cnf.write_text(cnf.read_text().replace("IP.1 = $ENV::NODE_PRIVATE_IP\n", ""))
    assert components(cluster, "pki_issue_kubelet w-02 127.0.0.8 127.0.0.9").returncode == 0
    result = run(["openssl", "verify", "-CAfile", str(cluster / "pki/ca.pem"),
                  "-verify_ip", "127.0.0.8", str(cluster / "pki/kubelet-w-02.pem")])
    assert result.returncode != 0 and "IP address mismatch" in result.stdout + result.stderr


def test_component_files_follow_the_contract(current: Path) -> None:
    result = components(current, f"component_files controller {CONTROLLER}; "
                                 f"component_files worker {WORKER}; component_files etcd")
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    remote = {dest: (src, mode) for src, dest, mode in lines}
    assert remote["/etc/kubernetes/pki/kubelet.pem"][0] == f"pki/kubelet-{WORKER}.pem"
    assert remote["/etc/kubernetes/pki/service-account.pem"][0] == "pki/service-account.pub"
    assert remote["/etc/etcd/pki/etcd-key.pem"] == ("pki/etcd-key.pem", "0600")
    # secrets 0600: the keys and the EncryptionConfiguration holding the Secrets' key (issue 20)
    assert remote["/etc/kubernetes/pki/encryption-config.yaml"] == (
        "pki/encryption-config.yaml", "0600")
    assert all(mode == ("0600" if src.endswith(("-key.pem", "encryption-config.yaml"))
                        else "0644") for src, _, mode in lines)
    assert all((current / src).is_file() for src, _, _ in lines)


def test_component_files_refuse_a_node_without_its_certificate(current: Path) -> None:
    result = components(current, "component_files worker do-cluster-worker-09")
    assert result.returncode != 0 and result.stdout == ""
    assert "kubelet-do-cluster-worker-09.pem is missing" in result.stderr


# --- kubectl over mutual TLS ------------------------------------------------------------------


class VersionHandler(BaseHTTPRequestHandler):
    """Answers GET /version as an apiserver does and records who asked (the client cert)."""

    peers: list[str]

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        cert = self.connection.getpeercert() or {}  # type: ignore[attr-defined]
        self.peers.append(",".join(f"{k}={v}" for rdn in cert.get("subject", ()) for k, v in rdn))
        body = json.dumps({"major": "1", "minor": "37", "gitVersion": "v1.37.0"}).encode()
        self.send_response(200 if urlsplit(self.path).path == "/version" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


class StubServer(ThreadingHTTPServer):
    """Records why a TLS handshake failed (socketserver would drop the error silently)."""

    handshake_errors: list[ssl.SSLError]

    def get_request(self) -> tuple[socket.socket, Any]:
        try:
            return super().get_request()
        except ssl.SSLError as err:
            self.handshake_errors.append(err)
            raise


@dataclass
class Stub:
    port: int
    peers: list[str]  # subjects of the clients served
    handshake_errors: list[ssl.SSLError]


@pytest.fixture
def stub(current: Path) -> Iterator[Stub]:
    """An HTTPS server on 127.0.0.1 with the apiserver cert, requiring a client certificate
    signed by the cluster's CA."""
    pki = current / "pki"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "apiserver.pem", pki / "apiserver-key.pem")
    ctx.load_verify_locations(pki / "ca.pem")
    ctx.verify_mode = ssl.CERT_REQUIRED
    peers: list[str] = []
    handler = type("Handler", (VersionHandler,), {"peers": peers})
    server = StubServer(("127.0.0.1", 0), handler)
    server.handshake_errors = []
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Stub(server.server_address[1], peers, server.handshake_errors)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def admin_kubeconfig(cluster: Path, port: int, target: Path) -> Path:
    """./kubeconfig as the apply writes it (client/admin-kubeconfig.yaml, the controller's
    public IP filled in; here 127.0.0.1 with the stub's port), beside cluster's pki/."""
    text = (cluster / "client/admin-kubeconfig.yaml").read_text()
    target.write_text(text.replace("CONTROLLER_PUBLIC_IP", f"{CONTROLLER_PUBLIC}:{port}"))
    return target


def kubectl(kubectl_bin: str, kubeconfig: Path) -> subprocess.CompletedProcess[str]:
    return run([kubectl_bin, "--kubeconfig", str(kubeconfig), "--request-timeout=20s",
                "get", "--raw", "/version"], env={"PATH": os.environ["PATH"],
                                                  "HOME": str(kubeconfig.parent)})


def test_kubectl_with_the_admin_kubeconfig_over_mutual_tls(
        current: Path, stub: Stub, kubectl_bin: str) -> None:
    result = kubectl(kubectl_bin, admin_kubeconfig(current, stub.port, current / "kubeconfig"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["gitVersion"] == "v1.37.0"
    assert stub.peers and set(stub.peers) == {"organizationName=system:masters,commonName=admin"}
    assert stub.handshake_errors == []


def refused(result: subprocess.CompletedProcess[str], stub: Stub) -> ssl.SSLError:
    """kubectl could not connect, nobody was served: the server's handshake error. (Whether
    kubectl reports the server's TLS alert or a reset connection is a race.)"""
    assert result.returncode != 0 and "Unable to connect to the server" in result.stderr, \
        result.stderr
    assert stub.peers == [] and stub.handshake_errors, stub
    return stub.handshake_errors[0]


def test_kubectl_without_a_client_certificate_is_refused(
        current: Path, stub: Stub, kubectl_bin: str, tmp_path: Path) -> None:
    """The admin user with a bearer token in place of its certificate and key (with no
    credentials at all kubectl would prompt for a user name): the handshake fails."""
    cluster = copy_cluster(current, tmp_path)
    config = admin_kubeconfig(cluster, stub.port, cluster / "kubeconfig")
    lines = config.read_text().splitlines()
    kept = [line for line in lines if "client-" not in line]
    assert len(kept) == len(lines) - 2
    config.write_text("\n".join(kept).replace("    user:\n", "    user:\n      token: t\n", 1)
                      + "\n")
    error = refused(kubectl(kubectl_bin, config), stub)
    assert error.reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE", error


def test_kubectl_with_another_ca_s_admin_is_refused(
        current: Path, foreign: Path, stub: Stub, kubectl_bin: str, tmp_path: Path) -> None:
    """Another cluster's admin certificate and key, our CA and server: the stub refuses it
    (the other CA has the same name, CN=kube-ca: its signature fails, not its lookup)."""
    cluster = copy_cluster(current, tmp_path)
    for name in ("admin.pem", "admin-key.pem"):
        (cluster / "pki" / name).unlink()
        (cluster / "pki" / name).write_bytes((foreign / "pki" / name).read_bytes())
    error = refused(kubectl(kubectl_bin, admin_kubeconfig(cluster, stub.port,
                                                          cluster / "kubeconfig")), stub)
    assert isinstance(error, ssl.SSLCertVerificationError), error
