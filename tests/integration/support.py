"""Helpers for the integration tests: user data as the apply and coreos-cloudinit see it,
server processes on free loopback ports, TLS endpoints."""

from __future__ import annotations

import os
import random
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from generator import TEMPLATE_ROOT
from tests.k8s.controlplane import stop_process
from tests.k8s.userdata import cloudinit_text

LOOPBACK = "127.0.0.1"
# Test addresses for the controller (its public IP is the one TLS clients verify) and worker.
CONTROLLER_PUBLIC_IP = "127.0.0.1"
CONTROLLER_PRIVATE_IP = "127.0.0.2"
WORKER_IP = "127.0.0.3"
ETCD_IP = "127.0.0.1"  # LOOPBACK: $private_ipv4 in the etcd tests
# The node whose etcd proxy dials the member: etcd 3.4 checks a peer client certificate's IP
# SAN against the address it connects from (on a droplet: the node's private IP, which its
# certificate carries); in the tests the proxies connect from 127.0.0.1.
PROXY_NODE = "02"
STANDINS = TEMPLATE_ROOT / "tests"  # fakes of doctl, kubectl... live here: never "the real one"

# The apply's own rendering (scripts/lib/common.sh: the tutorial's sed for ETCD_PEER and
# CONTROLLER_PUBLIC_IP, refusing leftovers), writing into a scratch USER_DATA_DIR.
RENDER_USER_DATA = (
    'set -euo pipefail; source scripts/lib/common.sh; USER_DATA_DIR=$1; '
    'render_user_data "$2" node; cat "$USER_DATA_DIR/node.yaml"'
)


def require_program(name: str, package: str) -> str:
    """The real program's path (never a stand-in under tests/); if it is missing, fail under
    CI=true, else skip, naming the Debian package."""
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        path = shutil.which(name, path=directory) if directory else None
        if path and not Path(path).resolve().is_relative_to(STANDINS):
            return path
    message = f"`{name}` is not installed: apt-get install {package} (Debian package {package})"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _port_slice() -> range:
    """The ports this process may hand out: the 12000 below the kernel's ephemeral range (a
    port the kernel picked could be some connection's source port by the time a server binds
    it), cut into one slice per pytest-xdist worker so parallel workers never pick the same."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    start = max(1024, low - 12000)
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    width = (low - start) // workers
    return range(start + worker * width, start + (worker + 1) * width)


def free_port() -> int:
    """A TCP port nobody listens on at 127.0.0.1, from this process's slice (_port_slice),
    never one handed out before in this process."""
    while True:
        port = random.choice(_port_slice())
        if port in _TAKEN:
            continue
        with socket.socket() as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue
        _TAKEN.add(port)
        return port


_TAKEN: set[int] = set()


def settings(cluster: Path) -> dict[str, str]:
    """settings.env as bash reads it (KEY=value lines, quotes removed)."""
    out = subprocess.run(
        ["bash", "-c", "set -a; . ./settings.env; set +a; env -0"],
        cwd=cluster, env={"PATH": os.environ["PATH"]}, capture_output=True, check=True,
    ).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


def applied_user_data(cluster: Path, template: str, etcd_peer: str, controller_ip: str) -> str:
    """cloud-config/TEMPLATE as the apply uploads it: its render_user_data, run by bash."""
    env = {"PATH": os.environ["PATH"], "ETCD_PEER": etcd_peer,
           "CONTROLLER_PUBLIC_IP": controller_ip}
    with tempfile.TemporaryDirectory() as scratch:
        return subprocess.run(
            ["bash", "-c", RENDER_USER_DATA, "render", scratch, template],
            cwd=cluster, env=env, capture_output=True, text=True, check=True,
        ).stdout


def cloudinit_config(user_data: str, private_ipv4: str = LOOPBACK,
                     public_ipv4: str = LOOPBACK) -> dict[str, Any]:
    """The cloud-config as coreos-cloudinit reads it (tests/k8s/controlplane.cloudinit_text:
    $private_ipv4/$public_ipv4 replaced, every scalar a string: Go decodes `proxy: on` as "on")."""
    assert user_data.startswith("#cloud-config\n"), "coreos-cloudinit needs the #cloud-config line"
    return cloudinit_text(user_data, public_ipv4, private_ipv4)


def etcd2_environment(config: dict[str, Any]) -> dict[str, str]:
    """coreos.etcd2 as coreos-cloudinit hands it to etcd2.service: ETCD_<KEY>, '-' -> '_'."""
    return {f"ETCD_{key.replace('-', '_').upper()}": value
            for key, value in config["coreos"]["etcd2"].items()}


_URL = re.compile(r"(?P<head>https?://(?P<host>[^:/,\s\"']+)):(?P<port>\d+)")


def remap_ports(text: str, template_ports: set[str],
                mapping: dict[tuple[str, str], int]) -> str:
    """Give every (host, template port) in the URLs of text its own free port, hosts as written
    ($private_ipv4 and 127.0.0.1 stay distinct endpoints once both are 127.0.0.1). mapping is
    shared between the member and its proxies so a URL means the same endpoint in both."""

    def replace(match: re.Match[str]) -> str:
        if match["port"] not in template_ports:
            return match[0]
        key = (match["host"], match["port"])
        if key not in mapping:
            mapping[key] = free_port()
        return f"{match['head']}:{mapping[key]}"

    return _URL.sub(replace, text)


def etcd_process_env(cloud_env: dict[str, str], data_dir: Path) -> dict[str, str]:
    """etcd 3.4's whole environment: the cloud-config's variables plus a scratch data dir.
    (The v2 API is on in etcd2, the program the cloud-config was written for.)"""
    env = {"PATH": os.environ["PATH"], "ETCD_DATA_DIR": str(data_dir), "ETCD_ENABLE_V2": "true",
           **cloud_env}
    machine = os.uname().machine
    if machine not in ("x86_64", "amd64"):
        env["ETCD_UNSUPPORTED_ARCH"] = {"aarch64": "arm64"}.get(machine, machine)
    return env


def first_url(value: str) -> str:
    return value.split(",")[0].strip()


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 20) -> bytes:
    """GET url once the server answers 200; fail with its log if it exits or never answers."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (http on lo)
                return bytes(response.read())
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"{url} never answered:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)


