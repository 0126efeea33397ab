"""The ssh stand-in's etcdctl and systemctl: answers derived from the account and user data."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.standins import daemons
from tests.standins.testing import Sim

ETCD = """#cloud-config
coreos:
  etcd2:
    name: "etcd-01"
    advertise-client-urls: "http://$private_ipv4:2379"
    listen-client-urls: "http://$private_ipv4:2379, http://127.0.0.1:2379"
    initial-advertise-peer-urls: "http://$private_ipv4:2380"
  units:
    - name: "etcd2.service"
      command: "start"
"""
PROXY = """#cloud-config
coreos:
  etcd2:
    proxy: on
    listen-client-urls: http://localhost:2379
    initial-cluster: "etcd-01=http://{peer}:2380"
  units:
    - name: "flanneld.service"
      drop-ins:
        - name: 50-network-config.conf
          content: |
            [Service]
            ExecStartPre=/usr/bin/etcdctl set {key} '{{"Network":"10.2.0.0/16"}}'
    - name: "kube-kubelet.service"
      command: "start"
"""


@pytest.fixture
def cluster(tmp_path: Path) -> tuple[Sim, Path]:
    """An etcd droplet and a controller whose proxy points at it; (sim, identity)."""
    sim = Sim(tmp_path)
    identity, fingerprint = sim.add_key()
    (tmp_path / "etcd.yaml").write_text(ETCD)
    sim.create("etcd", fingerprint=fingerprint, image="coreos-alpha",
               extra=("--user-data-file", str(tmp_path / "etcd.yaml"),
                      "--enable-private-networking"))
    etcd_private = next(n["ip_address"] for n in sim.doctl_json(
        "compute", "droplet", "get", "etcd")[0]["networks"]["v4"] if n["type"] == "private")
    user_data = PROXY.format(peer=etcd_private, key="/coreos.com/network/config")
    (tmp_path / "ctl.yaml").write_text(user_data)
    sim.create("ctl", fingerprint=fingerprint, image="coreos-alpha",
               extra=("--user-data-file", str(tmp_path / "ctl.yaml"),
                      "--enable-private-networking"))
    return sim, identity


def ssh(sim: Sim, identity: Path, name: str, command: str) -> subprocess.CompletedProcess[str]:
    return sim.run("ssh", *sim.ssh_opts(identity), f"core@{sim.public_ip(name)}", command)


def test_cluster_health_on_the_member_and_through_the_proxy(cluster: tuple[Sim, Path]) -> None:
    sim, identity = cluster
    member = ssh(sim, identity, "etcd", "etcdctl cluster-health")
    private = sim.doctl_json("compute", "droplet", "get", "etcd")[0]["networks"]["v4"][1]
    assert member.returncode == 0, member.stderr
    lines = member.stdout.splitlines()
    assert lines[-1] == "cluster is healthy"
    assert lines[0].endswith(f"is healthy: got healthy result from http://{private['ip_address']}:2379")
    proxy = ssh(sim, identity, "ctl", "etcdctl cluster-health")
    assert proxy.returncode == 0 and proxy.stdout == member.stdout


def test_proxy_without_its_member_fails_like_etcdctl(cluster: tuple[Sim, Path]) -> None:
    sim, identity = cluster
    sim.doctl("compute", "droplet", "delete", "etcd", "--force", check=True)
    proc = ssh(sim, identity, "ctl", "etcdctl cluster-health")
    assert proc.returncode == daemons.EXIT_SERVER_ERROR
    assert proc.stdout == "cluster may be unhealthy: failed to list members\n"
    assert "etcd cluster is unavailable or misconfigured" in proc.stderr
    key = ssh(sim, identity, "ctl", "etcdctl get /coreos.com/network/config")
    assert key.returncode == daemons.EXIT_SERVER_ERROR and "unavailable" in key.stderr


def test_flannel_key_exists_once_a_node_set_it(cluster: tuple[Sim, Path]) -> None:
    sim, identity = cluster
    got = ssh(sim, identity, "etcd", "etcdctl get /coreos.com/network/config")
    assert got.returncode == 0, got.stderr
    assert got.stdout == '{"Network":"10.2.0.0/16"}\n'
    sim.doctl("compute", "droplet", "delete", "ctl", "--force", check=True)
    gone = ssh(sim, identity, "etcd", "etcdctl get /coreos.com/network/config")
    assert gone.returncode == daemons.EXIT_SERVER_ERROR
    assert gone.stderr.startswith("Error:  100: Key not found (/coreos.com)")
    other = ssh(sim, identity, "etcd", "etcdctl get /other/key")
    assert other.returncode == daemons.EXIT_SERVER_ERROR
    unknown = ssh(sim, identity, "etcd", "etcdctl rm /coreos.com/network/config")
    assert unknown.returncode == 2 and "not simulated" in unknown.stderr
    # runtime reconfiguration needs the quorum: a one-member cluster has it; a member whose
    # URL has an empty host is never reached (etcd dials its own loopback)
    added = ssh(sim, identity, "etcd", "etcdctl member add etcd-02 https://:2380")
    assert added.returncode == 0 and "Added member named etcd-02" in added.stdout
    health = ssh(sim, identity, "etcd", "etcdctl cluster-health")
    assert "is unreachable: [https://:2380] are all unreachable" in health.stdout
    assert health.returncode == daemons.EXIT_CLUSTER_NOT_HEALTHY


def test_systemctl_restart_needs_root_and_a_known_unit(cluster: tuple[Sim, Path]) -> None:
    sim, identity = cluster
    denied = ssh(sim, identity, "ctl", "systemctl restart kube-kubelet.service")
    assert denied.returncode == 1 and "Interactive authentication required" in denied.stderr
    missing = ssh(sim, identity, "ctl", "sudo systemctl restart kubelet")
    assert missing.returncode == 5 and "Unit kubelet.service not found." in missing.stderr
    assert daemons.restarts(sim.root("ctl")) == {}
    ok = ssh(sim, identity, "ctl", "sudo systemctl restart kube-kubelet.service")
    assert ok.returncode == 0, ok.stderr
    ssh(sim, identity, "ctl", "sudo systemctl restart kube-kubelet")
    log = json.loads((sim.root("ctl") / daemons.UNIT_LOG).read_text())
    assert log["kube-kubelet.service"]["restarts"] == 2
    active = ssh(sim, identity, "ctl", "systemctl is-active flanneld kube-kubelet.service")
    assert active.returncode == 0 and active.stdout == "active\nactive\n"


def test_a_tls_member_answers_only_etcdctl_with_readable_certificate_files(
        tmp_path: Path) -> None:
    """Issue 10 row 2: with client-cert-auth the member wants the three TLS files (as the real
    etcdctl does after it listed the members' https URLs); etcd's key is 0600 etcd: sudo."""
    sim = Sim(tmp_path)
    identity, fingerprint = sim.add_key()
    tls = ETCD.replace("http://$private_ipv4", "https://$private_ipv4").replace(
        "  units:", '    client-cert-auth: true\n  units:')
    (tmp_path / "etcd.yaml").write_text(tls)
    sim.create("etcd", fingerprint=fingerprint, image="coreos-alpha",
               extra=("--user-data-file", str(tmp_path / "etcd.yaml"),
                      "--enable-private-networking"))
    bare = ssh(sim, identity, "etcd", "etcdctl cluster-health")
    assert bare.returncode == daemons.EXIT_SERVER_ERROR
    assert "error #0: remote error: tls: bad certificate" in bare.stderr
    d = "/etc/ssl/etcd"
    flags = f"--ca-file {d}/ca.pem --cert-file {d}/etcd.pem --key-file {d}/etcd-key.pem"
    missing = ssh(sim, identity, "etcd", f"sudo etcdctl {flags} cluster-health")
    assert "open /etc/ssl/etcd/ca.pem: no such file or directory" in missing.stderr
    ssh(sim, identity, "etcd", f"sudo mkdir -p {d} && sudo touch {d}/ca.pem {d}/etcd.pem "
        f"{d}/etcd-key.pem && sudo chown etcd:etcd {d}/etcd-key.pem && "
        f"sudo chmod 600 {d}/etcd-key.pem")
    unreadable = ssh(sim, identity, "etcd", f"etcdctl {flags} cluster-health")
    assert "open /etc/ssl/etcd/etcd-key.pem: permission denied" in unreadable.stderr
    ok = ssh(sim, identity, "etcd", f"sudo etcdctl {flags} cluster-health")
    assert ok.returncode == 0 and ok.stdout.splitlines()[-1] == "cluster is healthy", ok.stderr
    assert "got healthy result from https://" in ok.stdout
