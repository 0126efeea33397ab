"""Run every rule family over a cluster repo."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from generator.audit import (
    cloudconfig,
    consistency,
    csidriver,
    embed,
    endpoints,
    flagsets,
    hardening,
    lint,
    lockdown,
    manifests,
    metrics,
    opensslcnf,
    pki,
    secrets,
    settings,
    tls,
    units,
    userdata,
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
    flagsets.check,  # 14: current profile: flags and config fields against the upstream sets
    userdata.check,  # 15: the user data the apply sent is the repo's cloud-config, filled in
    hardening.check,  # 16: current profile: audit log, encryption, Pod Security, kubelet (issue 20)
    csidriver.check,  # 17: current profile: the CSI driver's published Kubernetes compatibility
    metrics.check,  # 18: current profile: metrics-server verifies kubelets; aggregation layer set
)


def audit(cluster_dir: Path, applied: bool = True) -> Report:
    """Every rule over the cluster repo; applied=False (the bake's own audit): without what an
    earlier apply left there (user data sent, node certificates, recorded droplets)."""
    root = cluster_dir.resolve()
    cluster = Cluster(root, applied)
    report = Report(str(cluster_dir))
    report.extend(cluster.findings)
    for rule in RULES:  # each judges by the baked profile's facts (cluster.profile)
        report.extend(rule(cluster))
    return report
