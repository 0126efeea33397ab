"""Issue 10 row 1: the cloud firewalls that `make etcd` creates and `make destroy` removes,
against the stand-in's strict, stateful firewall API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.applying import Apply
from tests.baking import copy_cluster

EVERYONE = ["0.0.0.0/0", "::/0"]


def rule(protocol: str, ports: str, *, addresses: list[str] | None = None,
         tags: list[str] | None = None) -> dict[str, Any]:
    return {"protocol": protocol, "ports": ports,
            "addresses": sorted(addresses or []), "tags": sorted(tags or [])}


def canon(rules: list[dict[str, Any]], side: str) -> list[dict[str, Any]]:
    """The API's form back to the intended one ("0" is "all", or no ports for ICMP)."""
    out = []
    for r in rules:
        where = r[side]
        ports = "" if r["protocol"] == "icmp" else ("all" if r["ports"] == "0" else r["ports"])
        out.append(rule(r["protocol"], ports, addresses=where.get("addresses"),
                        tags=where.get("tags")))
    return sorted(out, key=repr)


def intended(s: dict[str, str]) -> dict[str, dict[str, Any]]:
    """What issue 10 asks for, written out from settings.env (not from firewall.sh)."""
    tags = [s["ETCD_TAG"], s["CONTROLLER_TAG"], s["WORKER_TAG"]]
    admin, nodeport = s["ADMIN_CIDRS"].split(","), s["NODEPORT_CIDRS"].split(",")
    nodes_in = [
        rule("tcp", "22", addresses=admin),
        rule("tcp", s["NODE_PORT_RANGE"], addresses=nodeport),
        rule("udp", s["NODE_PORT_RANGE"], addresses=nodeport),
        rule("icmp", "", addresses=EVERYONE),
        rule("tcp", "all", tags=tags),
        rule("udp", "all", tags=tags),
    ]
    nodes_out = [rule("tcp", "all", addresses=EVERYONE), rule("udp", "all", addresses=EVERYONE),
                 rule("icmp", "", addresses=EVERYONE)]
    return {
        s["NODES_FIREWALL"]: {"tags": sorted(tags), "in": sorted(nodes_in, key=repr),
                              "out": sorted(nodes_out, key=repr)},
        s["APISERVER_FIREWALL"]: {"tags": [s["CONTROLLER_TAG"]],
                                  "in": [rule("tcp", s["APISERVER_SECURE_PORT"],
                                              addresses=admin)], "out": []},
    }


def actual(apply: Apply) -> dict[str, dict[str, Any]]:
    return {fw["name"]: {"tags": sorted(fw["tags"]),
                         "in": canon(fw["inbound_rules"], "sources"),
                         "out": canon(fw["outbound_rules"], "destinations")}
            for fw in apply.account()["firewalls"].values()}


def changing_calls(apply: Apply, since: int) -> list[str]:
    return [e["call"] for e in apply.account()["api_log"]
            if e["n"] > since and not e["call"].startswith("GET ")]


@pytest.fixture
def other_cluster_firewall(default_cluster: Path, tmp_path: Path) -> tuple[Apply, str]:
    """An applied default cluster, narrowed admin networks, beside another cluster's firewall."""
    cluster = copy_cluster(default_cluster, tmp_path)
    env = cluster / "settings.env"
    env.write_text(env.read_text().replace("ADMIN_CIDRS=0.0.0.0/0,::/0",
                                           "ADMIN_CIDRS=203.0.113.0/24,2001:db8::/48"))
    apply = Apply.create(cluster, tmp_path / "sim")
    apply.doctl("compute", "tag", "create", "other-worker")
    apply.doctl("compute", "firewall", "create", "--name", "other-nodes", "--tag-names",
                "other-worker", "--inbound-rules", "protocol:tcp,ports:2379,address:0.0.0.0/0")
    (other,) = [fw["id"] for fw in apply.account()["firewalls"].values()]
    return apply, other


def test_firewalls_equal_the_intended_rules_rerun_changes_nothing_drift_is_restored(
        other_cluster_firewall: tuple[Apply, str]) -> None:
    apply, other = other_cluster_firewall
    before_other = apply.account()["firewalls"][other]
    first_call = apply.calls()
    apply.make("etcd", "controller", "worker")
    s = apply.settings()
    want = intended(s)
    got = actual(apply)
    assert {k: v for k, v in got.items() if k != "other-nodes"} == want
    # the firewalls exist before the first droplet is created
    log = [e for e in apply.account()["api_log"] if e["n"] > first_call]
    fw_posts = [e["n"] for e in log if e["call"] == "POST /v2/firewalls"]
    droplet_posts = [e["n"] for e in log if e["call"] == "POST /v2/droplets"]
    assert len(fw_posts) == 2 and max(fw_posts) < min(droplet_posts)
    # ssh and the apiserver only from the narrowed networks
    assert got[s["APISERVER_FIREWALL"]]["in"] == [
        rule("tcp", "443", addresses=["203.0.113.0/24", "2001:db8::/48"])]

    # a re-run with unchanged rules: reads only
    n = apply.calls()
    out = apply.make("etcd").stderr
    assert changing_calls(apply, n) == []
    assert "rules as intended, unchanged" in out

    # drift: etcd opened to the world by hand, ssh rule removed
    nodes_id = next(fw["id"] for fw in apply.account()["firewalls"].values()
                    if fw["name"] == s["NODES_FIREWALL"])
    apply.doctl("compute", "firewall", "update", nodes_id, "--name", s["NODES_FIREWALL"],
                "--tag-names", f"{s['ETCD_TAG']},{s['CONTROLLER_TAG']},{s['WORKER_TAG']}",
                "--inbound-rules", "protocol:tcp,ports:2379,address:0.0.0.0/0")
    n = apply.calls()
    out = apply.make("etcd").stderr
    assert "drifted" in out
    assert "unexpected inbound rule protocol:tcp,ports:2379,address:0.0.0.0/0" in out
    assert ("missing inbound rule protocol:tcp,ports:22,address:2001:db8::/48,"
            "address:203.0.113.0/24") in out
    assert f"restored firewall {s['NODES_FIREWALL']}" in out
    assert changing_calls(apply, n) == ["PUT /v2/firewalls/{id}"]
    assert {k: v for k, v in actual(apply).items() if k != "other-nodes"} == want

    # destroy: the droplets, then our firewalls; the other cluster's firewall is untouched
    n = apply.calls()
    apply.make("destroy", FORCE="1")
    calls = [e["call"] for e in apply.account()["api_log"] if e["n"] > n]
    assert calls.count("DELETE /v2/firewalls/{id}") == 2
    assert calls.index("DELETE /v2/droplets?tag_name") < calls.index("DELETE /v2/firewalls/{id}")
    assert apply.account()["firewalls"] == {other: before_other}

