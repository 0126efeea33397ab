"""Issue 21 item 4: the cluster's own DigitalOcean token (DIGITALOCEAN_CLUSTER_TOKEN) reaches
the Secret kube-system/digitalocean the cloud-controller-manager reads (digitalocean-cloud-
controller-manager v0.1.68 releases/secret.yml.tmpl, key access-token) through kubectl's
standard input only: never in a file, a log, the output or a process's arguments (the kubectl
stand-in records every argv). Without it, the add-ons needing it are skipped with a message.

make addons runs against the current-kubectl stand-in with an apiserver stood in by a
controller droplet record (no apply: the other steps are tested elsewhere)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.applying import REPO, STANDIN_BIN, files_containing

CLUSTER_TOKEN = "dop_v1_0cluster0token0for0tests0d41c"
PUBLIC = "203.0.113.9"


@pytest.fixture(scope="module")
def baked(current_cluster: Path) -> Path:
    return current_cluster  # the session's shared bake (conftest.py), read only


@pytest.fixture
def cluster(baked: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the bake with ./kubeconfig and a simulated controller serving the apiserver."""
    copy = tmp_path / "c"
    subprocess.run(["cp", "-a", str(baked), str(copy)], check=True)
    kubeconfig = (copy / "client/admin-kubeconfig.yaml").read_text()
    (copy / "kubeconfig").write_text(kubeconfig.replace("CONTROLLER_PUBLIC_IP", PUBLIC))
    pki = tmp_path / "ctl/etc/kubernetes/pki"
    pki.mkdir(parents=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=kube-apiserver", "-addext", f"subjectAltName=IP:{PUBLIC}",
                    "-keyout", str(pki / "apiserver-key.pem"), "-out", str(pki / "apiserver.pem")],
                   check=True, capture_output=True)
    account = {"droplets": {"1": {"name": "do-cluster-controller-01", "tags": [], "sim": {
        "root": str(tmp_path / "ctl"), "public_ip": PUBLIC, "private_ip": "10.100.0.9"}}}}
    (tmp_path / "account.json").write_text(json.dumps(account))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGITALOCEAN_", "DOSIM_"))}
    env.update({"PATH": f"{REPO / 'tests/fake_kubectl_current'}{os.pathsep}{STANDIN_BIN}"
                        f"{os.pathsep}{env['PATH']}",
                "DOSIM_STATE": str(tmp_path / "account.json"),
                "FAKE_KUBECTL_STATE": str(tmp_path / "kubernetes.json"),
                "APPLY_POLL_SECONDS": "0.1", "APPLY_TIMEOUT_SECONDS": "60"})
    return copy, env


def addons(cluster: tuple[Path, dict[str, str]], **env: str) -> subprocess.CompletedProcess[str]:
    path, base = cluster
    return subprocess.run(["make", "--no-print-directory", "addons"], cwd=path,
                          env={**base, **env}, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL, check=False)


def kube_state(cluster: tuple[Path, dict[str, str]]) -> dict[str, object]:
    state: dict[str, object] = json.loads(Path(cluster[1]["FAKE_KUBECTL_STATE"]).read_text())
    return state


def test_the_token_reaches_the_secret_through_stdin_only(
        cluster: tuple[Path, dict[str, str]]) -> None:
    proc = addons(cluster, DIGITALOCEAN_CLUSTER_TOKEN=CLUSTER_TOKEN)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    state = kube_state(cluster)
    objects = state["objects"]
    assert isinstance(objects, dict)
    secret = objects["Secret/kube-system/digitalocean"]
    # the stand-in keeps a digest of what kubectl sent: exactly the token, no newline added
    assert secret["data"] == {
        "access-token": "sha256:" + hashlib.sha256(CLUSTER_TOKEN.encode()).hexdigest()}
    deployment = objects["Deployment/kube-system/digitalocean-cloud-controller-manager"]
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "DO_CLUSTER_ID", "value": "k8s-do:do-cluster"} in env
    assert "Secret kube-system/digitalocean from DIGITALOCEAN_CLUSTER_TOKEN" in out
    assert "cloud-controller-manager (LoadBalancer Services) and CSI driver (volumes, " \
           "StorageClass do-block-storage) deployed (what it creates is tagged " \
           "k8s:k8s-do:do-cluster)" in out
    # the CSI controller plugin reads the same Secret and tags its volumes (csi-digitalocean)
    plugin = next(c for c in objects["StatefulSet/kube-system/csi-do-controller"]["spec"][
        "template"]["spec"]["containers"] if c["name"] == "csi-do-plugin")
    assert "--do-tag=k8s:k8s-do:do-cluster" in plugin["args"]
    assert "StorageClass//do-block-storage" in objects
    # never in an argv, the output, or any file (cluster repo, simulated account, stand-in state)
    calls = state["calls"]
    assert isinstance(calls, list)
    assert any("create secret generic digitalocean" in call and
               "--from-file=access-token=/dev/stdin" in call for call in calls)
    encoded = base64.b64encode(CLUSTER_TOKEN.encode()).decode()
    for needle in (CLUSTER_TOKEN, encoded):
        assert not [c for c in calls if needle in c]
        assert needle not in out
        assert files_containing(needle, cluster[0], Path(cluster[1]["DOSIM_STATE"]).parent) == []


def test_without_the_token_the_cloud_add_ons_are_skipped_saying_how(
        cluster: tuple[Path, dict[str, str]]) -> None:
    proc = addons(cluster)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert ("skipped: DigitalOcean's cloud-controller-manager (LoadBalancer Services) and CSI "
            "driver (volumes, StorageClass do-block-storage): DIGITALOCEAN_CLUSTER_TOKEN is not "
            "set") in out
    objects = kube_state(cluster)["objects"]
    assert isinstance(objects, dict)
    assert "Deployment/kube-system/coredns" in objects
    assert not [k for k in objects if "digitalocean" in k or "cloud-controller" in k
                or "csi" in k or k.startswith("StorageClass")]


def test_a_token_with_whitespace_is_refused_before_anything_needing_it(
        cluster: tuple[Path, dict[str, str]]) -> None:
    proc = addons(cluster, DIGITALOCEAN_CLUSTER_TOKEN=CLUSTER_TOKEN + "\n")
    assert proc.returncode != 0
    assert "DIGITALOCEAN_CLUSTER_TOKEN holds characters a DigitalOcean token never has" \
        in proc.stderr
    assert CLUSTER_TOKEN not in proc.stdout + proc.stderr
    objects = kube_state(cluster)["objects"] if Path(
        cluster[1]["FAKE_KUBECTL_STATE"]).exists() else {}
    assert isinstance(objects, dict)
    assert not [k for k in objects if "digitalocean" in k]
