"""The generated README's "What was generated" table: a row per file or directory the bake of
each profile writes. A row appears only when its paths are in the template for the baked
profile (shared, or under profiles/<name>/); tests keep every row's paths present and every
generated file described."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from generator import TEMPLATE_ROOT, facts

CLUSTER_TEMPLATE = TEMPLATE_ROOT / "{{cookiecutter.cluster_name}}"
PROFILES_DIR = "profiles"
# What the post-generation hook writes, in every bake (generator/bake.py: ensure_pki).
HOOK_WRITES = ("pki/",)


@dataclass(frozen=True)
class Row:
    paths: tuple[str, ...]  # relative to the cluster repo; a directory ends with /
    what: str  # str.format fields: see _fields
    step: str = "-"  # the tutorial's step(s)


_SHARED_HEAD = (
    Row(("settings.env",), "every setting the apply scripts read (names, sizes, region, CIDRs)"),
    Row(("settings.rules",), "each setting's rule, from the template's answer schema; every "
        "target checks `settings.env` against it"),
)
_SHARED_TAIL = (
    Row(("client/admin-kubeconfig.yaml",), "template of `./kubeconfig`, written by "
        "`make controller`", "9"),
    Row(("pki/",), "root CA (CN={ca}) and admin client certificate ({admin}); git-ignored, keys "
        "0600; the apply adds the node certificates", "2, 9"),
    Row(("scripts/",), "the bash that applies all of the above with doctl, jq, openssl, "
        "ssh/scp, kubectl; `scripts/lib/profile.sh` holds this profile's own steps", "3-12"),
)

ROWS: Mapping[str, tuple[Row, ...]] = {
    "tutorial": (
        Row(("cloud-config/etcd.yaml",), "user data of {etcd_members}", "3"),
        Row(("cloud-config/controller.yaml",), "user data of {controllers} (the apply fills in "
            "the etcd members' peer URLs)", "4-8"),
        Row(("cloud-config/worker.yaml",), "user data of each worker (the apply fills in the "
            "etcd peer URL and the apiserver's address)", "10"),
        Row(("manifests/controller/",), "kube-controller (apiserver + 2 podmaster electors), "
            "kube-scheduler, kube-controller-manager pods; embedded byte for byte in "
            "`cloud-config/controller.yaml`", "7"),
        Row(("node/pull-kube-images.sh", "node/worker-kubeconfig.yaml"), "files written onto "
            "the nodes; embedded in the cloud-configs", "5, 10"),
        Row(("openssl/apiserver.cnf", "openssl/worker.cnf"), "certificate requests; IPs come "
            "from the environment at apply", "8, 10"),
        Row(("openssl/etcd.cnf",), "the etcd member's certificate request (its private IP), "
            "issued by `make etcd`", "lock-down"),
        Row(("policy/abac-policy.jsonl",), "the apiserver's ABAC authorization policy, "
            "installed by `make controller`", "lock-down"),
        Row(("manifests/addons/",), "kube-dns Service ({dns_ip}) and ReplicationController",
            "11"),
        Row(("manifests/smoke/",), "busybox and the pod inspector (NodePort {node_port})",
            "11-12"),
    ),
    "current": (
        Row(("cloud-config/etcd.yaml",), "user data of {etcd_members}: etcd {etcd_version} "
            "(the official release, sha256-checked), TLS for clients and peers", "3"),
        Row(("cloud-config/controller.yaml",), "user data of {controllers}: the kubelet and the "
            "control plane's static pods (the apply fills in the etcd members' client URLs)",
            "4-8"),
        Row(("cloud-config/worker.yaml",), "user data of each worker: the kubelet on "
            "containerd (the apply fills in the controller's private IP)", "10"),
        Row(("manifests/controller/",), "static pods kube-apiserver, kube-controller-manager, "
            "kube-scheduler; embedded byte for byte in `cloud-config/controller.yaml`", "7"),
        Row(("node/",), "files written onto the nodes (the kubelet's units and configuration, "
            "the components' kubeconfigs, the sha256-checked download); embedded in the "
            "cloud-configs", "5, 10"),
        Row(("openssl/",), "a certificate request per component (apiserver, its kubelet and "
            "etcd clients, controller-manager, scheduler, kube-proxy, kubelets, etcd), issued "
            "by the apply once the droplets have their IPs", "8, 10"),
        Row(("scripts/lib/components.sh",), "which certificate each component gets and where "
            "it is installed", "8, 10"),
        Row(("manifests/addons/",), "kube-proxy and flannel DaemonSets, CoreDNS behind the "
            "kube-dns Service ({dns_ip}), metrics-server (`kubectl top`), applied by "
            "`make addons`", "11"),
        Row(("manifests/smoke/",), "busybox (`nslookup`) and agnhost `serve-hostname` on "
            "NodePort {node_port}, for `make smoke`", "11-12"),
        Row(("manifests/README.md",), "where each pinned image and release comes from"),
        Row(("releases.tsv",), "every Kubernetes release with pinned sha256 sums (kubelet, "
            "kubectl): the versions `make upgrade` can move the cluster to"),
    ),
}


def _exists(profile: str, path: str) -> bool:
    return path in HOOK_WRITES or any((root / path).exists() for root in (
        CLUSTER_TEMPLATE, CLUSTER_TEMPLATE / PROFILES_DIR / profile))


def _fields(answers: Mapping[str, Any]) -> dict[str, str]:
    # here, not at the top: cryptography (generator.pki's) is not needed to render templates
    from generator.pki import ADMIN_SUBJECTS, CA_CN

    etcd, controllers = int(answers["etcd_count"]), int(answers["controller_count"])
    cn, groups = ADMIN_SUBJECTS[answers["profile"]]
    return {
        "etcd_members": f"`{facts.droplet_name(answers, 'etcd')}`" if etcd == 1 else
        f"each etcd member `{facts.droplet_name(answers, 'etcd')}` .. "
        f"`{facts.droplet_name(answers, 'etcd', etcd)}` (the same for all; each member's name "
        f"and the initial cluster arrive over ssh as `{answers['_etcd_cluster_env']}`)",
        "controllers": f"`{facts.droplet_name(answers, 'controller')}`" if controllers == 1
        else f"each controller `{facts.droplet_name(answers, 'controller')}` .. "
        f"`{facts.droplet_name(answers, 'controller', controllers)}`",
        "etcd_version": answers["_etcd_version"],
        "dns_ip": facts.dns_service_ip(answers),
        "node_port": answers["_inspector_node_port"],
        "ca": CA_CN,
        "admin": f"CN={cn}" + "".join(f", O={group}" for group in groups),
    }


def generated_files(answers: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(paths, what, tutorial step) of each row the baked profile's files fill."""
    profile = answers["profile"]
    fields = _fields(answers)
    return [(", ".join(f"`{path}`" for path in row.paths), row.what.format(**fields), row.step)
            for row in (*_SHARED_HEAD, *ROWS[profile], *_SHARED_TAIL)
            if all(_exists(profile, path) for path in row.paths)]
