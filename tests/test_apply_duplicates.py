"""Issue 18 row 12: two droplets of one name (two checkouts applied at once) no longer block
make status and make destroy: status names them by ID, destroy deletes both."""

from __future__ import annotations

from pathlib import Path

from tests.applying import Apply, squeezed


def test_status_names_both_by_id_and_destroy_removes_both(cluster_copy: Path,
                                                          tmp_path: Path) -> None:
    apply = Apply.create(cluster_copy, tmp_path / "sim")
    apply.make("etcd")
    s = apply.settings()
    fingerprint = apply.doctl("compute", "ssh-key", "list", "--format", "FingerPrint",
                              "--no-header").split()[0]
    apply.doctl("compute", "droplet", "create", s["ETCD_NAME"], "--image", s["IMAGE"],
                "--region", s["REGION"], "--size", s["ETCD_SIZE"], "--ssh-keys", fingerprint,
                "--tag-names", f"k8s-do:{s['CLUSTER_NAME']},k8s-do:{s['CLUSTER_NAME']}:etcd")
    ids = sorted(r["id"] for r in apply.account()["droplets"].values())
    assert len(ids) == 2
    status = apply.make("status", check=False)
    assert status.returncode != 0
    assert (f"droplets FAIL: 2 droplets are named {s['ETCD_NAME']} (ids: {ids[0]}, {ids[1]})"
            in squeezed(status.stderr))
    refused = apply.make("etcd", check=False)
    assert refused.returncode != 0 and "make destroy' removes them all" in refused.stderr
    apply.make("destroy", FORCE="1")
    assert apply.account()["droplets"] == {}
