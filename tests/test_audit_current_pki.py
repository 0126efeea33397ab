"""Rules 6 and 7 for the current profile: the openssl configs ask for the SANs and purposes
each component needs, and the certificates the apply issues (components.sh) name the users
and groups the apiserver's Node authorizer and RBAC defaults expect; a planted defect in
either is an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.audit import opensslcnf
from generator.audit.cluster import Cluster
from generator.audit.pki import check
from tests.baking import bake, copy_cluster
from tests.current_profile import WORKER, bake_current, components, issue_all


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return issue_all(bake_current(tmp_path_factory.mktemp("current")))


@pytest.fixture(scope="module")
def ha_bakes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both profiles baked with two controllers."""
    return {p: bake(tmp_path_factory.mktemp(f"{p}-ha"), profile=p, controller_count=2)
            for p in ("current", "tutorial")}


def findings(cluster: Path) -> list[tuple[str, str, str]]:
    return [(f.file, f.rule, f.message) for f in check(Cluster(cluster))]


def test_the_issued_certificates_are_clean(issued: Path) -> None:
    assert findings(issued) == []


@pytest.mark.parametrize("commands, file, words", [
    # the Node authorizer needs the group: a kubelet certificate without O system:nodes
    (f"NODE_NAME={WORKER} NODE_PRIVATE_IP=10.0.0.3 NODE_PUBLIC_IP=203.0.113.3 "
     f"pki_sign kubelet-{WORKER} system:node:{WORKER} openssl/kubelet.cnf",
     f"kubelet-{WORKER}.pem", "expected ['system:nodes']"),
    # another node's name
    (f"NODE_NAME={WORKER} NODE_PRIVATE_IP=10.0.0.3 NODE_PUBLIC_IP=203.0.113.3 "
     f"pki_sign kubelet-{WORKER} system:node:other openssl/kubelet.cnf system:nodes",
     f"kubelet-{WORKER}.pem", f"expected system:node:{WORKER}"),
    # RBAC's default binding names system:kube-controller-manager
    ("pki_sign controller-manager kube-controller-manager openssl/controller-manager.cnf",
     "controller-manager.pem", "expected system:kube-controller-manager"),
    ("pki_sign scheduler system:kube-scheduler openssl/scheduler.cnf system:masters",
     "scheduler.pem", "O is ['system:masters'], expected []"),
    ("pki_sign kube-proxy kube-proxy openssl/kube-proxy.cnf",
     "kube-proxy.pem", "expected system:kube-proxy"),
    ("pki_sign apiserver-kubelet-client kube-apiserver-kubelet-client "
     "openssl/apiserver-kubelet-client.cnf",
     "apiserver-kubelet-client.pem", "expected ['system:masters']"),
    # the pods' name for the apiserver missing
    ("sed -i '/^DNS.4 /d' openssl/apiserver.cnf; pki_issue_apiserver 203.0.113.10 10.0.0.2",
     "apiserver.pem", "kubernetes.default.svc"),
])
def test_a_wrong_name_is_an_error(issued: Path, tmp_path: Path, commands: str, file: str,
                                  words: str) -> None:
    cluster = copy_cluster(issued, tmp_path)
    (cluster / "pki" / file).unlink()
    result = components(cluster, commands)
    assert result.returncode == 0, result.stderr
    found = findings(cluster)
    assert any(f == f"pki/{file}" and rule == "pki.san" and words in message
               for f, rule, message in found), found


def test_a_kubelet_certificate_for_old_addresses(issued: Path, tmp_path: Path) -> None:
    """The droplet was re-created: state/droplets/ records other IPs than the cert's SANs."""
    cluster = copy_cluster(issued, tmp_path)
    (cluster / "state/droplets").mkdir(parents=True)
    (cluster / f"state/droplets/{WORKER}.json").write_text(
        json.dumps({"public_ip": "203.0.113.3", "private_ip": "10.0.0.3"}))
    found = findings(cluster)
    assert [(f, rule) for f, rule, _ in found] == [(f"pki/kubelet-{WORKER}.pem", "pki.san")]
    assert "['10.0.0.3', '203.0.113.3']" in found[0][2]


