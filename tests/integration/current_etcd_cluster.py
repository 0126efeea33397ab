"""A static etcd cluster of the current profile (etcd_count=3) run by the real etcd (Debian's
3.4; the droplets run the pinned 3.6 release) from the RENDERED etcd.service: its ExecStart
flags, plus the EnvironmentFile= `make etcd` delivers over ssh (ETCD_NAME and
ETCD_INITIAL_CLUSTER from scripts/lib/etcdcluster.sh), each member with its own certificate
issued by the apply's pki_issue_etcd.

On one machine the members cannot have three private IPs (etcd checks a peer certificate's IP
SAN against the address the connection comes from: 127.0.0.1 whatever 127.0.0.x is dialled),
so every member's $private_ipv4 is 127.0.0.1 with ports of its own; the apply's initial
cluster, built for the private IPs 10.0.0.1-3, has exactly those peer URLs rewritten to the
members' loopback ones. Only ports, data and PKI directories change (test_current_etcd's
rewrite, which checks that no other flag changed)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.current_nodes import droplet_config, exec_argv, units
from tests.integration.etcd_cluster import (
    PRIVATE_IPS,
    delivered_env_files,
    issue_member_certs,
    member_names,
    parse_env_file,
)
from tests.integration.support import LOOPBACK, free_port, settings, stop
from tests.integration.test_current_etcd import ETCD_PKI, bare_env, etcdctl, rewrite


@dataclass
class Member:
    name: str
    argv: list[str]
    env: dict[str, str]
    pki: Path
    data_dir: Path
    client_port: int
    peer_port: int
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def client(self) -> str:
        return f"https://{LOOPBACK}:{self.client_port}"

    @property
    def peer(self) -> str:
        return f"https://{LOOPBACK}:{self.peer_port}"

    @property
    def tls(self) -> dict[str, Path]:
        """etcdctl's flags with the member's own certificate, as the apply runs it there."""
        return {"cacert": self.pki / "ca.pem", "cert": self.pki / "etcd.pem",
                "key": self.pki / "etcd-key.pem"}


def unit_flags(cluster: Path) -> tuple[list[str], str]:
    """etcd.service's ExecStart flags ($private_ipv4 = 127.0.0.1) and its EnvironmentFile=."""
    unit = units(droplet_config(cluster, "etcd", private_ipv4=LOOPBACK))["etcd.service"]
    (argv,) = exec_argv(unit["content"])
    assert argv[0] == "/opt/bin/etcd"
    env_files = [line.split("=", 1)[1] for line in unit["content"].splitlines()
                 if line.startswith("EnvironmentFile=")]
    assert len(env_files) == 1, unit["content"]
    return argv[1:], env_files[0]


@dataclass
class CurrentEtcd:
    cluster: Path
    etcd_bin: str
    etcdctl_bin: str
    work: Path
    members: list[Member] = field(default_factory=list)

    def prepare(self) -> None:
        conf = settings(self.cluster)
        flags, env_file = unit_flags(self.cluster)
        assert env_file == conf["ETCD_CLUSTER_ENV"]
        issue_member_certs(self.cluster)
        ports = [(free_port(), free_port()) for _ in PRIVATE_IPS]
        peer_of = {f"https://{ip}:{conf['ETCD_PEER_PORT']}": f"https://{LOOPBACK}:{peer}"
                   for ip, (_, peer) in zip(PRIVATE_IPS, ports, strict=True)}
        for nn, (name, (client, peer), text) in enumerate(zip(
                member_names(self.cluster), ports, delivered_env_files(self.cluster),
                strict=True), 1):
            for url, loop in peer_of.items():
                text = text.replace(url, loop)
            delivered = parse_env_file(text)
            assert set(delivered) == {"ETCD_NAME", "ETCD_INITIAL_CLUSTER"}, delivered
            pki = self.work / f"{name}-pki"
            pki.mkdir(parents=True)
            shutil.copy(self.cluster / f"pki/etcd-{nn:02d}.pem", pki / "etcd.pem")
            shutil.copy(self.cluster / f"pki/etcd-{nn:02d}-key.pem", pki / "etcd-key.pem")
            shutil.copy(self.cluster / "pki/ca.pem", pki / "ca.pem")
            data = self.work / f"{name}-data"
            argv = rewrite(flags, pki, data, {conf["ETCD_CLIENT_PORT"]: client,
                                              conf["ETCD_PEER_PORT"]: peer})
            self.members.append(Member(name, argv, {**bare_env(), **delivered}, pki, data,
                                       client, peer))
        assert ETCD_PKI not in " ".join(self.members[0].argv)

    def start(self, member: Member, pki: Path | None = None) -> None:
        """The unit's ExecStart (systemd: EnvironmentFile= in the environment); pki: another
        directory of certificates in place of the member's."""
        argv = [a.replace(str(member.pki), str(pki)) for a in member.argv] if pki else \
            member.argv
        runs = len(list(self.work.glob(f"{member.name}-*.log")))
        member.log = self.work / f"{member.name}-{runs}.log"
        with member.log.open("wb") as out:
            member.proc = subprocess.Popen([self.etcd_bin, *argv], env=member.env, stdout=out,
                                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           start_new_session=True)

    def stop(self, member: Member) -> None:
        if member.proc is not None:
            stop(member.proc)
            member.proc = None

    def ctl(self, member: Member, *args: str, endpoints: str | None = None,
            tls: dict[str, Path] | None = None) -> subprocess.CompletedProcess[str]:
        return etcdctl(self.etcdctl_bin, endpoints or member.client, *args,
                       tls=tls or member.tls)

    def wait_healthy(self, member: Member, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while (health := self.ctl(member, "endpoint", "health")).returncode != 0:
            assert member.proc is not None and member.log is not None
            assert member.proc.poll() is None, member.log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"{health.stderr}\n{member.log.read_text()[-3000:]}"
            time.sleep(0.3)

    def statuses(self, via: Member, endpoints: str | None = None) -> list[dict[str, object]]:
        """`endpoint status -w json` of ENDPOINTS (default: --cluster, every member)."""
        where = ["--cluster"] if endpoints is None else []
        out = self.ctl(via, "endpoint", "status", *where, "-w", "json", endpoints=endpoints)
        return json.loads(out.stdout) if out.returncode == 0 and out.stdout.strip() else []

    def leader(self, via: Member, endpoints: str | None = None) -> Member | None:
        for status in self.statuses(via, endpoints):
            header = status["Status"]["header"]  # type: ignore[index]
            if status["Status"]["leader"] == header["member_id"]:  # type: ignore[index]
                return next(m for m in self.members if m.client == status["Endpoint"])
        return None

    def stop_all(self) -> None:
        for member in self.members:
            self.stop(member)
