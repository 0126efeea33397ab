"""The load balancer's allow list: with several controllers the apiservers are reached through a
public load balancer, so its firewall must hold ADMIN_CIDRS and the cluster's nodes (and nothing
else), or the lock-down of issue 10 stops at the droplets' firewall, which admits the load
balancer itself. API field ``firewall: {allow, deny}`` with "ip:"/"cidr:" rules (godo
load_balancers.go LBFirewall), doctl ``--allow-list`` (commands/load_balancers.go); the
stand-in's side is tests/standins/lbservice.py and lbhealth.admits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.applying import Apply
from tests.baking import bake, copy_cluster

ADMIN = "198.51.100.0/24"
PUT = "PUT /v2/load_balancers/{id}"


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Apply:
    cluster = bake(tmp_path_factory.mktemp("lb-allow-bake"), controller_count=2,
                   worker_count=1, admin_cidrs=f"{ADMIN},2001:db8::/48")
    base = tmp_path_factory.mktemp("lb-allow-apply")
    apply = Apply.create(copy_cluster(cluster, base), base / "sim")
    apply.make("etcd", "controller", "worker")
    return apply


def lb_view(apply: Apply) -> dict:
    (lb,) = json.loads(apply.doctl("compute", "load-balancer", "list", "-o", "json"))
    return lb


def intended(apply: Apply) -> list[str]:
    """ADMIN's IPv4 network and the public IP of every controller and worker (not etcd)."""
    s = apply.settings()
    nodes = [d for name, d in apply.droplets().items() if name != s["ETCD_NAME"]]
    return sorted([f"cidr:{ADMIN}", *(f"ip:{d['sim']['public_ip']}" for d in nodes)])


def test_created_with_the_allow_list(applied: Apply) -> None:
    s = applied.settings()
    lb = lb_view(applied)
    assert sorted(lb["firewall"]["allow"]) == intended(applied)
    assert len(lb["firewall"]["allow"]) == 1 + 2 + 1  # admin network, 2 controllers, 1 worker
    assert not lb["firewall"].get("deny")
    etcd_ip = applied.droplets()[s["ETCD_NAME"]]["sim"]["public_ip"]
    assert f"ip:{etcd_ip}" not in lb["firewall"]["allow"]
    assert applied.calls("POST /v2/load_balancers") == 1
    # the IPv6 network of ADMIN_CIDRS: left out, and said so (the LB has IPv4 only)
    assert not any(":" in r.partition(":")[2] for r in lb["firewall"]["allow"])
    assert "IPv6 networks (2001:db8::/48) are not in the load balancer's allow list" in \
        "".join(applied.outputs)
    # doctl's text column, as prettyPrintStruct prints godo's LBFirewall
    text = applied.doctl("compute", "load-balancer", "list", "--format", "Firewall",
                         "--no-header")
    assert text.strip() == f"allow:[{' '.join(lb['firewall']['allow'])}],deny:[]"


def test_rerun_makes_no_update_call(applied: Apply) -> None:
    before = applied.calls(PUT)
    applied.make("controller", "worker")
    assert applied.calls(PUT) == before
    assert all("as intended, unchanged" in out for out in applied.outputs[-2:])


def test_a_new_worker_is_admitted_on_make_worker(applied: Apply) -> None:
    s = applied.settings()
    before = applied.calls(PUT)
    out = applied.make("worker", WORKERS="2").stderr
    new_ip = applied.droplets()[f"{s['WORKER_PREFIX']}-02"]["sim"]["public_ip"]
    assert f"its allow list lacks ip:{new_ip}: updating it" in out
    assert applied.calls(PUT) == before + 1
    lb = lb_view(applied)
    assert f"ip:{new_ip}" in lb["firewall"]["allow"]
    assert sorted(lb["firewall"]["allow"]) == intended(applied)
    # the update is a whole PUT: the rest stays as intended
    assert lb["forwarding_rules"][0]["entry_port"] == 443 and lb["tag"] == s["CONTROLLER_TAG"]
    assert lb["health_check"]["protocol"] == "tcp"


