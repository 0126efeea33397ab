"""etcd 3.4 (v2 API) run from the rendered cloud-configs' coreos.etcd2 sections, translated to
etcd's environment as coreos-cloudinit does; $private_ipv4 is 127.0.0.1 and every template
port (2379, 2380) is remapped to a free one per address.

Lock-down (issue 10 row 2): the member serves https with the apply's pki/etcd.pem and requires
client certificates; the proxies reach it with a node certificate. The TLS files sit where
install_etcd_tls (scripts/lib/etcdtls.sh) puts them, under a scratch directory standing for
ETCD_SSL_DIR: only that host path is rewritten."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess, Popen
from typing import Any

import pytest

from tests.baking import default_answers
from tests.integration.k8s_plane import ADVERTISE, require_k8s
from tests.integration.support import (
    CONTROLLER_PRIVATE_IP,
    CONTROLLER_PUBLIC_IP,
    ETCD_IP,
    LOOPBACK,
    PROXY_NODE,
    Spawn,
    applied_user_data,
    cloudinit_config,
    etcd2_environment,
    etcd_process_env,
    first_url,
    free_port,
    issue_node_certs,
    remap_ports,
    run,
    settings,
    wait_exit,
    wait_http,
)
from tests.k8s.controlplane import Rewriter
from tests.k8s.userdata import ControllerSpec

Ports = dict[tuple[str, str], int]


def etcd_assets(cluster: Path, dest: Path, role: str, pki: Path | None = None) -> Path:
    """dest laid out as install_etcd_tls leaves ETCD_SSL_DIR: the member gets pki/etcd*.pem
    as etcd.pem, a node its worker certificate (for the address it dials from) as
    etcd-client.pem; both the CA. pki: take
    the certificates (and CA) from another bake's pki/ instead."""
    src = pki or cluster / "pki"
    dest.mkdir(parents=True, exist_ok=True)
    cert, as_name = (("etcd", "etcd") if role == "member"
                     else (f"worker-{PROXY_NODE}", "etcd-client"))
    shutil.copy(src / f"{cert}.pem", dest / f"{as_name}.pem")
    shutil.copy(src / f"{cert}-key.pem", dest / f"{as_name}-key.pem")
    shutil.copy(src / "ca.pem", dest / "ca.pem")
    return dest


def etcd_env(cluster: Path, user_data: str, ports: Ports, ssl_dir: Path | None = None
             ) -> dict[str, str]:
    """The ETCD_* variables coreos-cloudinit derives from user_data, ports remapped, the
    ETCD_SSL_DIR paths moved to ssl_dir."""
    conf = settings(cluster)
    remapped = remap_ports(user_data, {conf["ETCD_CLIENT_PORT"], conf["ETCD_PEER_PORT"]}, ports)
    env = etcd2_environment(cloudinit_config(remapped))
    if ssl_dir is not None:
        env = {k: v.replace(conf["ETCD_SSL_DIR"], str(ssl_dir)) for k, v in env.items()}
    return env


def start_member(cluster: Path, user_data: str, spawn: Spawn, etcd_bin: str,
                 tmp_path: Path, ports: Ports) -> dict[str, str]:
    """Start the etcd droplet's member from user_data with its TLS assets; wait until it
    answers a client with a node certificate; its environment."""
    env = etcd_env(cluster, user_data, ports, etcd_assets(cluster, tmp_path / "member-ssl",
                                                          "member"))
    proc, log = spawn("etcd-member", [etcd_bin], etcd_process_env(env, tmp_path / "member"))
    loopback = [u.strip() for u in env["ETCD_LISTEN_CLIENT_URLS"].split(",")
                if u.strip().startswith("http://")]
    assert json.loads(wait_http(f"{loopback[0]}/health", proc, log)) == {"health": "true"}
    return env


def node_tls(cluster: Path, tmp_path: Path, pki: Path | None = None) -> dict[str, str]:
    """etcdctl's v2 TLS environment with the node certificate (or another bake's)."""
    d = etcd_assets(cluster, tmp_path / ("client-ssl" if pki is None else "foreign-ssl"),
                    "node", pki)
    return {"ETCDCTL_CERT_FILE": str(d / "etcd-client.pem"),
            "ETCDCTL_KEY_FILE": str(d / "etcd-client-key.pem"),
            "ETCDCTL_CA_FILE": str(d / "ca.pem")}


