"""Issue 10 row 5: the audit fails a cluster repo that re-opens what the lock-down closed. Each
rule gets a planted defect in a copy of the default bake (generator/audit/lockdown.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from generator.audit import audit
from generator.audit.report import Finding

FIREWALL = "scripts/lib/firewall.sh"
LB = "scripts/lib/loadbalancer.sh"
ETCD, CTRL, WORKER = ("cloud-config/etcd.yaml", "cloud-config/controller.yaml",
                      "cloud-config/worker.yaml")
APISERVER = "manifests/controller/kube-controller.yaml"
ANYWHERE = "address:0.0.0.0/0"


def lockdown(cluster: Path) -> list[Finding]:
    return [f for f in audit(cluster).findings if f.rule.startswith("lockdown.")]


def plant(cluster: Path, rel: str, old: str, new: str) -> None:
    path = cluster / rel
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {rel}"
    path.write_text(text.replace(old, new))


def test_the_default_bake_is_locked_down(cluster_copy: Path) -> None:
    assert lockdown(cluster_copy) == []


APISERVER_RULE = ('"protocol:tcp,ports:$APISERVER_SECURE_PORT,$(_fw_addresses "$ADMIN_CIDRS")'
                  '${LB_ID:+,load_balancer_uid:$LB_ID}"')
ADMINS = '$(_fw_addresses "$ADMIN_CIDRS")'


def added(rule: str) -> str:
    """The apiserver firewall's rule string with RULE appended (a hand edit of firewall.sh)."""
    return APISERVER_RULE[:-1] + f' {rule}"'


PLANTED = {
    # firewall rules that would open a closed port beyond the cluster's tags
    "etcd to the world": (FIREWALL, APISERVER_RULE, added(f"protocol:tcp,ports:2379,{ANYWHERE}"),
                          "lockdown.firewall", "[2379]"),
    "a range over the kubelet": (FIREWALL, APISERVER_RULE,
                                 added(f"protocol:tcp,ports:10000-10300,{ANYWHERE}"),
                                 "lockdown.firewall", "[10250, 10255, 10256]"),
    "all tcp from admins": (FIREWALL, APISERVER_RULE, added(f"protocol:tcp,ports:all,{ADMINS}"),
                            "lockdown.firewall", "8080"),
    "cAdvisor to a droplet id": (FIREWALL, APISERVER_RULE,
                                 added("protocol:tcp,ports:4194,droplet_id:1"),
                                 "lockdown.firewall", "[4194]"),
    # kube-proxy's health port (the CCM's load balancers' health check) to everyone instead of
    # to those load balancers by ID
    "kube-proxy health to the world": (
        FIREWALL, "protocol:tcp,ports:$KUBE_PROXY_HEALTH_PORT,$lbs",
        f"protocol:tcp,ports:$KUBE_PROXY_HEALTH_PORT,{ANYWHERE}", "lockdown.firewall", "[10256]"),
    # the load balancer in front of the apiservers open to the internet
    "load balancer without an allow list": (LB, '\n    --allow-list "$(lb_allow_list)")', ")",
                                            "lockdown.lb-allow", "no --allow-list"),
    # etcd in plain http off the loopback
    "member client url": (ETCD, '"https://$private_ipv4:2379"', '"http://$private_ipv4:2379"',
                          "lockdown.etcd-tls", "plain http"),
    "member peer url": (ETCD, 'initial-cluster: "etcd-01=https://', 'initial-cluster: "etcd-01=http://',
                        "lockdown.etcd-tls", "initial-cluster"),
    # the apiserver without an authorization mode
    "no authorization mode": (APISERVER, '        - "--authorization-mode=ABAC"\n', "",
                              "lockdown.authorization", "AlwaysAllow"),
    "AlwaysAllow": (APISERVER, '"--authorization-mode=ABAC"', '"--authorization-mode=AlwaysAllow"',
                    "lockdown.authorization", "cluster-admin"),
    # flannel without an interface
    "flannel on the worker": (WORKER, "  flannel:\n    interface: $private_ipv4\n", "",
                              "lockdown.flannel", "public interface"),
}


@pytest.mark.parametrize("case", PLANTED)
def test_a_planted_exposure_fails_the_audit(cluster_copy: Path, case: str) -> None:
    rel, old, new, rule, words = PLANTED[case]
    plant(cluster_copy, rel, old, new)
    found = lockdown(cluster_copy)
    assert [f.rule for f in found] == [rule], found
    assert found[0].file == rel and found[0].severity == "error" and words in found[0].message


def test_a_tag_only_rule_over_every_port_passes(cluster_copy: Path) -> None:
    """The cluster's own rule (all TCP from the cluster's tags) is not an exposure."""
    plant(cluster_copy, FIREWALL, APISERVER_RULE, added("protocol:tcp,ports:all,tag:$WORKER_TAG"))
    assert lockdown(cluster_copy) == []


def test_the_allow_list_follows_admin_cidrs(bake_with: Callable[..., Path]) -> None:
    """A narrowed ADMIN_CIDRS (an IPv6 network in it is left out of the list) audits clean;
    an allow list opened to everyone beyond it fails."""
    cluster = bake_with(controller_count=2, admin_cidrs="198.51.100.0/24,2001:db8::/48")
    assert lockdown(cluster) == []
    plant(cluster, LB, "'[($admin | split(\",\")[]", "'[(\"0.0.0.0/0\"")
    found = lockdown(cluster)
    assert [f.rule for f in found] == ["lockdown.lb-allow"], found
    assert "'cidr:0.0.0.0/0' admits beyond ADMIN_CIDRS (198.51.100.0/24,2001:db8::/48)" in \
        found[0].message


LB_NODEPORTS = "protocol:tcp,ports:$NODE_PORT_RANGE,$lbs"


def test_the_load_balancers_rules_admit_them_by_id_only(cluster_copy: Path) -> None:
    """Issue 21 item 6: with the CCM's load balancers (CCM_LB_IDS) the nodes' firewall admits
    each by ID on the NodePort range and kube-proxy's health port, and the audit (which
    evaluates it with one) passes that; the same rule by address beyond NODEPORT_CIDRS fails."""
    settings = cluster_copy / "settings.env"
    settings.write_text(settings.read_text().replace("\nNODEPORT_CIDRS=0.0.0.0/0,::/0\n",
                                                     "\nNODEPORT_CIDRS=198.51.100.0/24\n"))
    assert lockdown(cluster_copy) == []
    plant(cluster_copy, FIREWALL, LB_NODEPORTS, f"protocol:tcp,ports:$NODE_PORT_RANGE,{ANYWHERE}")
    found = lockdown(cluster_copy)
    assert [f.rule for f in found] == ["lockdown.nodeports"], found
    assert "opens NodePorts to ['0.0.0.0/0'], beyond NODEPORT_CIDRS (198.51.100.0/24)" in \
        found[0].message
