"""``doctl compute image create|get|list|delete`` and the custom-image import behind them.

Sources: doctl commands/images.go (``create <image-name>`` with required ``--image-url`` and
``--region``, ``--image-distribution`` default ``Unknown``, ``--image-description``,
``--tag-names``; ``get <image-id|image-slug>``; ``list`` keeps the private images and prints a
notice when there are none), godo images.go (the ``Image`` fields, ``POST /v2/images``,
``GET /v2/images/{id}``), the API spec (digitalocean/openapi
specification/resources/images: create answers 202 with status ``NEW``; status is one of
``NEW``, ``available``, ``pending``, ``deleted``, ``retired``) and terraform-provider-digitalocean
resource_digitalocean_custom_image.go (an import that fails ends as ``deleted`` with an
``error_message``; ``NEW`` and ``pending`` are the waiting states).

Simulated timing: every ``GET /v2/images/{id}`` of an importing image is one poll; the first
``image_polls - 1`` polls (knob, default 3) answer ``pending``, then ``available`` -- or, when the
URL matches a glob in the knob ``image_fail_url``, ``deleted`` with an error message.
"""

from __future__ import annotations

import fnmatch
import sys
from types import ModuleType
from typing import Any

from . import catalog, model
from . import state as st
from .api import NOT_FOUND, Handler, HttpError
from .cli import Cmd, Flag
from .output import Displayable

# terraform-provider-digitalocean validImageDistributions (the API's distribution enum).
DISTRIBUTIONS = ("Arch Linux", "CentOS", "CoreOS", "Debian", "Fedora", "Fedora Atomic",
                 "FreeBSD", "Gentoo", "openSUSE", "RancherOS", "Ubuntu", "Unknown")
FIRST_IMAGE_ID = 170000001
_doctl: ModuleType | None = None


def _d() -> ModuleType:
    assert _doctl is not None, "add_commands() sets the doctl module"
    return _doctl


# --- the API side -------------------------------------------------------------------------

def _images(data: dict[str, Any]) -> dict[str, Any]:
    return data.setdefault("images", {})


# godo's Image fields in declaration order; every one is ``omitempty``, so doctl's JSON leaves
# out false, 0, "" and [] (a pending image has no "regions", an available one no "error_message").
GODO_FIELDS = ("id", "name", "type", "distribution", "slug", "public", "regions", "min_disk_size",
               "size_gigabytes", "created_at", "description", "tags", "status", "error_message")


def view(rec: dict[str, Any]) -> dict[str, Any]:
    """The image as doctl prints it (``sim`` is the stand-in's own bookkeeping)."""
    return {k: rec[k] for k in GODO_FIELDS if rec.get(k) not in (None, False, 0, "", [])}


def create_image(req: dict[str, Any]) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        url = req["url"]
        if not req["name"]:
            raise HttpError(422, "(dosim) name is required")
        if not url.startswith(("http://", "https://")) or len(url) < 12:
            raise HttpError(422, f"(dosim) url {url!r} is not a valid http(s) URL")
        if req["region"] not in catalog.REGIONS:
            raise HttpError(422, "(dosim) region is not a valid region slug")
        if req["distribution"] not in DISTRIBUTIONS:
            raise HttpError(422, f"(dosim) distribution {req['distribution']!r} is not one of: "
                                 f"{', '.join(DISTRIBUTIONS)}")
        counters = data["next_id"]
        image_id = counters.setdefault("image", FIRST_IMAGE_ID)
        counters["image"] = image_id + 1
        for tag in req["tags"]:
            if tag not in data["tags"]:
                data["tags"].append(tag)
        fail_globs = st.knob(data, "image_fail_url", "", str)
        rec = {
            "id": image_id, "name": req["name"], "type": "custom",
            "distribution": req["distribution"], "public": False, "regions": [],
            "created_at": model.iso(now), "description": req["description"],
            "tags": list(req["tags"]), "status": "NEW", "error_message": "",
            "sim": {"url": url, "region": req["region"], "polls": 0,
                    "polls_needed": max(1, st.knob(data, "image_polls", 3, int)),
                    "fails": any(fnmatch.fnmatch(url, g) for g in fail_globs.split(",") if g)},
        }
        _images(data)[str(image_id)] = rec
        return 202, {"image": view(rec)}

    return handle


def _advance(rec: dict[str, Any]) -> None:
    sim = rec["sim"]
    if rec["status"] not in ("NEW", "pending"):
        return
    sim["polls"] += 1
    if sim["polls"] < sim["polls_needed"]:
        rec["status"] = "pending"
    elif sim["fails"]:
        rec["status"] = "deleted"
        rec["error_message"] = (f"(dosim) the image could not be retrieved from {sim['url']}: "
                                "the server answered 404 Not Found")
    else:
        rec.update(status="available", regions=[sim["region"]], min_disk_size=15,
                   size_gigabytes=2.87)


