"""Issue 9 rows 1 and 5: the apply and destroy touch only this cluster's droplets and files."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from tests.applying import Apply, snapshot


def test_cluster_named_after_another_clusters_role_tag_owns_nothing_of_it(
        bake_with: Callable[..., Path], tmp_path: Path) -> None:
    """Row 1: with tags NAME and NAME-worker, cluster `prod-worker` listed `prod`'s workers
    and `make destroy FORCE=1` deleted prod-worker-01."""
    prod = Apply.create(bake_with(cluster_name="prod"), tmp_path / "sim")
    prod.make("etcd", "controller", "worker", WORKERS="1")
    other = Apply(bake_with(cluster_name="prod-worker"), prod.sim, dict(prod.env))
    other.make("etcd")
    out = other.make("destroy", FORCE="1").stderr
    assert set(prod.droplets()) == {"prod-etcd-01", "prod-controller-01", "prod-worker-01"}
    assert "prod-worker-01 " not in out
    assert "1 droplet(s) tagged k8s-do:prod-worker will be DELETED" in out
    assert prod.droplets()["prod-worker-01"]["tags"] == ["k8s-do:prod", "k8s-do:prod:worker"]
    # prod's own listing still sees all of its droplets
    assert re.search(r"droplets +OK: 3 active", prod.make("status", check=False).stderr)


def test_empty_listing_removes_nothing(cluster_copy: Path, tmp_path: Path) -> None:
    """Row 5: a wrong token or account lists no droplets; destroy (even without a terminal
    and without FORCE) deleted state/, build/, kubeconfig and the apiserver and worker
    private keys while the droplets kept running."""
    apply = Apply.create(cluster_copy, tmp_path / "sim")
    apply.make("etcd", "controller", "worker", WORKERS="2")
    dirs = (cluster_copy / "pki", cluster_copy / "state/droplets", cluster_copy / "build")
    kept = snapshot(*dirs)
    kubeconfig = (cluster_copy / "kubeconfig").read_bytes()
    wrong = Apply.create(cluster_copy, tmp_path / "other-account")
    for env in ({}, {"FORCE": "1"}):
        proc = wrong.make("destroy", check=False, **env)
        assert proc.returncode != 0
        assert "no droplets tagged k8s-do:do-cluster: wrong token or account? nothing removed" \
            in proc.stderr
        assert "pki/apiserver-key.pem" in proc.stderr and "pki/worker-02-key.pem" in proc.stderr
        assert snapshot(*dirs) == kept
        assert (cluster_copy / "kubeconfig").read_bytes() == kubeconfig
    assert len(apply.droplets()) == 4

    # the right account: deleted, confirmed by a second listing, then the files of exactly
    # those droplets go (keys included); the CA and the admin credentials stay
    out = apply.make("destroy", FORCE="1").stderr
    assert "confirming the deletion" in out and "none still listed" in out
    assert apply.droplets() == {}
    assert sorted(p.name for p in (cluster_copy / "pki").iterdir()) == [
        "admin-key.pem", "admin.pem", "ca-key.pem", "ca.pem"]
    assert not (cluster_copy / "kubeconfig").exists()
    assert not (cluster_copy / "build").exists()
    # nothing left: a second destroy has nothing to do and says so
    assert "nothing to destroy" in apply.make("destroy", FORCE="1").stderr


def test_destroy_cleans_up_only_after_the_deletion_is_confirmed(cluster_copy: Path,
                                                                tmp_path: Path) -> None:
    """Row 5: the local clean-up ran whatever the listing said, before any confirmation. Here
    the listing that confirms the deletion fails: the keys stay; the next run, whose listing
    shows the droplets gone, removes them."""
    apply = Apply.create(cluster_copy, tmp_path / "sim")
    apply.make("etcd", "controller", "worker", WORKERS="1")
    pki = cluster_copy / "pki"
    n = apply.calls()
    # n+1 the cluster's listing, n+2 and n+3 the load balancers and volumes (CLOUD_TAG), n+4
    # doctl's own listing of the tag, n+5 the DELETE; then the confirming listing answers 500
    # on every attempt (doctl tries 6 times)
    proc = apply.make("destroy", check=False, FORCE="1", DOSIM_FAIL_ON_CALL=f"{n + 6}-{n + 11}")
    assert proc.returncode != 0 and "500" in proc.stderr
    assert apply.droplets() == {}
    for kept in ("apiserver-key.pem", "apiserver.pem", "worker-01-key.pem", "worker-01.pem"):
        assert (pki / kept).exists(), kept
    assert (cluster_copy / "state/droplets/do-cluster-controller-01.json").exists()

    out = apply.make("destroy", FORCE="1").stderr
    assert "deleted by an earlier 'make destroy'" in out
    assert sorted(p.name for p in pki.iterdir()) == [
        "admin-key.pem", "admin.pem", "ca-key.pem", "ca.pem"]
    assert not (cluster_copy / "state/droplets").exists()
    assert "nothing to destroy" in apply.make("destroy", FORCE="1").stderr
