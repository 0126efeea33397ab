"""The current profile's add-on and smoke manifests (issue 11): strictly valid for the pinned
Kubernetes version (the real kubernetes-validate), rendered from the answers (no CIDR, IP,
domain or port of the defaults written into them), every image pinned by an answer the schema
checks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import TEMPLATE_ROOT, facts
from generator.answers import validate
from generator.facts import dns_service_ip
from tests.baking import default_answers
from tests.current_profile import bake_current

MANIFESTS = ("addons/kube-proxy.yaml", "addons/flannel.yaml", "addons/coredns.yaml",
             "addons/digitalocean-ccm.yaml", "addons/digitalocean-csi.yaml",
             "addons/metrics-server.yaml",
             "smoke/busybox.yaml", "smoke/inspector.yaml")
IMAGE_ANSWERS = ("_coredns_image", "_flannel_image", "_flannel_cni_plugin_image", "_do_ccm_image",
                 "_csi_do_image", "_csi_provisioner_image", "_csi_attacher_image",
                 "_csi_resizer_image", "_csi_node_registrar_image", "_csi_udev_image",
                 "_metrics_server_image",
                 "_smoke_dns_image", "_smoke_http_image")
# Non-default answers: each must reach the manifests, and no default may remain.
OTHER = {"_pod_network": "10.244.0.0/16", "_service_cidr": "10.96.0.0/16",
         "_dns_service_ip": "10.96.0.10", "_cluster_domain": "k8s.example",
         "_inspector_node_port": "30080"}


@pytest.fixture(scope="module")
def current(current_cluster: Path) -> Path:
    return current_cluster  # the session's shared bake (conftest.py), read only


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake_current(tmp_path_factory.mktemp("other"), **OTHER)


def kubernetes_validate(path: Path, version: str) -> subprocess.CompletedProcess[str]:
    program = Path(sys.executable).parent / "kubernetes-validate"
    return subprocess.run([str(program), "--strict", "-k", version, str(path)],
                          capture_output=True, text=True, timeout=120, check=False)


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def containers(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for doc in docs:
        spec = doc.get("spec", {})
        pod = spec.get("template", {}).get("spec", spec)
        found += pod.get("initContainers", []) + pod.get("containers", [])
    return found


@pytest.mark.parametrize("name", MANIFESTS)
def test_manifest_validates_strictly(current: Path, name: str) -> None:
    version = default_answers(profile="current")["kubernetes_version"]
    result = kubernetes_validate(current / "manifests" / name, version)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout + result.stderr


@pytest.mark.parametrize("name, broken, message", [
    ("addons/flannel.yaml", ("      hostNetwork: true\n", "      hostNetwrok: true\n"),
     "hostNetwrok"),
    ("addons/kube-proxy.yaml", ("            privileged: true\n",
                                "            privileged: \"yes\"\n"), "privileged"),
    ("addons/coredns.yaml", ("  clusterIP:", "  clusterIPs:"), "clusterIPs"),
    ("smoke/inspector.yaml", ("      nodePort:", "      nodeport:"), "nodeport"),
    ("addons/digitalocean-csi.yaml", ("  attachRequired: true", "  attachRequired: \"true\""),
     "attachRequired"),
    ("addons/metrics-server.yaml",
     ("  groupPriorityMinimum: 100", "  groupPriorityMinimum: \"100\""), "groupPriorityMinimum"),
])
def test_a_broken_manifest_fails_validation(current: Path, tmp_path: Path, name: str,
                                            broken: tuple[str, str], message: str) -> None:
    """Negative twins: a misspelled field, a string for a bool, a list field given a scalar."""
    text = (current / "manifests" / name).read_text()
    assert broken[0] in text
    target = tmp_path / Path(name).name
    target.write_text(text.replace(broken[0], broken[1], 1))
    result = kubernetes_validate(target, "1.37.0")
    assert result.returncode != 0 and message in result.stdout + result.stderr, result


def test_the_answers_reach_the_manifests(other: Path) -> None:
    addons = other / "manifests/addons"
    proxy = find(documents(addons / "kube-proxy.yaml"), "ConfigMap", "kube-proxy")
    assert yaml.safe_load(proxy["data"]["config.conf"])["clusterCIDR"] == OTHER["_pod_network"]
    net = json.loads(find(documents(addons / "flannel.yaml"), "ConfigMap",
                          "kube-flannel-cfg")["data"]["net-conf.json"])
    assert net["Network"] == OTHER["_pod_network"]
    assert net["Backend"] == {"Type": "vxlan"}  # the one backend the profile accepts (17.7)
    dns = documents(addons / "coredns.yaml")
    assert find(dns, "Service", "kube-dns")["spec"]["clusterIP"] == OTHER["_dns_service_ip"]
    corefile = find(dns, "ConfigMap", "coredns")["data"]["Corefile"]
    assert f"kubernetes {OTHER['_cluster_domain']} in-addr.arpa" in corefile
    inspector = find(documents(other / "manifests/smoke/inspector.yaml"), "Service", "inspector")
    assert inspector["spec"]["ports"][0]["nodePort"] == int(OTHER["_inspector_node_port"])


def test_no_default_value_is_written_into_them(other: Path) -> None:
    defaults = default_answers(profile="current")
    defaults["_dns_service_ip"] = dns_service_ip(defaults)  # empty: derived from the range
    for name in MANIFESTS:
        text = (other / "manifests" / name).read_text()
        for key in OTHER:
            assert not re.search(rf"(?<![\d.]){re.escape(defaults[key])}(?![\d.])", text), \
                (name, key)


def test_kube_proxy_reads_the_node_files(current: Path) -> None:
    docs = documents(current / "manifests/addons/kube-proxy.yaml")
    daemonset = find(docs, "DaemonSet", "kube-proxy")
    config = yaml.safe_load(find(docs, "ConfigMap", "kube-proxy")["data"]["config.conf"])
    assert config["clientConnection"]["kubeconfig"] == facts.KUBE_PROXY_KUBECONFIG
    paths = {v["hostPath"]["path"] for v in daemonset["spec"]["template"]["spec"]["volumes"]
             if "hostPath" in v}
    assert {facts.KUBE_PROXY_KUBECONFIG, f"{facts.NODE_PKI_DIR}/ca.pem",
            f"{facts.NODE_PKI_DIR}/kube-proxy.pem",
            f"{facts.NODE_PKI_DIR}/kube-proxy-key.pem"} <= paths
    # only kube-proxy's own files of the node's PKI directory, never the directory itself
    assert facts.NODE_PKI_DIR not in paths


def test_flannel_uses_the_kube_subnet_manager_on_the_node_ip(current: Path) -> None:
    docs = documents(current / "manifests/addons/flannel.yaml")
    flanneld = containers([find(docs, "DaemonSet", "kube-flannel-ds")])[-1]
    assert {"--kube-subnet-mgr", "--iface=$(NODE_IP)"} <= set(flanneld["args"])
    env = {e["name"]: e for e in flanneld["env"]}
    assert env["NODE_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"


def test_the_node_pki_dir_is_one_fact() -> None:
    components = (TEMPLATE_ROOT / "{{cookiecutter.cluster_name}}/profiles/current/scripts/lib/"
                  "components.sh").read_text()
    assert f"\nNODE_PKI_DIR={facts.NODE_PKI_DIR}\n" in components


def test_every_image_is_pinned_by_an_answer(current: Path) -> None:
    answers = default_answers(profile="current")
    images = {c["image"] for name in MANIFESTS
              for c in containers(documents(current / "manifests" / name))}
    kube_proxy = f"registry.k8s.io/kube-proxy:v{answers['kubernetes_version']}"
    assert images == {kube_proxy, *(answers[key] for key in IMAGE_ANSWERS)}


@pytest.mark.parametrize("key", IMAGE_ANSWERS)
@pytest.mark.parametrize("value, words", [
    ("busybox", "pin a version tag"),
    ("busybox:latest", "pin a version tag"),
    ("Registry.example/Busybox:1.28", "pin a version tag"),
    ("busybox:1.28 ", "never trimmed"),
    ("r/" + "a" * 130 + ":1", "at most 128"),
])
def test_image_answers_must_be_pinned(key: str, value: str, words: str) -> None:
    errors = validate(default_answers(profile="current", **{key: value}))
    assert [e.field for e in errors] == [key], errors
    assert words in errors[0].message


# digitalocean/digitalocean-cloud-controller-manager releases/digitalocean-cloud-controller-
# manager/v0.1.68.yml at tag v0.1.68: its ClusterRole's rules (resource: verbs) and the
# container's command; cloud-controller-manager/do/cloud.go reads DO_ACCESS_TOKEN,
# DO_CLUSTER_ID and DEFAULT_LB_TYPE (REGIONAL or REGIONAL_NETWORK) from the environment.
CCM_RULES = {"leases": ["get", "watch", "list", "create", "update", "delete"],
             "events": ["create", "patch", "update"], "nodes": ["*"], "nodes/status": ["patch"],
             "services": ["list", "patch", "update", "watch"],
             "services/status": ["list", "patch", "update", "watch"],
             "serviceaccounts": ["create"],
             "persistentvolumes": ["get", "list", "update", "watch"],
             "endpoints": ["create", "get", "list", "watch", "update"]}


def test_the_cloud_controller_manager_is_its_release(current: Path) -> None:
    docs = documents(current / "manifests/addons/digitalocean-ccm.yaml")
    role = find(docs, "ClusterRole", "system:cloud-controller-manager")
    assert {r["resources"][0]: r["verbs"] for r in role["rules"]} == CCM_RULES
    pod = find(docs, "Deployment", "digitalocean-cloud-controller-manager")["spec"]["template"]
    ccm = pod["spec"]["containers"][0]
    assert ccm["command"] == ["/bin/digitalocean-cloud-controller-manager", "--leader-elect=false"]
    env = {e["name"]: e for e in ccm["env"]}
    assert env["DO_ACCESS_TOKEN"]["valueFrom"] == {
        "secretKeyRef": {"name": "digitalocean", "key": "access-token"}}
    # its load balancers are tagged k8s:<DO_CLUSTER_ID> (do/loadbalancers.go buildK8sTag):
    # the tag make destroy deletes by, one source
    settings = (current / "settings.env").read_text()
    assert f"\nCLOUD_TAG=k8s:{env['DO_CLUSTER_ID']['value']}\n" in settings
    assert env["DO_CLUSTER_ID"]["value"] == facts.droplet_tag(default_answers(profile="current"))
    # load balancers that proxy: the nodes' firewall admits them by ID (firewall.sh)
    assert env["DEFAULT_LB_TYPE"]["value"] == "REGIONAL"
    # what runs before it initializes the nodes tolerates their uninitialized taint
    assert {"key": "node.cloudprovider.kubernetes.io/uninitialized", "value": "true",
            "effect": "NoSchedule"} in pod["spec"]["tolerations"]