def test_the_tutorial_admin_is_wrong_for_current(issued: Path, tmp_path: Path,
                                                 default_cluster: Path) -> None:
    """The tutorial's admin (CN kube-admin, no group) has no RBAC rights in a current cluster."""
    cluster = copy_cluster(issued, tmp_path)
    for name in ("admin.pem", "admin-key.pem", "ca.pem", "ca-key.pem"):
        (cluster / "pki" / name).unlink()
        (cluster / "pki" / name).write_bytes((default_cluster / "pki" / name).read_bytes())
    admin = [m for f, _, m in findings(cluster) if f == "pki/admin.pem"]
    assert admin == ["CN is ['kube-admin'], expected admin",
                     "O is [], expected ['system:masters']"]


# --- rule 6: the openssl request configs ------------------------------------------------------


def cnf_findings(cluster: Path) -> list[tuple[str, str, str]]:
    return [(f.file, f.rule, f.message) for f in opensslcnf.check(Cluster(cluster))]


def test_the_current_openssl_configs_are_clean(issued: Path) -> None:
    assert cnf_findings(issued) == []


@pytest.mark.parametrize("file, old, new, rule, words", [
    ("kubelet.cnf", "IP.2 = $ENV::NODE_PUBLIC_IP\n", "", "openssl.san",
     "lacks IP = $ENV::NODE_PUBLIC_IP"),
    ("kubelet.cnf", "serverAuth, clientAuth", "clientAuth", "openssl.usage",
     "clientAuth, serverAuth (has clientAuth)"),
    ("apiserver.cnf", "IP.4 = 127.0.0.1\n", "", "openssl.san", "lacks IP = 127.0.0.1"),
    ("controller-manager.cnf", "extendedKeyUsage = clientAuth\n", "", "openssl.usage",
     "(has none)"),
    ("kube-proxy.cnf", "basicConstraints = CA:FALSE", "basicConstraints = CA:TRUE",
     "openssl.ca", "CA:FALSE"),
])
def test_a_broken_openssl_config_is_an_error(issued: Path, tmp_path: Path, file: str, old: str,
                                             new: str, rule: str, words: str) -> None:
    cluster = copy_cluster(issued, tmp_path)
    cnf = cluster / "openssl" / file
    assert old in cnf.read_text()
    cnf.write_text(cnf.read_text().replace(old, new, 1))
    found = cnf_findings(cluster)
    assert [(f, r) for f, r, _ in found] == [(f"openssl/{file}", rule)], found
    assert words in found[0][2]


@pytest.mark.parametrize("profile", ["current", "tutorial"])
@pytest.mark.parametrize("line", ["IP.6 = $ENV::APISERVER_LB_IP\n",
                                  "IP.5 = $ENV::CONTROLLER_02_PRIVATE_IP\n",
                                  "DNS.2 = do-cluster-controller-02\n"])
def test_several_controllers_need_every_one_in_the_apiserver_request(
        ha_bakes: dict[str, Path], tmp_path: Path, profile: str, line: str) -> None:
    """With controller_count=2 the one apiserver certificate must name the second controller
    and the load balancer (issue 19.2); a request without them fails the audit."""
    cluster = copy_cluster(ha_bakes[profile], tmp_path)
    assert [f for f in cnf_findings(cluster) if f[0] == "openssl/apiserver.cnf"] == []
    cnf = cluster / "openssl/apiserver.cnf"
    assert line in cnf.read_text()
    cnf.write_text(cnf.read_text().replace(line, "", 1))
    found = [f for f in cnf_findings(cluster) if f[0] == "openssl/apiserver.cnf"]
    assert [r for _, r, _ in found] == ["openssl.san"], found
    assert line.split(" = ")[1].strip() in found[0][2]


def test_a_missing_component_config_is_an_error(issued: Path, tmp_path: Path) -> None:
    cluster = copy_cluster(issued, tmp_path)
    (cluster / "openssl/scheduler.cnf").unlink()
    assert cnf_findings(cluster) == [("openssl/scheduler.cnf", "openssl.section",
                                      "openssl/scheduler.cnf is missing")]
