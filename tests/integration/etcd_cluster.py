"""A static etcd cluster (etcd_count=3) run by the real etcd 3.4 from the rendered member user
data plus the environment file `make etcd` delivers (scripts/lib/etcdcluster.sh), as
coreos-cloudinit and systemd (EnvironmentFile= overriding Environment=) hand them to etcd2.

On one machine the members cannot have three private IPs: etcd 3.4 checks a peer's client
certificate IP SAN against the address it connects from, and a loopback connection comes from
127.0.0.1 whatever 127.0.0.x it dials. So every member's $private_ipv4 is 127.0.0.1 with its
own ports, and the apply's initial cluster, built for the private IPs 10.0.0.1-3, has exactly
those addresses rewritten to the members' loopback peer URLs: nothing else changes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

from tests.integration.support import (
    CONTROLLER_PUBLIC_IP,
    LOOPBACK,
    Spawn,
    applied_user_data,
    etcd_process_env,
    first_url,
    free_port,
    settings,
    wait_http,
)
from tests.integration.test_etcd import Ports, etcd_assets, etcd_env

# What the apply would see: the members' private IPs (rewritten to loopback ports below).
PRIVATE_IPS = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]

# scripts/lib/etcdcluster.sh as make etcd runs it, on a CLUSTER_LIST of the members.
_APPLY = (
    'set -euo pipefail; source scripts/lib/common.sh; CLUSTER_LIST=$1; shift; '
    'initial=$(etcd_initial_cluster); '
    'for name in $(etcd_names); do etcd_cluster_env "$(etcd_member_name "$name")" "$initial"; '
    'echo "--"; done'
)


def member_names(cluster: Path) -> list[str]:
    prefix = settings(cluster)["ETCD_PREFIX"]
    return [f"{prefix}-{nn:02d}" for nn in range(1, len(PRIVATE_IPS) + 1)]


def delivered_env_files(cluster: Path) -> list[str]:
    """Each member's ETCD_CLUSTER_ENV text, from the apply's own functions."""
    records = [{"name": n, "id": i + 1, "public_ip": f"203.0.113.{i + 1}", "private_ip": ip,
                "status": "active"}
               for i, (n, ip) in enumerate(zip(member_names(cluster), PRIVATE_IPS,
                                                   strict=True))]
    out = subprocess.run(["bash", "-c", _APPLY, "apply", json.dumps(records)], cwd=cluster,
                         env={"PATH": os.environ["PATH"]}, capture_output=True, text=True,
                         check=True).stdout
    return [part.lstrip("\n") for part in out.split("--\n") if part.strip()]


def issue_member_certs(cluster: Path) -> None:
    """pki/etcd-NN.pem as make etcd issues them (pki_issue_etcd), for 127.0.0.1."""
    script = ('set -euo pipefail; set -a; . ./settings.env; set +a; . scripts/lib/pki.sh; '
              '. scripts/lib/etcdtls.sh; for n in "$@"; do '
              'pki_issue_etcd 127.0.0.1 "etcd-${n##*-}" "$n"; done')
    subprocess.run(["bash", "-c", script, "issue", *member_names(cluster)], cwd=cluster,
                   check=True, capture_output=True)


def parse_env_file(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


@dataclass
class Member:
    name: str
    env: dict[str, str]
    data_dir: Path
    proc: Popen[bytes] | None = None
    log: Path | None = None

    @property
    def loopback(self) -> str:
        """The member's plain-http loopback client URL (listen-client-urls' second)."""
        return [u.strip() for u in self.env["ETCD_LISTEN_CLIENT_URLS"].split(",")
                if u.strip().startswith("http://")][0]

    @property
    def client(self) -> str:
        return first_url(self.env["ETCD_ADVERTISE_CLIENT_URLS"])


@dataclass
class EtcdCluster:
    cluster: Path
    etcd_bin: str
    spawn: Spawn
    work: Path
    members: list[Member] = field(default_factory=list)
    # each private IP's loopback peer and client URLs
    peer_of: dict[str, str] = field(default_factory=dict)

    def to_loopback(self, text: str) -> str:
        port = settings(self.cluster)["ETCD_PEER_PORT"]
        for ip, url in self.peer_of.items():
            text = text.replace(f"https://{ip}:{port}", url)
        return text

    def prepare(self, env_files: list[str] | None = None) -> None:
        """Every member's environment: user data + delivered file (loopback-rewritten)."""
        conf = settings(self.cluster)
        user_data = (self.cluster / "cloud-config/etcd.yaml").read_text()
        ports: list[Ports] = []
        for ip in PRIVATE_IPS:
            own: Ports = {(host, conf[key]): free_port() for host in ("$private_ipv4", LOOPBACK)
                          for key in ("ETCD_PEER_PORT", "ETCD_CLIENT_PORT")}
            peer = own[("$private_ipv4", conf["ETCD_PEER_PORT"])]
            self.peer_of[ip] = f"https://{LOOPBACK}:{peer}"
            ports.append(own)
        files = env_files or delivered_env_files(self.cluster)
        for nn, (name, own, text) in enumerate(
                zip(member_names(self.cluster), ports, files, strict=True), 1):
            ssl = self.work / f"{name}-ssl"
            ssl.mkdir(parents=True, exist_ok=True)
            pki = self.cluster / "pki"
            shutil.copy(pki / f"etcd-{nn:02d}.pem", ssl / "etcd.pem")
            shutil.copy(pki / f"etcd-{nn:02d}-key.pem", ssl / "etcd-key.pem")
            shutil.copy(pki / "ca.pem", ssl / "ca.pem")
            env = etcd_env(self.cluster, user_data, own, ssl)
            env.update(parse_env_file(self.to_loopback(text)))  # EnvironmentFile= wins
            self.members.append(Member(name, env, self.work / f"{name}-data"))

    def start(self, member: Member, **extra: str) -> None:
        env = etcd_process_env({**member.env, **extra}, member.data_dir)
        member.proc, member.log = self.spawn(
            f"{member.name}-{len(list(self.work.glob(member.name + '*.log')))}",
            [self.etcd_bin], env)

    def wait_healthy(self, member: Member, timeout: float = 60) -> None:
        assert member.proc is not None and member.log is not None
        wait_http(f"{member.loopback}/v2/keys/", member.proc, member.log, timeout)

    def proxy(self, role: str = "worker") -> tuple[str, Popen[bytes], Path]:
        """A node's etcd proxy from its user data as the apply renders it (ETCD_PEER = the
        whole initial cluster), with the node certificate."""
        initial = parse_env_file(delivered_env_files(self.cluster)[0])["ETCD_INITIAL_CLUSTER"]
        user_data = self.to_loopback(applied_user_data(self.cluster, f"{role}.yaml", initial,
                                                       CONTROLLER_PUBLIC_IP))
        env = etcd_env(self.cluster, user_data, {},
                       etcd_assets(self.cluster, self.work / f"{role}-proxy-ssl", "node"))
        assert env["ETCD_PROXY"] == "on"
        proc, log = self.spawn(f"proxy-{role}", [self.etcd_bin],
                               etcd_process_env(env, self.work / f"proxy-{role}"))
        url = first_url(env["ETCD_LISTEN_CLIENT_URLS"])
        return url, proc, log

