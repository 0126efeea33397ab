"""make status, make certs, make rotate-certs against the stand-ins (issue 13)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.applying import Apply
from tests.baking import copy_cluster
from tests.standins import daemons, dropletfs

SSL = "/etc/kubernetes/ssl"
LAYERS = ["droplets", "ssh", "etcd", "flannel", "controllers", "apiserver", "nodes", "kube-dns",
          "cloud", "certificates"]


@pytest.fixture
def applied(default_cluster: Path, tmp_path: Path) -> Apply:
    apply = Apply.create(copy_cluster(default_cluster, tmp_path), tmp_path / "sim")
    apply.make("etcd", "controller", "worker", "addons")
    return apply


def status_json(apply: Apply) -> tuple[int, dict]:
    proc = apply.make("status", "OUTPUT=json", check=False)
    return proc.returncode, json.loads(proc.stdout)


def serial(pem: bytes) -> str:
    return subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem,
                          capture_output=True, check=True).stdout.decode().strip()


def test_status_every_layer_ok_with_real_values(applied: Apply) -> None:
    s = applied.settings()
    rc, report = status_json(applied)
    assert rc == 0, report
    assert [layer["layer"] for layer in report["layers"]] == LAYERS
    assert {layer["layer"]: layer["status"] for layer in report["layers"]} == dict.fromkeys(
        LAYERS, "OK")
    assert report["ok"] is True and report["first_broken"] is None
    by = {layer["layer"]: layer for layer in report["layers"]}
    etcd_private = applied.droplets()[s["ETCD_NAME"]]["sim"]["private_ip"]
    assert any(f"is healthy: got healthy result from https://{etcd_private}:"
               f"{s['ETCD_CLIENT_PORT']}" in item for item in by["etcd"]["items"])
    assert f'"Network":"{s["POD_NETWORK"]}"' in by["flannel"]["items"][0]
    assert "1 of 1 worker(s) Ready" in by["nodes"]["detail"]
    assert by["kube-dns"]["detail"] == f"service {s['DNS_SERVICE_IP']} with 1 endpoint(s)"
    assert report["soonest_certificate"]["days_left"] == int(s["CERT_DAYS"])
    text = applied.make("status").stderr
    assert "UNKNOWN" not in text and "0 failed" in text


def test_status_stops_at_etcd_when_its_droplet_is_deleted(applied: Apply) -> None:
    s = applied.settings()
    applied.doctl("compute", "droplet", "delete", s["ETCD_NAME"], "--force")
    rc, report = status_json(applied)
    assert rc != 0
    by = {layer["layer"]: layer for layer in report["layers"]}
    assert report["first_broken"] == "etcd"
    assert by["droplets"]["status"] == "WARN" and s["ETCD_NAME"] in by["droplets"]["detail"]
    assert by["etcd"]["status"] == "FAIL"
    assert f"{s['ETCD_NAME']} does not exist" in by["etcd"]["detail"]
    assert "make etcd" in by["etcd"]["detail"]
    assert "failed to list members" in by["etcd"]["detail"]  # what the controller's proxy says
    for later in ("flannel", "apiserver", "nodes", "kube-dns"):
        assert by[later]["status"] == "SKIPPED", later
    assert by["certificates"]["status"] == "OK"

    # re-created, the member is healthy but the nodes' proxies still name its old address
    applied.make("etcd")
    rc, report = status_json(applied)
    etcd = next(layer for layer in report["layers"] if layer["layer"] == "etcd")
    assert rc != 0 and report["first_broken"] == "etcd"
    assert etcd["status"] == "FAIL" and "cluster is healthy" in etcd["items"]
    assert f"the etcd proxy on {s['CONTROLLER_NAME']} does not reach" in etcd["detail"]


def test_status_fails_at_kube_dns_before_the_addons(default_cluster: Path, tmp_path: Path) -> None:
    apply = Apply.create(copy_cluster(default_cluster, tmp_path), tmp_path / "sim")
    apply.make("etcd", "controller", "worker")
    rc, report = status_json(apply)
    by = {layer["layer"]: layer for layer in report["layers"]}
    assert rc != 0 and report["first_broken"] == "kube-dns"
    assert "make addons" in by["kube-dns"]["detail"]


def issue(apply: Apply, name: str, cn: str, days: int) -> None:
    """Re-sign pki/NAME.pem with the bake's CA for DAYS days (real openssl)."""
    pki = apply.cluster / "pki"
    csr = subprocess.run(["openssl", "req", "-new", "-key", str(pki / f"{name}-key.pem"),
                          "-subj", f"/CN={cn}"], capture_output=True, check=True).stdout
    subprocess.run(["openssl", "x509", "-req", "-CA", str(pki / "ca.pem"), "-CAkey",
                    str(pki / "ca-key.pem"), "-CAcreateserial", "-days", str(days),
                    "-out", str(pki / f"{name}.pem")], input=csr, capture_output=True,
                   check=True)


