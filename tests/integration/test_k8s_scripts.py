"""The apply scripts' kubectl steps against the real Kubernetes 1.1.2 control plane
(tests/integration/k8s_plane.py): `scripts/addons.sh`, `kube_apply` on a half-created manifest
and on one the apiserver rejects, a current kubectl refused before it talks, and the container
stand-ins (tests/k8s/runtime.py, answers.py) answering only what the real objects support."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from generator import TEMPLATE_ROOT
from tests.integration.k8s_plane import Plane, eventually
from tests.integration.support import run
from tests.k8s.runtime import NodeRuntime

# --- the apply scripts against it --------------------------------------------------------------


def test_addons_script_creates_then_updates(plane: Plane) -> None:
    first = plane.script("addons")
    assert first.returncode == 0, first.stdout + first.stderr
    assert 'service "kube-dns" created' in first.stderr
    assert 'replicationcontroller "kube-dns-v9" created' in first.stderr
    svc = plane.cp.api("GET", "/api/v1/namespaces/kube-system/services/kube-dns")
    assert svc["spec"]["clusterIP"] == plane.settings["DNS_SERVICE_IP"]

    def dns_pods() -> list[Any]:  # the real controller-manager's replication
        return list(plane.cp.api("GET", "/api/v1/namespaces/kube-system/pods?labelSelector="
                                 "k8s-app%3Dkube-dns")["items"])

    assert len(eventually(dns_pods, "the kube-dns RC's pod")) == 1
    again = plane.script("addons")
    assert again.returncode == 0, again.stdout + again.stderr
    assert 'service "kube-dns" configured' in again.stderr
    assert 'replicationcontroller "kube-dns-v9" configured' in again.stderr
    assert "created" not in again.stderr
    assert len(dns_pods()) == 1


def test_a_half_created_manifest_is_completed(plane: Plane, tmp_path: Path) -> None:
    """An interrupted run left inspector.yaml's Service but not its ReplicationController:
    create fails on the Service, creates the RC; then every object is brought up to date."""
    text = (plane.cluster / "manifests/smoke/inspector.yaml").read_text()
    service = tmp_path / "service-only.yaml"
    service.write_text(text.split("---")[0])
    assert plane.kubectl("create", "-f", str(service)).returncode == 0
    result = plane.bash("kube_apply manifests/smoke/inspector.yaml")
    assert result.returncode == 0, result.stderr
    assert 'replicationcontroller "inspector-stable" configured' in result.stderr
    assert plane.kubectl("get", "-f", str(plane.cluster / "manifests/smoke/inspector.yaml")
                         ).returncode == 0


def test_a_manifest_the_apiserver_rejects_fails_with_its_message(plane: Plane) -> None:
    bad = plane.cluster / "manifests/addons/kube-dns-svc-outside.yaml"
    bad.write_text((plane.cluster / "manifests/addons/kube-dns-svc.yaml").read_text()
                   .replace(plane.settings["DNS_SERVICE_IP"], "10.99.0.10")
                   .replace("name: kube-dns\n", "name: kube-dns-outside\n", 1))
    result = plane.bash(f"kube_apply {bad}")
    assert result.returncode != 0
    assert "spec.clusterIP: invalid value '10.99.0.10'" in result.stderr
    assert "not in the valid range" in result.stderr


def test_a_current_kubectl_is_refused_before_it_talks(plane: Plane, kubectl_bin: str,
                                                      tmp_path: Path) -> None:
    version = run([kubectl_bin, "version", "--client"]).stdout
    minor = int(re.search(r"v1\.(\d+)", version).group(1))  # type: ignore[union-attr]
    if minor <= 2:
        pytest.skip(f"{kubectl_bin} is kubectl 1.{minor}, not a current one")
    # why: a current kubectl cannot map a 1.1 apiserver's resources at all
    direct = run([kubectl_bin, "--kubeconfig", str(plane.kubeconfig), "create",
                  "-f", "manifests/smoke/busybox.yaml"], cwd=plane.cluster)
    assert direct.returncode != 0 and "created" not in direct.stdout
    (tmp_path / "kubectl").symlink_to(kubectl_bin)
    result = plane.script("addons", kubectl_dir=tmp_path)
    assert result.returncode == 1
    assert f"kubectl 1.{minor}" in result.stderr
    assert "cannot drive this Kubernetes 1.1.2 cluster: use kubectl 1.0 to 1.2" in result.stderr




# --- the container stand-ins answer only what the real objects support --------------------------


def answer(plane: Plane, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    """tests/k8s/bin/TOOL (the rehearsal's kubectl/curl) against this control plane."""
    env = dict(os.environ, K8S_RUNTIME_KUBECONFIG=str(plane.kubeconfig))
    return run([str(TEMPLATE_ROOT / "tests/k8s/bin" / tool), *args], env=env, cwd=plane.cluster)


def test_dns_and_nodeport_answers_follow_the_real_objects(plane: Plane) -> None:
    node = ("203.0.113.50", "10.101.0.50")
    runtime = NodeRuntime(plane.cp.api, plane.settings["POD_NETWORK"], lambda: [node])
    exec_lookup = ("--kubeconfig", str(plane.kubeconfig), "exec", "busybox", "--",
                   "nslookup", "kubernetes.default")
    # no such pod yet: the real apiserver's answer
    assert "pods \"busybox\" not found" in answer(plane, "kubectl", *exec_lookup).stderr
    assert plane.bash("kube_apply manifests/smoke/busybox.yaml").returncode == 0
    # scheduled but not running (no node runtime yet): nothing can run in it
    assert "is not running" in answer(plane, "kubectl", *exec_lookup).stderr
    # kube-dns deployed but scaled to nothing: no ready endpoints (the real RC manager and
    # endpoints controller do the work)
    assert plane.script("addons").returncode == 0
    scaled = plane.kubectl("scale", "rc", "kube-dns-v9", "--replicas=0", "--namespace=kube-system")
    assert scaled.returncode == 0, scaled.stderr

    def lookup_fails() -> bool:
        runtime.sync()  # the node registers; the real scheduler binds busybox to it; it runs
        failed = answer(plane, "kubectl", *exec_lookup)
        return failed.returncode != 0 and "can't resolve 'kubernetes.default'" in failed.stderr

    eventually(lookup_fails, "busybox running while kube-dns has no endpoints")
    assert plane.script("addons").returncode == 0  # apply restores replicas: 1

    def resolved() -> str:
        runtime.sync()  # kube-dns's pod runs; the real endpoints controller lists it
        done = answer(plane, "kubectl", *exec_lookup)
        return done.stdout if done.returncode == 0 else ""

    out = eventually(resolved, "kube-dns endpoints")
    kubernetes_ip = plane.cp.api("GET", "/api/v1/namespaces/default/services/kubernetes")
    assert f"Address 1: {kubernetes_ip['spec']['clusterIP']}" in out
    assert f"Server:    {plane.settings['DNS_SERVICE_IP']}" in out
    # only nslookup runs in a pod
    other = answer(plane, "kubectl", "--kubeconfig", str(plane.kubeconfig), "exec", "busybox",
                   "--", "sh", "-c", "id")
    assert other.returncode != 0 and "runs only" in other.stderr

    port = plane.settings["INSPECTOR_NODE_PORT"]
    url = f"http://{node[0]}:{port}/env"
    plane.kubectl("delete", "service", "inspector")  # whatever an earlier test left
    eventually(lambda: answer(plane, "curl", "-fsS", url).returncode == 7,
               "no Service on the inspector's NodePort")
    assert plane.bash("kube_apply manifests/smoke/inspector.yaml").returncode == 0

    def served() -> bool:
        runtime.sync()
        return answer(plane, "curl", "-fsS", url).returncode == 0

    eventually(served, "the inspector's endpoints")
    assert answer(plane, "curl", "-fsS", f"http://203.0.113.51:{port}/env").returncode == 7
    outside = answer(plane, "curl", "-fsS", f"http://10.1.2.3:{port}/env")
    assert outside.returncode == 7 and "nothing leaves loopback" in outside.stderr
