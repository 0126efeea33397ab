"""Issue 20 item 2: Secrets encrypted at rest in the current profile, and `make
rotate-encryption-key` rehearsed against the stand-ins.

The procedure is kubernetes.io "Encrypting Confidential Data at Rest", "Rotating a decryption
key": add the new key second and restart every apiserver; make it first and restart; rewrite
every Secret (kubectl get secrets --all-namespaces -o json | kubectl replace -f -); remove the
old key and restart. The kubectl stand-in (tests/fake_kubectl/atrest.py) keeps, per Secret, the
key it was written with and refuses to read it once no configured key matches ("no matching
prefix found"), so a rotation that dropped the old key before the rewrite would fail here."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from tests.applying import REPO, Apply, files_containing

FAKE_CURRENT = REPO / "tests" / "fake_kubectl_current"
FAST = {"IMAGE_POLL_SECONDS": "0.05", "DOSIM_IMAGE_POLLS": "1", "APISERVER_RESTART_SECONDS": "0"}
CONTROLLER = "do-cluster-controller-01"
SECRETS = """apiVersion: v1
kind: Secret
metadata: {name: db, namespace: default}
stringData: {password: hunter2}
---
apiVersion: v1
kind: Secret
metadata: {name: api, namespace: kube-system}
stringData: {token: abc}
"""


@pytest.fixture(scope="module")
def baked(current_cluster: Path) -> Path:
    return current_cluster  # the session's shared bake (conftest.py), read only


@pytest.fixture
def applied(baked: Path, tmp_path: Path) -> Apply:
    from tests.baking import copy_cluster
    apply = Apply.create(copy_cluster(baked, tmp_path), tmp_path / "sim")
    apply.env.update(FAST)
    apply.make("image")
    apply.make("etcd", "controller", "worker")
    # the static pod manifest as cloud-init wrote it (the stand-in runs no cloud-init)
    manifests = apply.root(CONTROLLER) / "etc/kubernetes/manifests"
    manifests.mkdir(parents=True, exist_ok=True)
    (manifests / "kube-apiserver.yaml").write_text(
        (apply.cluster / "manifests/controller/kube-apiserver.yaml").read_text())
    (apply.sim / "secrets.yaml").write_text(SECRETS)
    apply.kubectl("apply", "-f", str(apply.sim / "secrets.yaml"))
    return apply


def _kubectl(apply: Apply, *args: str) -> tuple[int, str]:
    import subprocess
    proc = subprocess.run(["kubectl", "--kubeconfig", str(apply.cluster / "kubeconfig"), *args],
                          env=apply.env, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout + proc.stderr


Apply.kubectl = lambda self, *args: _kubectl(self, *args)  # type: ignore[attr-defined]


def _installed_keys(apply: Apply) -> list[str]:
    config = yaml.safe_load((apply.root(CONTROLLER) / "etc/kubernetes/pki/encryption-config.yaml")
                            .read_text())
    (entry,) = config["resources"]
    assert entry["resources"] == ["secrets"] and entry["providers"][-1] == {"identity": {}}
    return [k["name"] for k in entry["providers"][0]["aescbc"]["keys"]]


def test_the_key_is_made_locally_and_delivered_over_ssh_only(applied: Apply) -> None:
    keys = applied.cluster / "pki/encryption-keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert stat.S_IMODE((applied.cluster / "pki/encryption-config.yaml").stat().st_mode) == 0o600
    assert applied.mode(CONTROLLER, "/etc/kubernetes/pki/encryption-config.yaml") == 0o600
    assert applied.owner(CONTROLLER, "/etc/kubernetes/pki/encryption-config.yaml") == "root:root"
    name, secret = keys.read_text().split()
    assert _installed_keys(applied) == [name]
    import base64
    assert len(base64.b64decode(secret)) == 32
    # never in user data, never git-tracked (pki/ is ignored)
    assert files_containing(secret, applied.cluster / "build", applied.cluster / "cloud-config") \
        == []
    assert "pki/" in (applied.cluster / ".gitignore").read_text()
    code, out = _kubectl(applied, "get", "secrets", "-A", "-o", "name")
    assert code == 0 and "secret/db" in out


def test_rotation_follows_the_upstream_procedure(applied: Apply) -> None:
    (old,) = _installed_keys(applied)
    out = applied.make("rotate-encryption-key").stderr
    steps = [line.split("==> ", 1)[1] for line in out.splitlines() if "==> " in line]
    assert [s[:3] for s in steps] == ["1/4", "2/4", "3/4", "4/4"], steps
    (new,) = _installed_keys(applied)
    assert new != old and new in steps[0] and "2 Secret(s) replaced" in out
    assert (applied.cluster / "pki/encryption-keys").read_text().split()[0] == new
    assert not (applied.cluster / "state/encryption-rotation").exists()
    calls = applied.kube()["calls"]
    assert any(c.endswith("get secrets -A -o json") for c in calls)
    assert sum(c.endswith("replace -f -") for c in calls) == 1
    # every Secret now reads with the new key alone; the manifest is back in place
    code, listed = _kubectl(applied, "get", "secrets", "-A", "-o", "name")
    assert code == 0 and "secret/db" in listed and "secret/api" in listed
    assert (applied.root(CONTROLLER) / "etc/kubernetes/manifests/kube-apiserver.yaml").is_file()


def test_dropping_the_old_key_without_the_rewrite_loses_the_secrets(applied: Apply) -> None:
    """The broken twin of the procedure: what the stand-in refuses is what the apiserver
    refuses, so the rehearsal above proves the order."""
    keys = applied.cluster / "pki/encryption-keys"
    keys.write_text("key-other " + "A" * 43 + "=\n")
    (applied.cluster / "pki/encryption-config.yaml").unlink()
    applied.make("controller")  # installs a configuration without the key the Secrets need
    code, out = _kubectl(applied, "get", "secrets", "-A", "-o", "json")
    assert code != 0 and "no matching prefix found" in out


def test_the_tutorial_profile_refuses(cluster_copy: Path, tmp_path: Path) -> None:
    apply = Apply.create(cluster_copy, tmp_path / "sim")
    proc = apply.make("rotate-encryption-key", check=False)
    assert proc.returncode != 0 and "cannot encrypt Secrets at rest" in proc.stderr
    assert apply.calls() == 1  # the test's own key import


def test_backups_say_their_secrets_are_encrypted_and_with_which_key(applied: Apply) -> None:
    """backup.sh writes this into backup.json's "encryption" field: the key names, never the
    secrets; a restore needs pki/encryption-keys."""
    import json
    import subprocess
    name, secret = (applied.cluster / "pki/encryption-keys").read_text().split()
    proc = subprocess.run(
        ["bash", "-c", "set -euo pipefail; . scripts/lib/common.sh; profile_backup_encryption"],
        cwd=applied.cluster, env=applied.env, capture_output=True, text=True, check=True)
    meta = json.loads(proc.stdout)
    assert meta["secrets_encrypted"] is True and meta["keys"] == [name]
    assert meta["provider"] == "aescbc" and "keep pki/encryption-keys" in meta["note"]
    assert secret not in proc.stdout


def test_an_interrupted_rotation_resumes_with_the_same_key(applied: Apply,
                                                          tmp_path: Path) -> None:
    """The rewrite fails once (a kubectl that refuses the first replace): the re-run goes on
    from step 3 with the key step 1 added, never a third key."""
    wrapper = tmp_path / "bin"
    wrapper.mkdir()
    (wrapper / "kubectl").write_text(
        f'#!/bin/bash\nif [[ " $* " == *" replace "* && ! -e {tmp_path}/failed ]]; then\n'
        f'  touch {tmp_path}/failed; echo "error: injected failure" >&2; exit 1\nfi\n'
        f'exec {FAKE_CURRENT}/kubectl "$@"\n')
    (wrapper / "kubectl").chmod(0o755)
    (old,) = _installed_keys(applied)
    failed = applied.make("rotate-encryption-key", check=False,
                          PATH=f"{wrapper}:{applied.env['PATH']}")
    assert failed.returncode != 0 and "rewriting the Secrets failed" in failed.stderr
    assert (applied.cluster / "state/encryption-rotation").read_text() == "rewrite\n"
    new, still_old = [line.split()[0] for line in
                      (applied.cluster / "pki/encryption-keys").read_text().splitlines()]
    assert still_old == old and _installed_keys(applied) == [new, old]
    out = applied.make("rotate-encryption-key").stderr
    assert "resuming the rotation interrupted at step: rewrite" in out
    steps = [line.split("==> ", 1)[1][:3] for line in out.splitlines() if "==> " in line]
    assert steps == ["3/4", "4/4"]
    assert _installed_keys(applied) == [new]
