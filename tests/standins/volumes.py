"""Block storage volumes as the in-cluster add-ons (csi-digitalocean) create them, and
``doctl compute volume list|delete`` (doctl commands/volumes.go) that make destroy, plan and
status use. Strict and stateful like the rest of the stand-in:

- Fields: godo ``Volume`` (id, region, droplet_ids, name, description, size_gigabytes,
  created_at, filesystem_type, filesystem_label, tags). Create is ``POST /v2/volumes``
  (``create_volume``: what csi-digitalocean's CreateVolume sends, with its ``--do-tag``,
  cmd/do-csi-plugin/main.go "Tag DigitalOcean volumes on Create/Attach"), list
  ``GET /v2/volumes``, delete ``DELETE /v2/volumes/{id}`` (204).
- An attached volume cannot be deleted (the API reference: "the volume must not be attached
  to a Droplet"; its exact text is not published: ``(dosim)``). Deleting a droplet detaches
  its volumes (service._remove).
- Attach and detach are ``POST /v2/volumes/{id}/actions`` with ``type`` attach|detach and
  ``droplet_id`` (``volume_action``: csi-digitalocean's ControllerPublishVolume and
  ControllerUnpublishVolume call godo's StorageActions Attach and DetachByDropletID): the
  droplet must exist in the volume's region; a volume is attached to one droplet at a time
  (422 "This volume is already attached", the text the driver matches on a retry); detaching
  it from a droplet it is not attached to is a 422 too.
- What a pod writes on the volume's filesystem is kept with the volume (``sim.files``, never
  in a view), so it goes when the volume is deleted and nowhere else.
- Text columns: doctl commands/displayers/volume.go (ID, Name, Size, Region, Filesystem Type,
  Filesystem Label, Droplet IDs, Tags).
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

from . import catalog, model
from .api import NOT_FOUND, Handler, HttpError
from .cli import Cmd, Flag
from .output import Displayable

# Volume names: "lowercase ... letters, numbers and '-', up to 64 characters, beginning with a
# letter" (the Terraform provider's digitalocean_volume reference, generated from the API's).
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
_doctl: ModuleType | None = None


def _volumes(data: dict[str, Any]) -> dict[str, Any]:
    volumes: dict[str, Any] = data.setdefault("volumes", {})
    return volumes


def _view(vol: dict[str, Any]) -> dict[str, Any]:
    return {**{k: v for k, v in vol.items() if k not in ("region", "sim")},
            "region": catalog.region_object(vol["region"])}


def create_volume(req: dict[str, Any]) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        name = req.get("name") or ""
        if not NAME_RE.match(name):
            raise HttpError(422, f"(dosim) invalid volume name {name!r}")
        if req.get("region") not in catalog.REGIONS:
            raise HttpError(422, f"(dosim) region {req.get('region')!r} is not available")
        size = req.get("size_gigabytes")
        if not isinstance(size, int) or not 1 <= size <= 16384:
            raise HttpError(422, "(dosim) size_gigabytes must be from 1 to 16384")
        if any(v["name"] == name and v["region"] == req["region"]
               for v in _volumes(data).values()):
            raise HttpError(409, "(dosim) a volume with that name already exists in the region")
        for tag in req.get("tags") or []:
            if tag not in data["tags"]:
                data["tags"].append(tag)
        vol = {"id": model.new_uuid(), "name": name, "region": req["region"],
               "size_gigabytes": size, "description": req.get("description", ""),
               "droplet_ids": [], "created_at": model.iso(now),
               "filesystem_type": req.get("filesystem_type", ""), "filesystem_label": "",
               "tags": list(req.get("tags") or [])}
        _volumes(data)[vol["id"]] = vol
        return 201, {"volume": _view(vol)}

    return handle


def list_volumes(page: int) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        items = list(_volumes(data).values())
        return 200, {"volumes": [_view(v) for v in items] if page == 1 else [],
                     "links": {}, "meta": {"total": len(items)}}

    return handle


def delete_volume(volume_id: str) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        vol = _volumes(data).get(volume_id)
        if vol is None:
            raise HttpError(404, NOT_FOUND)
        if vol["droplet_ids"]:
            raise HttpError(409, "(dosim) the volume is attached to a droplet: detach it first")
        del _volumes(data)[volume_id]
        return 204, None

    return handle


def volume_action(volume_id: str, req: dict[str, Any]) -> Handler:
    """Attach or detach (REQ: type, droplet_id) as the API does it; 202 and the action."""
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        vol = _volumes(data).get(volume_id)
        if vol is None:
            raise HttpError(404, NOT_FOUND)
        kind, droplet_id = req.get("type"), req.get("droplet_id")
        if kind not in ("attach", "detach"):
            raise HttpError(422, f"(dosim) action type {kind!r} is not attach or detach")
        droplet = data["droplets"].get(str(droplet_id))
        if droplet is None or droplet["region"] != vol["region"]:
            raise HttpError(422, f"(dosim) droplet {droplet_id} does not exist in region "
                                 f"{vol['region']}")
        if kind == "attach":
            if vol["droplet_ids"]:
                raise HttpError(422, "This volume is already attached")
            vol["droplet_ids"] = [droplet_id]
        else:
            if droplet_id not in vol["droplet_ids"]:
                raise HttpError(422, f"(dosim) the volume is not attached to droplet "
                                     f"{droplet_id}")
            vol["droplet_ids"] = []
        action_id = data["next_id"]["action"]  # the account's action IDs (service._next_id)
        data["next_id"]["action"] = action_id + 1
        data["actions"][str(action_id)] = {
            "id": action_id, "type": f"{kind}_volume", "resource_id": droplet_id,
            "region": vol["region"], "started": now, "completes_at": now}
        return 202, {"action": {**model.action_view(data["actions"][str(action_id)], now),
                                "resource_type": "volume"}}

    return handle


def files(data: dict[str, Any], volume_id: str) -> dict[str, str]:
    """The files on volume VOLUME_ID's filesystem (path relative to its root: content)."""
    found: dict[str, str] = _volumes(data)[volume_id].setdefault("sim", {}).setdefault(
        "files", {})
    return found


