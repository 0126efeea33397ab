"""Non-default answers reach every place their value appears."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

ANSWERS = {
    "cluster_name": "prod-east",
    "region": "nyc1",
    "_pod_network": "172.20.0.0/16",
    "_service_cidr": "172.21.0.0/22",
    "_dns_service_ip": "172.21.0.53",
    "_cluster_domain": "k8s.example.org",
    "kubernetes_version": "1.1.8",
    "worker_count": "3",
    "_node_port_range": "31000-32000",
    "_inspector_node_port": "31500",
    "_kubelet_source": "download",
}
# Every default value those answers replace must be gone from the whole cluster repo.
REPLACED_DEFAULTS = [
    "do-cluster", "ams3", "10.2.0.0/16", "10.3.0.", "cluster.local", "1.1.2",
    "30000-37000", "31000\n", "/usr/bin/kubelet",
]


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.baking import bake

    return bake(tmp_path_factory.mktemp("custom"), **ANSWERS)


def units(cloud_config: dict) -> dict[str, str]:
    return {unit["name"]: unit.get("content", "") for unit in cloud_config["coreos"]["units"]}


def load(cluster: Path, name: str) -> dict:
    return yaml.safe_load((cluster / name).read_text())


def test_no_default_value_survives(custom: Path) -> None:
    for path in custom.rglob("*"):
        # settings.rules is the schema's table (its fix messages cite example values)
        if path.is_file() and path.parent.name != "pki" and path.name != "settings.rules":
            text = path.read_text()
            assert [value for value in REPLACED_DEFAULTS if value in text] == [], path


def test_service_range_reaches_apiserver_san_and_dns(custom: Path) -> None:
    apiserver = load(custom, "manifests/controller/kube-controller.yaml")["spec"]["containers"][0]
    assert "--service-cluster-ip-range=172.21.0.0/22" in apiserver["command"]
    assert "--service-node-port-range=31000-32000" in apiserver["command"]
    assert "IP.1 = 172.21.0.1" in (custom / "openssl/apiserver.cnf").read_text()
    assert load(custom, "manifests/addons/kube-dns-svc.yaml")["spec"]["clusterIP"] == "172.21.0.53"
    assert "APISERVER_SERVICE_IP=172.21.0.1" in (custom / "settings.env").read_text()


def test_dns_ip_and_domain_reach_every_kubelet_and_the_addon(custom: Path) -> None:
    for node in ("controller", "worker"):
        kubelet = units(load(custom, f"cloud-config/{node}.yaml"))["kube-kubelet.service"]
        assert "--cluster-dns=172.21.0.53" in kubelet
        assert "--cluster-domain=k8s.example.org" in kubelet
        assert "ExecStart=/opt/bin/kubelet" in kubelet
        assert "/v1.1.8/bin/linux/amd64/kubelet" in kubelet
    containers = {
        c["name"]: c
        for c in load(custom, "manifests/addons/kube-dns-rc.yaml")["spec"]["template"]["spec"][
            "containers"
        ]
    }
    assert containers["kube2sky"]["args"] == ["-domain=k8s.example.org"]
    assert "-domain=k8s.example.org." in containers["skydns"]["args"]
    assert containers["healthz"]["args"][0].startswith(
        "-cmd=nslookup kubernetes.default.svc.k8s.example.org "
    )


def test_pod_network_reaches_flannel(custom: Path) -> None:
    units = load(custom, "cloud-config/controller.yaml")["coreos"]["units"]
    (flannel,) = [u for u in units if u["name"] == "flanneld.service"]
    assert '{"Network":"172.20.0.0/16", "Backend": {"Type": "vxlan"}}' in (
        flannel["drop-ins"][0]["content"]
    )


def test_version_reaches_images_urls_and_script(custom: Path) -> None:
    controller = (custom / "cloud-config/controller.yaml").read_text()
    assert "image: \"kube-apiserver:1.1.8\"" in controller
    scheduler = (custom / "manifests/controller/kube-scheduler.yaml").read_text()
    assert "kube-scheduler:1.1.8" in scheduler
    assert "/v1.1.8/bin/linux/amd64/kube-proxy" in (custom / "cloud-config/worker.yaml").read_text()
    assert "tag=1.1.8" in (custom / "node/pull-kube-images.sh").read_text()


def test_names_counts_and_ports_reach_the_apply_settings(custom: Path) -> None:
    settings = (custom / "settings.env").read_text()
    for line in (
        "CLUSTER_NAME=prod-east", "REGION=nyc1", "WORKER_COUNT=3",
        "ETCD_NAME=prod-east-etcd-01", "CONTROLLER_NAME=prod-east-controller-01",
        "WORKER_PREFIX=prod-east-worker", "INSPECTOR_NODE_PORT=31500",
    ):
        assert f"\n{line}\n" in settings
    assert "DNS.1 = prod-east-controller-01" in (custom / "openssl/apiserver.cnf").read_text()
    kubeconfig = load(custom, "client/admin-kubeconfig.yaml")
    assert kubeconfig["current-context"] == "prod-east-admin"
    inspector = list(yaml.safe_load_all((custom / "manifests/smoke/inspector.yaml").read_text()))
    assert inspector[0]["spec"]["ports"][0]["nodePort"] == 31500


def test_three_workers_are_the_default_worker_count(bake_with: Callable[..., Path]) -> None:
    cluster = bake_with(worker_count=3)
    assert "\nWORKER_COUNT=3\n" in (cluster / "settings.env").read_text()
    assert "3 worker(s)" in (cluster / "README.md").read_text()


def test_dns_ip_derives_from_the_service_range_unless_given() -> None:
    """Issue 23: `_service_cidr=10.10.0.0/24` alone must bake (the DNS IP follows the range)."""
    from generator.answers import validate
    from generator.facts import dns_service_ip
    from tests.baking import default_answers

    moved = default_answers(_service_cidr="10.10.0.0/24")
    assert validate(moved) == []
    assert dns_service_ip(moved) == "10.10.0.10"
    assert dns_service_ip(default_answers()) == "10.3.0.10"  # the tutorial's address
    given = default_answers(_service_cidr="10.10.0.0/24", _dns_service_ip="10.10.0.53")
    assert dns_service_ip(given) == "10.10.0.53"
    # broken twin: a DNS IP given outside the moved range is still refused
    stale = default_answers(_service_cidr="10.10.0.0/24", _dns_service_ip="10.3.0.10")
    assert [e.field for e in validate(stale)] == ["_dns_service_ip"]
