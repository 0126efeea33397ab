"""Issue 20 item 3: the current bake's Pod Security admission (enforce=baseline,
audit=restricted, warn=restricted; kube-system exempt) admits every workload the apply
creates, the smoke workloads even at restricted (no warning), and refuses what baseline forbids.

The checks are the kubectl stand-in's (tests/fake_kubectl/podsecurity.py: kubernetes.io "Pod
Security Standards" and k8s.io/pod-security-admission's messages), fed the bake's own
AdmissionConfiguration (from the controller's user data) and manifests."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.applying import REPO

sys.path.insert(0, str(REPO / "tests" / "fake_kubectl"))
import podsecurity  # noqa: E402


@pytest.fixture(scope="module")
def current(current_cluster: Path) -> Path:
    return current_cluster  # the session's shared bake (conftest.py), read only


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _spec(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"] if doc["kind"] == "Pod" else doc["spec"]["template"]["spec"]


def _modes(current: Path, namespace: dict[str, Any] | None, ns: str) -> dict[str, str] | None:
    base, exempt = podsecurity.defaults((current / "cloud-config/controller.yaml").read_text())
    return None if ns in exempt else podsecurity.levels(namespace, base)


def test_the_defaults_come_from_the_controllers_admission_config(current: Path) -> None:
    base, exempt = podsecurity.defaults((current / "cloud-config/controller.yaml").read_text())
    assert base == {"enforce": "baseline", "audit": "restricted", "warn": "restricted"}
    assert exempt == {"kube-system"}
    # without the configuration the apiserver admits everything (privileged)
    assert podsecurity.defaults("#cloud-config\n")[0]["enforce"] == "privileged"


def test_every_workload_the_apply_creates_is_admitted(current: Path) -> None:
    docs = [d for f in sorted((current / "manifests").rglob("*.yaml")) if "controller" not in
            f.parts for d in _docs(f)]
    namespaces = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Namespace"}
    workloads = [d for d in docs if d["kind"] in ("Pod", "Deployment", "DaemonSet")]
    assert {w["metadata"]["name"] for w in workloads} >= {"busybox", "inspector", "coredns",
                                                          "kube-proxy", "kube-flannel-ds"}
    for w in workloads:
        ns = w["metadata"].get("namespace", "default")
        modes = _modes(current, namespaces.get(ns), ns)
        if modes is None:
            continue  # kube-system
        reject, warning = podsecurity.verdict(_spec(w), modes)
        assert reject == "", (w["metadata"]["name"], reject)
        if ns == "default":  # the smoke workloads meet restricted: no warning
            assert warning == "", (w["metadata"]["name"], warning)


def test_baseline_refuses_and_restricted_warns(current: Path) -> None:
    busybox = _docs(current / "manifests/smoke/busybox.yaml")[0]
    modes = _modes(current, None, "default")
    assert modes is not None
    bare = copy.deepcopy(_spec(busybox))
    del bare["securityContext"], bare["containers"][0]["securityContext"]
    reject, warning = podsecurity.verdict(bare, modes)
    assert reject == ""
    assert warning.startswith('Warning: would violate PodSecurity "restricted:latest": '
                              'allowPrivilegeEscalation != false (container "busybox"')
    assert "runAsNonRoot != true" in warning and "seccompProfile" in warning
    host = copy.deepcopy(_spec(busybox))
    host["hostNetwork"] = True
    reject, _ = podsecurity.verdict(host, modes)
    assert reject == 'violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)'
