"""make plan: what the create targets would do, priced from `doctl compute size list`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.applying import Apply
from tests.baking import copy_cluster
from tests.standins import catalog


@pytest.fixture
def fresh(default_cluster: Path, tmp_path: Path) -> Apply:
    return Apply.create(copy_cluster(default_cluster, tmp_path), tmp_path / "sim")


def plan(apply: Apply, **env: str) -> dict:
    proc = apply.make("plan", "OUTPUT=json", **env)
    return json.loads(proc.stdout)


def price(slug: str) -> float:
    return catalog.SIZES[slug][4]


def test_size_list_serves_real_slugs_and_prices(fresh: Apply) -> None:
    sizes = json.loads(fresh.doctl("compute", "size", "list", "-o", "json"))
    by_slug = {s["slug"]: s for s in sizes}
    assert by_slug["s-1vcpu-1gb"]["price_monthly"] == 6.0
    assert by_slug["s-1vcpu-1gb"]["price_hourly"] == 0.00893
    assert by_slug["s-2vcpu-4gb"]["memory"] == 4096 and by_slug["s-2vcpu-4gb"]["vcpus"] == 2
    text = fresh.doctl("compute", "size", "list", "--format", "Slug,PriceMonthly", "--no-header")
    assert "s-1vcpu-1gb           6.00\n" in text


def test_fresh_account_plans_every_create_with_its_price(fresh: Apply) -> None:
    s = fresh.settings()
    out = plan(fresh, WORKERS="2")
    droplets = {i["name"]: i for i in out["items"] if i["kind"] == "droplet"}
    assert set(droplets) == {s["ETCD_NAME"], s["CONTROLLER_NAME"],
                             f"{s['WORKER_PREFIX']}-01", f"{s['WORKER_PREFIX']}-02"}
    assert all(i["action"] == "create" for i in out["items"])
    expected = price(s["ETCD_SIZE"]) + price(s["CONTROLLER_SIZE"]) + 2 * price(s["WORKER_SIZE"])
    assert out["monthly_new"] == pytest.approx(expected)
    assert out["monthly_after"] == pytest.approx(expected)
    assert fresh.account()["droplets"] == {}  # the plan created nothing
    text = fresh.make("plan", WORKERS="2").stderr
    assert f"cost: 4 x {s['WORKER_SIZE']} at $6.00/month = $24.00/month more" in text
    assert f"monthly: +${expected:.2f} new" in text


def test_after_the_apply_nothing_to_do_then_the_deleted_droplet(fresh: Apply) -> None:
    s = fresh.settings()
    created = fresh.make("etcd", "controller", "worker").stderr
    # every create target priced its create before making it
    assert created.count(f"cost: 1 x {s['ETCD_SIZE']} at $6.00/month = $6.00/month more") == 3
    assert created.index("cost: 1 x") < created.index("done in", created.index("==> creating"))
    # each run's summary names the time each phase took
    phases = re.findall(r"^  phases: (.*)$", created, re.MULTILINE)
    assert len(phases) == 3
    # make etcd first creates or checks the cloud firewalls (issue 10)
    # and installs the member's TLS certificate
    assert re.match(r"cloud firewalls \d+\.\ds, creating 1 droplet\(s\) in \S+ \d+\.\ds, waiting "
                    r"for the droplets' IPs \d+\.\ds, etcd certificate \d+\.\ds$",
                    phases[0]), phases[0]
    assert re.search(r"TLS assets on \S+ \d+\.\ds$", phases[1]), phases[1]
    out = plan(fresh)
    assert out["to_create"] == 0 and out["monthly_new"] == 0
    assert {i["action"] for i in out["items"]} == {"leave"}
    assert "nothing to do" in fresh.make("plan").stderr

    worker = f"{s['WORKER_PREFIX']}-01"
    fresh.doctl("compute", "droplet", "delete", worker, "--force")
    out = plan(fresh)
    todo = {(i["kind"], i["name"], i["action"]) for i in out["items"] if i["action"] != "leave"}
    assert todo == {("droplet", worker, "create"),
                    ("certificate", "pki/worker-01.pem", "replace")}
    assert out["monthly_new"] == pytest.approx(price(s["WORKER_SIZE"]))
    assert not any("etcd proxy" in i["detail"] for i in out["items"])

    # a re-created etcd gets a new private IP: the nodes' proxies would point at the old one
    fresh.doctl("compute", "droplet", "delete", s["ETCD_NAME"], "--force")
    controller = next(i for i in plan(fresh)["items"] if i["name"] == s["CONTROLLER_NAME"])
    assert controller["action"] == "leave"
    assert "its etcd proxy points at the etcd droplet about to be re-created" in \
        controller["detail"]
    fresh.make("etcd")
    controller = next(i for i in plan(fresh)["items"] if i["name"] == s["CONTROLLER_NAME"])
    assert "its etcd proxy (user data) points at another etcd peer" in controller["detail"]


def test_plan_shows_each_sizes_vcpus_and_memory(fresh: Apply) -> None:
    """Issue 17.2: every droplet row carries what its size holds (doctl's vcpus, memory)."""
    s = fresh.settings()
    out = plan(fresh)
    for item in (i for i in out["items"] if i["kind"] == "droplet"):
        memory, vcpus = catalog.SIZES[item["size"]][:2]
        assert (item["vcpus"], item["memory"]) == (vcpus, memory)
    row = next(line for line in fresh.make("plan").stderr.splitlines()
               if s["CONTROLLER_NAME"] in line)
    assert f"{s['CONTROLLER_SIZE']:<20} 1 vCPU 1 GB" in row


def test_unlisted_size_has_an_unknown_price(fresh: Apply) -> None:
    settings = fresh.cluster / "settings.env"
    settings.write_text(settings.read_text().replace("WORKER_SIZE=s-1vcpu-1gb", "WORKER_SIZE=2gb"))
    out = plan(fresh)
    assert out["unknown_prices"] == ["2gb"]
    assert "unknown price: 2gb (not in doctl compute size list)" in fresh.make("plan").stderr
