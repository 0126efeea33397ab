"""make upgrade KUBERNETES_VERSION=X.Y.Z (issue 22 item 1, current profile): the release table
in the cluster repo and the version skew policy (kubernetes.io/releases/version-skew-policy:
"upgrade ... one minor version at a time", "kubelet must not be newer than kube-apiserver",
kubectl "within one minor version (older or newer) of kube-apiserver"), refused before any
change; then the rehearsal against the stand-ins from a cluster applied at the previous minor,
which is also issue 22's "Done when": bake 1.36.4, apply, upgrade to 1.37.0 (cut at a node and
resumed), scale the workers 3 -> 2, replace a worker, every node at 1.37.0 (API calls and time
per node printed).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from generator import facts, releases
from tests.applying import Apply, squeezed
from tests.baking import copy_cluster
from tests.current_profile import bake_current
from tests.standins import dropletfs
from tests.test_apply_current_nodes import guarded_deployment, kubectl

FROM, TO = "1.36.4", "1.37.0"


@pytest.fixture(scope="module")
def baked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Bare bakes at the previous and the current minor (nothing applied; three workers)."""
    return {v: bake_current(tmp_path_factory.mktemp(f"bake-{v}"), kubernetes_version=v,
                            worker_count="3") for v in (FROM, TO)}


def _bare(baked: dict[str, Path], version: str, tmp_path: Path) -> Apply:
    return Apply.create(copy_cluster(baked[version], tmp_path), tmp_path / "sim")


def test_the_release_table_is_the_pinned_data(baked: dict[str, Path]) -> None:
    rows = [line.split("\t") for line in (baked[FROM] / "releases.tsv").read_text().splitlines()
            if line and not line.startswith("#")]
    assert [tuple(r) for r in rows] == releases.kubernetes_table()
    assert [r[0] for r in rows] == [FROM, TO]
    # the previous minor's sums, from kubespray's checksums.yml (dl.k8s.io's .sha256 files)
    assert rows[0][1] == "cf2562db46c48ab84cc3791540778ee7fb1a0a008529adbb434723dd02ed8b4b"
    unit = (baked[FROM] / "node" / "kubelet-install.service").read_text()
    assert f"/v{FROM}/bin/linux/amd64/kubelet" in unit and rows[0][1] in unit


def _refused(apply: Apply, version: str, *words: str) -> None:
    calls = apply.calls()
    proc = apply.make("upgrade", f"KUBERNETES_VERSION={version}", check=False)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr
    # before any change: no API call, no state, the settings as baked
    assert apply.calls() == calls
    assert not (apply.cluster / "state" / "upgrade").exists()
    assert not (apply.cluster / "state" / "droplets").exists()


def test_a_skipped_minor_is_refused(baked: dict[str, Path], tmp_path: Path) -> None:
    apply = _bare(baked, FROM, tmp_path)
    table = apply.cluster / "releases.tsv"
    # a table that knows a 1.38 (its sum is not looked at: the skew check comes first)
    table.write_text(table.read_text() + "1.38.0\t" + "0" * 64 + "\t" + "0" * 64 + "\n")
    _refused(apply, "1.38.0", "skips 1.37", "version-skew-policy",
             f"Upgrade to {TO} first")
    assert apply.settings()["KUBERNETES_VERSION"] == FROM


def test_a_downgrade_is_refused(baked: dict[str, Path], tmp_path: Path) -> None:
    apply = _bare(baked, TO, tmp_path)
    _refused(apply, FROM, f"KUBERNETES_VERSION={FROM} is older than the cluster's {TO}",
             "downgrades are refused", "make restore")


def test_a_version_without_pinned_sums_is_refused(baked: dict[str, Path],
                                                   tmp_path: Path) -> None:
    apply = _bare(baked, FROM, tmp_path)
    _refused(apply, "1.36.5", "1.36.5 has no pinned kubelet sha256 in releases.tsv",
             f"use one of {FROM} {TO}")


def test_the_tutorial_profile_has_no_upgrade(tmp_path: Path) -> None:
    from tests.baking import bake

    apply = Apply.create(copy_cluster(bake(tmp_path / "bake"), tmp_path), tmp_path / "sim")
    calls = apply.calls()
    proc = apply.make("upgrade", "KUBERNETES_VERSION=1.2.0", check=False)
    assert proc.returncode != 0 and "the tutorial profile runs" in proc.stderr, proc.stderr
    assert apply.calls() == calls


