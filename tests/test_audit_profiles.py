"""Each audit rule judges a cluster repo by its baked profile's facts (generator/profiles.py):
the units its OS ships, where its kubelet reads the DNS settings, which TLS files its apply
installs, whether a host unit carries the pod network. Broken twins in the current profile
for the rules that once applied to the tutorial only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from generator import TEMPLATE_ROOT
from generator.audit import audit
from generator.profiles import PROFILES, shell_list
from tests.baking import copy_cluster

WORKER = "cloud-config/worker.yaml"


@pytest.fixture(scope="module")
def current(current_cluster: Path) -> Path:
    return current_cluster  # the session's shared bake (conftest.py), read only


def _planted(current: Path, tmp_path: Path, file: str, old: str, new: str) -> list[str]:
    cluster = copy_cluster(current, tmp_path)
    path = cluster / file
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    return [f"{f.file} {f.rule} {f.message}" for f in audit(cluster).findings]


@pytest.mark.parametrize("old, new, expected", [
    # the kubelet reads clusterDNS and clusterDomain from the KubeletConfiguration it is given
    ("        - 10.3.0.10\n      clusterDomain", "        - 10.3.0.11\n      clusterDomain",
     "facts.dns-ip kubelet /etc/kubernetes/kubelet-config.yaml clusterDNS is ['10.3.0.11']"),
    ("clusterDomain: cluster.local", "clusterDomain: k8s.local",
     "facts.domain kubelet /etc/kubernetes/kubelet-config.yaml clusterDomain is k8s.local"),
    ("--config=/etc/kubernetes/kubelet-config.yaml", "--config=/etc/kubernetes/kubelet.yaml",
     "facts.dns-ip kubelet --config is /etc/kubernetes/kubelet.yaml; "
     "cloud-config/worker.yaml writes no KubeletConfiguration"),
    # Flatcar ships containerd.service, not a flanneld or an etcd2
    ("    - name: containerd.service\n", "    - name: etcd2.service\n",
     "unit.content etcd2.service has no content and is not a unit Flatcar ships"),
    ("Requires=containerd.service", "Requires=docker2.service",
     "unit.requires kubelet.service: Requires=docker2.service names a unit neither defined in "
     "this cloud-config nor shipped by Flatcar"),
    # a worker gets its kubelet's and kube-proxy's files, never the apiserver's
    ("tlsCertFile: /etc/kubernetes/pki/kubelet.pem",
     "tlsCertFile: /etc/kubernetes/pki/apiserver.pem",
     "facts.tls-files /etc/kubernetes/pki/apiserver.pem is not among the files the apply "
     "installs on a worker"),
])
def test_a_current_defect_is_judged_by_the_current_facts(
        current: Path, tmp_path: Path, old: str, new: str, expected: str) -> None:
    found = _planted(current, tmp_path, WORKER, old, new)
    assert any(f.startswith(f"{WORKER} {expected}") for f in found), found


def test_the_current_kubelet_needs_no_flanneld(current: Path) -> None:
    """flannel is a DaemonSet in the current profile: no host unit carries the pod network."""
    assert PROFILES["current"].pod_network_unit is None
    assert "unit.flannel" not in {f.rule for f in audit(current).findings}


def test_the_same_files_declared_tutorial_meet_the_tutorial_facts(current: Path,
                                                                   tmp_path: Path) -> None:
    """The profile is read from settings.env: the current files judged as a tutorial bake fail
    the tutorial's facts (flanneld, 1.1's kubelet flags, its TLS file names, CoreOS's units)."""
    cluster = copy_cluster(current, tmp_path)
    settings = cluster / "settings.env"
    settings.write_text(settings.read_text().replace("PROFILE=current", "PROFILE=tutorial"))
    found = {(f.rule, f.message) for f in audit(cluster).findings}
    rules = {rule for rule, _ in found}
    assert {"unit.flannel", "facts.tls-files", "facts.dns-ip", "facts.domain",
            "manifest.kind"} <= rules, rules
    assert ("unit.content", "containerd.service has no content and is not a unit CoreOS "
            "ships") in found


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_the_profile_facts_are_those_its_bash_uses(name: str) -> None:
    """profiles.py and the profile's bash name the same placeholders (USER_DATA_PLACEHOLDERS,
    which userdata.sh fills in: the audit renders user data as the apply does), the same
    etcd clients (ETCD_CLIENTS, which make diagram draws) and who fills those placeholders in
    (USER_DATA_FILLED_BY_NODE: the README's make up and user data lines)."""
    assert shell_list(name, "USER_DATA_PLACEHOLDERS") == PROFILES[name].user_data_placeholders
    script = (TEMPLATE_ROOT / "{{cookiecutter.cluster_name}}" / "profiles" / name / "scripts"
              / "lib" / "profile.sh").read_text()
    clients = re.search(r"^\s*ETCD_CLIENTS=(\w+)$", script, re.M)
    assert clients and (clients[1] == "proxies") == PROFILES[name].etcd_proxies
    filled = re.search(r"^\s*USER_DATA_FILLED_BY_NODE=(\w+)$", script, re.M)
    assert filled and (filled[1] == "yes") == PROFILES[name].user_data_filled_by_node
