"""Issue 12's whole HA layout on the stand-ins: etcd_count=3 controller_count=2 worker_count=3
applied end to end (make etcd controller worker addons smoke status backup), re-run without a
duplicate, then destroyed without a droplet, load balancer or firewall left. Prints the API
calls per droplet (the closing note's figure)."""

from __future__ import annotations

import json

import pytest

from tests.applying import Apply
from tests.baking import bake, copy_cluster

DROPLETS = 3 + 2 + 3
# measured 3-5 API calls per droplet for the first apply (listings while waiting vary with
# timing); the bound leaves room, not a free pass
CALLS_PER_DROPLET_MAX = 7


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Apply:
    cluster = bake(tmp_path_factory.mktemp("ha-layout-bake"), etcd_count=3, controller_count=2,
                   worker_count=3)
    base = tmp_path_factory.mktemp("ha-layout")
    apply = Apply.create(copy_cluster(cluster, base), base / "sim")
    apply.make("etcd", "controller", "worker", "addons")
    return apply


def test_the_ha_layout_applies_reruns_and_destroys(applied: Apply) -> None:
    s = applied.settings()
    first = applied.calls()
    droplets = applied.droplets()
    assert len(droplets) == DROPLETS
    members = sorted(n for n in droplets if n.startswith(f"{s['ETCD_PREFIX']}-"))
    assert len(members) == 3
    # the API's view: droplet_ids are the tag's droplets in the region
    (lb,) = json.loads(applied.doctl("compute", "load-balancer", "list", "-o", "json"))
    assert sorted(lb["droplet_ids"]) == sorted(
        droplets[n]["id"] for n in droplets if n.startswith(f"{s['CONTROLLER_PREFIX']}-"))
    print(f"\n[HA layout] first apply: {first} API calls for {DROPLETS} droplets and 1 load "
          f"balancer = {first / DROPLETS:.1f} per droplet")
    assert first / DROPLETS <= CALLS_PER_DROPLET_MAX

    applied.make("smoke", "status")
    status = applied.make("status", "OUTPUT=json").stdout
    assert '"leader"' in status
    applied.make("backup")

    creates = (applied.calls("POST /v2/droplets"), applied.calls("POST /v2/load_balancers"))
    before = applied.calls()
    applied.make("etcd", "controller", "worker", "addons")
    assert (applied.calls("POST /v2/droplets"), applied.calls("POST /v2/load_balancers")) == creates
    assert len(applied.droplets()) == DROPLETS
    print(f"[HA layout] re-run: {applied.calls() - before} API calls, no droplet or load "
          "balancer created")

    applied.make("destroy", FORCE="1")
    account = applied.account()
    assert account["droplets"] == {} and account["firewalls"] == {}
    assert account["load_balancers"] == {}
    print(f"[HA layout] destroy: 0 droplets, 0 load balancers, 0 firewalls left; "
          f"{applied.calls()} API calls in all")
