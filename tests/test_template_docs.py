"""Everything the user reads speaks the baked profile (issue 17.4): the generated README names
only files the bake wrote (or the apply writes), the current README has no docker, no etcd
proxy and no ABAC, `make help` says what this profile's targets do, and the picture draws only
the flows the profile has."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from generator import facts
from generator.audit.cluster import APPLY_OUTPUTS, LOCAL_DIRS
from generator.generated import ROWS
from generator.pki import ADMIN_SUBJECTS
from tests.baking import bake

# A path in backticks: a top-level name of the cluster repo, maybe with a path below it.
PATH = re.compile(r"`((?:[a-z][\w-]*/)+[\w./<>*-]*|[\w-]+\.(?:env|rules|md|yaml|tsv))`")
# Outputs of the apply (and the bake pictures when graphviz is missing): not in a fresh bake.
LATER = (*APPLY_OUTPUTS, *LOCAL_DIRS)


@pytest.fixture(scope="module")
def current(current_cluster: Path) -> Path:
    return current_cluster  # the session's shared bake (conftest.py), read only


@pytest.fixture(scope="module")
def tutorial_ha(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake(tmp_path_factory.mktemp("tutorial"), etcd_count="3", controller_count="2")


def _named_paths(readme: str) -> set[str]:
    return {m for m in PATH.findall(readme)
            if "<" not in m and "NN" not in m and "*" not in m}


def _missing(cluster: Path) -> list[str]:
    readme = (cluster / "README.md").read_text()
    skip = LATER + (() if shutil.which("dot") else ("docs",))
    return sorted(p for p in _named_paths(readme)
                  if p.split("/")[0] not in skip and not (cluster / p).exists()
                  and not (p.startswith("pki/") and (cluster / p).parent.is_dir()))


@pytest.mark.parametrize("fixture", ["current", "tutorial_ha"])
def test_the_readme_names_only_files_that_exist(fixture: str,
                                                request: pytest.FixtureRequest) -> None:
    cluster: Path = request.getfixturevalue(fixture)
    assert _missing(cluster) == []


def test_the_missing_file_check_can_fail(current: Path, tmp_path: Path) -> None:
    """Its broken twin: a README naming the tutorial's ABAC policy in a current bake."""
    readme = tmp_path / "do-cluster" / "README.md"
    shutil.copytree(current, readme.parent)
    readme.write_text(readme.read_text() + "\n| `policy/abac-policy.jsonl` | x | - |\n")
    assert _missing(readme.parent) == ["policy/abac-policy.jsonl"]


@pytest.mark.parametrize("profile", sorted(ROWS))
def test_every_generated_file_is_described(profile: str, current: Path,
                                           tutorial_ha: Path) -> None:
    """Each file of a fresh bake sits under a path the "What was generated" table names."""
    cluster = current if profile == "current" else tutorial_ha
    readme = (cluster / "README.md").read_text()
    table = readme[readme.index("## What was generated"):readme.index("## Audit")]
    described = _named_paths(table)
    undescribed = [rel for path in sorted(cluster.rglob("*")) if path.is_file()
                   and (rel := path.relative_to(cluster).as_posix()).split("/")[0]
                   not in (*LATER, "docs", "README.md", "Makefile", ".gitignore",
                           ".yamllint", ".pre-commit-config.yaml")
                   and not any(rel == d or rel.startswith(d.rstrip("/") + "/")
                               for d in described)]
    assert undescribed == []


def test_the_current_readme_speaks_the_current_system(current: Path) -> None:
    readme = (current / "README.md").read_text()
    body = readme.split("## Tutorial → current")[0] + readme.split("## Image")[1]
    for tutorial_only in ("docker ps", "etcd proxy", "etcd proxies", "ABAC", "cAdvisor",
                          "kube-worker-NN", "ETCD_PEER", "insecure port (8080)",
                          "ReplicationController", "/coreos.com/network/config", "etcd v2",
                          "etcd2", "etcdctl backup", "--force-new-cluster"):
        assert tutorial_only not in body, tutorial_only
    for current_fact in ("crictl", "journalctl -u kubelet", "Node authorizer", "RBAC",
                         "mutual TLS", f"CN={ADMIN_SUBJECTS['current'][0]}",
                         "etcdctl snapshot save", "etcdutl snapshot restore"):
        assert current_fact in body, current_fact


