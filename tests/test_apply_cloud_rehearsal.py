"""Issue 21 (Done when) and items 3 and 7: a current rehearsal with the integrations on (the
cluster's own token, DIGITALOCEAN_CLUSTER_TOKEN, set for every make): apply, make addons
(cloud-controller-manager and CSI driver), make smoke (a LoadBalancer Service fetched through
its DigitalOcean load balancer, a claim bound to a new volume, which a pod mounts to write a
file and read it back; all deleted after, load balancer and volume gone from the account and
the load balancer from the nodes' firewall), make smoke KEEP=1 (they stay: the Service shows
its IP, the claim is Bound, the volume attached to the pod's node holds what it wrote, make
status lists them), then make destroy leaves 0 droplets, 0 load balancers and 0 volumes.
`kubectl top nodes` (item 3, metrics-server) answers for every node, in make smoke and after
it. Prints the API calls (doctl's; the CCM's and CSI driver's own godo calls change the account
but are not in doctl's log)."""

from __future__ import annotations

import json

import pytest

from tests.applying import Apply, kubectl, squeezed
from tests.baking import copy_cluster
from tests.current_profile import bake_current

CLUSTER_TOKEN = "dop_v1_0cluster0token0for0the0rehearsal0e7"


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Apply:
    cluster = bake_current(tmp_path_factory.mktemp("cloud-rehearsal-bake"))
    base = tmp_path_factory.mktemp("cloud-rehearsal")
    apply = Apply.create(copy_cluster(cluster, base), base / "sim")
    apply.env["DIGITALOCEAN_CLUSTER_TOKEN"] = CLUSTER_TOKEN
    apply.make("image")
    apply.make("etcd", "controller", "worker")
    apply.make("addons")
    return apply


def lb_rules(apply: Apply) -> list[dict[str, object]]:
    nodes = next(f for f in apply.account()["firewalls"].values()
                 if f["name"] == apply.settings()["NODES_FIREWALL"])
    return [r for r in nodes["inbound_rules"] if r["sources"].get("load_balancer_uids")]


def test_smoke_exercises_a_load_balancer_and_a_volume_and_cleans_up(applied: Apply) -> None:
    out = squeezed(applied.make("smoke").stderr)
    assert "cloud checks skipped" not in out
    assert "LoadBalancer: inspector answered through http://" in out
    assert "volume: claim smoke-data Bound" in out
    assert "volume: pod smoke-volume wrote /data/smoke.txt on it and read it back" in out
    assert "smoke tests passed" in out
    names = sorted(kubectl(applied, "get", "nodes", "-o", "name").split())
    assert len(names) >= 2  # the controller and the worker (a 1/1/1 bake)
    assert f"metrics: kubectl top nodes answered for {len(names)} node(s)" in out
    account = applied.account()
    assert account["load_balancers"] == {} and account.get("volumes", {}) == {}
    assert lb_rules(applied) == []  # the nodes' firewall admits no load balancer any more


def test_rehearsal_shows_the_service_and_the_claim_then_destroy_leaves_nothing(
        applied: Apply) -> None:
    before = applied.calls()
    applied.make("smoke", KEEP="1")
    svc = json.loads(kubectl(applied, "get", "service", "inspector-lb", "-o", "json"))
    [lb] = applied.account()["load_balancers"].values()
    assert svc["status"]["loadBalancer"]["ingress"] == [{"ip": lb["sim"]["ip"]}]
    assert lb["tags"] == [applied.settings()["CLOUD_TAG"]]
    claim = json.loads(kubectl(applied, "get", "pvc", "smoke-data", "-o", "json"))
    [volume] = applied.account()["volumes"].values()
    assert claim["status"]["phase"] == "Bound" and claim["spec"]["volumeName"] == volume["name"]
    # the pod that wrote on it runs on the droplet the volume is attached to; what it wrote is
    # on the volume (the stand-in's account)
    pod = json.loads(kubectl(applied, "get", "pod", "smoke-volume", "-o", "json"))
    assert pod["status"]["phase"] == "Running"
    assert volume["droplet_ids"] == [applied.droplets()[pod["spec"]["nodeName"]]["id"]]
    assert volume["sim"]["files"]["smoke.txt"].startswith("make smoke wrote this at ")
    nodeports, health = (applied.settings()[k] for k in ("NODE_PORT_RANGE",
                                                        "KUBE_PROXY_HEALTH_PORT"))
    assert sorted((r["protocol"], r["ports"], r["sources"]["load_balancer_uids"][0])
                  for r in lb_rules(applied)) == sorted(
        [("tcp", nodeports, lb["id"]), ("udp", nodeports, lb["id"]), ("tcp", health, lb["id"])])
    top = kubectl(applied, "top", "nodes", "--no-headers").splitlines()
    assert sorted(f"node/{row.split()[0]}" for row in top) == sorted(
        kubectl(applied, "get", "nodes", "-o", "name").split())
    assert not any("<unknown>" in row for row in top)
    status = squeezed(applied.make("status").stderr)
    tag = applied.settings()["CLOUD_TAG"]
    assert f"cloud OK: 1 load balancer(s) and 1 volume(s) tagged {tag}" in status
    smoke_calls = applied.calls() - before

    before = applied.calls()
    applied.make("destroy", FORCE="1")
    account = applied.account()
    assert (len(account["droplets"]), len(account["load_balancers"]),
            len(account.get("volumes", {}))) == (0, 0, 0)
    calls = account["api_calls"]
    print(f"\n[issue 21 rehearsal] smoke KEEP=1 + status: {smoke_calls} doctl API calls; "
          f"destroy: {applied.calls() - before}; whole run: {applied.calls()}; by kind: "
          + ", ".join(f"{k} {n}" for k, n in sorted(calls.items())))