def wait_exit(proc: subprocess.Popen[bytes], timeout: float = 20) -> int | None:
    """The exit status if the process ends within timeout, else None (still running)."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def stop(proc: subprocess.Popen[bytes]) -> None:
    stop_process(proc, timeout=5)


# --- TLS ----------------------------------------------------------------------------------


def server_context(cert: Path, key: Path, client_ca: Path) -> ssl.SSLContext:
    """The apiserver's TLS side: its cert, and client certs required, signed by client_ca."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(client_ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    """A client trusting ca only, checking the server's name, presenting cert."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED on
    ctx.load_verify_locations(ca)
    ctx.load_cert_chain(cert, key)
    return ctx


def peer_cn(sock: ssl.SSLSocket) -> str:
    cert = sock.getpeercert() or {}
    return next((v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"), "")


def tls_exchange(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext,
                 server_hostname: str) -> dict[str, Any]:
    """One mutual-TLS connection to a server on 127.0.0.1 that replies with the client's CN.
    Returns the client's reply or error and the server's error, if any."""
    result: dict[str, Any] = {"server_error": None, "client_error": None, "reply": None}
    listener = socket.create_server((LOOPBACK, 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(f"hello {peer_cn(tls)}\n".encode())
        except (ssl.SSLError, OSError) as error:
            result["server_error"] = error
        finally:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with socket.create_connection((LOOPBACK, port), timeout=5) as raw, \
                client_ctx.wrap_socket(raw, server_hostname=server_hostname) as tls:
            result["reply"] = tls.recv(100).decode()  # TLS 1.3: a refused client learns here
            if not result["reply"]:
                raise ConnectionResetError("server closed the connection")
    except (ssl.SSLError, OSError) as error:
        result["client_error"] = error
    thread.join(5)
    listener.close()
    return result


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a program, capture text output, never raise on its status."""
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False,
                          **kwargs)


Spawn = Callable[[str, list[str], dict[str, str]], tuple[subprocess.Popen[bytes], Path]]


def issue_node_certs(cluster: Path) -> Path:
    """The apply's openssl steps in cluster: apiserver, worker-01, worker-PROXY_NODE and etcd
    member certs for test IPs (the member's private IP is ETCD_IP, what $private_ipv4 becomes
    in the tests)."""
    script = (
        "set -euo pipefail; set -a; . ./settings.env; set +a; . scripts/lib/pki.sh; "
        ". scripts/lib/etcdtls.sh; "
        f"pki_issue_apiserver {CONTROLLER_PUBLIC_IP} {CONTROLLER_PRIVATE_IP}; "
        f"pki_issue_worker 01 {WORKER_IP}; pki_issue_worker {PROXY_NODE} {ETCD_IP}; "
        f"pki_issue_etcd {ETCD_IP}"
    )
    subprocess.run(["bash", "-c", script], cwd=cluster, check=True, capture_output=True)
    return cluster