def etcdctl_v2(etcdctl_bin: str, endpoint: str, *args: str,
               tls: dict[str, str] | None = None) -> CompletedProcess[str]:
    """etcdctl speaking the v2 API (etcd2's, and flannel's of the time) to endpoint."""
    env = {"ETCDCTL_API": "2", "ETCDCTL_ENDPOINTS": endpoint, **(tls or {})}
    return run([etcdctl_bin, *args], env=env)


def test_etcd_member_from_cloud_config_is_healthy(
        issued_cluster: Path, etcd_bin: str, etcdctl_bin: str, spawn: Spawn,
        tmp_path: Path) -> None:
    user_data = (issued_cluster / "cloud-config/etcd.yaml").read_text()
    env = start_member(issued_cluster, user_data, spawn, etcd_bin, tmp_path, {})
    assert env["ETCD_CLIENT_CERT_AUTH"] == "true" and env["ETCD_PEER_CLIENT_CERT_AUTH"] == "true"
    tls = node_tls(issued_cluster, tmp_path)
    urls = [u.strip() for u in env["ETCD_LISTEN_CLIENT_URLS"].split(",")]
    assert [u.split("://")[0] for u in urls] == ["https", "http"]  # private IP, loopback
    for url in urls:
        assert etcdctl_v2(etcdctl_bin, url, "cluster-health", tls=tls).returncode == 0

    client = first_url(env["ETCD_ADVERTISE_CLIENT_URLS"])
    health = etcdctl_v2(etcdctl_bin, client, "cluster-health", tls=tls)
    assert health.returncode == 0 and "cluster is healthy" in health.stdout, health
    members = etcdctl_v2(etcdctl_bin, client, "member", "list", tls=tls).stdout
    peer = first_url(env["ETCD_INITIAL_ADVERTISE_PEER_URLS"])
    assert peer.startswith("https://") and client.startswith("https://")
    name = settings(issued_cluster)["ETCD_MEMBER"]
    assert f"name={name} peerURLs={peer} clientURLs={client}" in members


def test_etcd_member_refuses_broken_initial_cluster(
        issued_cluster: Path, etcd_bin: str, spawn: Spawn, tmp_path: Path) -> None:
    """Negative twin: initial-cluster naming another member than `name` stops etcd."""
    user_data = (issued_cluster / "cloud-config/etcd.yaml").read_text()
    broken = re.sub(r'initial-cluster: "[^=]+=', 'initial-cluster: "etcd-99=', user_data)
    assert broken != user_data
    env = etcd_env(issued_cluster, broken, {},
                   etcd_assets(issued_cluster, tmp_path / "ssl", "member"))
    proc, log = spawn("etcd-member", [etcd_bin], etcd_process_env(env, tmp_path / "member"))
    status = wait_exit(proc)
    assert status not in (None, 0), "etcd ran with a broken initial-cluster"
    assert "couldn't find local name" in log.read_text()


def network_config_command(config: dict[str, Any]) -> list[str]:
    """The flanneld drop-in's ExecStartPre, split as systemd splits it (shell-like quotes)."""
    units = {unit["name"]: unit for unit in config["coreos"]["units"]}
    (dropin,) = units["flanneld.service"]["drop-ins"]
    (line,) = [line for line in dropin["content"].splitlines()
               if line.startswith("ExecStartPre=")]
    return shlex.split(line.removeprefix("ExecStartPre="))


DEFAULTS = default_answers()


