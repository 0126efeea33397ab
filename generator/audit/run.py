"""Run every rule family over a cluster repo."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from generator.audit import (
    cloudconfig,
    consistency,
    embed,
    endpoints,
    lint,
    lockdown,
    manifests,
    opensslcnf,
    pki,
    secrets,
    settings,
    tls,
    units,
)
from generator.audit.cluster import Cluster
from generator.audit.report import Finding, Report

RULES: tuple[Callable[[Cluster], Iterable[Finding]], ...] = (
    cloudconfig.check,  # 1
    units.check,  # 2
    embed.check,  # 3
    manifests.check,  # 4 (and embedded manifests, 3)
    consistency.check,  # 5
    opensslcnf.check,  # 6
    pki.check,  # 7
    secrets.check,  # 8
    lint.check,  # 9 (and embedded scripts, 3)
    settings.check,  # 10
    endpoints.check,  # 11
    tls.check,  # 12
    lockdown.check,  # 13: issue 10's lock-down (firewall, etcd TLS, authorization, flannel)
)


# Rules written for the tutorial's system (Kubernetes 1.1's API and kubelet flags, CoreOS's
# units, flannel through etcd, kube-dns, its certificate and openssl file names): they apply
# to the tutorial profile only; the current profile's artifacts have checks of their own.
TUTORIAL_ONLY = frozenset({
    "manifest.kind", "manifest.namespace", "facts.tls-files", "facts.k8s-version",
    "facts.dns-ip", "facts.domain", "facts.pod-network", "unit.content", "unit.flannel",
    "openssl.section",
})


def audit(cluster_dir: Path) -> Report:
    root = cluster_dir.resolve()
    cluster = Cluster(root)
    report = Report(str(cluster_dir))
    tutorial = (cluster.setting("PROFILE") or "tutorial") == "tutorial"
    report.extend(cluster.findings)
    for rule in RULES:
        report.extend(f for f in rule(cluster) if tutorial or f.rule not in TUTORIAL_ONLY)
    return report
