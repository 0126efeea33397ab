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

A pod that mounts a claim (spec.volumes[].persistentVolumeClaim) is scheduled only once the
claim is Bound (the scheduler's VolumeBinding plugin: "pod has unbound immediate
PersistentVolumeClaims") and runs only once the claim's volume is attached to its node's
droplet: the attach/detach controller and csi-attacher have the driver's
ControllerPublishVolume attach it (POST /v2/volumes/{id}/actions, type attach; the CSIDriver
says attachRequired), one droplet at a time (a second node's pod waits), and detach it
(ControllerUnpublishVolume) once no pod on that node mounts it; a deleted claim's volume is
deleted only after that (the API refuses an attached one). What the pod writes there with
``kubectl exec -i POD -- tee PATH`` and reads with ``kubectl exec POD -- cat PATH`` lives on
the volume in the simulated account (volumes.files), as busybox's tee and cat answer: the
volume's root belongs to root, group-writable by the pod's fsGroup (the kubelet's
SetVolumeOwnership, which CSIDriver's default fsGroupPolicy ReadWriteOnceWithFSType applies to
a volume with an fsType: csi-provisioner's --default-fstype), so a non-root pod without an
fsGroup may not write; a readOnly mount refuses writes.
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import KubectlError, key

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


def _flag(controller: dict[str, Any], name: str) -> list[str]:
    """The value of flag NAME (--NAME=VALUE) on the controller's containers, if any."""
    for container in controller["spec"]["template"]["spec"]["containers"]:
        for arg in container.get("args") or []:
            if str(arg).startswith(f"--{name}="):
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
    # what the controllers set on a claim (kept apart: an apply of the claim's manifest merges
    # with it, as kubectl apply's three-way merge keeps fields the manifest never had)
    bound = data.setdefault("pvc_bound", {})
    for gone in [k for k in bound if k not in objects]:
        del bound[gone]
    for claim_key, claim in list(objects.items()):
        if claim["kind"] != "PersistentVolumeClaim":
            continue
        storage_class = _class(data, claim)
        if claim_key in bound or not storage_class or \
                storage_class.get("provisioner") != DRIVER or not droplets:
            continue
        meta = claim["metadata"]
        uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{meta['namespace']}/{meta['name']}"))
        wanted = _bytes(str(claim["spec"]["resources"]["requests"]["storage"])) or GIB
        size = max(1, math.ceil(wanted / GIB))
        name = f"pvc-{uid}"
        fstype = _flag(objects[CONTROLLER], "default-fstype")
        volume = api(volumes.create_volume({
            "name": name, "region": droplets[0]["region"], "size_gigabytes": size,
            "description": "Created by DigitalOcean CSI driver",
            "tags": _flag(objects[CONTROLLER], "do-tag")}))["volume"]
        objects[f"PersistentVolume//{name}"] = {
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"capacity": {"storage": f"{size}Gi"},
                     "accessModes": claim["spec"].get("accessModes") or [],
                     "claimRef": {"namespace": meta["namespace"], "name": meta["name"]},
                     "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy",
                                                                        "Delete"),
                     "storageClassName": storage_class["metadata"]["name"],
                     "csi": {"driver": DRIVER, "volumeHandle": volume["id"],
                             **dict(zip(["fsType"], fstype, strict=False))}},
            "status": {"phase": "Bound"}}
        bound[claim_key] = {"volumeName": name,
                            "storageClassName": storage_class["metadata"]["name"],
                            "storage": f"{size}Gi"}
    _publish(data, pods(), droplets)
    attached = _attachments()
    for pv_key, pv in list(objects.items()):
        if pv["kind"] != "PersistentVolume":
            continue
        ref, handle = pv["spec"]["claimRef"], pv["spec"]["csi"]["volumeHandle"]
        if key("PersistentVolumeClaim", ref["namespace"], ref["name"]) not in objects and \
                pv["spec"].get("persistentVolumeReclaimPolicy") == "Delete" and \
                not attached.get(handle):
            api(volumes.delete_volume(handle))
            del objects[pv_key]


def _attachments() -> dict[str, list[int]]:
    """Each volume's droplet IDs, as the account has them now (read without the lock, which
    a caller may hold: the state file is replaced whole)."""
    account = standin_state.load(Path(os.environ["DOSIM_STATE"]))
    return {v["id"]: list(v["droplet_ids"]) for v in account.get("volumes", {}).values()}


def _claims(spec: dict[str, Any]) -> list[str]:
    """The claims a pod spec mounts (by volume)."""
    return [v["persistentVolumeClaim"]["claimName"] for v in spec.get("volumes") or []
            if v.get("persistentVolumeClaim")]


def _handle(data: dict[str, Any], ns: str, claim: str) -> str | None:
    """The volume ID of claim NS/CLAIM once it is Bound, else None."""
    found = data.get("pvc_bound", {}).get(key("PersistentVolumeClaim", ns, claim))
    pv = data["objects"].get(key("PersistentVolume", "", found["volumeName"])) if found else None
    return str(pv["spec"]["csi"]["volumeHandle"]) if pv else None


def _publish(data: dict[str, Any], pods: list[dict[str, Any]],
             droplets: list[dict[str, Any]]) -> None:
    """Attach each bound claim's volume to the droplet of a node whose pod mounts it, and
    detach it from a droplet where none does (ControllerPublish/UnpublishVolume)."""
    ids = {r["name"]: r["id"] for r in droplets}
    wanted: dict[str, list[int]] = {}
    for pod in pods:
        node = pod["spec"]["nodeName"]
        for claim in _claims(pod["spec"]):
            handle = _handle(data, pod["metadata"]["namespace"], claim)
            if handle and node in ids:
                wanted.setdefault(handle, []).append(ids[node])
    for handle, attached in _attachments().items():
        for droplet_id in attached:
            if droplet_id in ids.values() and droplet_id not in wanted.get(handle, []):
                api(volumes.volume_action(handle, {"type": "detach", "droplet_id": droplet_id}))
                attached = []
        if not attached and wanted.get(handle):
            api(volumes.volume_action(handle, {"type": "attach",
                                               "droplet_id": sorted(wanted[handle])[0]}))


def schedulable(data: dict[str, Any], ns: str, spec: dict[str, Any]) -> bool:
    """Every claim the pod spec mounts is Bound (else the scheduler leaves it Pending)."""
    return all(_handle(data, ns, claim) for claim in _claims(spec))


def attached(data: dict[str, Any], ns: str, spec: dict[str, Any], node: str) -> bool:
    """Every claim's volume is attached to droplet NODE (else the pod is ContainerCreating)."""
    handles = [_handle(data, ns, claim) for claim in _claims(spec)]
    if not handles:
        return True
    account = standin_state.load(Path(os.environ["DOSIM_STATE"]))  # as _attachments
    names = {v["id"]: {account["droplets"][str(i)]["name"] for i in v["droplet_ids"]
                       if str(i) in account["droplets"]}
             for v in account.get("volumes", {}).values()}
    return all(node in names.get(h or "", set()) for h in handles)


def _mount(spec: dict[str, Any], path: str) -> tuple[str, dict[str, Any], str] | None:
    """(claim, volumeMount, path on the volume) for PATH under a mounted claim."""
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"]
              for v in spec.get("volumes") or [] if v.get("persistentVolumeClaim")}
    for container in spec.get("containers") or []:
        for mount in container.get("volumeMounts") or []:
            root = str(mount["mountPath"]).rstrip("/") + "/"
            if mount["name"] in claims and path.startswith(root) and len(path) > len(root):
                return claims[mount["name"]], mount, path[len(root):]
    return None