def test_the_tutorial_readme_keeps_the_tutorial_system(tutorial_ha: Path) -> None:
    readme = (tutorial_ha / "README.md").read_text()
    for fact in ("docker ps", "Each node's etcd proxy", "ABAC", "kube-worker-NN",
                 "a consistent etcd v2 backup", "--force-new-cluster"):
        assert fact in readme, fact
    assert "crictl" not in readme


def _help(cluster: Path) -> str:
    return subprocess.run(["make", "--no-print-directory", "help"], cwd=cluster, check=True,
                          capture_output=True, text=True).stdout


def test_make_help_says_what_the_current_targets_do(current: Path) -> None:
    text = _help(current)
    assert "kube-dns add-on: Service, then ReplicationController" not in text
    assert "flannel key" not in text
    assert "kube-proxy and flannel (DaemonSets), then CoreDNS" in text
    layers = re.search(r"STATUS_LAYERS=\(([^)]*)\)",
                       (current / "scripts/lib/profile.sh").read_text())
    assert layers and ", ".join(layers[1].split()) in text


def test_make_help_in_the_tutorial(tutorial_ha: Path) -> None:
    text = _help(tutorial_ha)
    assert "kube-dns add-on: Service, then ReplicationController" in text
    assert "droplets, ssh, etcd, flannel, controllers" in text


def _planned_dot(cluster: Path) -> str:
    subprocess.run(["bash", "scripts/diagram.sh", "--planned", "--no-png", "--out",
                    "build/planned"], cwd=cluster, check=True, capture_output=True)
    return (cluster / "build/planned.dot").read_text()


needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is missing")


@needs_dot
def test_the_current_picture_has_no_etcd_proxies(current: Path, tmp_path: Path) -> None:
    dot = _planned_dot(shutil.copytree(current, tmp_path / "c"))
    assert "etcd proxy" not in dot
    edges = re.findall(r'"([^"]+)" -> "([^"]+)" \[label="etcd client', dot)
    assert edges == [("do-cluster-controller-01", "do-cluster-etcd-01")]


@needs_dot
def test_the_etcd_peers_are_a_mesh(tutorial_ha: Path, tmp_path: Path) -> None:
    dot = _planned_dot(shutil.copytree(tutorial_ha, tmp_path / "t"))
    # the members' group names the peer port; inside it, one undirected edge per pair
    assert 'label="etcd (3, peers meshed on 2380/tcp (private))"' in dot
    peers = {frozenset(e) for e in re.findall(r'"([^"]+)":e -> "([^"]+)":e \[dir=none', dot)}
    members = [f"do-cluster-etcd-0{n}" for n in (1, 2, 3)]
    assert peers == {frozenset((a, b)) for a in members for b in members if a < b}
    # one proxy edge per group (controllers, workers) to the members' group (issue 23.6)
    proxies = re.findall(r'\[label="etcd proxy[^"]*to every member".*ltail="(\w+)", '
                         r'lhead="cluster_etcd"\]', dot)
    assert sorted(proxies) == ["cluster_controller", "cluster_workers"]


def test_crictl_names_the_kubelets_runtime_socket(current: Path) -> None:
    """The Troubleshooting crictl line and the kubelet speak to the same containerd socket."""
    config = (current / "node/kubelet-config.yaml").read_text()
    assert f"containerRuntimeEndpoint: {facts.CONTAINERD_SOCKET}\n" in config
    assert f"crictl --runtime-endpoint {facts.CONTAINERD_SOCKET} ps -a" in (
        current / "README.md").read_text()
