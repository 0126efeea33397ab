"""`make etcd controller worker addons` end to end against the DigitalOcean stand-in."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.applying import TOKEN, Apply, cert_sans, files_containing, snapshot
from tests.baking import copy_cluster

SSL = "/etc/kubernetes/ssl"


@pytest.fixture(scope="module")
def applied(default_cluster: Path, tmp_path_factory: pytest.TempPathFactory) -> Apply:
    """One apply with two workers, shared by the read-only checks of this module."""
    base = tmp_path_factory.mktemp("apply-e2e")
    apply = Apply.create(copy_cluster(default_cluster, base), base / "sim")
    apply.make("etcd", "controller", "worker", "addons", WORKERS="2")
    return apply


def test_droplets_tags_and_user_data(applied: Apply) -> None:
    s = applied.settings()
    cluster = s["CLUSTER_NAME"]
    droplets = applied.droplets()
    assert set(droplets) == {f"{cluster}-etcd-01", f"{cluster}-controller-01",
                             f"{cluster}-worker-01", f"{cluster}-worker-02"}
    etcd, ctrl = droplets[s["ETCD_NAME"]], droplets[s["CONTROLLER_NAME"]]
    key_ids = [k["id"] for k in applied.account()["ssh_keys"]]
    for name, rec in droplets.items():
        role = name.split("-")[-2]
        assert rec["tags"] == [f"k8s-do:{cluster}", f"k8s-do:{cluster}:{role}"]
        assert rec["region"] == s["REGION"] and rec["image"]["slug"] == s["IMAGE"]
        assert "private_networking" in rec["features"]
        assert rec["sim"]["ssh_key_ids"] == key_ids
        sent = (applied.root(name) / "var/lib/dosim/user-data").read_text()
        audit = (applied.cluster / "build/user-data" / f"{name}.yaml").read_text()
        assert sent == audit, f"{name}: build/user-data differs from what DigitalOcean got"
        assert "ETCD_PEER" not in sent and "CONTROLLER_PUBLIC_IP" not in sent
        assert "PRIVATE KEY" not in sent
    etcd_peer = f"https://{etcd['sim']['private_ip']}:{s['ETCD_PEER_PORT']}"  # TLS: issue 10
    for name in (s["CONTROLLER_NAME"], f"{cluster}-worker-01", f"{cluster}-worker-02"):
        assert f'"etcd-01={etcd_peer}"' in (applied.root(name) / "var/lib/dosim/user-data"
                                             ).read_text()
    worker_data = (applied.root(f"{cluster}-worker-01") / "var/lib/dosim/user-data").read_text()
    assert f"--api-servers=https://{ctrl['sim']['public_ip']}" in worker_data
    # every doc address, nothing routable
    for rec in droplets.values():
        assert rec["sim"]["public_ip"].startswith(("203.0.113.", "198.51.100."))


def test_files_on_the_droplets_and_certificates(applied: Apply) -> None:
    s = applied.settings()
    pki = applied.cluster / "pki"
    ctrl_name = s["CONTROLLER_NAME"]
    ctrl = applied.droplets()[ctrl_name]["sim"]
    for f in ("apiserver.pem", "apiserver-key.pem", "ca.pem"):
        path = f"{SSL}/{f}"
        assert (applied.root(ctrl_name) / path.lstrip("/")).read_bytes() == (pki / f).read_bytes()
        assert applied.owner(ctrl_name, path) == "root:root"
    assert applied.mode(ctrl_name, f"{SSL}/apiserver-key.pem") == 0o600
    assert not list((applied.root(ctrl_name) / "home/core").glob("*.pem"))
    assert cert_sans(pki / "apiserver.pem") == {
        f"DNS:{ctrl_name}", f"IP Address:{s['APISERVER_SERVICE_IP']}",
        f"IP Address:{ctrl['public_ip']}", f"IP Address:{ctrl['private_ip']}"}

    for nn in ("01", "02"):
        name = f"{s['WORKER_PREFIX']}-{nn}"
        root = applied.root(name)
        sim = applied.droplets()[name]["sim"]
        for f in (f"worker-{nn}.pem", f"worker-{nn}-key.pem", "ca.pem"):
            assert (root / SSL.lstrip("/") / f).read_bytes() == (pki / f).read_bytes()
            assert applied.owner(name, f"{SSL}/{f}") == "root:root"
        assert applied.mode(name, f"{SSL}/worker-{nn}-key.pem") == 0o600
        ssl = root / SSL.lstrip("/")
        assert os.readlink(ssl / "worker.pem") == f"{SSL}/worker-{nn}.pem"
        assert os.readlink(ssl / "worker-key.pem") == f"{SSL}/worker-{nn}-key.pem"
        assert cert_sans(pki / f"worker-{nn}.pem") == {f"IP Address:{sim['private_ip']}"}
        subject = subprocess.run(["openssl", "x509", "-in", str(pki / f"worker-{nn}.pem"),
                                  "-noout", "-subject"], capture_output=True, text=True,
                                 check=True).stdout
        assert f"CN = kube-worker-{nn}" in subject or f"CN=kube-worker-{nn}" in subject
    for cert in ["apiserver.pem", "worker-01.pem", "worker-02.pem"]:
        subprocess.run(["openssl", "verify", "-CAfile", str(pki / "ca.pem"), str(pki / cert)],
                       check=True, capture_output=True)
    for key in pki.glob("*-key.pem"):
        assert key.stat().st_mode & 0o777 == 0o600, key


def test_kubeconfig_and_addons(applied: Apply) -> None:
    s = applied.settings()
    ctrl = applied.droplets()[s["CONTROLLER_NAME"]]["sim"]
    cfg = yaml.safe_load((applied.cluster / "kubeconfig").read_text())
    cluster = s["CLUSTER_NAME"]
    assert cfg["clusters"] == [{"name": cluster, "cluster": {
        "certificate-authority": "pki/ca.pem", "server": f"https://{ctrl['public_ip']}"}}]
    assert cfg["users"][0]["user"] == {"client-certificate": "pki/admin.pem",
                                       "client-key": "pki/admin-key.pem"}
    assert cfg["current-context"] == f"{cluster}-admin"
    assert not (Path(applied.env["HOME"]) / ".kube").exists()
    kube = applied.kube()
    # kubectl 1.1.2's apply cannot create: missing objects are created, Service first (step 11)
    creates = [c.rsplit("/", 1)[-1] for c in kube["calls"] if " create " in f" {c} "]
    assert creates == ["kube-dns-svc.yaml", "kube-dns-rc.yaml"]
    assert not [c for c in kube["calls"] if " apply " in f" {c} "]
    assert "Service/kube-system/kube-dns" in kube["objects"]
    assert 'service "kube-dns" created' in applied.outputs[-1]


def test_summary_progress_and_api_budget(applied: Apply) -> None:
    out = applied.outputs[-1]
    for text in ("---- etcd ready", "next: make controller", "---- controller ready",
                 "next: make worker", "---- 2 worker(s) ready", "next: make addons",
                 "==> creating 2 droplet(s)", "done in"):
        assert text in out, text
    assert applied.calls("POST /v2/droplets") == 4
    assert applied.calls("GET /v2/account/keys") == 1  # once per make run
    assert "GET /v2/actions/{id}" not in applied.account()["api_calls"]
    # the cloud firewalls (issue 10) are a fixed cost per apply, not per droplet: one tag
    # listing, the three role tags created, one firewall listing, two firewalls created
    calls = applied.account()["api_calls"]
    firewall = sum(n for kind, n in calls.items() if "/v2/firewalls" in kind or "/v2/tags" in kind)
    assert firewall == 7
    # one controller (the tutorial): no load balancer (issue 12); make controller lists them
    # once, to name one left from a larger controller count (issue 18 row 3)
    assert [kind for kind in calls if "load_balancers" in kind] == ["GET /v2/load_balancers"]
    assert calls["GET /v2/load_balancers"] == 1
    assert (applied.calls() - 1 - firewall) / 4 <= 4  # minus the test's own key import


def test_token_is_never_written_or_printed(applied: Apply) -> None:
    assert files_containing(TOKEN, applied.cluster, applied.sim) == []
    assert all(TOKEN not in out for out in applied.outputs)


def test_rerun_creates_nothing_and_rewrites_nothing(applied: Apply) -> None:
    droplets = {n: r["id"] for n, r in applied.droplets().items()}
    roots = applied.sim / "droplets"
    before = snapshot(applied.cluster / "pki", applied.cluster / "build/user-data",
                      applied.cluster / "state/droplets", roots)
    kubeconfig = (applied.cluster / "kubeconfig").stat().st_mtime_ns
    posts = applied.calls("POST /v2/droplets")
    out = applied.make("etcd", "controller", "worker", "addons", WORKERS="2").stderr
    assert {n: r["id"] for n, r in applied.droplets().items()} == droplets
    assert applied.calls("POST /v2/droplets") == posts
    assert snapshot(applied.cluster / "pki", applied.cluster / "build/user-data",
                    applied.cluster / "state/droplets", roots) == before
    assert (applied.cluster / "kubeconfig").stat().st_mtime_ns == kubeconfig
    assert "reusing" in out and "TLS assets already installed" in out
    assert 'service "kube-dns" configured' in out  # existing objects are updated with apply
    assert 'replicationcontroller "kube-dns-v9" configured' in out


def test_scale_up_adds_only_the_new_workers(cluster_copy: Path, tmp_path: Path) -> None:
    apply = Apply.create(cluster_copy, tmp_path / "sim")
    apply.make("etcd", "controller", "worker")
    first = apply.droplets()[f"{apply.settings()['WORKER_PREFIX']}-01"]["id"]
    cert = (cluster_copy / "pki/worker-01.pem").read_bytes()
    out = apply.make("worker", WORKERS="3").stderr
    names = sorted(n for n in apply.droplets() if "-worker-" in n)
    assert [n[-2:] for n in names] == ["01", "02", "03"]
    assert apply.droplets()[names[0]]["id"] == first
    assert (cluster_copy / "pki/worker-01.pem").read_bytes() == cert
    created = re.search(r"creating 2 droplet\(s\) in [^:]*: (.*)", out)
    assert created and set(created[1].split()) == {"do-cluster-worker-02", "do-cluster-worker-03"}
    assert apply.calls("POST /v2/droplets") == 5


def column_starts(lines: list[str]) -> set[int]:
    """Where the second column starts on each line (after the first run of 2+ spaces or the
    first single space following the name)."""
    return {len(re.match(r"\s*\S+\s+", line).group(0)) for line in lines}  # type: ignore[union-attr]


def test_output_is_followable(applied: Apply) -> None:
    """Issue 23 (5): no literal placeholder in what the apply printed, no empty ssh-error file
    after success, and the columns of make status and make certs aligned."""
    printed = "\n".join(applied.outputs)
    assert not re.findall(r"<[a-z]+>|\$\([A-Z_]+\)", printed)
    assert "user data: build/user-data/do-cluster-controller-01.yaml" in printed
    errors = list((applied.cluster / "build/logs").glob("*.ssh-error"))
    assert [e.name for e in errors if e.stat().st_size == 0] == []
    status = applied.make("status", check=False).stderr
    rows = status.split("---- status of", 1)[1].splitlines()[1:]
    rows = [row for row in rows if row.startswith("  ") and not row.startswith("  phases:")]
    assert len(rows) >= 8 and len(column_starts(rows)) == 1, rows
    certs = applied.make("certs").stderr
    listed = certs.split("  CERTIFICATE", 1)[1].split("\n\n", 1)[0].splitlines()
    listed[0] = "  CERTIFICATE" + listed[0]
    assert len(listed) >= 5 and len(column_starts(listed)) == 1, listed