def _may_write(spec: dict[str, Any]) -> bool:
    """Root, or a member of the volume root's group (fsGroup: the kubelet's chown g+rwx)."""
    context = spec.get("securityContext") or {}
    user = next((c["securityContext"]["runAsUser"] for c in spec.get("containers") or []
                 if "runAsUser" in (c.get("securityContext") or {})),
                context.get("runAsUser", 0))
    return user == 0 or "fsGroup" in context


def exec_file(data: dict[str, Any], ns: str, spec: dict[str, Any], command: list[str],
              stdin: bool) -> tuple[int, str, str]:
    """``tee PATH`` (stdin with -i, else nothing) or ``cat PATH`` on a mounted claim:
    (exit code, stdout, stderr) as busybox and kubectl print them."""
    if len(command) != 2 or command[0] not in ("tee", "cat") or command[1].startswith("-"):
        raise KubectlError(f"error: fake kubectl: only nslookup NAME, tee PATH and cat PATH "
                           f"run in pods, not {command}")
    tool, path = command
    found = _mount(spec, path)
    if found is None:
        raise KubectlError(f"error: fake kubectl: {path} is not on a claim the pod mounts")
    claim, mount, name = found
    handle = _handle(data, ns, claim)
    given = sys.stdin.read() if tool == "tee" and stdin else ""
    with standin_state.locked(Path(os.environ["DOSIM_STATE"])) as account:
        stored = volumes.files(account, str(handle))
        error = ""
        if "/" in name or (tool == "cat" and name not in stored):
            error = f"can't open '{path}'" if tool == "cat" else path
            error += ": No such file or directory"
        elif tool == "tee" and mount.get("readOnly"):
            error = f"{path}: Read-only file system"
        elif tool == "tee" and not _may_write(spec):
            error = f"{path}: Permission denied"
        elif tool == "tee":
            stored[name] = given
        if error:  # tee still copies its input to stdout
            return 1, given, f"{tool}: {error}\ncommand terminated with exit code 1\n"
        return 0, stored[name], ""


def view(data: dict[str, Any], claim_key: str, claim: dict[str, Any]) -> dict[str, Any]:
    """The claim as the apiserver returns it: bound (volumeName, capacity) or Pending."""
    found = data.get("pvc_bound", {}).get(claim_key)
    if found is None:
        claim["status"] = {"phase": "Pending"}
        return claim
    claim["spec"] |= {"volumeName": found["volumeName"],
                      "storageClassName": found["storageClassName"]}
    claim["status"] = {"phase": "Bound", "accessModes": claim["spec"].get("accessModes") or [],
                       "capacity": {"storage": found["storage"]}}
    return claim
