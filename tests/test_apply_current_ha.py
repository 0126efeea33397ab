"""The current profile with several controllers behind the load balancer (issue 19.2), applied on
the stand-ins end to end (issue 19's "Done when": etcd_count=3 controller_count=2
worker_count=3; in file order: the apply, addons, smoke, status, a controller down, rotate-certs
interrupted and resumed, certs, backup and restore, a re-run that creates nothing, destroy
leaving nothing). Every apiserver serves the one
shared certificate naming the load balancer's IP and every controller's addresses; the workers'
kubelets and kube-proxy and the admin's ./kubeconfig go through the load balancer (the
controllers' own kubelets to their local apiserver); the controller-manager and the scheduler
elect a leader; the load balancer's allow list and the apiservers' firewall are the tutorial
profile's (scripts/lib/loadbalancer.sh, firewall.sh: shared). Prints the API calls per droplet."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from generator.audit.upstream import config_schemas, flag_tables
from tests.applying import Apply, cert_sans, squeezed, static_pod_moves, unit_ops
from tests.baking import copy_cluster
from tests.current_profile import bake_current
from tests.standins import etcd3data, etcd3members, units
from tests.standins import state as standin_state

DROPLETS = 3 + 2 + 3
CALLS_PER_DROPLET_MAX = 7  # as the tutorial's HA layout (test_apply_ha_layout)
FIRST_APPLY_CALLS: list[int] = []  # make up's API calls (after make image)
ADDONS_OUTPUT: list[str] = []  # what the fixture's make up printed


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Apply:
    cluster = bake_current(tmp_path_factory.mktemp("current-ha-bake"), controller_count=2,
                           etcd_count=3, worker_count=3)
    base = tmp_path_factory.mktemp("current-ha")
    apply = Apply.create(copy_cluster(cluster, base), base / "sim")
    apply.make("image")
    before = apply.calls()
    # make up: every droplet at once, then etcd beside the controllers and their load balancer,
    # the workers (they dial it) after them, then the add-ons (each test sees kube-proxy,
    # whatever runs first)
    proc = apply.make("up")
    FIRST_APPLY_CALLS.append(apply.calls() - before)
    ADDONS_OUTPUT.append(proc.stdout + proc.stderr)
    return apply


def _files(user_data: str) -> dict[str, str]:
    return {f["path"]: f.get("content", "") for f in yaml.safe_load(user_data)["write_files"]}


def _user_data(apply: Apply, name: str) -> str:
    return (apply.root(name) / "var/lib/dosim/user-data").read_text()


def test_leader_election_flags_exist_in_the_pinned_release(applied: Apply) -> None:
    """--leader-elect is in kube-controller-manager 1.37's flag table (generated reference,
    kubernetes/website content/*/docs/reference/command-line-tools-reference/
    kube-controller-manager.md); the scheduler's is its KubeSchedulerConfiguration field
    leaderElection.leaderElect (k8s.io/kube-scheduler/config/v1)."""
    table = flag_tables()["kube-controller-manager"]
    assert "leader-elect" in table.flags and "leader-elect" not in table.deprecated
    scheduler = config_schemas()["KubeSchedulerConfiguration"]
    assert "leaderElect" in scheduler.fields["leaderElection"]["fields"]
    s = applied.settings()
    for nn in ("01", "02"):
        files = _files(_user_data(applied, f"{s['CONTROLLER_PREFIX']}-{nn}"))
        manager = yaml.safe_load(files["/etc/kubernetes/manifests/kube-controller-manager.yaml"])
        assert "--leader-elect=true" in manager["spec"]["containers"][0]["command"]
        config = next(yaml.safe_load(c) for p, c in files.items()
                      if p.endswith("kube-scheduler-config.yaml"))
        assert config["leaderElection"] == {"leaderElect": True}


def test_every_apiserver_serves_the_shared_certificate(applied: Apply) -> None:
    s = applied.settings()
    droplets = applied.droplets()
    (lb,) = json.loads(applied.doctl("compute", "load-balancer", "list", "-o", "json"))
    controllers = [n for n in droplets if n.startswith(f"{s['CONTROLLER_PREFIX']}-")]
    assert len(controllers) == 2
    want = {f"IP Address:{lb['ip']}", "IP Address:127.0.0.1",
            f"IP Address:{s['APISERVER_SERVICE_IP']}"}
    for name in controllers:
        sim = droplets[name]["sim"]
        want |= {f"DNS:{name}", f"IP Address:{sim['public_ip']}",
                 f"IP Address:{sim['private_ip']}"}
    local = applied.cluster / "pki/apiserver.pem"
    assert want <= cert_sans(local)
    for name in controllers:
        installed = applied.root(name) / "etc/kubernetes/pki/apiserver.pem"
        assert installed.read_bytes() == local.read_bytes()
        # each controller its own kubelet identity
        assert (applied.root(name) / "etc/kubernetes/pki/kubelet.pem").read_bytes() == \
            (applied.cluster / f"pki/kubelet-{name}.pem").read_bytes()
    assert sorted(lb["droplet_ids"]) == sorted(droplets[n]["id"] for n in controllers)


def test_clients_reach_the_apiservers_through_the_load_balancer(applied: Apply) -> None:
    s = applied.settings()
    (lb,) = json.loads(applied.doctl("compute", "load-balancer", "list", "-o", "json"))
    lb_url = f"https://{lb['ip']}"
    assert yaml.safe_load((applied.cluster / "kubeconfig").read_text())["clusters"][0][
        "cluster"]["server"] == lb_url
    for name in applied.droplets():
        if name.startswith(f"{s['ETCD_PREFIX']}-"):
            continue
        files = applied.node_files(name)  # the user data's, as fill-endpoints leaves them
        local = name.startswith(f"{s['CONTROLLER_PREFIX']}-")
        for kubeconfig in ("kubelet.kubeconfig", "kube-proxy.kubeconfig"):
            (content,) = [c for p, c in files.items() if p.endswith(f"/{kubeconfig}")]
            server = yaml.safe_load(content)["clusters"][0]["cluster"]["server"]
            # controllers: their own apiserver (kubeadm's ControlPlaneKubeletLocalMode, KEP 4471)
            assert server == ("https://127.0.0.1" if local else lb_url), (name, kubeconfig)
    # the allow list and the apiservers' firewall, as in the tutorial profile
    nodes = [d["sim"]["public_ip"] for n, d in applied.droplets().items()
             if not n.startswith(f"{s['ETCD_PREFIX']}-")]
    assert sorted(lb["firewall"]["allow"]) == sorted(
        [f"cidr:{c}" for c in s["ADMIN_CIDRS"].split(",") if ":" not in c]
        + [f"ip:{ip}" for ip in nodes])
    firewalls = {f["name"]: f for f in applied.account()["firewalls"].values()}
    inbound = firewalls[s["APISERVER_FIREWALL"]]["inbound_rules"]
    assert any(lb["id"] in (r.get("sources") or {}).get("load_balancer_uids", []) for r in inbound)


def test_addons_smoke_status_through_the_load_balancer(applied: Apply) -> None:
    (first,) = FIRST_APPLY_CALLS
    print(f"\n[current HA] first apply: {first} API calls for {DROPLETS} droplets (3 etcd, 2 "
          f"controllers, 3 workers) and 1 load balancer = {first / DROPLETS:.1f} per droplet")
    assert first / DROPLETS <= CALLS_PER_DROPLET_MAX
    # make addons (the fixture's): every add-on's workloads are in the cluster
    (addons,) = ADDONS_OUTPUT
    # make up ran etcd beside the controllers, the workers once the load balancer existed
    assert "make etcd beside controller then worker" in addons
    manifests = re.findall(r"create or update (manifests/addons/\S+\.yaml)", addons)
    assert {"manifests/addons/kube-proxy.yaml", "manifests/addons/coredns.yaml"} <= set(manifests)
    workloads = {f"{doc['kind']}/{doc['metadata'].get('namespace', 'default')}/"
                 f"{doc['metadata']['name']}"
                 for manifest in manifests
                 for doc in yaml.safe_load_all((applied.cluster / manifest).read_text())
                 if doc and doc["kind"] in ("DaemonSet", "Deployment")}
    assert "DaemonSet/kube-system/kube-proxy" in workloads
    assert workloads <= set(applied.kube()["objects"]), workloads - set(applied.kube()["objects"])
    smoke = squeezed(applied.make("smoke").stderr)
    # issue 21 item 7: no cluster token at make addons, no cloud add-ons: said, not attempted
    assert "cloud checks skipped: no cloud-controller-manager or CSI driver runs" in smoke
    # every etcd member healthy, the count against ETCD_COUNT, the leader
    etcds = sorted(n for n in applied.droplets() if n.startswith("do-cluster-etcd-"))
    version = etcd3members.version(applied.droplets()[etcds[0]])
    seen = applied.status_layer("etcd-members")
    assert seen["status"] == "OK", seen
    assert f"3 of 3 member(s) healthy, leader {etcds[0]} (etcd {version})" in str(
        seen["detail"]), seen
    out = squeezed(applied.make("status").stderr)
    assert "controllers OK: 2 controller(s) serving behind the load balancer" in out
    assert "cloud OK: 0 load balancer(s) and 0 volume(s) tagged k8s:k8s-do:do-cluster" in out
    assert "nodes OK: 5 of 5 node(s) (2 controllers and workers) Ready" in out
    assert "status of do-cluster: 0 failed" in out


def test_a_controller_down_leaves_the_cluster_answering(applied: Apply) -> None:
    """The load balancer sends clients to a controller that passes its health check: with the
    first controller's apiserver certificate gone (its static pod cannot start), kubectl still
    gets answers and make status says which controller does not serve."""
    s = applied.settings()
    cert = applied.root(f"{s['CONTROLLER_PREFIX']}-01") / "etc/kubernetes/pki/apiserver.pem"
    saved = cert.read_bytes()
    cert.unlink()
    try:
        out = squeezed(applied.make("status", check=False).stderr)
        assert "controllers WARN: 1 of 2 not serving" in out, out
        assert "apiserver OK" in out
    finally:
        cert.write_bytes(saved)


def _serials(pki: Path) -> dict[str, str]:
    return {p.name: _serial(p) for p in sorted(pki.glob("*.pem"))
            if not p.name.endswith("-key.pem")}


def _serial(cert: Path) -> str:
    return subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-serial"],
                          capture_output=True, text=True, check=True).stdout.strip()


def _restarts(apply: Apply, name: str, unit: str) -> int:
    return int(units.restarts(apply.root(name)).get(unit, {}).get("restarts", 0))


def test_rotate_certs_resumes_after_an_interrupt(applied: Apply) -> None:
    """make rotate-certs (issue 19.4, 18.5): every certificate but the CA re-issued with its key,
    installed one node at a time; interrupted at the second worker (its sshd gone), the re-run
    re-issues nothing twice and restarts no finished node again; the controllers' apiservers
    were down one at a time; the CAs and the service-account key stay."""
    s = applied.settings()
    pki = applied.cluster / "pki"
    ca, sa_key = (pki / "ca.pem").read_bytes(), (pki / "service-account-key.pem").read_bytes()
    keys = {p.name: p.read_bytes() for p in pki.glob("*-key.pem")}
    before = _serials(pki)
    etcds = [f"{s['ETCD_PREFIX']}-{nn:02d}" for nn in (1, 2, 3)]
    ctl1 = f"{s['CONTROLLER_PREFIX']}-01"
    ctl2 = f"{s['CONTROLLER_PREFIX']}-02"
    worker2 = f"{s['WORKER_PREFIX']}-02"
    worker3 = f"{s['WORKER_PREFIX']}-03"
    with standin_state.locked(applied.sim / "account.json") as data:
        (rec,) = [r for r in data["droplets"].values() if r["name"] == worker2]
        rec["sim"]["sshd_at"] = time.time() + 86400
    fast = {"STATIC_POD_SECONDS": "0", "SSH_TIMEOUT_SECONDS": "2"}
    first = applied.make("rotate-certs", check=False, **fast)
    assert first.returncode != 0
    assert f"{worker2}: the new certificates are not installed; re-run 'make rotate-certs'" \
        in first.stderr
    assert (pki / "rotation.tsv").is_file()
    halfway = _serials(pki)
    # both CAs stay (the cluster's and the aggregation layer's front proxy, issue 21.3); every
    # other certificate, front-proxy-client.pem among them, is new
    cas = ("ca.pem", "front-proxy-ca.pem")
    assert all(halfway[n] != before[n] for n in before if n not in cas), (before, halfway)
    assert all(halfway[n] == before[n] for n in cas) and "front-proxy-client.pem" in before
    # back: make status and make certs say the rotation is pending, worker-02 has the old files
    applied.bring_up(worker2)
    status = applied.make("status", check=False).stderr
    assert "a rotation was interrupted: re-run make rotate-certs" in status
    certs = json.loads(applied.make("certs", "OUTPUT=json", check=False).stdout)
    stale = sorted(c["location"] for c in certs if c["stale"])
    # the rotation stops at the worker it cannot reach: it and the workers after it keep
    # their old files
    assert stale == [f"{w}:/etc/kubernetes/pki/{f}" for w in (worker2, worker3)
                     for f in ("kube-proxy.pem", "kubelet.pem")], stale
    restarts = {n: _restarts(applied, n, u) for n, u in (
        *((e, "etcd.service") for e in etcds), (ctl1, "kubelet.service"),
        (ctl2, "kubelet.service"), (f"{s['WORKER_PREFIX']}-01", "kubelet.service"))}
    assert set(restarts.values()) == {1}, restarts

    out = applied.make("rotate-certs", **fast).stderr
    assert "resuming the rotation" in out
    assert _serials(pki) == halfway  # nothing re-issued twice
    assert {n: _restarts(applied, n, u) for n, u in (
        *((e, "etcd.service") for e in etcds), (ctl1, "kubelet.service"),
        (ctl2, "kubelet.service"), (f"{s['WORKER_PREFIX']}-01", "kubelet.service"))} == restarts
    assert _restarts(applied, worker2, "kubelet.service") == 1
    assert _restarts(applied, worker3, "kubelet.service") == 1
    assert not (pki / "rotation.tsv").exists()
    assert (pki / "ca.pem").read_bytes() == ca
    assert (pki / "service-account-key.pem").read_bytes() == sa_key
    assert {p.name: p.read_bytes() for p in pki.glob("*-key.pem")} == keys
    assert len(list((pki / "retired").glob("*.pem"))) == len(before) - len(cas)
    # installed copies are the new ones (make certs finds none stale)
    for name in (ctl1, ctl2, worker2, worker3):
        assert (applied.root(name) / "etc/kubernetes/pki/kubelet.pem").read_bytes() == \
            (pki / f"kubelet-{name}.pem").read_bytes()
    for nn, name in enumerate(etcds, 1):  # each member its own certificate, as etcd.pem
        assert (applied.root(name) / "etc/etcd/pki/etcd.pem").read_bytes() == \
            (pki / f"etcd-{nn:02d}.pem").read_bytes()
    # one apiserver at a time: the first back in place before the second moved away
    m1, m2 = (static_pod_moves(applied, c, ".rotating") for c in (ctl1, ctl2))
    assert [d for _, d in m1] == ["out", "back"] and [d for _, d in m2] == ["out", "back"]
    assert m1[1][0] < m2[0][0]
    ds = applied.kube()["objects"]["DaemonSet/kube-system/kube-proxy"]
    assert "kubectl.kubernetes.io/restartedAt" in ds["spec"]["template"]["metadata"]["annotations"]
    assert "status of do-cluster: 0 failed" in applied.make("status").stderr


def test_certs_lists_every_certificate_aligned(applied: Apply) -> None:
    """make certs: every certificate in pki/ (the admin's and the CA too) and every one installed
    on each droplet, the etcd member's among them, in aligned columns; make status warns
    CERT_WARN_DAYS ahead and names make rotate-certs."""
    s = applied.settings()
    proc = applied.make("certs", "OUTPUT=json")
    records = json.loads(proc.stdout)
    locations = {r["location"] for r in records}
    local = {f"pki/{p.name}" for p in (applied.cluster / "pki").glob("*.pem")
             if not p.name.endswith("-key.pem")}
    assert {"pki/admin.pem", "pki/ca.pem", "pki/etcd-03.pem", "pki/apiserver.pem"} <= local
    assert local <= locations
    for name in applied.droplets():
        if name.startswith(f"{s['ETCD_PREFIX']}-"):
            assert f"{name}:/etc/etcd/pki/etcd.pem" in locations
        else:
            assert f"{name}:/etc/kubernetes/pki/kubelet.pem" in locations
    assert not any(r["stale"] for r in records)
    rows = [line for line in proc.stderr.splitlines()
            if line.startswith("  ") and (" ok " in line or "LEVEL" in line)]
    assert len(rows) == len(records) + 1
    assert len({row.index(" ok " if " ok " in row else " LEVEL ") for row in rows}) == 1, rows
    out = squeezed(applied.make("status", check=False, CERT_WARN_DAYS="400").stderr)
    assert "certs WARN: soonest: " in out and ": make rotate-certs" in out
    assert "certs OK: soonest: " in squeezed(applied.make("status").stderr)


def test_backup_then_restore_with_every_controller_stopped_meanwhile(applied: Apply) -> None:
    """make backup (an etcd v3 snapshot of the leader, 0600, what it holds recorded), a write
    after it, make restore: every member back to the snapshot's keys, the write gone; both
    controllers' static pods stopped before etcd stops on any member, started again one at a
    time once every member serves; make status green after. (The kubectl stand-in keeps its
    objects apart from the etcd stand-in's keys: what is compared is etcd's.)"""
    names = sorted(n for n in applied.droplets() if n.startswith("do-cluster-etcd-"))
    keys = {f"/registry/configmaps/default/cm-{i}": f'{{"n":{i}}}' for i in range(4)}
    etcd3members.put(applied.sim / "account.json", keys)
    before = {n: applied.etcd3_keys(n) for n in names}
    assert all(keys.items() <= got.items() for got in before.values())
    out = applied.make("backup")
    line = next(x for x in (out.stdout + out.stderr).splitlines() if "make restore BACKUP=" in x)
    backup = line.split("BACKUP=", 1)[1].strip()
    meta = json.loads((applied.cluster / backup / "backup.json").read_text())
    assert (meta["cluster"], meta["members"], meta["etcd_count"]) == ("do-cluster", 3, 3)
    assert meta["etcd_version"] == etcd3members.version(applied.droplets()[names[0]])
    assert stat.S_IMODE((applied.cluster / backup).stat().st_mode) == 0o700
    for f in (applied.cluster / backup).iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    etcd3members.put(applied.sim / "account.json", {"/registry/late": "after the backup"})
    proc = applied.make("restore", BACKUP=backup, FORCE="1", STATIC_POD_SECONDS="0")
    assert "control plane: 2 controller(s) restarted one at a time" in proc.stderr
    assert {n: applied.etcd3_keys(n) for n in names} == before
    # every member from the same snapshot: checked on each (the backup's hash and revision),
    # each data dir at its revision, one cluster again
    dbs = {n: etcd3data.read_db(applied.root(n)) or {} for n in names}
    for name in names:
        assert f"{name}: snapshot checked (hash {meta['hash']}, revision {meta['revision']})" \
            in proc.stderr, (name, proc.stderr)
        assert dbs[name]["revision"] == meta["revision"], (name, dbs[name])
    assert len({db["cluster_id"] for db in dbs.values()}) == 1
    stops = [t for n in names for t, verb in unit_ops(applied, n, "etcd") if verb == "stop"]
    starts = [t for n in names for t, verb in unit_ops(applied, n, "etcd") if verb == "start"]
    (out1, _), (back1, _) = static_pod_moves(applied, "do-cluster-controller-01", ".restoring")
    (out2, _), (back2, _) = static_pod_moves(applied, "do-cluster-controller-02", ".restoring")
    assert max(out1, out2) < min(stops) and max(starts) < back1 < back2
    status = squeezed(applied.make("status").stderr)
    assert "etcd-members OK" in status and "status of do-cluster: 0 failed" in status


def _creates(apply: Apply) -> int:
    return sum(apply.calls(f"POST /v2/{kind}")
               for kind in ("droplets", "load_balancers", "firewalls"))


def test_rerun_creates_nothing_then_destroy_leaves_nothing(applied: Apply) -> None:
    creates = _creates(applied)
    assert creates > DROPLETS + 1  # the droplets, the load balancer and the firewalls were POSTs
    before = applied.calls()
    out = applied.make("etcd", "controller", "worker").stderr
    assert _creates(applied) == creates  # 0 create calls
    assert "certificates and keys already installed" in out
    print(f"[current HA] re-run: {applied.calls() - before} API calls, nothing created")
    # make plan checks the shared certificate against every controller and the load balancer
    plan = json.loads(applied.make("plan", "OUTPUT=json").stdout)
    (row,) = [i for i in plan["items"] if i["name"] == "pki/apiserver.pem"]
    assert row["action"] == "leave", row
    applied.make("destroy", FORCE="1")
    account = applied.account()
    assert account["droplets"] == {} and account["firewalls"] == {}
    assert account["load_balancers"] == {}
    assert not (applied.cluster / "pki/apiserver.pem").exists()
    assert (applied.cluster / "pki/ca.pem").exists()
    # the controllers' front-proxy client goes with them; the bake's front-proxy CA stays
    assert not list((applied.cluster / "pki").glob("front-proxy-client*.pem"))
    assert {p.name for p in (applied.cluster / "pki").glob("front-proxy-ca*.pem")} == {
        "front-proxy-ca.pem", "front-proxy-ca-key.pem"}


def test_several_controllers_are_accepted_in_the_current_profile(tmp_path: Path) -> None:
    """The bake no longer refuses controller_count > 1 in current (its apiserver request names
    every controller and the load balancer)."""
    cnf = (bake_current(tmp_path, controller_count=3) / "openssl/apiserver.cnf").read_text()
    for ref in ("CONTROLLER_PUBLIC_IP", "CONTROLLER_02_PRIVATE_IP", "CONTROLLER_03_PUBLIC_IP",
                "APISERVER_LB_IP"):
        assert f"$ENV::{ref}" in cnf
    assert "DNS.3 = do-cluster-controller-03" in cnf and "= 127.0.0.1" in cnf
