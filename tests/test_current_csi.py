"""Issue 21 item 2: DigitalOcean's CSI driver (csi-digitalocean v4.16.0). Its manifest is the
release's driver.yaml (deploy/kubernetes/releases/csi-digitalocean-v4.16.0 at tag v4.16.0)
with the controller plugin's --do-tag set to CLOUD_TAG (cmd/do-csi-plugin/main.go: "Tag
DigitalOcean volumes on Create/Attach"), one default StorageClass, every flag in the upstream
tables (rule 14), and its published Kubernetes compatibility (its README's table at that
tag) stated in the README and warned about by the audit (rule 17) and make plan."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import csicompat
from generator.audit import audit
from generator.audit.cluster import read_settings
from tests.applying import Apply

CSI = "manifests/addons/digitalocean-csi.yaml"
RULE = "addons.csi-compatibility"


@pytest.fixture(scope="module")
def current(current_cluster: Path) -> Path:
    return current_cluster  # the session's shared bake (conftest.py), read only


@pytest.fixture
def copy(current: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(current, tmp_path / "do-cluster", symlinks=True))


def docs(cluster: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((cluster / CSI).read_text()) if d]


def findings(cluster: Path, *rules: str) -> list[tuple[str, str, str]]:
    return [(f.rule, f.severity, f.message) for f in audit(cluster).findings
            if f.rule in rules]


def edit(cluster: Path, rel: str, old: str, new: str) -> None:
    path = cluster / rel
    assert old in path.read_text(), old
    path.write_text(path.read_text().replace(old, new))


def test_the_driver_tags_its_volumes_with_cloud_tag_and_one_class_is_the_default(
        current: Path) -> None:
    objects = docs(current)
    controller = next(d for d in objects if d["kind"] == "StatefulSet")
    plugin = next(c for c in controller["spec"]["template"]["spec"]["containers"]
                  if c["name"] == "csi-do-plugin")
    cloud_tag = read_settings(current / "settings.env")["CLOUD_TAG"].value
    assert f"--do-tag={cloud_tag}" in plugin["args"]
    # the token comes from the Secret make addons writes (cloudtoken.sh), never from a file
    env = {e["name"]: e for e in plugin["env"]}
    assert env["DIGITALOCEAN_ACCESS_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "digitalocean", "key": "access-token"}
    defaults = [d["metadata"]["name"] for d in objects if d["kind"] == "StorageClass"
                and d["metadata"].get("annotations", {}).get(
                    "storageclass.kubernetes.io/is-default-class") == "true"]
    assert defaults == ["do-block-storage"]
    # no snapshot kinds: their CRDs are not installed (a VolumeSnapshotClass would be refused)
    assert not any(d["apiVersion"].startswith("snapshot.storage.k8s.io") for d in objects)
    # make addons applies it with the cloud-controller-manager (only with the token)
    assert CSI in (current / "scripts/lib/profile.sh").read_text()


@pytest.mark.parametrize("pinned, kubernetes, ok", [
    ("v4.16.0", "1.35.0", True), ("v4.16.0", "1.22.3", True), ("v4.16.0", "1.37.0", False),
    ("v4.12.0", "1.32.0", False), ("v4.12.0", "1.31.1", True), ("v3.0.0", "1.21.0", True),
    ("v4.16.0", "1.21.0", False), ("v4.16.0", "1.18.0", False),
])
def test_the_published_table_decides(pinned: str, kubernetes: str, ok: bool) -> None:
    assert (csicompat.problem(pinned, kubernetes) is None) is ok


def test_the_audit_warns_once_when_the_pin_is_not_published_for_the_version(
        current: Path, copy: Path) -> None:
    """1.37 (the pinned Kubernetes) is not in v4.16.0's table: one warning naming the span;
    its twin, a cluster at 1.35, has none."""
    [(rule, severity, message)] = findings(current, RULE)
    assert severity == "warning"
    assert "csi-digitalocean v4.16.0 is published for Kubernetes 1.22 to 1.35" in message
    assert "KUBERNETES_VERSION 1.37.0" in message
    edit(copy, "settings.env", "KUBERNETES_VERSION=1.37.0", "KUBERNETES_VERSION=1.35.0")
    assert findings(copy, RULE) == []
    edit(copy, CSI, "do-csi-plugin:v4.16.0", "do-csi-plugin:v4.12.0")
    [(_, _, message)] = findings(copy, RULE)
    assert "Kubernetes 1.35 needs csi-digitalocean v4.16.0+" in message


def test_the_csi_flags_are_checked_against_their_upstream_tables(copy: Path) -> None:
    """Rule 14 knows the driver's and the sidecars' flags (their flag registrations at the
    pinned tags, generator/data/upstream/flags/): a misspelt one is an error, Go's flag package
    takes one dash as two."""
    assert findings(copy, "flags.unknown") == []
    edit(copy, CSI, '"--do-tag=', '"--do-tags=')
    edit(copy, CSI, '"--reconcile-sync=30m"', '"--reconcile-sync-period=30m"')
    edit(copy, CSI, '"--handle-volume-inuse-error=false"', '"-handle-volume-inuse-error=false"')
    found = findings(copy, "flags.unknown")
    assert sorted(m.split(":")[0] for _, _, m in found) == ["csi-attacher", "do-csi-plugin"], found
    assert any("did you mean --do-tag?" in m for _, _, m in found)


def test_make_plan_warns_when_the_pin_is_not_published_for_the_version(
        copy: Path, tmp_path: Path) -> None:
    apply = Apply.create(copy, tmp_path / "sim")
    out = apply.make("plan").stderr
    assert ("warning: csi-digitalocean v4.16.0 is published for Kubernetes 1.22 1.23" in out
            and "not 1.37 (KUBERNETES_VERSION 1.37.0)" in out), out
    edit(copy, "settings.env", "KUBERNETES_VERSION=1.37.0", "KUBERNETES_VERSION=1.35.0")
    assert "csi-digitalocean" not in apply.make("plan").stderr


def test_the_readme_states_the_compatibility(current: Path) -> None:
    readme = " ".join((current / "README.md").read_text().split())
    assert ("csi-digitalocean v4.16.0 is published for Kubernetes 1.22 to 1.35 (its README's "
            "\"Kubernetes Compatibility\" table at tag v4.16.0); this cluster runs 1.37.0. "
            "That is not among them") in readme
