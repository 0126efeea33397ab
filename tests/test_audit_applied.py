"""make audit on an applied repo (issue 17.5): the user data the apply sent, the node
certificates and the recorded droplets audit clean in both profiles at the largest counts each
allows; a re-bake over an applied repo succeeds; each rule that reads the apply's outputs fails
on its broken twin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

from generator import TEMPLATE_ROOT, schema
from generator.answers import validate
from generator.audit import audit
from generator.audit.cluster import USER_DATA_DIR, Cluster
from tests.applying import Apply
from tests.baking import bake, copy_cluster, default_answers

# The tutorial HA bake: the most etcd members, several controllers (short of the maximum, 9,
# to keep the apply small; the SAN rule reads CONTROLLER_COUNT either way).
TUTORIAL_HA = {"profile": "tutorial", "etcd_count": "5", "controller_count": "2"}


def largest_counts(profile: str) -> dict[str, str]:
    """The largest etcd_count and controller_count the profile accepts today."""
    counts = {}
    for key, candidates in (("etcd_count", ("5", "3", "1")),
                            ("controller_count", [str(n) for n in
                                                  range(schema.MAX_CONTROLLERS, 0, -1)])):
        counts[key] = next(n for n in candidates if not [
            e for e in validate(default_answers(profile=profile, **{key: n})) if e.field == key])
    return counts


def _applied(tmp: Path, **answers: str) -> Path:
    cluster = bake(tmp / "bake", **answers)
    apply = Apply.create(cluster, tmp / "sim")
    if answers.get("profile") == "current":
        apply.make("image")
    apply.make("etcd", "controller", "worker")
    return cluster


@pytest.fixture(scope="module")
def tutorial_ha(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _applied(tmp_path_factory.mktemp("tutorial-ha"), **TUTORIAL_HA)


@pytest.fixture(scope="module")
def current_max(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _applied(tmp_path_factory.mktemp("current-max"), profile="current",
                    **largest_counts("current"))


def _rendered(cluster: Path, name: str) -> Path:
    return cluster / USER_DATA_DIR / f"do-cluster-{name}.yaml"


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, count))


def _found(cluster: Path, rule: str) -> list[str]:
    return [f"{f.file}:{f.line} {f.message}" for f in audit(cluster).findings if f.rule == rule]


@pytest.mark.parametrize("fixture", ["tutorial_ha", "current_max"])
def test_an_applied_repo_audits_clean_user_data_included(
        fixture: str, request: pytest.FixtureRequest) -> None:
    cluster: Path = request.getfixturevalue(fixture)
    settings = (cluster / "settings.env").read_text()
    droplets = sum(int(v) for k, v in (line.split("=") for line in settings.splitlines()
                                       if line.startswith(("ETCD_COUNT=", "CONTROLLER_COUNT=",
                                                           "WORKER_COUNT="))))
    rendered = [c for c in Cluster(cluster).cloud_configs if c.rendered]
    # every droplet's user data is read, each under its role
    assert len(rendered) == droplets
    assert {c.role for c in rendered} <= {"etcd", "controller", "worker"}
    report = audit(cluster)
    assert report.errors == 0, report.text()


def test_the_largest_counts_are_what_the_answers_allow() -> None:
    assert largest_counts("tutorial") == {"etcd_count": "5",
                                          "controller_count": str(schema.MAX_CONTROLLERS)}


def _rebake(cluster: Path, **answers: str) -> None:
    cookiecutter(str(TEMPLATE_ROOT), no_input=True, overwrite_if_exists=True,
                 output_dir=str(cluster.parent), extra_context=answers)


def test_a_rebake_over_an_applied_repo_succeeds(tutorial_ha: Path, tmp_path: Path) -> None:
    """The bake's own audit judges the bake's files; the user data already sent is make
    audit's, which then says which droplets got other user data than the repo now holds."""
    cluster = copy_cluster(tutorial_ha, tmp_path)
    _rebake(cluster, **TUTORIAL_HA)
    assert audit(cluster).errors == 0
    _rebake(cluster, **TUTORIAL_HA, _node_port_range="30000-32767", _inspector_node_port="31000")
    stale = {line.split(":")[0] for line in _found(cluster, "userdata.source")}
    assert stale == {f"{USER_DATA_DIR}/do-cluster-controller-0{n}.yaml" for n in (1, 2)}


def test_the_bake_time_audit_leaves_the_apply_outputs_alone(tutorial_ha: Path,
                                                            tmp_path: Path) -> None:
    cluster = copy_cluster(tutorial_ha, tmp_path)
    _edit(_rendered(cluster, "worker-01"), "#cloud-config", "#cloud-config\nextra: 1")
    _edit(cluster / "kubeconfig", "server: https://", "server: http://")
    assert audit(cluster, applied=False).findings == []
    assert {f.file for f in audit(cluster).findings} >= {
        f"{USER_DATA_DIR}/do-cluster-worker-01.yaml", "kubeconfig"}


