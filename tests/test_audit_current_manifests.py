"""Rules 4 and 5 for the current profile: manifests are checked against the API of the
cluster's own Kubernetes version (not the tutorial's 1.1), the official images carry its vX.Y.Z
tag, and flannel's ConfigMap publishes the pod network. A current bake audits clean; each
planted defect is an error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from generator.audit import audit
from tests.baking import copy_cluster

ADDONS = "manifests/addons"


@pytest.fixture(scope="module")
def current(current_cluster: Path) -> Path:
    return current_cluster  # the session's shared bake (conftest.py), read only


def findings(cluster: Path) -> list[tuple[str, str, str]]:
    return [(f.file, f.rule, f.message) for f in audit(cluster).findings]


def test_a_current_bake_audits_clean(current: Path) -> None:
    """Clean but for the one warning that is true of the pins: csi-digitalocean v4.16.0 is not
    published for Kubernetes 1.37 (tests/test_current_csi.py)."""
    assert [(file, rule) for file, rule, _ in findings(current)] == [
        ("manifests/addons/digitalocean-csi.yaml", "addons.csi-compatibility")]


def edit(old: str, new: str, file: str) -> Callable[[Path], None]:
    def apply(cluster: Path) -> None:
        path = cluster / file
        assert old in path.read_text()
        path.write_text(path.read_text().replace(old, new, 1))
    return apply


@pytest.mark.parametrize("defect, file, rule, words", [
    # a kind 1.37 no longer serves (Deployments left extensions/v1beta1 in 1.16)
    (edit("apiVersion: apps/v1\nkind: Deployment", "apiVersion: extensions/v1beta1\n"
          "kind: Deployment", "manifests/smoke/inspector.yaml"),
     "manifests/smoke/inspector.yaml", "manifest.kind", "not in the Kubernetes 1.37.0 API"),
    (edit("      hostNetwork: true\n", "      hostNetwrok: true\n", f"{ADDONS}/flannel.yaml"),
     f"{ADDONS}/flannel.yaml", "manifest.schema", "hostNetwrok"),
    # a namespace neither the apiserver nor a manifest creates
    (edit("  namespace: kube-system\n", "  namespace: kube-sytem\n", f"{ADDONS}/coredns.yaml"),
     f"{ADDONS}/coredns.yaml", "manifest.namespace", "'kube-sytem'"),
    (edit("kube-proxy:v1.37.0", "kube-proxy:v1.36.0", f"{ADDONS}/kube-proxy.yaml"),
     f"{ADDONS}/kube-proxy.yaml", "facts.k8s-version", "not tagged v1.37.0"),
    (edit("kube-proxy:v1.37.0", "kube-proxy:1.37.0", f"{ADDONS}/kube-proxy.yaml"),
     f"{ADDONS}/kube-proxy.yaml", "facts.k8s-version", "not tagged v1.37.0"),
    (edit('"Network": "10.2.0.0/16"', '"Network": "10.9.0.0/16"', f"{ADDONS}/flannel.yaml"),
     f"{ADDONS}/flannel.yaml", "facts.pod-network", "flannel Network is 10.9.0.0/16"),
    (edit('"Network": "10.2.0.0/16",', '"Network": "10.2.0.0/16"', f"{ADDONS}/flannel.yaml"),
     f"{ADDONS}/flannel.yaml", "facts.pod-network", "is not JSON"),
    (edit("  net-conf.json: |", "  net-config.json: |", f"{ADDONS}/flannel.yaml"),
     "settings.env", "facts.pod-network", "no ConfigMap carries flannel's net-conf.json"),
])
def test_a_planted_defect_is_an_error(current: Path, tmp_path: Path,
                                      defect: Callable[[Path], None], file: str, rule: str,
                                      words: str) -> None:
    cluster = copy_cluster(current, tmp_path)
    defect(cluster)
    found = findings(cluster)
    assert any(f == file and r == rule and words in m for f, r, m in found), found
