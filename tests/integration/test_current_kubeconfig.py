"""The current profile's kubeconfigs with the real kubectl (a current one) over mutual TLS
against an HTTPS stub on 127.0.0.1 that presents a certificate without the loopback address:
tls-server-name makes the controller's https://127.0.0.1 connections check the name
`kubernetes` (one of the apiserver's SANs); without it the server's certificate is refused."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.integration.current_nodes import CLIENT_EXT, issue
from tests.integration.support import LOOPBACK, peer_cn, run

APISERVER_EXT = ("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                 "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:kubernetes,IP:10.0.0.4\n")


class Healthz(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = f"ok {peer_cn(self.connection)}".encode()  # type: ignore[arg-type]
        self.send_response(200 if self.path == "/healthz" else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def pki(current_cluster: Path, openssl_bin: str, tmp_path: Path) -> Path:
    d = tmp_path / "pki"
    d.mkdir()
    ca, ca_key = current_cluster / "pki/ca.pem", current_cluster / "pki/ca-key.pem"
    (d / "ca.pem").write_bytes(ca.read_bytes())
    issue(ca, ca_key, d, "apiserver", "kube-apiserver", APISERVER_EXT)
    issue(ca, ca_key, d, "scheduler", "system:kube-scheduler", CLIENT_EXT)
    return d


@pytest.fixture
def stub(pki: Path) -> Iterator[int]:
    """An HTTPS server on 127.0.0.1 requiring a client certificate of the cluster's CA."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "apiserver.pem", pki / "apiserver-key.pem")
    ctx.load_verify_locations(pki / "ca.pem")
    ctx.verify_mode = ssl.CERT_REQUIRED
    server = ThreadingHTTPServer((LOOPBACK, 0), Healthz)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def local_kubeconfig(cluster: Path, pki: Path, port: int, tmp_path: Path,
                     drop: str = "") -> Path:
    """scheduler.kubeconfig with the node's PKI directory moved to pki and the stub's port."""
    text = (cluster / "node/scheduler.kubeconfig").read_text()
    assert "server: https://127.0.0.1\n" in text
    text = text.replace("/etc/kubernetes/pki", str(pki)).replace(
        "server: https://127.0.0.1\n", f"server: https://127.0.0.1:{port}\n")
    if drop:
        text = "".join(line for line in text.splitlines(keepends=True) if drop not in line)
    path = tmp_path / "scheduler.kubeconfig"
    path.write_text(text)
    return path


def test_loopback_kubeconfig_checks_the_apiserver_name(
        current_cluster: Path, pki: Path, stub: int, kubectl_bin: str, tmp_path: Path) -> None:
    config = local_kubeconfig(current_cluster, pki, stub, tmp_path)
    result = run([kubectl_bin, "--kubeconfig", str(config), "get", "--raw", "/healthz"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok system:kube-scheduler"


def test_without_tls_server_name_the_loopback_is_refused(
        current_cluster: Path, pki: Path, stub: int, kubectl_bin: str, tmp_path: Path) -> None:
    config = local_kubeconfig(current_cluster, pki, stub, tmp_path, drop="tls-server-name")
    result = run([kubectl_bin, "--kubeconfig", str(config), "get", "--raw", "/healthz"])
    assert result.returncode != 0
    assert "x509" in result.stderr and "127.0.0.1" in result.stderr, result.stderr