def test_user_data_edited_after_rendering_is_not_the_source(tutorial_ha: Path,
                                                             tmp_path: Path) -> None:
    cluster = copy_cluster(tutorial_ha, tmp_path)
    path = _rendered(cluster, "controller-02")
    lines = path.read_text().split("\n")
    at = next(k for k, text in enumerate(lines) if "--service-cluster-ip-range" in text)
    lines.insert(at, lines[at].replace("--service-cluster-ip-range=", "--runtime-config="))
    path.write_text("\n".join(lines))
    found = _found(cluster, "userdata.source")
    assert found == [f"{USER_DATA_DIR}/do-cluster-controller-02.yaml:{at + 1} is not "
                     "cloud-config/controller.yaml with ETCD_PEER, CONTROLLER_PUBLIC_IP filled "
                     f"in, one value each (line {at + 1} differs): the droplet got other user "
                     "data than the repo holds; after a re-bake that changed it, the droplet "
                     "keeps the old one until it is re-created"]


def test_one_placeholder_with_two_values_is_not_a_rendering(current_max: Path,
                                                            tmp_path: Path) -> None:
    """A worker's two kubeconfigs name the same apiserver; one edited: each line alone could be
    a rendering, the file cannot."""
    cluster = copy_cluster(current_max, tmp_path)
    path = _rendered(cluster, "worker-01")
    server = next(t.strip() for t in path.read_text().splitlines() if "server: https://" in t)
    text = path.read_text()
    cut = text.rindex(server)
    path.write_text(text[:cut] + "server: https://10.101.0.250" + text[cut + len(server):])
    line = text[:cut].count("\n") + 1
    assert [f.split(" ")[0] for f in _found(cluster, "userdata.source")] == [
        f"{USER_DATA_DIR}/do-cluster-worker-01.yaml:{line}"]


def test_user_data_named_after_no_role(current_max: Path, tmp_path: Path) -> None:
    cluster = copy_cluster(current_max, tmp_path)
    _rendered(cluster, "worker-01").rename(_rendered(cluster, "bastion-01"))
    assert _found(cluster, "userdata.source") == [
        f"{USER_DATA_DIR}/do-cluster-bastion-01.yaml:1 no cloud-config/ROLE.yaml renders this "
        "file: user data is named do-cluster-ROLE-NN.yaml after its droplet"]


def test_a_leftover_current_placeholder(current_max: Path, tmp_path: Path) -> None:
    cluster = copy_cluster(current_max, tmp_path)
    path = _rendered(cluster, "worker-01")
    server = next(t.strip() for t in path.read_text().splitlines() if "server: https://" in t)
    _edit(path, server, "server: https://APISERVER_ENDPOINT", count=2)
    found = _found(cluster, "cloud-config.placeholder")
    assert len(found) == 2 and all("APISERVER_ENDPOINT was not substituted" in f for f in found)


def _etcd_private(cluster: Path) -> str:
    return json.loads((cluster / "state/droplets/do-cluster-etcd-01.json").read_text())[
        "private_ip"]


@pytest.mark.parametrize("wrong", ["https://10.101.0.250:{port}", "https://{ip}:2380",
                                   "http://{ip}:{port}"])
def test_the_apiserver_must_reach_a_recorded_etcd_member(current_max: Path, tmp_path: Path,
                                                         wrong: str) -> None:
    cluster = copy_cluster(current_max, tmp_path)
    ip = _etcd_private(cluster)
    sent = f"--etcd-servers=https://{ip}:2379"
    _edit(_rendered(cluster, "controller-01"), sent,
          "--etcd-servers=" + wrong.format(ip=ip, port=2379))
    found = _found(cluster, "endpoints.etcd")
    assert len(found) == 1 and f"the etcd members listen on https://{ip}:2379" in found[0], found


def test_the_shared_apiserver_certificate_names_every_controller(tutorial_ha: Path,
                                                                 tmp_path: Path) -> None:
    cluster = copy_cluster(tutorial_ha, tmp_path)
    assert _found(cluster, "pki.san") == []
    record = cluster / "state/droplets/do-cluster-controller-02.json"
    data = json.loads(record.read_text())
    record.write_text(json.dumps({**data, "private_ip": "10.101.0.250"}))
    found = _found(cluster, "pki.san")
    assert len(found) == 1 and "10.101.0.250" in found[0] and found[0].startswith(
        "pki/apiserver.pem:1 needs IP"), found


def test_the_shared_apiserver_certificate_names_the_load_balancer(tutorial_ha: Path,
                                                                  tmp_path: Path) -> None:
    cluster = copy_cluster(tutorial_ha, tmp_path)
    _edit(cluster / "kubeconfig", "server: https://", "server: https://1")
    found = _found(cluster, "pki.san")
    assert len(found) == 1 and "the load balancer of ./kubeconfig" in found[0], found


def test_a_long_line_with_spaces_is_still_too_long(tutorial_ha: Path, tmp_path: Path) -> None:
    """.yamllint lets a value without spaces (the 5-member initial cluster) run long; other
    long lines still fail."""
    cluster = copy_cluster(tutorial_ha, tmp_path)
    path = _rendered(cluster, "worker-01")
    long_line = next(t for t in path.read_text().splitlines() if len(t) > 200)
    assert " " not in long_line.strip().split(": ", 1)[1]
    _edit(path, long_line, long_line.replace(",", ", "))
    assert any("line too long" in f for f in _found(cluster, "lint.yamllint"))