def test_certs_lists_local_and_installed_and_fails_under_7_days(applied: Apply) -> None:
    listing = applied.make("certs", "OUTPUT=json")
    records = {r["location"]: r for r in json.loads(listing.stdout)}
    s = applied.settings()
    worker = f"{s['WORKER_PREFIX']}-01"
    assert set(records) == {
        "pki/ca.pem", "pki/admin.pem", "pki/apiserver.pem", "pki/worker-01.pem", "pki/etcd.pem",
        f"{s['CONTROLLER_NAME']}:{SSL}/ca.pem", f"{s['CONTROLLER_NAME']}:{SSL}/apiserver.pem",
        f"{worker}:{SSL}/ca.pem", f"{worker}:{SSL}/worker-01.pem",
        # the etcd member's, in its own directory
        f"{s['ETCD_NAME']}:{s['ETCD_SSL_DIR']}/ca.pem",
        f"{s['ETCD_NAME']}:{s['ETCD_SSL_DIR']}/etcd.pem"}
    ctl_ip = applied.droplets()[s["CONTROLLER_NAME"]]["sim"]["public_ip"]
    assert f"IP:{ctl_ip}" in records["pki/apiserver.pem"]["sans"]
    assert records["pki/apiserver.pem"]["issuer"] == "CN=kube-ca"
    assert all(r["level"] == "ok" and not r["stale"] for r in records.values())

    issue(applied, "worker-01", "kube-worker-01", 20)
    warned = applied.make("certs")
    assert "pki/worker-01.pem" in warned.stderr and "1 warn" in warned.stderr
    issue(applied, "worker-01", "kube-worker-01", 5)
    failed = applied.make("certs", check=False)
    assert failed.returncode != 0
    assert "FAILING: pki/worker-01.pem (5 days left)" in failed.stderr
    # the installed copy still has the old serial: flagged as differing from pki/
    assert f"{worker}:{SSL}/worker-01.pem" in failed.stderr and "ok*" in failed.stderr
    rc, report = status_json(applied)
    assert rc != 0 and report["soonest_certificate"]["location"] == "pki/worker-01.pem"
    assert report["layers"][-1]["status"] == "FAIL"


def test_rotate_certs_replaces_node_certificates_and_keeps_the_ca(applied: Apply) -> None:
    s = applied.settings()
    pki = applied.cluster / "pki"
    worker = f"{s['WORKER_PREFIX']}-01"
    ca = (pki / "ca.pem").read_bytes()
    rotated = ("etcd", "apiserver", "worker-01")  # issue 18 row 5: the etcd member's too
    before = {n: serial((pki / f"{n}.pem").read_bytes()) for n in rotated}
    keys = {n: (pki / f"{n}-key.pem").read_bytes() for n in rotated}
    admin = (pki / "admin.pem").read_bytes()

    refused = applied.make("rotate-certs", check=False, CA="1")
    assert refused.returncode != 0 and "rotating the CA is not done here" in refused.stderr
    assert serial((pki / "apiserver.pem").read_bytes()) == before["apiserver"]

    out = applied.make("rotate-certs").stderr
    after = {n: serial((pki / f"{n}.pem").read_bytes()) for n in rotated}
    # admin.pem is the bake's: named with the way to renew it, not silently skipped
    assert (pki / "admin.pem").read_bytes() == admin
    assert "not re-issued: pki/admin.pem" in out and "re-bake over this repo" in out
    etcd_root = applied.root(s["ETCD_NAME"])
    assert serial(dropletfs.resolve(etcd_root, f"{s['ETCD_SSL_DIR']}/etcd.pem").read_bytes()) \
        == after["etcd"]
    assert daemons.restarts(etcd_root)["etcd2.service"]["restarts"] == 1
    assert all(after[n] != before[n] for n in after), (before, after)
    assert (pki / "ca.pem").read_bytes() == ca
    assert all((pki / f"{n}-key.pem").read_bytes() == k for n, k in keys.items())
    assert sorted(p.name for p in (pki / "retired").iterdir()) == sorted(
        f"{n}-{before[n].split('=')[1]}.pem" for n in before)
    installed = {s["CONTROLLER_NAME"]: ("apiserver", "apiserver.pem"),
                 worker: ("worker-01", "worker.pem")}
    for node, (cert, path) in installed.items():
        root = applied.root(node)
        assert serial(dropletfs.resolve(root, f"{SSL}/{path}").read_bytes()) == after[cert]
        assert dropletfs.resolve(root, f"{SSL}/ca.pem").read_bytes() == ca
        assert daemons.restarts(root)["kube-kubelet.service"]["restarts"] == 1
    listing = json.loads(applied.make("certs", "OUTPUT=json").stdout)
    assert not any(r["stale"] for r in listing)


def test_status_of_an_empty_account_stops_at_the_droplets(default_cluster: Path,
                                                           tmp_path: Path) -> None:
    apply = Apply.create(copy_cluster(default_cluster, tmp_path), tmp_path / "sim")
    rc, report = status_json(apply)
    assert rc != 0 and report["first_broken"] == "droplets"
    assert "make etcd controller worker" in report["layers"][0]["detail"]
    assert [layer["status"] for layer in report["layers"][1:7]] == ["SKIPPED"] * 6