def detach_all(data: dict[str, Any], droplet_id: int) -> None:
    """A deleted droplet's volumes are detached (they stay, and stay billed)."""
    for vol in _volumes(data).values():
        vol["droplet_ids"] = [i for i in vol["droplet_ids"] if i != droplet_id]


def volumes_display(items: list[dict[str, Any]]) -> Displayable:
    cols = ["ID", "Name", "Size", "Region", "Filesystem Type", "Filesystem Label",
            "DropletIDs", "Tags"]
    headers = {c: c for c in cols} | {"DropletIDs": "Droplet IDs"}

    def kv(v: dict[str, Any]) -> dict[str, Any]:
        return {"ID": v["id"], "Name": v["name"], "Size": f"{v['size_gigabytes']} GiB",
                "Region": v["region"]["slug"], "Filesystem Type": v["filesystem_type"],
                "Filesystem Label": v["filesystem_label"],
                "DropletIDs": ",".join(str(i) for i in v["droplet_ids"]),
                "Tags": ",".join(v.get("tags") or [])}

    return Displayable(items, cols, headers, kv)


def run_list(ctx: Any) -> int:
    assert _doctl is not None
    ctx.display(volumes_display(_doctl.paginate(ctx, "v2/volumes", "GET /v2/volumes", "volumes",
                                                list_volumes)))
    return 0


def run_delete(ctx: Any) -> int:
    assert _doctl is not None
    volume_id = _doctl.ensure_one_arg(ctx.parsed)
    if not (ctx.parsed.get("force") or _doctl.confirm("delete this volume?")):
        raise _doctl.CmdError("Operation aborted.")
    ctx.client.request("DELETE", f"v2/volumes/{volume_id}", "DELETE /v2/volumes/{id}",
                       delete_volume(volume_id))
    return 0


def add_commands(compute: Cmd, display_flags: list[Flag], doctl: ModuleType) -> None:
    global _doctl
    _doctl = doctl
    vol = compute.add(Cmd("volume", "Display commands to manage block storage volumes"))
    vol.add(Cmd("list", "List block storage volumes by ID", aliases=("ls",),
                flags=list(display_flags), run=run_list))
    vol.add(Cmd("delete", "Delete a block storage volume", aliases=("rm",),
                use="<volume-id>", flags=[Flag("force", "f", kind="bool")], run=run_delete))
