"""What each profile's system is, side by side: the facts the audit rules judge a cluster repo
by, read from the baked PROFILE (never from a list of rules to skip)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from generator import facts

# Units systemd itself brings, on CoreOS and Flatcar alike.
_SYSTEMD_UNITS = frozenset({
    "systemd-networkd.service", "systemd-resolved.service", "systemd-timesyncd.service",
    "systemd-modules-load.service", "systemd-sysctl.service", "network.target",
    "network-online.target", "network-pre.target", "multi-user.target", "basic.target",
    "sysinit.target", "local-fs.target", "remote-fs.target", "sockets.target", "timers.target",
    "time-sync.target", "nss-lookup.target",
})


@dataclass(frozen=True)
class Profile:
    name: str
    os: str
    # Units the image ships: a cloud-config may start or depend on them without defining them.
    os_units: frozenset[str]
    # The host unit every container-running unit waits for (the tutorial's flanneld, which
    # writes the pod subnet docker starts with); None where flannel runs as a DaemonSet.
    pod_network_unit: str | None
    # What the apply installs into SSL_DIR on each role, and the per-node certificate names it
    # installs beside them (the tutorial's worker-NN.pem, symlinked as worker.pem).
    tls_installed: Mapping[str, frozenset[str]]
    per_node_tls: re.Pattern[str] | None
    # Where the kubelet reads the cluster DNS address and domain: its flags (1.1's
    # --cluster-dns and --cluster-domain) or the KubeletConfiguration its --config names.
    kubelet_config_file: bool

    def tls_file_installed(self, role: str, name: str) -> bool:
        return name in self.tls_installed.get(role, ()) or bool(
            role == "worker" and self.per_node_tls and self.per_node_tls.match(name))


TUTORIAL = Profile(
    name="tutorial",
    os="CoreOS",
    # CoreOS's own units (etcd2, fleet, flanneld, docker, early-docker for flannel's container,
    # locksmithd and update-engine for updates) and coreos-cloudinit's targets.
    os_units=_SYSTEMD_UNITS | {
        "etcd.service", "etcd2.service", "fleet.service", "fleet.socket", "flanneld.service",
        "docker.service", "docker.socket", "early-docker.service", "early-docker.socket",
        "early-docker.target", "locksmithd.service", "update-engine.service", "sshd.socket",
        "oem-cloudinit.service", "system-config.target", "user-config.target",
    },
    pod_network_unit="flanneld.service",
    tls_installed={
        "controller": frozenset({"ca.pem", "apiserver.pem", "apiserver-key.pem"}),
        "worker": frozenset({"ca.pem", "worker.pem", "worker-key.pem"}),
        "etcd": frozenset(),
    },
    per_node_tls=re.compile(r"^worker-[0-9]+(-key)?\.pem$"),
    kubelet_config_file=False,
)

CURRENT = Profile(
    name="current",
    os="Flatcar",
    # Flatcar ships containerd and docker as units of its own (containerd.service: kops
    # overrides Flatcar's shipped unit with a drop-in, nodeup/pkg/model/containerd.go), and
    # locksmithd/update-engine for its updates; no etcd, fleet or flanneld.
    os_units=_SYSTEMD_UNITS | {
        "containerd.service", "docker.service", "docker.socket", "locksmithd.service",
        "update-engine.service", "sshd.socket",
    },
    pod_network_unit=None,
    # the etcd member's files go to ETCD_SSL_DIR, none to SSL_DIR
    tls_installed={role: frozenset(facts.TLS_FILES[role]) if role != "etcd" else frozenset()
                   for role in facts.TLS_FILES},
    per_node_tls=None,
    kubelet_config_file=True,
)

PROFILES = {p.name: p for p in (TUTORIAL, CURRENT)}


def profile(name: str | None) -> Profile:
    """The profile a cluster repo was baked with (settings.env's PROFILE; none: the tutorial)."""
    return PROFILES.get(name or TUTORIAL.name, TUTORIAL)
