"""Who each certificate in pki/ must say it is, per profile: the subject (CN, O) the
apiserver's authorizers read and the SANs its clients check (part of rule 7).

tutorial: the tutorial's apiserver and kube-worker-NN certificates (ABAC names users).
current: the components of issue 11 (profiles/current/scripts/lib/components.sh): the Node
authorizer's system:node:NAME in system:nodes, the users RBAC's default bindings name
(system:kube-controller-manager, system:kube-scheduler, system:kube-proxy), system:masters for
the admin and the apiserver's kubelet client; the aggregation layer's front-proxy CA and its
front-proxy-client.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import yaml

from generator.audit.cluster import Cluster
from generator.pki import ADMIN_SUBJECTS, CA_CN, FRONT_PROXY_CA

# (cluster, the file-name match, IP SANs, DNS SANs) -> what is wrong, or None
SanCheck = Callable[[Cluster, re.Match[str], list[str], list[str]], str | None]
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Identity:
    """What a certificate named like `pattern` (its file stem) must say about itself."""

    pattern: re.Pattern[str]
    common_name: Callable[[Cluster, re.Match[str]], str]
    organizations: tuple[str, ...] = ()
    sans: SanCheck | None = None


def _load_balancer_ip(cluster: Cluster) -> str | None:
    """The address the apply's ./kubeconfig names: the load balancer's, with several
    controllers (make controller writes it once the load balancer has its IP)."""
    try:
        config = yaml.safe_load((cluster.root / "kubeconfig").read_text())
        return urlsplit(config["clusters"][0]["cluster"]["server"]).hostname
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError):
        return None


def _apiserver_sans(cluster: Cluster, _: re.Match[str], ips: list[str], names: list[str],
                    extra_ips: tuple[str, ...] = (), extra_names: tuple[str, ...] = ()
                    ) -> str | None:
    """Every controller shares the certificate: the first service IP, each controller's
    public and private IP and name, and with several the load balancer's IP."""
    first, prefix = cluster.setting("APISERVER_SERVICE_IP"), cluster.setting("CONTROLLER_PREFIX")
    count = int(cluster.setting("CONTROLLER_COUNT") or "1")
    controllers = [f"{prefix}-{nn:02d}" for nn in range(1, count + 1)]
    want_names = {*controllers, *extra_names}
    balancer = _load_balancer_ip(cluster) if count > 1 else None
    # the droplets' IPs are known once the apply recorded them
    recorded = [pair for name in controllers if (pair := cluster.recorded_ips(name))]
    if len(recorded) == count and (count == 1 or balancer):
        want = sorted({first or "", *(ip for pair in recorded for ip in pair), *extra_ips,
                       *([balancer] if balancer else [])})
        if sorted(ips) != want or not want_names <= set(names):
            return (f"needs IP {want} (service IP, {', '.join(controllers)}'s public and "
                    f"private IP as recorded in state/droplets/"
                    f"{', the load balancer of ./kubeconfig' if balancer else ''}) and DNS "
                    f"{sorted(want_names)}; has IP {ips}, DNS {names}")
        return None
    if not {first, *extra_ips} <= set(ips) or not want_names <= set(names) or \
            len(ips) < 1 + 2 * count + len(extra_ips):
        return (f"needs IP {first}, {', '.join(extra_ips) + ', ' if extra_ips else ''}the "
                f"public and private IPs of {count} controller(s) and DNS "
                f"{sorted(want_names)}; has IP {ips}, DNS {names}")
    return None


def _worker_sans(
    cluster: Cluster, match: re.Match[str], ips: list[str], _: list[str]
) -> str | None:
    droplet = f"{cluster.setting('WORKER_PREFIX')}-{match[1]}"
    recorded = cluster.recorded_ips(droplet)
    if recorded and ips != [recorded[1]]:
        return (f"needs exactly {droplet}'s private IP {recorded[1]} (state/droplets/); "
                f"has IP {ips}")
    return None if len(ips) == 1 else f"needs exactly the worker's IP; has IP {ips}"


