"""DigitalOcean's CSI driver as the current kubectl stand-in models it (issue 21).

A PersistentVolumeClaim of a StorageClass whose provisioner is the driver
(dobs.csi.digitalocean.com; no storageClassName: the class annotated
storageclass.kubernetes.io/is-default-class) is bound only as csi-provisioner and the driver's
controller plugin would bind it: once the controller StatefulSet kube-system/csi-do-controller
and the Secret kube-system/digitalocean (its token) exist and its pod runs. Then a volume
appears in the simulated account as the driver's CreateVolume makes it (POST /v2/volumes:
name = the PersistentVolume's, csi-provisioner's "pvc-" + the claim's UID; size in GiB rounded
up, at least 1 GiB; the region of the droplets it runs on, from their metadata; tags: its
--do-tag) and a PersistentVolume bound to the claim. Until then the claim stays Pending. A
claim deleted takes its volume with it (the classes' reclaimPolicy Delete); a class with
Retain keeps both.
"""

from __future__ import annotations

import math
import os
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.standins import state as standin_state
from tests.standins import volumes

DRIVER = "dobs.csi.digitalocean.com"
CONTROLLER = "StatefulSet/kube-system/csi-do-controller"
SECRET = "Secret/kube-system/digitalocean"
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
GIB = 1024**3
UNITS = {"": 1, "k": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4,
         "Ki": 1024, "Mi": 1024**2, "Gi": GIB, "Ti": 1024**4}


def _bytes(quantity: str) -> int | None:
    match = re.fullmatch(r"(\d+)([kMGT]i?|Ki)?", quantity)
    return int(match[1]) * UNITS[match[2] or ""] if match else None


def _class(data: dict[str, Any], claim: dict[str, Any]) -> dict[str, Any] | None:
    classes = [o for o in data["objects"].values() if o["kind"] == "StorageClass"]
    name = claim["spec"].get("storageClassName")
    if name is None:
        return next((c for c in classes if (c["metadata"].get("annotations") or {})
                     .get(DEFAULT_CLASS) == "true"), None)
    return next((c for c in classes if c["metadata"]["name"] == name), None)


def _do_tag(controller: dict[str, Any]) -> list[str]:
    for container in controller["spec"]["template"]["spec"]["containers"]:
        for arg in container.get("args") or []:
            if str(arg).startswith("--do-tag="):
                return [str(arg).split("=", 1)[1]]
    return []


def api(handler: Any) -> Any:
    """One call on the simulated account (the driver's godo client)."""
    with standin_state.locked(Path(os.environ["DOSIM_STATE"])) as account:
        return handler(account, time.time())[1]


def reconcile(data: dict[str, Any], pods: Callable[[], list[dict[str, Any]]],
              droplets: list[dict[str, Any]]) -> None:
    """Provision the claims the driver would, and delete the volumes of deleted claims (PODS:
    the pods now, asked only when there are claims or volumes)."""
    objects = data["objects"]
    if CONTROLLER not in objects or SECRET not in objects or not any(
            o["kind"] in ("PersistentVolumeClaim", "PersistentVolume") for o in objects.values()):
        return
    if not any(p["metadata"]["name"] == "csi-do-controller-0" and
               p["status"]["phase"] == "Running" for p in pods()):
        return
    for key, pv in list(objects.items()):
        if pv["kind"] != "PersistentVolume":
            continue
        ref = pv["spec"]["claimRef"]
        if f"PersistentVolumeClaim/{ref['namespace']}/{ref['name']}" not in objects and \
                pv["spec"].get("persistentVolumeReclaimPolicy") == "Delete":
            api(volumes.delete_volume(pv["spec"]["csi"]["volumeHandle"]))
            del objects[key]
    # what the controllers set on a claim (kept apart: an apply of the claim's manifest merges
    # with it, as kubectl apply's three-way merge keeps fields the manifest never had)
    bound = data.setdefault("pvc_bound", {})
    for key in [k for k in bound if k not in objects]:
        del bound[key]
    for key, claim in list(objects.items()):
        if claim["kind"] != "PersistentVolumeClaim":
            continue
        storage_class = _class(data, claim)
        if key in bound or not storage_class or \
                storage_class.get("provisioner") != DRIVER or not droplets:
            continue
        meta = claim["metadata"]
        uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{meta['namespace']}/{meta['name']}"))
        wanted = _bytes(str(claim["spec"]["resources"]["requests"]["storage"])) or GIB
        size = max(1, math.ceil(wanted / GIB))
        name = f"pvc-{uid}"
        volume = api(volumes.create_volume({
            "name": name, "region": droplets[0]["region"], "size_gigabytes": size,
            "description": "Created by DigitalOcean CSI driver",
            "tags": _do_tag(objects[CONTROLLER])}))["volume"]
        objects[f"PersistentVolume//{name}"] = {
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"capacity": {"storage": f"{size}Gi"},
                     "accessModes": claim["spec"].get("accessModes") or [],
                     "claimRef": {"namespace": meta["namespace"], "name": meta["name"]},
                     "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy",
                                                                        "Delete"),
                     "storageClassName": storage_class["metadata"]["name"],
                     "csi": {"driver": DRIVER, "volumeHandle": volume["id"]}},
            "status": {"phase": "Bound"}}
        bound[key] = {"volumeName": name, "storageClassName": storage_class["metadata"]["name"],
                      "storage": f"{size}Gi"}


def view(data: dict[str, Any], key: str, claim: dict[str, Any]) -> dict[str, Any]:
    """The claim as the apiserver returns it: bound (volumeName, capacity) or Pending."""
    found = data.get("pvc_bound", {}).get(key)
    if found is None:
        claim["status"] = {"phase": "Pending"}
        return claim
    claim["spec"] |= {"volumeName": found["volumeName"],
                      "storageClassName": found["storageClassName"]}
    claim["status"] = {"phase": "Bound", "accessModes": claim["spec"].get("accessModes") or [],
                       "capacity": {"storage": found["storage"]}}
    return claim