def _hand_update(apply: Apply, allow: list[str]) -> None:
    s = apply.settings()
    lb = lb_view(apply)
    apply.doctl("compute", "load-balancer", "update", lb["id"], "--name", s["LOAD_BALANCER"],
                "--region", s["REGION"], "--size-unit", s["LB_SIZE_UNIT"], "--tag-name",
                s["CONTROLLER_TAG"], "--forwarding-rules",
                "entry_protocol:tcp,entry_port:443,target_protocol:tcp,target_port:443",
                "--health-check", "protocol:tcp,port:443", "--allow-list", ",".join(allow))


def test_a_hand_removed_rule_is_restored(applied: Apply) -> None:
    want = intended(applied)
    removed = [r for r in want if r.startswith("ip:")][0]
    _hand_update(applied, [r for r in want if r != removed])
    assert removed not in lb_view(applied)["firewall"]["allow"]
    before = applied.calls(PUT)
    out = applied.make("controller").stderr
    assert f"lacks {removed}" in out and "restored load balancer" in out
    assert applied.calls(PUT) == before + 1
    assert sorted(lb_view(applied)["firewall"]["allow"]) == want


def test_a_hand_added_rule_is_drift_and_removed(applied: Apply) -> None:
    want = intended(applied)
    _hand_update(applied, [*want, "cidr:0.0.0.0/0"])
    out = applied.make("worker", WORKERS="2").stderr
    assert "drifted from the intended settings: allow list has cidr:0.0.0.0/0, not intended" in out
    assert sorted(lb_view(applied)["firewall"]["allow"]) == want


def test_a_hand_removed_allow_list_is_restored(applied: Apply) -> None:
    """An update without --allow-list resets the firewall (PUT replaces the whole object): an
    open load balancer is drift, put back by the next run."""
    s = applied.settings()
    applied.doctl("compute", "load-balancer", "update", lb_view(applied)["id"], "--name",
                  s["LOAD_BALANCER"], "--region", s["REGION"], "--tag-name", s["CONTROLLER_TAG"],
                  "--forwarding-rules",
                  "entry_protocol:tcp,entry_port:443,target_protocol:tcp,target_port:443",
                  "--health-check", "protocol:tcp,port:443")
    assert "firewall" not in lb_view(applied)
    assert "restored load balancer" in applied.make("controller").stderr
    assert sorted(lb_view(applied)["firewall"]["allow"]) == intended(applied)


def test_kubectl_outside_admin_cidrs_is_dropped_by_the_load_balancer(applied: Apply) -> None:
    inside = applied.make("status", OUTPUT="json", DOSIM_CLIENT_IP="198.51.100.7", check=False)
    by = {x["layer"]: x for x in json.loads(inside.stdout)["layers"]}
    assert by["apiserver"]["status"] == "OK", by["apiserver"]
    outside = applied.make("status", OUTPUT="json", DOSIM_CLIENT_IP="192.0.2.10", check=False)
    by = {x["layer"]: x for x in json.loads(outside.stdout)["layers"]}
    assert by["apiserver"]["status"] == "FAIL"
    assert "i/o timeout" in json.dumps(by["apiserver"])



def test_readme_says_who_reaches_the_load_balancer(applied: Apply, default_cluster: Path) -> None:
    def security(cluster: Path) -> str:
        readme = (cluster / "README.md").read_text()
        return readme[readme.index("## Security"):readme.index("## Apply")]

    row = [line for line in security(applied.cluster).splitlines()
           if line.startswith("| apiservers through the load balancer")]
    assert len(row) == 1 and f"`{ADMIN},2001:db8::/48`" in row[0]
    assert "every controller and worker" in row[0] and "no IPv6 address" in row[0]
    assert "through the load balancer" not in security(default_cluster)  # one controller: no LB
