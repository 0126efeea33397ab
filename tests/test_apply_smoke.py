"""Issue 10 row 4: `make smoke` deletes its workloads (kubectl delete -f) when it finishes —
the inspector prints its environment on a public NodePort — unless KEEP=1."""

from __future__ import annotations

from pathlib import Path

from tests.applying import Apply
from tests.baking import copy_cluster

SMOKE = ("Pod/default/busybox", "Service/default/inspector",
         "ReplicationController/default/inspector-stable")


def smoke_objects(apply: Apply) -> list[str]:
    objects = apply.kube()["objects"]
    return [k for k in objects if k in SMOKE or k.startswith("Pod/default/inspector-")]


def test_smoke_deletes_its_workloads_unless_keep(default_cluster: Path, tmp_path: Path) -> None:
    apply = Apply.create(copy_cluster(default_cluster, tmp_path), tmp_path / "sim")
    apply.make("etcd", "controller", "worker", "addons")
    kept = apply.make("smoke", KEEP="1").stderr
    assert "workloads: kept (KEEP=1)" in kept
    assert set(SMOKE) <= set(smoke_objects(apply))
    assert any(k.startswith("Pod/default/inspector-") for k in smoke_objects(apply))  # its pod

    out = apply.make("smoke").stderr
    assert smoke_objects(apply) == []
    for line in ('pod "busybox" deleted', 'service "inspector" deleted',
                 'replicationcontroller "inspector-stable" deleted', "workloads: deleted"):
        assert line in out, line
    assert "Pod/kube-system/" in " ".join(apply.kube()["objects"])  # kube-dns untouched
    deletes = [c for c in apply.kube()["calls"] if " delete " in f" {c} "]
    assert [c.rsplit("/", 1)[-1] for c in deletes] == ["busybox.yaml", "inspector.yaml"]
