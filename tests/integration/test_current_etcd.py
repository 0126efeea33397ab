"""The current profile's etcd member, as its unit runs it, started with real etcd (Debian's
3.4 here; the droplet runs the pinned 3.6 release) on 127.0.0.1 with TLS: the v3 API answers a
client with a certificate of the cluster's CA and refuses one without a certificate or with
another CA's. Only ports, the data directory and the PKI directory are rewritten; the test
checks that no other flag changed."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.current_nodes import (
    CLIENT_EXT,
    SERVER_EXT,
    droplet_config,
    exec_argv,
    issue,
    openssl,
    units,
)
from tests.integration.support import LOOPBACK, Spawn, free_port, run

# Flags of the rendered member that etcd 3.4 lacks (added in 3.5/3.6): skipped when 3.4 runs
# it. None: every flag the unit passes exists in 3.4 (server/etcdmain/config.go of v3.4 and of
# v3.6 both define name, data-dir, the listen/advertise/initial-* URLs, initial-cluster-state
# and -token, cert-file, key-file, trusted-ca-file, client-cert-auth and the peer-* TLS flags),
# and 3.4 exits on a flag it does not know (test_etcd_34_refuses_an_unknown_flag).
NOT_IN_ETCD_34: frozenset[str] = frozenset()
ETCD_PKI = "/etc/etcd/pki"
DATA_DIR = "/var/lib/etcd"


def bare_env() -> dict[str, str]:
    """Only the unit's flags configure etcd (no ETCD_* variables: 3.4 refuses a variable
    that a flag shadows); PATH, and the architecture opt-in etcd wants off amd64."""
    env = {"PATH": os.environ["PATH"]}
    machine = os.uname().machine
    if machine not in ("x86_64", "amd64"):
        env["ETCD_UNSUPPORTED_ARCH"] = {"aarch64": "arm64"}.get(machine, machine)
    return env


def member_argv(cluster: Path) -> list[str]:
    """etcd.service's ExecStart on the etcd droplet, $private_ipv4 = 127.0.0.1."""
    config = droplet_config(cluster, "etcd", private_ipv4=LOOPBACK)
    (argv,) = exec_argv(units(config)["etcd.service"]["content"])
    assert argv[0] == "/opt/bin/etcd"
    return argv[1:]


def rewrite(flags: list[str], pki: Path, data: Path, ports: dict[str, int]) -> list[str]:
    """The droplet's paths and ports moved to this machine's scratch ones; nothing else."""
    out = []
    for flag in flags:
        if flag.split("=", 1)[0].removeprefix("--") in NOT_IN_ETCD_34:
            continue
        new = flag.replace(ETCD_PKI, str(pki)).replace(DATA_DIR, str(data))
        for port, free in ports.items():
            new = new.replace(f"{LOOPBACK}:{port}", f"{LOOPBACK}:{free}")
        out.append(new)
    return out


@pytest.fixture
def pki(current_cluster: Path, openssl_bin: str, tmp_path: Path) -> Path:
    """/etc/etcd/pki as the apply lays it out (ca.pem, etcd.pem: server+peer, SAN the private
    IP), plus an apiserver-etcd-client certificate and one of a foreign CA."""
    d = tmp_path / "pki"
    d.mkdir()
    ca, ca_key = current_cluster / "pki/ca.pem", current_cluster / "pki/ca-key.pem"
    (d / "ca.pem").write_bytes(ca.read_bytes())
    issue(ca, ca_key, d, "etcd", "etcd-01", SERVER_EXT)
    issue(ca, ca_key, d, "client", "kube-apiserver-etcd-client", CLIENT_EXT)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=foreign CA",
            "-days", "1", "-keyout", str(d / "foreign-ca-key.pem"), "-out",
            str(d / "foreign-ca.pem"))
    issue(d / "foreign-ca.pem", d / "foreign-ca-key.pem", d, "foreign", "intruder", CLIENT_EXT)
    return d


def etcdctl(etcdctl_bin: str, endpoint: str, *args: str, tls: dict[str, Path]) -> \
        subprocess.CompletedProcess[str]:
    flags = [f"--{key}={value}" for key, value in tls.items()]
    return run([etcdctl_bin, f"--endpoints={endpoint}", "--dial-timeout=3s",
                "--command-timeout=5s", *flags, *args], env={"ETCDCTL_API": "3"})


def test_member_serves_v3_over_tls_to_ca_signed_clients_only(
        current_cluster: Path, pki: Path, etcd_bin: str, etcdctl_bin: str, spawn: Spawn,
        tmp_path: Path) -> None:
    flags = member_argv(current_cluster)
    values = dict(flag.removeprefix("--").split("=", 1) for flag in flags)
    assert values["client-cert-auth"] == values["peer-client-cert-auth"] == "true"
    assert all(values[k].startswith("https://") for k in (
        "listen-client-urls", "advertise-client-urls", "listen-peer-urls",
        "initial-advertise-peer-urls"))
    ports = {"2379": free_port(), "2380": free_port()}
    argv = rewrite(flags, pki, tmp_path / "data", ports)
    changed = [(a, b) for a, b in zip(flags, argv, strict=True) if a != b]
    assert {a.split("=", 1)[0] for a, _ in changed} <= {
        "--data-dir", "--listen-client-urls", "--advertise-client-urls", "--listen-peer-urls",
        "--initial-advertise-peer-urls", "--initial-cluster", "--cert-file", "--key-file",
        "--trusted-ca-file", "--peer-cert-file", "--peer-key-file", "--peer-trusted-ca-file"}
    proc, log = spawn("etcd", [etcd_bin, *argv], bare_env())

    endpoint = f"https://{LOOPBACK}:{ports['2379']}"
    good = {"cacert": pki / "ca.pem", "cert": pki / "client.pem", "key": pki / "client-key.pem"}
    deadline = time.monotonic() + 60
    while (health := etcdctl(etcdctl_bin, endpoint, "endpoint", "health", tls=good)
           ).returncode != 0:
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"{health.stderr}\n{log.read_text()[-3000:]}"
        time.sleep(0.5)
    assert etcdctl(etcdctl_bin, endpoint, "put", "/registry/probe", "ok", tls=good
                   ).returncode == 0
    got = etcdctl(etcdctl_bin, endpoint, "get", "/registry/probe", "--print-value-only",
                  tls=good)
    assert got.stdout.strip() == "ok", got

    for who, tls in {
        "no certificate": {"cacert": pki / "ca.pem"},
        "another CA's certificate": {"cacert": pki / "ca.pem", "cert": pki / "foreign.pem",
                                     "key": pki / "foreign-key.pem"},
    }.items():
        refused = etcdctl(etcdctl_bin, endpoint, "get", "/registry/probe", tls=tls)
        assert refused.returncode != 0 and "ok" not in refused.stdout, who
    assert "rejected connection" in log.read_text() or "bad certificate" in log.read_text()


def test_etcd_34_refuses_an_unknown_flag(current_cluster: Path, pki: Path, etcd_bin: str,
                                         spawn: Spawn, tmp_path: Path) -> None:
    """Why starting is evidence: etcd exits on a flag it does not define."""
    argv = rewrite(member_argv(current_cluster), pki, tmp_path / "data",
                   {"2379": free_port(), "2380": free_port()})
    proc, log = spawn("etcd", [etcd_bin, *argv, "--client-cert-auth-typo=true"],
                      bare_env())
    assert proc.wait(timeout=30) != 0
    assert "flag provided but not defined" in log.read_text()