# ------------------------------------------------------------ the rehearsal (stand-ins)
WORKERS = ("do-cluster-worker-01", "do-cluster-worker-02", "do-cluster-worker-03")
CONTROLLER = "do-cluster-controller-01"
# the second node of the run (controllers first): its download is cut
FAULT = f"{WORKERS[0]}:kubelet-install.service"


@pytest.fixture(scope="module")
def rehearsal(baked: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
              ) -> dict[str, object]:
    """A cluster applied at FROM (one controller, two workers, add-ons), its plan for TO, an
    upgrade cut at the second node (a kubectl one minor behind FROM: the skew warning), the
    state then, and the re-run that resumes it."""
    base = tmp_path_factory.mktemp("upgrade")
    apply = Apply.create(copy_cluster(baked[FROM], base), base / "sim")
    apply.make("image")
    apply.make("etcd", "controller", "worker")
    apply.make("addons")
    out: dict[str, object] = {"apply": apply}
    out["apply_calls"] = apply.calls()
    out["plan"] = apply.make("plan", f"KUBERNETES_VERSION={TO}")
    out["after_plan"] = _versions(apply)
    # the new scheduler's image cannot be pulled (the registry does not serve it): the first
    # controller's scheduler does not come back after its manifest is rewritten
    out["no_scheduler"] = apply.make("upgrade", f"KUBERNETES_VERSION={TO}", check=False,
                                     DOSIM_UNPULLABLE_IMAGES=f"*/kube-scheduler:v{TO}",
                                     APPLY_TIMEOUT_SECONDS="2")
    out["at_no_scheduler"] = _versions(apply)
    # the registry serves it again; a PodDisruptionBudget allows no disruption of a Deployment
    # with a pod on each worker: the re-run resumes at the controller, then the first worker's
    # drain stops at its pod
    guarded = base / "guarded.yaml"
    guarded.write_text(guarded_deployment(len(WORKERS)))
    kubectl(apply, "apply", "-f", str(guarded))
    pods = json.loads(kubectl(apply, "get", "pods", "-o", "json"))["items"]
    out["guarded_pod"] = next(p["metadata"]["name"] for p in pods
                              if p["spec"]["nodeName"] == WORKERS[0]
                              and p["metadata"]["labels"].get("app") == "guarded")
    out["blocked"] = apply.make("upgrade", f"KUBERNETES_VERSION={TO}", check=False,
                                DRAIN_TIMEOUT_SECONDS="1")
    out["at_blocked"] = _versions(apply)
    kubectl(apply, "delete", "-f", str(guarded))
    # the budget gone: the next run is cut at the first worker's kubelet download
    out["cut"] = apply.make("upgrade", f"KUBERNETES_VERSION={TO}", check=False,
                            DOSIM_FAIL_UNIT=FAULT, FAKE_KUBECTL_VERSION="v1.35.0")
    out["at_cut"] = _versions(apply)
    out["settings_at_cut"] = apply.settings()["KUBERNETES_VERSION"]
    out["plan_at_cut"] = apply.make("plan", f"KUBERNETES_VERSION={TO}")
    before = apply.calls()
    out["resumed"] = apply.make("upgrade", f"KUBERNETES_VERSION={TO}", check=False)
    out["resumed_calls"] = apply.calls() - before
    out["done"] = _versions(apply)
    out["again"] = apply.make("upgrade", f"KUBERNETES_VERSION={TO}", check=False)
    return out


def _versions(apply: Apply) -> dict[str, str]:
    """Each node's kubelet as the apiserver reports it, the apiserver's version, cordons."""
    proc = subprocess.run(["kubectl", "--kubeconfig", "kubeconfig", "get", "nodes", "-o", "json"],
                          cwd=apply.cluster, env=apply.env, capture_output=True, text=True,
                          check=True)
    nodes = json.loads(proc.stdout)["items"]
    found = {n["metadata"]["name"]: n["status"]["nodeInfo"]["kubeletVersion"] +
             (" cordoned" if n["spec"].get("unschedulable") else "") for n in nodes}
    version = subprocess.run(["kubectl", "--kubeconfig", "kubeconfig", "version"],
                             cwd=apply.cluster, env=apply.env, capture_output=True, text=True,
                             check=True).stdout
    found["apiserver"] = re.search(r"Server Version: (\S+)", version)[1]  # type: ignore[index]
    return found