@pytest.mark.parametrize("answers", [
    {},
    {"_pod_network": "10.244.0.0/16", "_flannel_backend": "host-gw"},
], ids=["default", "custom-network"])
def test_flannel_network_config_through_etcd_proxies(
        answers: dict[str, str], request: pytest.FixtureRequest,
        bake_with: Callable[..., Path], etcd_bin: str, etcdctl_bin: str, spawn: Spawn,
        tmp_path: Path) -> None:
    """Member from etcd.yaml; controller and worker proxies from their user data as the apply
    writes it (ETCD_PEER = the member's peer URL). The controller's drop-in command stores the
    network config through its proxy (ETCDCTL_ENDPOINTS = the proxy's remapped port, standing
    for etcdctl's default localhost:2379); the member and the worker's proxy read it back."""
    cluster = (issue_node_certs(bake_with(**answers)) if answers
               else request.getfixturevalue("issued_cluster"))
    ports: Ports = {}
    member = start_member(cluster, (cluster / "cloud-config/etcd.yaml").read_text(), spawn,
                          etcd_bin, tmp_path, ports)
    etcd_peer = first_url(member["ETCD_INITIAL_ADVERTISE_PEER_URLS"])

    proxies: dict[str, str] = {}
    configs: dict[str, dict[str, Any]] = {}
    for role in ("controller", "worker"):
        user_data = applied_user_data(cluster, f"{role}.yaml", etcd_peer,
                                      CONTROLLER_PUBLIC_IP)
        configs[role] = cloudinit_config(user_data)
        env = etcd_env(cluster, user_data, ports,
                       etcd_assets(cluster, tmp_path / f"{role}-ssl", "node"))
        assert env["ETCD_PROXY"] == "on"
        proc, log = spawn(f"etcd-proxy-{role}", [etcd_bin],
                          etcd_process_env(env, tmp_path / f"proxy-{role}"))
        proxies[role] = first_url(env["ETCD_LISTEN_CLIENT_URLS"])
        wait_http(f"{proxies[role]}/v2/keys/", proc, log)

    # --no-sync (lock-down): etcdctl otherwise asks the proxy for the members and then dials
    # their https client URLs itself, without a certificate
    argv = network_config_command(configs["controller"])
    assert argv[:4] == ["/usr/bin/etcdctl", "--no-sync", "set", "/coreos.com/network/config"]
    stored = etcdctl_v2(etcdctl_bin, proxies["controller"], *argv[1:])
    assert stored.returncode == 0, stored

    expected = {"Network": answers.get("_pod_network", DEFAULTS["_pod_network"]),
                "Backend": {"Type": answers.get("_flannel_backend",
                                                DEFAULTS["_flannel_backend"])}}
    client = first_url(member["ETCD_ADVERTISE_CLIENT_URLS"])
    tls = node_tls(cluster, tmp_path)
    for endpoint in (client, proxies["worker"]):  # the member; flanneld on a worker
        got = etcdctl_v2(etcdctl_bin, endpoint, "--no-sync", "get", "/coreos.com/network/config",
                         tls=tls if endpoint == client else None)
        assert got.returncode == 0, got
        assert got.stdout.strip() == argv[4]
        assert json.loads(got.stdout) == expected


def test_etcd_proxy_fails_without_the_apply_substitution(
        issued_cluster: Path, etcd_bin: str, etcdctl_bin: str, spawn: Spawn,
        tmp_path: Path) -> None:
    """Negative twin: the controller cloud-config as baked (ETCD_PEER not substituted) gives
    a proxy that exits, and the drop-in's command cannot store the network config."""
    user_data = (issued_cluster / "cloud-config/controller.yaml").read_text()
    env = etcd_env(issued_cluster, user_data, {},
                   etcd_assets(issued_cluster, tmp_path / "ssl", "node"))
    assert env["ETCD_INITIAL_CLUSTER"].endswith("=ETCD_PEER")
    proc, log = spawn("etcd-proxy", [etcd_bin], etcd_process_env(env, tmp_path / "proxy"))
    status = wait_exit(proc)
    assert status not in (None, 0), "etcd proxy ran with ETCD_PEER unsubstituted"
    assert "URL scheme must be http" in log.read_text()
    argv = network_config_command(cloudinit_config(user_data))
    stored = etcdctl_v2(etcdctl_bin, first_url(env["ETCD_LISTEN_CLIENT_URLS"]), *argv[1:])
    assert stored.returncode != 0


