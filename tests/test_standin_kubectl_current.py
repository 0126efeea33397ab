"""The kubectl stand-in speaking a current kubectl (tests/fake_kubectl_current): strict about
what a current kubectl and apiserver refuse, stateful through the simulated account."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.applying import REPO

BIN = REPO / "tests" / "fake_kubectl_current"
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {certificate-authority: ca.pem, server: "https://203.0.113.9"}}]
users: [{name: u, user: {client-certificate: u.pem, client-key: u-key.pem}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""
DEPLOY = """apiVersion: v1
kind: Namespace
metadata: {name: extra}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: extra}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
"""


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def kubectl(tmp_path: Path) -> tuple[Run, Path]:
    for name in ("ca.pem", "u.pem", "u-key.pem"):
        (tmp_path / name).write_text("x")
    (tmp_path / "kubeconfig").write_text(KUBECONFIG)
    # the simulated account: a controller at 203.0.113.9 with an apiserver certificate for it
    root = tmp_path / "ctl"
    pki = root / "etc/kubernetes/pki"
    pki.mkdir(parents=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=kube-apiserver", "-addext", "subjectAltName=IP:203.0.113.9",
                    "-keyout", str(pki / "apiserver-key.pem"), "-out", str(pki / "apiserver.pem")],
                   check=True, capture_output=True)
    account = {"droplets": {"1": {"name": "c-controller-01", "tags": [], "sim": {
        "root": str(root), "public_ip": "203.0.113.9", "private_ip": "10.100.0.9"}}}}
    (tmp_path / "account.json").write_text(json.dumps(account))
    env = {**os.environ, "FAKE_KUBECTL_STATE": str(tmp_path / "k.json"),
           "DOSIM_STATE": str(tmp_path / "account.json")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "kubectl"), "--kubeconfig", str(tmp_path / "kubeconfig"),
                               *args], capture_output=True, text=True, env=env, check=False)
    return run, tmp_path


def test_version_is_a_current_clients(kubectl: tuple[Run, Path]) -> None:
    run, _ = kubectl
    out = run("version", "--client")
    assert out.returncode == 0 and out.stdout.startswith("Client Version: v1.37.")


def test_create_apply_get_delete_speak_current_kubectl(
        kubectl: tuple[Run, Path]) -> None:
    run, tmp = kubectl
    (tmp / "app.yaml").write_text(DEPLOY)
    missing = run("get", "-f", str(tmp / "app.yaml"))
    assert missing.returncode == 1
    assert 'Error from server (NotFound): namespaces "extra" not found' in missing.stderr
    created = run("create", "--save-config", "-f", str(tmp / "app.yaml"))
    assert created.stdout == "namespace/extra created\ndeployment.apps/web created\n", created
    again = run("create", "-f", str(tmp / "app.yaml"))
    assert again.returncode == 1 and ("Error from server (AlreadyExists): error when creating "
                                      f'"{tmp / "app.yaml"}": deployments.apps "web" already '
                                      "exists") in again.stderr
    assert run("apply", "-f", str(tmp / "app.yaml")).stdout.endswith(
        "deployment.apps/web unchanged\n")
    pods = run("get", "pods", "-n", "extra", "-o", "jsonpath={.items[*].status.phase}")
    assert pods.stdout == "Pending"  # no node: nothing schedules
    assert run("apply", "--save-config", "-f", str(tmp / "app.yaml")).returncode == 1
    deleted = run("delete", "-f", str(tmp / "app.yaml"))
    assert 'deployment.apps "web" deleted' in deleted.stdout


def test_unknown_kinds_and_namespaces_are_refused(kubectl: tuple[Run, Path]) -> None:
    run, tmp = kubectl
    (tmp / "rc.yaml").write_text("apiVersion: extensions/v1beta1\nkind: ReplicationControllerX\n"
                                 "metadata: {name: a}\n")
    out = run("create", "-f", str(tmp / "rc.yaml"))
    assert out.returncode == 1 and 'no matches for kind "ReplicationControllerX"' in out.stderr
    (tmp / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n"
                                 "metadata: {name: a, namespace: nowhere}\n")
    out = run("create", "-f", str(tmp / "cm.yaml"))
    assert 'namespaces "nowhere" not found' in out.stderr
    assert run("get", "--raw", "/readyz/etcd").returncode == 1  # no etcd droplet


def test_the_apiserver_answers_only_with_its_certificate_installed(
        kubectl: tuple[Run, Path]) -> None:
    run, tmp = kubectl
    assert run("version").returncode == 0
    (tmp / "ctl/etc/kubernetes/pki/apiserver.pem").unlink()
    refused = run("version")
    assert refused.returncode == 1 and "203.0.113.9:443 was refused" in refused.stderr


def test_the_static_pod_apiserver_is_down_while_its_manifest_is_away(
        kubectl: tuple[Run, Path]) -> None:
    """make rotate-certs moves the kube-apiserver manifest out of the kubelet's directory to
    restart it: meanwhile nothing answers there; back in place, /readyz answers ok."""
    run, tmp = kubectl
    manifest = "/etc/kubernetes/manifests/kube-apiserver.yaml"
    user_data = tmp / "ctl/var/lib/dosim/user-data"
    user_data.parent.mkdir(parents=True)
    user_data.write_text(f"#cloud-config\nwrite_files:\n  - path: {manifest}\n")
    assert run("get", "--raw", "/readyz").returncode == 1  # the kubelet has no manifest
    (tmp / "ctl" / manifest.lstrip("/")).parent.mkdir(parents=True)
    (tmp / "ctl" / manifest.lstrip("/")).write_text("kind: Pod\n")
    ready = run("get", "--raw", "/readyz")
    assert ready.returncode == 0 and ready.stdout == "ok", ready
    assert run("get", "--raw", "/livez").returncode == 1  # not simulated: said so


def test_rollout_restart_stamps_the_daemonset(kubectl: tuple[Run, Path]) -> None:
    run, tmp = kubectl
    missing = run("rollout", "restart", "daemonset/kube-proxy", "-n", "kube-system")
    assert missing.returncode == 1
    assert 'Error from server (NotFound): daemonsets.apps "kube-proxy" not found' in \
        missing.stderr
    (tmp / "ds.yaml").write_text("apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: kp, "
                                 "namespace: kube-system}\nspec:\n  selector: {matchLabels: "
                                 "{a: b}}\n  template:\n    metadata: {labels: {a: b}}\n"
                                 "    spec: {containers: [{name: c, image: i}]}\n")
    assert run("create", "-f", str(tmp / "ds.yaml")).returncode == 0
    done = run("rollout", "restart", "daemonset/kp", "-n", "kube-system")
    assert done.stdout == "daemonset.apps/kp restarted\n", done
    ds = json.loads(run("get", "daemonset", "kp", "-n", "kube-system", "-o", "json").stdout)
    assert "kubectl.kubernetes.io/restartedAt" in ds["spec"]["template"]["metadata"][
        "annotations"]
    assert run("rollout", "status", "daemonset/kp").returncode == 1  # not simulated


def test_nodes_carry_the_taints_their_user_data_registers(tmp_path: Path) -> None:
    """The controller's taint comes from its kubelet's --config-dir drop-in
    (registerWithTaints), as a real kubelet reads it; a worker's user data registers none."""
    import sys

    from tests.baking import bake

    sys.path.insert(0, str(REPO / "tests" / "fake_kubectl"))
    from current_nodes import taints

    cluster = bake(tmp_path, profile="current")
    controller = (cluster / "cloud-config/controller.yaml").read_text()
    assert taints(controller) == [{"key": "node-role.kubernetes.io/control-plane",
                                    "effect": "NoSchedule"}]
    assert taints((cluster / "cloud-config/worker.yaml").read_text()) == []
    # the drop-in outside the directory --config-dir names is not read
    moved = controller.replace("--config-dir=/etc/kubernetes/kubelet.conf.d",
                               "--config-dir=/etc/kubernetes/other.d")
    assert taints(moved) == []


def test_all_namespaces_lists_every_namespace_with_its_column(kubectl: tuple[Run, Path]) -> None:
    """-A (--all-namespaces) lists pods of every namespace under a NAMESPACE column, and an
    empty listing says "No resources found" without a namespace, as kubectl's get.go prints it
    (staging/src/k8s.io/kubectl/pkg/cmd/get/get.go); the stand-in once ignored -A (twin: the
    same listing without it shows the default namespace's none)."""
    run, tmp = kubectl
    assert run("get", "pods", "-A").stderr == "No resources found\n"
    assert run("get", "nodes").stderr == "No resources found\n"  # cluster-scoped
    (tmp / "app.yaml").write_text(DEPLOY)
    assert run("create", "-f", str(tmp / "app.yaml")).returncode == 0
    every = run("get", "pods", "--all-namespaces")
    header, row = every.stdout.split("\n")[:2]
    assert header.split()[:2] == ["NAMESPACE", "NAME"] and row.split()[0] == "extra", every
    listed = run("get", "pods", "-A", "-o", "jsonpath={.items[*].metadata.namespace}")
    assert listed.stdout == "extra"
    here = run("get", "pods")
    assert here.stdout == "" and here.stderr == "No resources found in default namespace.\n"