def test_plan_shows_the_upgrade_first_and_changes_nothing(rehearsal: dict[str, object]) -> None:
    plan = rehearsal["plan"].stderr  # type: ignore[attr-defined]
    for line in (f"{CONTROLLER} upgrade - - - static pods kube-apiserver "
                 f"kube-controller-manager kube-scheduler -> v{TO}",
                 f"{WORKERS[0]} upgrade - - - cordon, drain (PodDisruptionBudgets respected",
                 f"daemonset/kube-proxy upgrade - - - image v{TO}, after the controllers",
                 f"settings.env upgrade - - - KUBERNETES_VERSION={TO} once every node runs it",
                 f"upgrade to {TO}: 6 step(s) above, one node at a time"):
        assert line in squeezed(plan), plan
    assert rehearsal["after_plan"] == {CONTROLLER: f"v{FROM}", **dict.fromkeys(WORKERS, f"v{FROM}"),
                                       "apiserver": f"v{FROM}"}


def test_a_controller_whose_scheduler_does_not_come_back_stops_the_upgrade(
        rehearsal: dict[str, object]) -> None:
    """After its manifests are rewritten a controller's apiserver (/readyz, version), controller
    manager and scheduler (GET /healthz on their secure ports, as their static pods' probes ask
    them) must all serve before its kubelet moves: a scheduler that does not come back stops
    the upgrade at that controller, named, and the next run resumes there."""
    apply = rehearsal["apply"]
    assert isinstance(apply, Apply)
    stopped = rehearsal["no_scheduler"]
    assert stopped.returncode != 0  # type: ignore[attr-defined]
    err = squeezed(stopped.stderr)  # type: ignore[attr-defined]
    port = apply.settings()["SCHEDULER_PORT"]
    assert port == str(facts.SCHEDULER_PORT)
    assert (f"{CONTROLLER}: not serving kube-scheduler's GET /healthz "
            f"(https://127.0.0.1:{port}) after 2s") in err, err
    assert f"re-run 'make upgrade KUBERNETES_VERSION={TO}' (it resumes)" in err
    # asked over ssh on the controller as its probes ask: the controller manager answered, the
    # scheduler's port refused (its image was never pulled), then answered on the re-run
    asked = {(e["args"][-1], e["rc"]) for e in dropletfs.read_log(apply.root(CONTROLLER))
             if e["kind"] == "op" and e["cmd"] == "curl"}
    cm = f"https://127.0.0.1:{facts.CONTROLLER_MANAGER_PORT}/healthz"
    assert asked == {(cm, 0), (f"https://127.0.0.1:{port}/healthz", 7),
                     (f"https://127.0.0.1:{port}/healthz", 0)}
    # the apiserver runs TO, the controller's kubelet was not touched, no worker was either
    assert rehearsal["at_no_scheduler"] == {CONTROLLER: f"v{FROM}",
                                            **dict.fromkeys(WORKERS, f"v{FROM}"),
                                            "apiserver": f"v{TO}"}
    # the next run (the image served again) resumes at the controller and gets past it
    resumed = rehearsal["blocked"]
    assert f"resuming the upgrade {FROM} -> {TO}" in resumed.stderr  # type: ignore
    assert f"{CONTROLLER}: done in this upgrade" not in resumed.stderr  # type: ignore
    assert rehearsal["at_blocked"][CONTROLLER] == f"v{TO}"  # type: ignore[index]


