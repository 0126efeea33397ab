"""Issue 21 item 1, the nodes' side: every kubelet runs --cloud-provider=external and
--provider-id=digitalocean://<droplet ID> (digitalocean-cloud-controller-manager v0.1.68
docs/getting-started.md) when the cluster has its own token. The ID exists only after the
create: the apply writes it into the kubelet's EnvironmentFile, installed over ssh before the
certificates the kubelet waits for. The kubectl stand-in registers such a node with the
uninitialized taint until the CCM runs, and with its provider ID."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from generator import facts
from tests.applying import REPO
from tests.current_profile import bake_current

sys.path.insert(0, str(REPO / "tests" / "fake_kubectl"))
import current_nodes  # noqa: E402

NAME = "do-cluster-worker-01"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = bake_current(tmp_path_factory.mktemp("cloudnode"))
    (path / "state/droplets").mkdir(parents=True, exist_ok=True)
    (path / f"state/droplets/{NAME}.json").write_text(json.dumps({"id": 300000003, "name": NAME}))
    return path


def cloud_env(cluster: Path, name: str = NAME, role: str = "worker",
              **env: str) -> subprocess.CompletedProcess[str]:
    """kubelet_env NAME ROLE with the worker's apiserver address profile_placeholders exports
    (unless ENV says otherwise)."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("DIGITALOCEAN_") and not k.endswith("_ENDPOINTS")}
    return subprocess.run(
        ["bash", "-c", "set -euo pipefail; shopt -s inherit_errexit; . scripts/lib/common.sh; "
         f"kubelet_env {name} {role}; echo \"$KUBELET_ENV\""],
        cwd=cluster, env={**base, "APISERVER_ENDPOINT": "10.101.0.7", **env},
        capture_output=True, text=True, check=False)


def test_the_kubelet_reads_the_env_file_the_apply_writes(cluster: Path) -> None:
    worker = yaml.safe_load((cluster / "cloud-config/worker.yaml").read_text())
    unit = next(u for u in worker["coreos"]["units"] if u["name"] == "kubelet.service")
    content = unit["content"]
    assert f"EnvironmentFile={facts.KUBELET_ENV}\n" in content
    assert "--cloud-provider=${KUBELET_CLOUD_PROVIDER}" in content
    assert "--provider-id=${KUBELET_PROVIDER_ID}" in content
    proc = cloud_env(cluster)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == facts.KUBELET_ENV  # one path, two spellings


def test_with_the_token_the_droplet_id_becomes_the_provider_id(cluster: Path) -> None:
    token = "dop_v1_never0written0anywhere"
    proc = cloud_env(cluster, DIGITALOCEAN_CLUSTER_TOKEN=token)
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.splitlines()[0]
    assert line == (f"build/kubelet-env/{NAME}.env {facts.KUBELET_ENV} 0644")
    text = (cluster / f"build/kubelet-env/{NAME}.env").read_text()
    assert "KUBELET_CLOUD_PROVIDER=external\n" in text
    assert "KUBELET_PROVIDER_ID=digitalocean://300000003\n" in text
    assert token not in text + proc.stdout + proc.stderr
    # without it: the kubelet's defaults, and it says why
    proc = cloud_env(cluster)
    text = (cluster / f"build/kubelet-env/{NAME}.env").read_text()
    assert "KUBELET_CLOUD_PROVIDER=\n" in text and "KUBELET_PROVIDER_ID=\n" in text
    assert "kubelet without a cloud provider (no DIGITALOCEAN_CLUSTER_TOKEN" in proc.stderr


