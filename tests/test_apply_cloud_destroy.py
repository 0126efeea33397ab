"""Issue 21 item 5: nothing paid for is left behind. The load balancers and volumes the
in-cluster add-ons create carry CLOUD_TAG (k8s:<DO_CLUSTER_ID>: digitalocean-cloud-controller-
manager v0.1.68 cloud-controller-manager/do/loadbalancers.go buildK8sTag; csi-digitalocean
--do-tag); make destroy lists them with the droplets, asks, deletes them once the droplets are
gone, and never touches another cluster's (tagged k8s:k8s-do:do-cluster-2) or an untagged one.
make plan prices them, make status lists them.

The droplets are created with doctl (no apply: destroy's other paths are tested elsewhere); the
CCM's and CSI's API calls are made on the simulated account as they would make them."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.applying import Apply
from tests.standins import lbservice, volumes
from tests.standins import state as standin_state
from tests.standins.api import HttpError

OURS, OTHERS = "k8s:k8s-do:do-cluster", "k8s:k8s-do:do-cluster-2"
RULE = {"entry_protocol": "tcp", "entry_port": 80, "target_protocol": "tcp",
        "target_port": 31000}


def in_cluster(apply: Apply, name: str, tags: list[str], *, volume: bool) -> str:
    """What the CCM (a LoadBalancer Service) or the CSI driver (a PVC) creates via the API."""
    if volume:
        req: dict[str, Any] = {"name": name, "region": "ams3", "size_gigabytes": 5,
                               "tags": tags}
        handler = volumes.create_volume(req)
    else:
        req = {"name": name, "region": "ams3", "size_unit": 1, "forwarding_rules": [RULE],
               "tags": tags}
        handler = lbservice.create_load_balancer(req)
    with standin_state.locked(apply.sim / "account.json") as data:
        _, body = handler(data, time.time())
    return str((body.get("volume") or body.get("load_balancer"))["id"])


def account(apply: Apply) -> tuple[set[str], set[str]]:
    data = apply.account()
    return ({lb["name"] for lb in data["load_balancers"].values()},
            {v["name"] for v in data.get("volumes", {}).values()})


def test_destroy_deletes_this_clusters_load_balancers_and_volumes_only(
        cluster_copy: Path, tmp_path: Path) -> None:
    apply = Apply.create(cluster_copy, tmp_path / "sim")
    apply.doctl("compute", "droplet", "create", "do-cluster-worker-01", "--image", "coreos-stable",
                "--size", "s-1vcpu-1gb", "--region", "ams3", "--tag-names", "k8s-do:do-cluster",
                "--wait")
    in_cluster(apply, "a-web-lb", [OURS], volume=False)
    in_cluster(apply, "pvc-ours", [OURS], volume=True)
    in_cluster(apply, "b-other-lb", [OTHERS], volume=False)
    in_cluster(apply, "pvc-others", [OTHERS], volume=True)
    in_cluster(apply, "untagged", [], volume=True)

    # make status lists them, make plan prices them (2 x $10 LB nodes? one: 1 x $10 + 5 GiB)
    status = apply.make("status", check=False).stderr
    assert "load balancer a-web-lb" in status and "volume pvc-ours (5 GiB" in status
    assert "b-other-lb" not in status and "pvc-others" not in status
    plan = apply.make("plan", check=False)
    assert "1 load balancer(s) and 1 volume(s) tagged k8s:k8s-do:do-cluster: $10.50/month" \
        in plan.stdout + plan.stderr, plan.stdout + plan.stderr

    # without a terminal and without FORCE: listed, nothing deleted
    refused = apply.make("destroy", check=False)
    assert refused.returncode != 0
    assert "load balancer a-web-lb" in refused.stderr and "volume pvc-ours" in refused.stderr
    assert "and 2 load balancer(s) and volume(s)" in refused.stderr
    assert account(apply) == ({"a-web-lb", "b-other-lb"}, {"pvc-ours", "pvc-others", "untagged"})

    # the prompt on a terminal, answered with the cluster's name
    proc = subprocess.run(["script", "-qec", "make --no-print-directory destroy", "/dev/null"],
                          cwd=cluster_copy, env=apply.env, input="do-cluster\n",
                          capture_output=True, text=True, timeout=300, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Type the cluster name (do-cluster) to confirm" in out
    assert "2 load balancer(s) and volume(s) tagged k8s:k8s-do:do-cluster" in out
    assert apply.droplets() == {}
    assert account(apply) == ({"b-other-lb"}, {"pvc-others", "untagged"})


def test_leftovers_of_an_interrupted_destroy_are_deleted_after_asking(
        cluster_copy: Path, tmp_path: Path) -> None:
    """No droplet and no local files left, but a tagged volume (a destroy stopped before it,
    or the droplets were deleted by hand): asked for, then deleted; another's stays."""
    apply = Apply.create(cluster_copy, tmp_path / "sim")
    in_cluster(apply, "pvc-ours", [OURS], volume=True)
    in_cluster(apply, "pvc-others", [OTHERS], volume=True)
    refused = apply.make("destroy", check=False)
    assert refused.returncode != 0 and "volume pvc-ours" in refused.stderr
    assert account(apply)[1] == {"pvc-ours", "pvc-others"}
    apply.make("destroy", FORCE="1")
    assert account(apply)[1] == {"pvc-others"}