def get_image(ident: str) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        rec = _images(data).get(ident)
        if rec is not None:
            _advance(rec)
            return 200, {"image": view(rec)}
        extra = data["config"].get("images") or {}
        if ident.isdigit() and ident not in extra:
            raise HttpError(404, NOT_FOUND)
        image = catalog.image_object(ident, extra)
        if image is None:
            raise HttpError(404, NOT_FOUND)
        return 200, {"image": image}

    return handle


def delete_image(ident: str) -> Handler:
    """``DELETE /v2/images/{id}``: 204; the image is gone (a GET answers 404, a droplet create
    from it is refused as an invalid image)."""
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        if _images(data).pop(ident, None) is None:
            raise HttpError(404, NOT_FOUND)
        return 204, None

    return handle


def list_images(page: int) -> Handler:
    """``GET /v2/images``: the account's custom images (public ones are not simulated)."""
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        recs = [view(r) for _, r in sorted(_images(data).items()) if r["status"] != "deleted"]
        return 200, {"images": recs, "links": {"pages": {}}, "meta": {"total": len(recs)}}

    return handle


def image_for_droplet(data: dict[str, Any], image: str) -> dict[str, Any] | None:
    """An imported image a droplet may boot from; 422 while it is not available."""
    rec = _images(data).get(image)
    if rec is None:
        return None
    if rec["status"] != "available":
        raise HttpError(422, f"(dosim) image {image} is {rec['status']}, not available")
    return {k: rec[k] for k in ("id", "name", "distribution", "public", "regions", "type",
                                "status")} | {"slug": ""}


# --- doctl commands (displayers/image.go) -------------------------------------------------

def images_display(items: list[dict[str, Any]]) -> Displayable:
    return Displayable(
        items, ["ID", "Name", "Type", "Distribution", "Slug", "Public", "MinDisk"],
        {"ID": "ID", "Name": "Name", "Type": "Type", "Distribution": "Distribution",
         "Slug": "Slug", "Public": "Public", "MinDisk": "Min Disk"},
        lambda i: {"ID": i["id"], "Name": i.get("name", ""), "Type": i.get("type", ""),
                   "Distribution": i.get("distribution", ""), "Slug": i.get("slug", ""),
                   "Public": i.get("public", False), "MinDisk": i.get("min_disk_size", 0)})


def run_create(ctx: Any) -> int:
    p = ctx.parsed
    if len(p.args) != 1:
        raise _d().CmdError(f"({p.cmd.ns()}.image-name) command is missing required arguments")
    req = {"name": p.args[0], "url": p.get("image-url"), "region": p.get("region"),
           "distribution": p.get("image-distribution") or "Unknown",
           "description": p.get("image-description"), "tags": list(p.get("tag-names"))}
    body = ctx.client.request("POST", "v2/images", "POST /v2/images", create_image(req))
    ctx.display(images_display([body["image"]]))
    return 0


def run_get(ctx: Any) -> int:
    ident = _d().ensure_one_arg(ctx.parsed)
    if ident.lstrip("+-").isdigit() and int(ident) < 1:
        raise _d().CmdError("imageID cannot be less than 1")
    body = ctx.client.request("GET", f"v2/images/{ident}", "GET /v2/images/{id}",
                              get_image(ident))
    ctx.display(images_display([body["image"]]))
    return 0


def run_delete(ctx: Any) -> int:
    """doctl images.go RunImagesDelete: <image-id>, confirmation unless --force."""
    ident = _d().ensure_one_arg(ctx.parsed)
    if not ident.isdigit():
        raise _d().CmdError(f'strconv.Atoi: parsing "{ident}": invalid syntax')
    if not (ctx.parsed.get("force") or _d().confirm("delete this image?")):
        raise _d().CmdError("Operation aborted.")
    ctx.client.request("DELETE", f"v2/images/{ident}", "DELETE /v2/images/{id}",
                       delete_image(ident))
    return 0


def run_list(ctx: Any) -> int:
    if ctx.parsed.get("public"):
        raise _d().CmdError("(dosim) listing public images is not simulated")
    images = _d().paginate(ctx, "v2/images", "GET /v2/images", "images", list_images)
    if not images:
        sys.stderr.write("Notice: Listing private images. Use '--public' to include all images.\n")
    ctx.display(images_display(images))
    return 0


def add_commands(compute: Cmd, display_flags: list[Flag], doctl: ModuleType) -> None:
    global _doctl
    _doctl = doctl
    image = compute.add(Cmd("image", "Display commands to manage images"))
    image.add(Cmd("create", "Create custom image", use="<image-name>", run=run_create, flags=[
        Flag("image-url", required=True), Flag("region", required=True),
        Flag("image-distribution"), Flag("image-description"),
        Flag("tag-names", kind="slice"), *display_flags]))
    image.add(Cmd("get", "Retrieve information about an image",
                  use="<image-id|image-slug>", flags=list(display_flags), run=run_get))
    image.add(Cmd("delete", "Permanently delete an image from your account",
                  use="<image-id>", aliases=("rm",), run=run_delete,
                  flags=[Flag("force", "f", kind="bool")]))
    image.add(Cmd("list", "List images on your account", aliases=("ls",),
                  flags=[Flag("public", kind="bool"), *display_flags], run=run_list))