def _current_apiserver_sans(cluster: Cluster, match: re.Match[str], ips: list[str],
                            names: list[str]) -> str | None:
    """Also the names pods reach it by (kubernetes.default...) and 127.0.0.1 (the controller's
    static pods)."""
    domain = cluster.setting("CLUSTER_DOMAIN") or ""
    service_names = ("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                     f"kubernetes.default.svc.{domain}")
    return _apiserver_sans(cluster, match, ips, names, (LOOPBACK,), service_names)


def _kubelet_sans(
    cluster: Cluster, match: re.Match[str], ips: list[str], names: list[str]
) -> str | None:
    """The node's name and both its IPs (the apiserver reaches the kubelet by them)."""
    node = match[1]
    recorded = cluster.recorded_ips(node)
    if names != [node]:
        return f"needs DNS {node} (the node's name) only; has DNS {names}"
    if recorded and sorted(ips) != sorted(recorded):
        return (f"needs IP {sorted(recorded)} ({node}'s public and private IP in "
                f"state/droplets/); has IP {ips}")
    return None if len(ips) == 2 else f"needs the node's private and public IP; has IP {ips}"


def _etcd_sans(
    cluster: Cluster, _: re.Match[str], ips: list[str], __: list[str]
) -> str | None:
    recorded = cluster.recorded_ips(cluster.setting("ETCD_NAME") or "")
    want = {LOOPBACK, *(recorded[1:] if recorded else ())}
    if not want <= set(ips) or len(ips) != 2:
        return f"needs IP {sorted(want)} and the member's private IP; has IP {ips}"
    return None


def _fixed(name: str) -> Callable[[Cluster, re.Match[str]], str]:
    return lambda _c, _m: name


TUTORIAL = (
    Identity(re.compile(r"ca"), _fixed(CA_CN)),
    Identity(re.compile(r"admin"), _fixed(ADMIN_SUBJECTS["tutorial"][0]),
             ADMIN_SUBJECTS["tutorial"][1]),
    Identity(re.compile(r"apiserver"), _fixed("kube-apiserver"), (), _apiserver_sans),
    Identity(re.compile(r"worker-([0-9]+)"), lambda _, m: f"kube-worker-{m[1]}", (),
             _worker_sans),
)

CURRENT = (
    Identity(re.compile(r"ca"), _fixed(CA_CN)),
    Identity(re.compile(r"admin"), _fixed(ADMIN_SUBJECTS["current"][0]),
             ADMIN_SUBJECTS["current"][1]),
    Identity(re.compile(r"apiserver"), _fixed("kube-apiserver"), (), _current_apiserver_sans),
    Identity(re.compile(r"apiserver-kubelet-client"), _fixed("kube-apiserver-kubelet-client"),
             ("system:masters",)),
    Identity(re.compile(r"apiserver-etcd-client"), _fixed("kube-apiserver-etcd-client")),
    Identity(re.compile(r"controller-manager"), _fixed("system:kube-controller-manager")),
    Identity(re.compile(r"scheduler"), _fixed("system:kube-scheduler")),
    Identity(re.compile(r"kube-proxy"), _fixed("system:kube-proxy")),
    # the aggregation layer: its CA and the one client name --requestheader-allowed-names admits
    Identity(re.compile(FRONT_PROXY_CA[0]), _fixed(FRONT_PROXY_CA[1])),
    Identity(re.compile(r"front-proxy-client"), _fixed("front-proxy-client")),
    Identity(re.compile(r"kubelet-(.+)"), lambda _, m: f"system:node:{m[1]}", ("system:nodes",),
             _kubelet_sans),
    Identity(re.compile(r"etcd"), lambda c, _: c.setting("ETCD_MEMBER") or "", (), _etcd_sans),
)

IDENTITIES = {"tutorial": TUTORIAL, "current": CURRENT}


def identities(cluster: Cluster) -> tuple[Identity, ...]:
    """The table of the cluster's PROFILE (the tutorial's when settings.env has none)."""
    return IDENTITIES[cluster.profile.name]