def test_the_env_file_carries_the_addresses_fill_endpoints_writes_in(cluster: Path) -> None:
    """Issue 24: the user data names no other droplet's address; the kubelet's EnvironmentFile
    does (tests/test_current_fill_endpoints.py runs the node's side)."""
    proc = cloud_env(cluster)
    assert proc.returncode == 0, proc.stderr
    text = (cluster / f"build/kubelet-env/{NAME}.env").read_text()
    assert "APISERVER_ENDPOINT=10.101.0.7\n" in text and "ETCD_ENDPOINTS" not in text
    ctl = "do-cluster-controller-01"
    urls = "https://10.101.0.2:2379,https://10.101.0.3:2379"
    proc = cloud_env(cluster, ctl, "controller", APISERVER_ENDPOINT="127.0.0.1",
                     ETCD_ENDPOINTS=urls)
    assert proc.returncode == 0, proc.stderr
    text = (cluster / f"build/kubelet-env/{ctl}.env").read_text()
    assert "APISERVER_ENDPOINT=127.0.0.1\n" in text and f"ETCD_ENDPOINTS={urls}\n" in text
    # make rotate-certs re-delivers without looking the addresses up: the delivered ones stay
    proc = cloud_env(cluster, ctl, "controller", APISERVER_ENDPOINT="")
    assert proc.returncode == 0, proc.stderr
    assert (cluster / f"build/kubelet-env/{ctl}.env").read_text() == text


def test_no_address_known_nothing_delivered(cluster: Path) -> None:
    proc = cloud_env(cluster, "do-cluster-worker-09", APISERVER_ENDPOINT="")
    assert proc.returncode != 0
    assert "do-cluster-worker-09: no apiserver address to give its kubelet: run 'make worker'" \
        in proc.stderr
    assert not (cluster / "build/kubelet-env/do-cluster-worker-09.env").exists()
    proc = cloud_env(cluster, "do-cluster-controller-09", "controller",
                     APISERVER_ENDPOINT="127.0.0.1")
    assert proc.returncode != 0 and "no etcd client URLs to give its apiserver" in proc.stderr


def test_no_recorded_id_no_provider_id(cluster: Path, tmp_path: Path) -> None:
    state = cluster / f"state/droplets/{NAME}.json"
    saved = state.read_text()
    state.write_text(json.dumps({"name": NAME}))
    try:
        proc = cloud_env(cluster, DIGITALOCEAN_CLUSTER_TOKEN="dop_v1_x")
    finally:
        state.write_text(saved)
    assert proc.returncode != 0
    assert f"no droplet id recorded for {NAME}" in proc.stderr


def test_the_stand_in_taints_the_node_until_the_ccm_runs(tmp_path: Path) -> None:
    env = tmp_path / "etc/kubernetes/kubelet.env"
    env.parent.mkdir(parents=True)
    env.write_text("KUBELET_CLOUD_PROVIDER=external\nKUBELET_PROVIDER_ID=digitalocean://7\n")
    assert current_nodes.cloud_env(tmp_path) == {
        "KUBELET_CLOUD_PROVIDER": "external", "KUBELET_PROVIDER_ID": "digitalocean://7"}
    data: dict[str, object] = {"objects": {}}
    assert not current_nodes.ccm_initializes(data, NAME)
    data["objects"] = {current_nodes.CCM: {}}
    assert not current_nodes.ccm_initializes(data, NAME)  # no token Secret: it cannot start
    data["objects"] = {current_nodes.CCM: {}, "Secret/kube-system/digitalocean": {}}
    assert current_nodes.ccm_initializes(data, NAME)
    data["objects"] = {}
    assert current_nodes.ccm_initializes(data, NAME)  # the taint never comes back
    env.unlink()
    assert current_nodes.cloud_env(tmp_path) is None  # the kubelet does not start


def test_the_apiserver_reaches_kubelets_by_internal_ip_first(cluster: Path) -> None:
    """getting-started.md: node names (droplet names) do not resolve on DigitalOcean; the
    apiserver prefers the InternalIP (the VPC)."""
    text = (cluster / "manifests/controller/kube-apiserver.yaml").read_text()
    assert re.search(r"--kubelet-preferred-address-types=InternalIP,", text)