def test_a_disruption_budget_blocking_a_drain_stops_the_upgrade_at_that_worker(
        rehearsal: dict[str, object]) -> None:
    """Issue 22's "a PDB blocking a drain", in the upgrade: kubectl drain's evictions are
    answered 429 while the budget forbids them (the current-kubectl stand-in); the upgrade
    stops at that worker, cordoned at the old kubelet, naming the pod and the timeout."""
    blocked = rehearsal["blocked"]
    assert blocked.returncode != 0  # type: ignore[attr-defined]
    err = squeezed(blocked.stderr)  # type: ignore[attr-defined]
    assert "Cannot evict pod as it would violate the pod's disruption budget." in err, err
    assert (f"draining {WORKERS[0]} stopped after 1s (DRAIN_TIMEOUT_SECONDS): the "
            f"PodDisruptionBudget of pod(s) default/{rehearsal['guarded_pod']}") in err, err
    assert (f"{WORKERS[0]}: not drained, its kubelet is still {FROM}; fix what blocks the drain "
            f"(above) or raise DRAIN_TIMEOUT_SECONDS, then re-run 'make upgrade "
            f"KUBERNETES_VERSION={TO}' (it resumes at {WORKERS[0]})") in err, err
    assert rehearsal["at_blocked"] == {CONTROLLER: f"v{TO}", WORKERS[0]: f"v{FROM} cordoned",
                                       WORKERS[1]: f"v{FROM}", WORKERS[2]: f"v{FROM}",
                                       "apiserver": f"v{TO}"}


def test_kubectl_skew_is_warned(rehearsal: dict[str, object]) -> None:
    err = rehearsal["cut"].stderr  # type: ignore[attr-defined]
    assert "kubectl 1.35" in err and f"more than one minor version from {TO}" in err, err
    assert f"dl.k8s.io/v{TO}/bin/linux/amd64/kubectl" in err


def test_an_interrupted_upgrade_stops_at_the_failed_node(rehearsal: dict[str, object]) -> None:
    cut = rehearsal["cut"]
    assert cut.returncode != 0  # type: ignore[attr-defined]
    assert f"{WORKERS[0]}: the kubelet {TO} was not installed" in cut.stderr  # type: ignore
    # the controller and kube-proxy are done, the drained worker stays cordoned at FROM, the
    # others are untouched; settings.env still names FROM
    assert rehearsal["at_cut"] == {CONTROLLER: f"v{TO}", WORKERS[0]: f"v{FROM} cordoned",
                                   WORKERS[1]: f"v{FROM}", WORKERS[2]: f"v{FROM}",
                                   "apiserver": f"v{TO}"}
    assert rehearsal["settings_at_cut"] == FROM
    plan = squeezed(rehearsal["plan_at_cut"].stderr)  # type: ignore[attr-defined]
    assert f"{CONTROLLER} leave - - - done: runs {TO}" in plan
    assert f"{WORKERS[0]} upgrade" in plan


