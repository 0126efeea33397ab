"""Issue 18 row 3: CONTROLLER_COUNT lowered by hand (2 -> 1): the apiserver certificate covers
exactly the wanted controller, is re-issued once (replaced in one rename, never deleted first),
not on every re-run; the controller and the load balancer no longer wanted are named by make
controller and make plan, and left as they are."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.applying import Apply, cert_sans
from tests.baking import bake
from tests.standins import dropletfs


@pytest.fixture(scope="module")
def shrunk(tmp_path_factory: pytest.TempPathFactory) -> Apply:
    """Two controllers applied, then CONTROLLER_COUNT=1: by hand (refused before anything
    changes), then as a re-bake with controller_count=1 renders it (settings.env and the
    apiserver's openssl config; pki/ and state/ kept)."""
    base = tmp_path_factory.mktemp("controller-count")
    apply = Apply.create(bake(base / "bake", controller_count="2", worker_count="1"),
                         base / "sim")
    apply.make("etcd", "controller")
    settings = apply.cluster / "settings.env"
    settings.write_text(settings.read_text().replace("\nCONTROLLER_COUNT=2\n",
                                                     "\nCONTROLLER_COUNT=1\n"))
    pem = (apply.cluster / "pki/apiserver.pem").read_bytes()
    by_hand = apply.make("controller", check=False)
    assert by_hand.returncode != 0
    assert "CONTROLLER_COUNT=1 but this repo was baked for 2 controller(s)" in by_hand.stderr
    assert (apply.cluster / "pki/apiserver.pem").read_bytes() == pem
    one = bake(base / "one", controller_count="1", worker_count="1")
    for path in ("settings.env", "openssl/apiserver.cnf"):
        (apply.cluster / path).write_text((one / path).read_text())
    return apply


def test_the_certificate_covers_exactly_the_wanted_controller_once(shrunk: Apply) -> None:
    s = shrunk.settings()
    pki = shrunk.cluster / "pki/apiserver.pem"
    first = shrunk.make("controller").stderr
    one = shrunk.droplets()[s["CONTROLLER_NAME"]]["sim"]
    ips = {f"IP Address:{ip}" for ip in (s["APISERVER_SERVICE_IP"], one["public_ip"],
                                          one["private_ip"])}
    assert {san for san in cert_sans(pki) if san.startswith("IP")} == ips
    assert "re-issuing it" in first
    stamp = pki.stat().st_mtime_ns
    again = shrunk.make("controller").stderr
    assert "re-issuing it" not in again and pki.stat().st_mtime_ns == stamp
    extra = shrunk.droplets()[f"{s['CONTROLLER_PREFIX']}-02"]
    for out in (first, again):
        assert (f"not wanted (CONTROLLER_COUNT=1), left as it is, outside the apiserver "
                f"certificate and still billed: droplet {s['CONTROLLER_PREFIX']}-02 id "
                f"{extra['id']}") in out
        assert "load-balancer do-cluster-apiserver-lb id " in out
    assert f"{s['CONTROLLER_PREFIX']}-02" in shrunk.droplets()  # named, not removed


def test_plan_names_what_is_no_longer_wanted(shrunk: Apply) -> None:
    plan = {r["name"]: r for r in json.loads(shrunk.make("plan", OUTPUT="json").stdout)["items"]}
    assert plan["do-cluster-controller-02"]["detail"].startswith(
        "not wanted (CONTROLLER_COUNT=1, WORKERS=1)")
    assert plan["do-cluster-apiserver-lb"]["detail"].startswith("not wanted (CONTROLLER_COUNT=1)")
    assert plan["do-cluster-apiserver-lb"]["action"] == "leave"


def test_a_load_balancer_replaced_by_hand_names_the_workers_left_behind(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """Row 11: the workers' user data names the old load balancer's IP: make controller says
    so at once, and what to run."""
    base = tmp_path_factory.mktemp("lb-replaced")
    apply = Apply.create(bake(base / "bake", controller_count="2", worker_count="1"),
                         base / "sim")
    apply.make("etcd", "controller", "worker")
    assert "point at another apiserver address" not in apply.make("controller").stderr
    (lb,) = apply.account()["load_balancers"].values()
    apply.doctl("compute", "load-balancer", "delete", lb["id"], "--force")
    out = apply.make("controller").stderr
    assert ("do-cluster-worker-01 point at another apiserver address than the load "
            "balancer's") in out
    assert "'make worker REPLACE=1' re-creates them" in out


def test_kubectl_is_refused_by_a_certificate_that_does_not_cover_the_address(
        cluster_copy: Path, tmp_path: Path) -> None:
    """Stand-in (issue 18): kubectl dialling an apiserver whose installed certificate does not
    name the address fails as the real one does (x509: certificate is valid for ..., not IP)."""
    apply = Apply.create(cluster_copy, tmp_path / "sim")
    apply.make("etcd", "controller")
    s = apply.settings()
    ok = subprocess.run(["kubectl", "--kubeconfig", "kubeconfig", "version"], cwd=apply.cluster,
                        env=apply.env, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    target = dropletfs.resolve(apply.root(s["CONTROLLER_NAME"]),
                               "/etc/kubernetes/ssl/apiserver.pem")  # inside the droplet
    target.write_bytes((apply.cluster / "pki/etcd.pem").read_bytes())  # another droplet's
    refused = subprocess.run(["kubectl", "--kubeconfig", "kubeconfig", "version"],
                             cwd=apply.cluster, env=apply.env, capture_output=True, text=True,
                             check=False)
    public = apply.droplets()[s["CONTROLLER_NAME"]]["sim"]["public_ip"]
    assert refused.returncode != 0
    assert "x509: certificate is valid for" in refused.stderr
    assert f", not {public}" in refused.stderr