def wait_listening(url: str, proc: Popen[bytes], log: Path, timeout: float = 20) -> None:
    """Until url's port accepts connections (the server may answer errors)."""
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{url}: server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            socket.create_connection((host, int(port)), timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"{url} never listened:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)


def proxy_env(cluster: Path, member: dict[str, str], ports: Ports, ssl_dir: Path
              ) -> dict[str, str]:
    etcd_peer = first_url(member["ETCD_INITIAL_ADVERTISE_PEER_URLS"])
    user_data = applied_user_data(cluster, "worker.yaml", etcd_peer, CONTROLLER_PUBLIC_IP)
    return etcd_env(cluster, user_data, ports, ssl_dir)


def test_etcd_refuses_clients_and_proxies_without_a_certificate_of_the_cluster_ca(
        issued_cluster: Path, foreign_cluster: Path, etcd_bin: str, etcdctl_bin: str,
        spawn: Spawn, tmp_path: Path) -> None:
    """Issue 10 row 2: the member's private URL admits only certificates the cluster's CA
    signed. Refused: etcdctl without a certificate, etcdctl with another bake's node
    certificate, plain http; a proxy without a certificate or with the other bake's reads
    nothing. Admitted: a proxy with the node certificate, reading and writing the flannel key."""
    ports: Ports = {}
    member = start_member(issued_cluster, (issued_cluster / "cloud-config/etcd.yaml").read_text(),
                          spawn, etcd_bin, tmp_path, ports)
    client = first_url(member["ETCD_ADVERTISE_CLIENT_URLS"])
    ours = node_tls(issued_cluster, tmp_path)
    key = "/coreos.com/network/config"

    no_cert = etcdctl_v2(etcdctl_bin, client, "get", key, tls={"ETCDCTL_CA_FILE":
                                                               ours["ETCDCTL_CA_FILE"]})
    assert no_cert.returncode != 0
    assert "bad certificate" in no_cert.stderr + no_cert.stdout, no_cert
    foreign = {**node_tls(issued_cluster, tmp_path, foreign_cluster / "pki"),
               "ETCDCTL_CA_FILE": ours["ETCDCTL_CA_FILE"]}
    other_ca = etcdctl_v2(etcdctl_bin, client, "get", key, tls=foreign)
    assert other_ca.returncode != 0
    assert "bad certificate" in other_ca.stderr + other_ca.stdout, other_ca
    plain = etcdctl_v2(etcdctl_bin, client.replace("https://", "http://"), "get", key)
    assert plain.returncode != 0

    # proxies: the node certificate works; none, or another CA's, does not
    good_dir = etcd_assets(issued_cluster, tmp_path / "good-ssl", "node")
    foreign_dir = etcd_assets(issued_cluster, tmp_path / "foreign-proxy-ssl", "node",
                              foreign_cluster / "pki")
    shutil.copy(issued_cluster / "pki/ca.pem", foreign_dir / "ca.pem")  # it trusts our member
    cases = {"node-cert": proxy_env(issued_cluster, member, ports, good_dir),
             "foreign-cert": proxy_env(issued_cluster, member, ports, foreign_dir)}
    cases["no-cert"] = {k: v for k, v in cases["node-cert"].items()
                        if k not in ("ETCD_PEER_CERT_FILE", "ETCD_PEER_KEY_FILE")}
    for name, env in cases.items():
        env["ETCD_LISTEN_CLIENT_URLS"] = f"http://127.0.0.1:{free_port()}"
        proc, log = spawn(f"proxy-{name}", [etcd_bin], etcd_process_env(env, tmp_path / name))
        proxy = env["ETCD_LISTEN_CLIENT_URLS"]
        if name == "node-cert":
            wait_http(f"{proxy}/v2/keys/", proc, log)  # it reached the member
        else:
            wait_listening(proxy, proc, log)
        # a refused proxy is given several tries: none may get through
        for _ in range(1 if name == "node-cert" else 5):
            set_ = etcdctl_v2(etcdctl_bin, proxy, "--no-sync", "set", key,
                              f'{{"Network": "{name}"}}')
            got = etcdctl_v2(etcdctl_bin, proxy, "--no-sync", "get", key)
            if name == "node-cert":
                assert set_.returncode == 0 and got.returncode == 0, (set_, got, log.read_text())
                assert json.loads(got.stdout) == {"Network": "node-cert"}
            else:
                assert set_.returncode != 0 and got.returncode != 0, (name, set_, got)
                time.sleep(0.3)
    # what the refused proxies tried never reached the member
    stored = etcdctl_v2(etcdctl_bin, client, "get", key, tls=ours)
    assert json.loads(stored.stdout) == {"Network": "node-cert"}


def test_etcd_certificate_verifies_for_the_member_private_ip(
        issued_cluster: Path, foreign_cluster: Path, openssl_bin: str) -> None:
    pki = issued_cluster / "pki"
    ok = run([openssl_bin, "verify", "-CAfile", str(pki / "ca.pem"), "-purpose", "sslserver",
              "-verify_ip", ETCD_IP, str(pki / "etcd.pem")])
    assert ok.returncode == 0 and ok.stdout.strip().endswith(": OK"), ok
    other_ip = run([openssl_bin, "verify", "-CAfile", str(pki / "ca.pem"), "-verify_ip",
                    "127.0.0.9", str(pki / "etcd.pem")])
    assert other_ip.returncode != 0 and "IP address mismatch" in other_ip.stdout + other_ip.stderr
    other_ca = run([openssl_bin, "verify", "-CAfile", str(foreign_cluster / "pki/ca.pem"),
                    str(pki / "etcd.pem")])
    assert other_ca.returncode != 0


def test_apiserver_1_1_2_reads_and_writes_through_the_tls_proxy(
        issued_cluster: Path, etcd_bin: str, spawn: Spawn, tmp_path: Path) -> None:
    """Issue 10 row 2 with the real client: etcdctl learns the members' https URLs through the
    proxy and dials them without a certificate (hence --no-sync); the real kube-apiserver
    1.1.2, with the --etcd-servers of the controller's manifest pointed at the controller's
    TLS proxy, must not: it creates and lists namespaces through the proxy."""
    k8s = require_k8s()
    ports: Ports = {}
    member = start_member(issued_cluster, (issued_cluster / "cloud-config/etcd.yaml").read_text(),
                          spawn, etcd_bin, tmp_path, ports)
    etcd_peer = first_url(member["ETCD_INITIAL_ADVERTISE_PEER_URLS"])
    user_data = applied_user_data(issued_cluster, "controller.yaml", etcd_peer,
                                  CONTROLLER_PUBLIC_IP)
    env = etcd_env(issued_cluster, user_data, ports,
                   etcd_assets(issued_cluster, tmp_path / "proxy-ssl", "node"))
    proc, log = spawn("etcd-proxy", [etcd_bin], etcd_process_env(env, tmp_path / "proxy"))
    proxy = first_url(env["ETCD_LISTEN_CLIENT_URLS"])
    wait_http(f"{proxy}/v2/keys/", proc, log)

    s = settings(issued_cluster)
    spec = ControllerSpec.from_user_data(user_data, CONTROLLER_PUBLIC_IP, CONTROLLER_PRIVATE_IP)
    ssl_dir = tmp_path / "ssl"
    ssl_dir.mkdir()
    for name in ("apiserver.pem", "apiserver-key.pem", "ca.pem"):
        shutil.copy(issued_cluster / "pki" / name, ssl_dir / name)
    shutil.copy(issued_cluster / "policy/abac-policy.jsonl", ssl_dir)
    local = free_port()
    rewriter = Rewriter(LOOPBACK, {int(s["ETCD_CLIENT_PORT"]): int(proxy.rsplit(":", 1)[1]),
                                   spec.secure_port: free_port(), spec.local_port: local},
                        {s["SSL_DIR"]: str(ssl_dir)}, advertise=ADVERTISE)
    argv = rewriter.command(spec.apiserver, str(k8s / "kube-apiserver"))
    api, api_log = spawn("kube-apiserver", [*argv, f"--insecure-port={local}"],
                         {"PATH": os.environ["PATH"]})
    wait_http(f"http://{LOOPBACK}:{local}/healthz", api, api_log)
    body = json.dumps({"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": "kube-system"}}).encode()
    request = urllib.request.Request(f"http://{LOOPBACK}:{local}/api/v1/namespaces", data=body,
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        assert response.status == 201
    listed = json.loads(wait_http(f"http://{LOOPBACK}:{local}/api/v1/namespaces", api, api_log))
    assert {"default", "kube-system"} <= {n["metadata"]["name"] for n in listed["items"]}
    assert "certificate" not in api_log.read_text().lower()