def test_the_rerun_resumes_and_every_node_ends_at_the_new_version(
        rehearsal: dict[str, object]) -> None:
    apply = rehearsal["apply"]
    assert isinstance(apply, Apply)
    resumed = rehearsal["resumed"]
    assert resumed.returncode == 0, resumed.stderr  # type: ignore[attr-defined]
    err = resumed.stderr  # type: ignore[attr-defined]
    assert f"resuming the upgrade {FROM} -> {TO}" in err
    assert f"{CONTROLLER}: done in this upgrade ({TO}) already" in err
    assert rehearsal["done"] == {CONTROLLER: f"v{TO}", **dict.fromkeys(WORKERS, f"v{TO}"),
                                 "apiserver": f"v{TO}"}
    # the figures issue 22 asks for: API calls, and each node's time (the summary's phases)
    phases = next(x for x in err.splitlines() if x.strip().startswith("phases:"))
    print(f"\n[upgrade {FROM} -> {TO}] apply: {rehearsal['apply_calls']} API calls; resumed "
          f"upgrade: {rehearsal['resumed_calls']} API calls; {phases.strip()}")
    # the kubelet swapped by fetch-verified through the drop-in, at the pinned sum
    sums = dict((v, k) for v, k, _ in releases.kubernetes_table())
    for name in (CONTROLLER, *WORKERS):
        binary = (apply.root(name) / "opt/bin/kubelet").read_text()
        assert binary.split() == ["dosim", "kubelet", f"v{TO}", "sha256", sums[TO]]
    manifest = (apply.root(CONTROLLER) / "etc/kubernetes/manifests/kube-apiserver.yaml")
    assert f"registry.k8s.io/kube-apiserver:v{TO}" in manifest.read_text()
    # a reboot re-applies the user data (Flatcar's coreos-cloudinit, every boot): the drop-in
    # fetches the new kubelet and puts the upgraded manifests back before the kubelet starts
    dropin = "etc/systemd/system/kubelet-install.service.d/20-kubernetes-version.conf"
    lines = (apply.root(CONTROLLER) / dropin).read_text().splitlines()
    assert lines[1:3] == ["[Service]", "ExecStart="]
    assert lines[3].split() == ["ExecStart=/opt/bin/fetch-verified",
                                f"https://dl.k8s.io/v{TO}/bin/linux/amd64/kubelet", sums[TO],
                                "/opt/bin/kubelet"]
    pods = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
    assert lines[4:] == [f"ExecStartPost=/usr/bin/cp /etc/kubernetes/upgraded-manifests/{p}.yaml "
                         f"/etc/kubernetes/manifests/{p}.yaml" for p in pods]
    kept = apply.root(CONTROLLER) / "etc/kubernetes/upgraded-manifests/kube-apiserver.yaml"
    assert kept.read_text() == manifest.read_text()
    assert "ExecStartPost" not in (apply.root(WORKERS[1]) / dropin).read_text()
    proxy = apply.kube()["objects"]["DaemonSet/kube-system/kube-proxy"]
    assert proxy["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f":v{TO}")
    # the repo names the new version only now; no old one is left
    assert apply.settings()["KUBERNETES_VERSION"] == TO
    for rel in ("settings.env", "README.md", "cloud-config/controller.yaml",
                "cloud-config/worker.yaml", "node/kubelet-install.service",
                "manifests/controller/kube-apiserver.yaml", "manifests/addons/kube-proxy.yaml"):
        text = (apply.cluster / rel).read_text()
        assert FROM not in text and sums[FROM] not in text, rel
    assert f"Kubernetes {TO}" in (apply.cluster / "README.md").read_text()
    assert not (apply.cluster / "state" / "upgrade").exists()
    again = rehearsal["again"]
    assert again.returncode == 0 and "nothing to upgrade" in again.stderr  # type: ignore


def test_make_worker_after_the_upgrade_finds_nothing_stale(rehearsal: dict[str, object]) -> None:
    apply = rehearsal["apply"]
    assert isinstance(apply, Apply)
    calls = apply.calls("POST /v2/droplets")
    apply.make("worker", "controller")
    assert apply.calls("POST /v2/droplets") == calls


def test_then_scale_in_and_replace_leave_every_node_at_the_new_version(
        rehearsal: dict[str, object]) -> None:
    """The rest of issue 22's "Done when" on the upgraded cluster: make scale WORKERS=2 drains
    and deletes worker-03 (droplet, Node, files), make replace re-creates worker-01 from the
    repo as the upgrade left it: every node then runs TO."""
    apply = rehearsal["apply"]
    assert isinstance(apply, Apply)
    gone, kept = WORKERS[2], WORKERS[0]
    before = apply.calls()
    scaled = apply.make("scale", "WORKERS=2")
    scale_calls = apply.calls() - before
    assert gone not in apply.droplets() and gone not in _versions(apply)
    assert not (apply.cluster / f"pki/kubelet-{gone}.pem").exists()
    assert apply.settings()["WORKER_COUNT"] == "2"  # recorded: nothing brings it back
    old = apply.droplets()[kept]["id"]
    before = apply.calls()
    replaced = apply.make("replace", f"NODE={kept}")
    replace_calls = apply.calls() - before
    assert apply.droplets()[kept]["id"] != old
    binary = (apply.root(kept) / "opt/bin/kubelet").read_text()
    assert binary.split()[:3] == ["dosim", "kubelet", f"v{TO}"]
    assert _versions(apply) == {CONTROLLER: f"v{TO}", WORKERS[0]: f"v{TO}",
                                WORKERS[1]: f"v{TO}", "apiserver": f"v{TO}"}
    assert apply.settings()["KUBERNETES_VERSION"] == TO
    assert gone not in apply.droplets()
    for name, proc, calls in (("scale 3 -> 2", scaled, scale_calls),
                              (f"replace {kept}", replaced, replace_calls)):
        phases = next(x for x in proc.stderr.splitlines() if x.strip().startswith("phases:"))
        print(f"\n[{name}] {calls} API calls; {phases.strip()}")
