"""What each profile's system is, side by side: the facts the audit rules judge a cluster repo
by, read from the baked PROFILE (never from a list of rules to skip)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from generator import TEMPLATE_ROOT, facts, profile_docs
from generator.schema import DEFAULT_PROFILE

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
    # Words the apply replaces in a cloud-config when it renders a droplet's user data
    # (USER_DATA_PLACEHOLDERS in profiles/<name>/scripts/lib/profile.sh, a test keeps them equal).
    user_data_placeholders: tuple[str, ...]
    # Whether the nodes fill those words in themselves (the current profile's fill-endpoints,
    # from the kubelet's EnvironmentFile the apply delivers over ssh): a droplet then gets its
    # role's cloud-config as it is, naming no other droplet's address, so make up creates every
    # droplet at once (USER_DATA_FILLED_BY_NODE in profile.sh, a test keeps them equal). Else
    # the apply fills them into each droplet's user data and the levels follow each other.
    user_data_filled_by_node: bool
    # Every controller and worker runs an etcd proxy on localhost (the tutorial's etcd2 proxy),
    # or the apiservers reach the members themselves and nothing else talks to etcd.
    etcd_proxies: bool
    # What the README and make help say of this system (generator/profile_docs.py).
    docs: profile_docs.Docs
    # Answers this system cannot honour, refused before the bake with the reason: flannel
    # backends (backend -> why), the Kubernetes minor versions it is written for ("1.1.": the
    # tutorial's flags, manifests and policy; empty: any version with pinned sums).
    refused_flannel_backends: Mapping[str, str] = field(default_factory=dict)
    kubernetes_minors: tuple[str, ...] = ()
    # The least droplet each role needs: role -> (vCPUs, memory MiB), and why.
    min_sizes: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    min_size_reasons: Mapping[str, str] = field(default_factory=dict)

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
    user_data_placeholders=("ETCD_PEER", "CONTROLLER_PUBLIC_IP"),
    user_data_filled_by_node=False,
    etcd_proxies=True,
    docs=profile_docs.TUTORIAL,
    # Its units, pod manifests, podmaster and ABAC policy use Kubernetes 1.1's flags and API
    # (--admission-control, extensions/v1beta1, ...), which later releases removed.
    kubernetes_minors=("1.1.",),
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
    user_data_placeholders=("ETCD_ENDPOINTS", "APISERVER_ENDPOINT"),
    user_data_filled_by_node=True,
    etcd_proxies=False,
    docs=profile_docs.CURRENT,
    # kubeadm's preflight refuses a control-plane node with fewer than 2 CPUs or 1700 MB
    # (cmd/kubeadm/app/preflight/checks.go: NumCPUCheck, MemCheck); Typhoon's DigitalOcean
    # module defaults to s-2vcpu-2gb controllers and s-1vcpu-2gb workers (variables.tf).
    min_sizes={"controller": (2, 2048), "worker": (1, 2048), "etcd": (1, 2048)},
    min_size_reasons={
        "controller": "kubeadm's preflight: 2 CPUs and 1700 MB for a control plane",
        "worker": "the kubelet, containerd, kube-proxy and flannel leave too little of 1 GB "
                  "for pods; Typhoon's DigitalOcean workers start at s-1vcpu-2gb",
        "etcd": "etcd keeps its whole key space in memory and needs room to compact",
    },
    # flannel's Documentation/backends.md (v0.28.9): VXLAN is the recommended choice; host-gw
    # "typically can't be used in cloud environments", UDP is "for debugging only".
    refused_flannel_backends={
        "udp": ("the udp backend moves every packet through a TUN device (/dev/net/tun) that "
                "only a privileged container may open; flannel runs here unprivileged with "
                "NET_ADMIN and NET_RAW (manifests/addons/flannel.yaml), and flannel documents "
                "udp for debugging only"),
        "host-gw": ("host-gw routes each node's pod subnet through the other node's address "
                    "as a next hop on one layer-2 network; DigitalOcean's network forwards "
                    "only the droplets' own addresses between droplets, so pod traffic across "
                    "nodes would be dropped"),
    },
)

PROFILES = {p.name: p for p in (TUTORIAL, CURRENT)}


def demo_command(name: str) -> str:
    """What rehearses profile NAME offline in the template checkout: `make demo` bakes the
    default profile, another one needs its name."""
    return "make demo" if name == DEFAULT_PROFILE else f"PROFILE={name} make demo"


def shell_list(name: str, variable: str) -> tuple[str, ...]:
    """A bash array of the profile's own apply steps (profiles/<name>/scripts/lib/profile.sh,
    e.g. STATUS_LAYERS), for what the README and make help say of them."""
    script = (TEMPLATE_ROOT / "{{cookiecutter.cluster_name}}" / "profiles" / name / "scripts" /
              "lib" / "profile.sh").read_text()
    found = re.search(rf"^\s*{variable}=\(([^)]*)\)", script, re.M)
    if found is None:
        raise ValueError(f"profiles/{name}/scripts/lib/profile.sh sets no {variable}=(...)")
    return tuple(found[1].split())


def profile(name: str | None) -> Profile:
    """The profile a cluster repo was baked with (settings.env's PROFILE; none: the tutorial)."""
    return PROFILES.get(name or TUTORIAL.name, TUTORIAL)