def test_an_attached_volume_is_refused_by_the_stand_in(tmp_path: Path) -> None:
    """The API deletes no volume attached to a droplet; a deleted droplet detaches them."""
    data = standin_state.empty_state()
    vol_id = volumes.create_volume({"name": "v", "region": "ams3", "size_gigabytes": 1})(
        data, 0.0)[1]["volume"]["id"]
    data["volumes"][vol_id]["droplet_ids"] = [7]
    with pytest.raises(HttpError, match="attached"):
        volumes.delete_volume(vol_id)(data, 0.0)
    volumes.detach_all(data, 7)
    assert volumes.delete_volume(vol_id)(data, 0.0)[0] == 204


def test_attach_and_detach_are_refused_as_the_api_refuses_them() -> None:
    """POST /v2/volumes/{id}/actions (the CSI driver's ControllerPublish/UnpublishVolume): a
    droplet in another region, or none, is refused; a volume attached to one droplet is not
    attached to a second ("This volume is already attached", what csi-digitalocean matches);
    it is detached only from the droplet it is on; an unknown action type is refused. What
    pods wrote on it stays out of the API's view."""
    data = standin_state.empty_state()
    for droplet_id, region in ((7, "ams3"), (8, "ams3"), (9, "fra1")):
        data["droplets"][str(droplet_id)] = {"id": droplet_id, "region": region}
    vol_id = volumes.create_volume({"name": "v", "region": "ams3", "size_gigabytes": 1})(
        data, 0.0)[1]["volume"]["id"]

    def act(kind: str, droplet_id: int) -> int:
        return int(volumes.volume_action(vol_id, {"type": kind, "droplet_id": droplet_id})(
            data, 0.0)[0])

    for kind, droplet_id, words in (("attach", 9, "region ams3"), ("attach", 6, "does not"),
                                    ("resize", 7, "attach or detach"),
                                    ("detach", 7, "not attached")):
        with pytest.raises(HttpError, match=words):
            act(kind, droplet_id)
    assert act("attach", 7) == 202 and data["volumes"][vol_id]["droplet_ids"] == [7]
    with pytest.raises(HttpError, match="This volume is already attached"):
        act("attach", 8)
    with pytest.raises(HttpError, match="not attached to droplet 8"):
        act("detach", 8)
    assert act("detach", 7) == 202 and data["volumes"][vol_id]["droplet_ids"] == []
    volumes.files(data, vol_id)["note"] = "on the filesystem, not in the API's view"
    assert "sim" not in volumes.list_volumes(1)(data, 0.0)[1]["volumes"][0]
