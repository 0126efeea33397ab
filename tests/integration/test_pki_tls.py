"""The PKI over TLS: certs issued by the apply's openssl steps (scripts/lib/pki.sh, the shipped
openssl configs) for test IPs, checked by `openssl verify` and by mutual-TLS handshakes
(Python ssl) with the apiserver cert on a server at 127.0.0.1, the controller's public IP."""

from __future__ import annotations

import ssl
from pathlib import Path

from tests.integration.support import (
    CONTROLLER_PUBLIC_IP,
    WORKER_IP,
    client_context,
    issue_node_certs,
    run,
    server_context,
    tls_exchange,
)


def apiserver(cluster: Path) -> ssl.SSLContext:
    pki = cluster / "pki"
    return server_context(pki / "apiserver.pem", pki / "apiserver-key.pem", pki / "ca.pem")


def client(cluster: Path, name: str, ca_cluster: Path | None = None) -> ssl.SSLContext:
    """A client presenting cluster's pki/NAME.pem, trusting ca_cluster's CA (default: its own)."""
    pki = cluster / "pki"
    ca = (ca_cluster or cluster) / "pki/ca.pem"
    return client_context(ca, pki / f"{name}.pem", pki / f"{name}-key.pem")


def test_certs_verify_against_the_ca(issued_cluster: Path, openssl_bin: str) -> None:
    pki = issued_cluster / "pki"
    ca = ["-CAfile", str(pki / "ca.pem")]
    checks = {
        "apiserver": ["-purpose", "sslserver", "-verify_ip", CONTROLLER_PUBLIC_IP],
        "admin": ["-purpose", "sslclient"],
        "worker-01": ["-purpose", "sslclient", "-verify_ip", WORKER_IP],
    }
    for name, options in checks.items():
        result = run([openssl_bin, "verify", *ca, *options, str(pki / f"{name}.pem")])
        assert result.returncode == 0 and result.stdout.strip().endswith(": OK"), result


def test_admin_and_apiserver_mutual_tls_by_ip(issued_cluster: Path) -> None:
    result = tls_exchange(apiserver(issued_cluster), client(issued_cluster, "admin"),
                          server_hostname=CONTROLLER_PUBLIC_IP)
    assert result["server_error"] is None and result["client_error"] is None, result
    assert result["reply"] == "hello kube-admin\n"


def test_worker_cert_works_as_a_client(issued_cluster: Path) -> None:
    result = tls_exchange(apiserver(issued_cluster), client(issued_cluster, "worker-01"),
                          server_hostname=CONTROLLER_PUBLIC_IP)
    assert result["server_error"] is None and result["client_error"] is None, result
    assert result["reply"] == "hello kube-worker-01\n"


def test_client_cert_from_another_ca_is_refused(issued_cluster: Path, foreign_cluster: Path,
                                                openssl_bin: str) -> None:
    """Another bake's admin cert (its own CA) fails openssl verify against our CA and is
    refused by a server with our apiserver cert."""
    verify = run([openssl_bin, "verify", "-CAfile", str(issued_cluster / "pki/ca.pem"),
                  str(foreign_cluster / "pki/admin.pem")])
    assert verify.returncode != 0 and "verification failed" in verify.stdout + verify.stderr
    result = tls_exchange(apiserver(issued_cluster),
                          client(foreign_cluster, "admin", ca_cluster=issued_cluster),
                          server_hostname=CONTROLLER_PUBLIC_IP)
    assert isinstance(result["server_error"], ssl.SSLCertVerificationError), result
    assert result["client_error"] is not None and result["reply"] is None


def test_broken_apiserver_config_fails_verification_by_ip(
        cluster_copy: Path, openssl_bin: str) -> None:
    """Negative twin: openssl/apiserver.cnf without the public-IP SAN gives a cert that
    openssl and a TLS client both reject when they check the server by that IP."""
    cnf = cluster_copy / "openssl/apiserver.cnf"
    lines = cnf.read_text().splitlines(keepends=True)
    kept = [line for line in lines if "CONTROLLER_PUBLIC_IP" not in line
            or line.lstrip().startswith("#")]
    assert len(kept) == len(lines) - 1
    cnf.write_text("".join(kept))
    issue_node_certs(cluster_copy)
    pki = cluster_copy / "pki"
    verify = run([openssl_bin, "verify", "-CAfile", str(pki / "ca.pem"),
                  "-verify_ip", CONTROLLER_PUBLIC_IP, str(pki / "apiserver.pem")])
    assert verify.returncode != 0 and "IP address mismatch" in verify.stdout + verify.stderr
    result = tls_exchange(apiserver(cluster_copy), client(cluster_copy, "admin"),
                          server_hostname=CONTROLLER_PUBLIC_IP)
    assert isinstance(result["client_error"], ssl.SSLCertVerificationError), result
    assert "IP address mismatch" in str(result["client_error"])
