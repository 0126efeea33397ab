"""``doctl`` stand-in entry point: ``python -m tests.standins.doctl ARGS``.

Mirrors doctl v1 (commands/*.go): cobra-level errors exit 255 (commands/doit.go
``Execute`` calls ``os.Exit(-1)``), command errors exit 1 via ``checkErr`` with
``Error: ...`` on stderr, or ``{"errors":[{"detail":...}]}`` on stdout with ``-o json``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import cli, doctlauth, firewalls, images, loadbalancers, model, service, volumes
from . import state as st
from .api import ApiError, Client
from .cli import Cmd, Flag, Parsed
from .output import Displayable, DisplayError, go_json, render
from .ruleargs import RuleError

VERSION = "1.146.0-dosim"
TOKEN_ERROR = ("Unable to initialize DigitalOcean API client: access token is required. "
               "(hint: run 'doctl auth init')")


class CmdError(Exception):
    """An error ``checkErr`` reports: exit 1."""


class Ctx:
    def __init__(self, parsed: Parsed, client: Client, state_file: Path) -> None:
        self.parsed = parsed
        self.client = client
        self.state_file = state_file

    @property
    def output(self) -> str:
        return str(self.parsed.get("output"))

    def display(self, d: Displayable) -> None:
        fmt = self.parsed.values.get("format", "")
        no_header = bool(self.parsed.values.get("no-header", False))
        try:
            sys.stdout.write(render(d, self.output, fmt, no_header))
        except DisplayError as exc:
            raise CmdError(str(exc)) from None
        sys.stdout.flush()


# --- displayers (commands/displayers/*.go) -------------------------------------------------

def _ip(item: dict[str, Any], family: str, kind: str) -> str:
    for net in item.get("networks", {}).get(family, []):
        if net.get("type") == kind:
            return str(net.get("ip_address", ""))
    return ""


def _droplet_kv(d: dict[str, Any]) -> dict[str, Any]:
    image = d.get("image", {})
    return {
        "ID": d.get("id"), "Name": d.get("name", ""),
        "PublicIPv4": _ip(d, "v4", "public"), "PrivateIPv4": _ip(d, "v4", "private"),
        "PublicIPv6": _ip(d, "v6", "public"),
        "Memory": d.get("memory", 0), "VCPUs": d.get("vcpus", 0), "Disk": d.get("disk", 0),
        "Region": d.get("region", {}).get("slug", ""),
        "Image": f"{image.get('distribution', '')} {image.get('name', '')}",
        "VPCUUID": d.get("vpc_uuid", ""), "Status": d.get("status", ""),
        "Tags": ",".join(sorted(d.get("tags", []))), "Features": ",".join(d.get("features", [])),
        "Volumes": ",".join(d.get("volume_ids") or []), "SizeSlug": d.get("size_slug", ""),
    }


def droplets_display(items: list[dict[str, Any]]) -> Displayable:
    cols = ["ID", "Name", "PublicIPv4", "PrivateIPv4", "PublicIPv6", "Memory", "VCPUs", "Disk",
            "Region", "Image", "VPCUUID", "Status", "Tags", "Features", "Volumes"]
    headers = {"ID": "ID", "Name": "Name", "PublicIPv4": "Public IPv4",
               "PrivateIPv4": "Private IPv4", "PublicIPv6": "Public IPv6", "Memory": "Memory",
               "VCPUs": "VCPUs", "Disk": "Disk", "Region": "Region", "Image": "Image",
               "VPCUUID": "VPC UUID", "Status": "Status", "Tags": "Tags", "Features": "Features",
               "Volumes": "Volumes", "SizeSlug": "Size Slug"}
    return Displayable(items, cols, headers, _droplet_kv)


def keys_display(items: list[dict[str, Any]], *, with_public: bool = False) -> Displayable:
    cols = ["ID", "Name", "FingerPrint"] + (["PublicKey"] if with_public else [])
    headers = {"ID": "ID", "Name": "Name", "FingerPrint": "FingerPrint"}
    if with_public:
        headers["PublicKey"] = "Public Key"
    return Displayable(items, cols, headers, lambda k: {
        "ID": k["id"], "Name": k["name"], "FingerPrint": k["fingerprint"],
        "PublicKey": k["public_key"]})


def tags_display(items: list[dict[str, Any]]) -> Displayable:
    return Displayable(items, ["Name", "DropletCount"],
                       {"Name": "Name", "DropletCount": "Droplet Count"},
                       lambda t: {"Name": t["name"],
                                  "DropletCount": t["resources"]["droplets"]["count"]})


# --- API helpers ------------------------------------------------------------------------------

def paginate(ctx: Ctx, path: str, kind: str, key: str,
             handler: Callable[[int], service.Handler]) -> list[dict[str, Any]]:
    """do/pagination.go: page 1, then the rest; errors on later pages are dropped silently."""
    sep = "&" if "?" in path else "?"
    first = ctx.client.request("GET", f"{path}{sep}page=1&per_page={service.PER_PAGE}", kind,
                               handler(1))
    items = list(first[key])
    last_url = first.get("links", {}).get("pages", {}).get("last", "")
    last = int(last_url.split("page=")[1].split("&")[0]) if last_url else 1
    for page in range(2, last + 1):
        try:
            body = ctx.client.request(
                "GET", f"{path}{sep}page={page}&per_page={service.PER_PAGE}", kind, handler(page))
        except ApiError:
            continue
        items.extend(body[key])
    return items


def list_droplets(ctx: Ctx, tag: str = "") -> list[dict[str, Any]]:
    path = f"v2/droplets?tag_name={tag}" if tag else "v2/droplets"
    return paginate(ctx, path, "GET /v2/droplets", "droplets",
                    lambda page: service.list_droplets(page, tag or None))


def get_droplet(ctx: Ctx, droplet_id: int) -> dict[str, Any]:
    body = ctx.client.request("GET", f"v2/droplets/{droplet_id}", "GET /v2/droplets/{id}",
                              service.get_droplet(droplet_id))
    return body["droplet"]


def missing_args(cmd: Cmd) -> CmdError:
    return CmdError(f"({cmd.ns()}) command is missing required arguments")


def ensure_one_arg(p: Parsed) -> str:
    if not p.args:
        raise missing_args(p.cmd)
    if len(p.args) > 1:
        raise CmdError(f"({p.cmd.ns()}) command contains unsupported arguments")
    return p.args[0]


def go_quote(text: str) -> str:
    return go_json(text, indent=False)


def match_droplets(ctx: Ctx, idents: list[str]) -> list[int]:
    """commands/droplets.go matchDroplets: all-numeric args are IDs, else one List call."""
    if all(_is_int(i) for i in idents):
        return list(dict.fromkeys(int(i) for i in idents))
    droplets = list_droplets(ctx)
    by_name: dict[str, list[int]] = {}
    for d in droplets:
        by_name.setdefault(d["name"], []).append(d["id"])
    matched: set[int] = set()
    for ident in idents:
        ids = by_name.get(ident, [])
        if len(ids) > 1:
            raise CmdError(
                f"There are {len(ids)} Droplets with the name {go_quote(ident)}; please provide "
                f"a specific Droplet ID. [{', '.join(str(i) for i in ids)}]")
        if _is_int(ident):
            matched.add(int(ident))
        elif not ids:
            raise CmdError(f"Droplet with the name {go_quote(ident)} could not be found.")
        else:
            matched.add(ids[-1])
    return sorted(matched)


def _is_int(text: str) -> bool:
    return text.lstrip("+-").isdigit()


def confirm(message: str) -> bool:
    """commands/confirmation.go: prompt on stderr; anything but y/ye/yes (or EOF) declines."""
    sys.stderr.write(f"Warning: Are you sure you want to {message} (y/N) ? ")
    sys.stderr.flush()
    line = sys.stdin.readline() if sys.stdin and not sys.stdin.closed else ""
    if not line.endswith("\n"):
        return False
    return line.rstrip("\r\n").lower() in ("y", "ye", "yes")


# --- droplet commands -------------------------------------------------------------------------

def run_droplet_create(ctx: Ctx) -> int:
    p = ctx.parsed
    if not p.args:
        raise missing_args(p.cmd)
    user_data = p.get("user-data")
    if not user_data and p.get("user-data-file"):
        path = p.get("user-data-file")
        try:
            user_data = Path(path).read_text()
        except FileNotFoundError:
            raise CmdError(f"open {path}: no such file or directory") from None
        except OSError as exc:
            raise CmdError(f"open {path}: {exc.strerror.lower()}") from None
    ssh_keys: list[int | str] = []
    for k in p.get("ssh-keys"):
        if _is_int(k):
            if int(k) > 0:
                ssh_keys.append(int(k))
        elif k:
            ssh_keys.append(k)
    tags = list(p.get("tag-names")) + ([p.get("tag-name")] if p.get("tag-name") else [])
    image = p.get("image")
    base = {
        "region": p.get("region"), "size": p.get("size"),
        "image": int(image) if _is_int(image) else image,
        "ssh_keys": ssh_keys, "backups": p.get("enable-backups"), "ipv6": p.get("enable-ipv6"),
        "private_networking": p.get("enable-private-networking"),
        "monitoring": p.get("enable-monitoring"), "user_data": user_data,
        "tags": tags, "vpc_uuid": p.get("vpc-uuid"),
    }
    created: list[tuple[dict[str, Any], int | None]] = []
    errors: list[ApiError] = []
    # doctl sends one POST per name (goroutines); one failure does not stop the others.
    for name in p.args:
        req = {**base, "name": name}
        try:
            body = ctx.client.request("POST", "v2/droplets", "POST /v2/droplets",
                                      service.create_droplet(req, ctx.state_file))
        except ApiError as exc:
            errors.append(exc)
            continue
        action = next((a["id"] for a in body["links"]["actions"] if a["rel"] == "create"), None)
        created.append((body["droplet"], action))
    if p.get("wait"):
        created = wait_for_active(ctx, created)
    if errors:
        raise CmdError(str(errors[0]))
    ctx.display(droplets_display([model.godo_view(d) for d, _ in created]))
    return 0


def wait_for_active(
    ctx: Ctx, created: list[tuple[dict[str, Any], int | None]]
) -> list[tuple[dict[str, Any], int | None]]:
    """godo util.WaitForActive on each create action, then one droplet GET each.

    godo polls the action URI every 5 s; the stand-in polls every DOSIM_POLL_SECONDS
    (default 0.2).  Up to 3 consecutive poll errors are retried at once; after that godo
    gives up and doctl ignores the error (``_ = util.WaitForActive``) and GETs the droplet.
    """
    poll = float(os.environ.get("DOSIM_POLL_SECONDS", "0.2") or 0.2)
    pending = {aid: 0 for _, aid in created if aid is not None}
    while pending:
        for aid in list(pending):
            try:
                body = ctx.client.request("GET", f"v2/actions/{aid}", "GET /v2/actions/{id}",
                                          service.get_action(aid))
            except ApiError:
                pending[aid] += 1
                if pending[aid] > 3:
                    del pending[aid]
                continue
            status = body["action"]["status"]
            if status == "completed" or status != "in-progress":
                del pending[aid]
        if pending:
            time.sleep(poll)
    out = []
    for droplet, aid in created:
        if aid is None:
            out.append((droplet, aid))
            continue
        out.append((get_droplet(ctx, droplet["id"]), aid))
    return out


_TEMPLATE_FIELDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "ID": lambda d: d["id"], "Name": lambda d: d.get("name", ""),
    "Memory": lambda d: d.get("memory", 0), "Vcpus": lambda d: d.get("vcpus", 0),
    "Disk": lambda d: d.get("disk", 0), "Status": lambda d: d.get("status", ""),
    "SizeSlug": lambda d: d.get("size_slug", ""), "VPCUUID": lambda d: d.get("vpc_uuid", ""),
    "Created": lambda d: d.get("created_at", ""),
    "Region.Slug": lambda d: d["region"]["slug"], "Region.Name": lambda d: d["region"]["name"],
    "Image.Slug": lambda d: d["image"].get("slug", ""),
    "Image.Name": lambda d: d["image"].get("name", ""),
    "Image.Distribution": lambda d: d["image"].get("distribution", ""),
    "Tags": lambda d: "[" + " ".join(d.get("tags", [])) + "]",
    "PublicIPv4": lambda d: _ip(d, "v4", "public"),
    "PrivateIPv4": lambda d: _ip(d, "v4", "private"),
    "PublicIPv6": lambda d: _ip(d, "v6", "public"),
}


def go_template(template: str, droplet: dict[str, Any]) -> str:
    """The ``{{.Field}}`` subset of text/template that scripts use with ``--template``."""
    out, rest = [], template
    while "{{" in rest:
        before, _, after = rest.partition("{{")
        expr, closed, rest = after.partition("}}")
        key = expr.strip()
        if not closed or not key.startswith(".") or key[1:] not in _TEMPLATE_FIELDS:
            raise CmdError(f"dosim: template action {{{{{expr}}}}} is not simulated")
        out += [before, str(_TEMPLATE_FIELDS[key[1:]](droplet))]
    return "".join(out) + rest


def run_droplet_get(ctx: Ctx) -> int:
    ident = ensure_one_arg(ctx.parsed)
    for droplet_id in match_droplets(ctx, [ident]):
        droplet = model.godo_view(get_droplet(ctx, droplet_id))
        template = ctx.parsed.get("template")
        if template:
            sys.stdout.write(go_template(template, droplet))
        else:
            ctx.display(droplets_display([droplet]))
        return 0
    return 0


def run_droplet_list(ctx: Ctx) -> int:
    p = ctx.parsed
    droplets = list_droplets(ctx, p.get("tag-name"))
    region = p.get("region")
    keep = [
        d for d in droplets
        if (not p.args or any(model.matches_glob(d["name"], g) for g in p.args))
        and (not region or d["region"]["slug"] == region)
    ]
    ctx.display(droplets_display([model.godo_view(d) for d in keep]))
    return 0


def run_droplet_delete(ctx: Ctx) -> int:
    p = ctx.parsed
    force, tag = p.get("force"), p.get("tag-name")
    if not p.args and not tag:
        raise missing_args(p.cmd)
    if p.args and tag:
        raise CmdError("Please specify Droplet identifier or a tag name.")
    if tag:
        tagged = list_droplets(ctx, tag)
        if not tagged:
            sys.stdout.write(f'Nothing to delete: no Droplets are using the "{tag}" tag\n')
            return 0
        noun = "Droplets" if len(tagged) > 1 else "Droplet"
        ids = " ".join(str(d["id"]) for d in tagged)
        question = f'delete {len(tagged)} {noun} tagged "{tag}"? [affected {noun}: {ids}]'
        if not (force or confirm(question)):
            raise CmdError("Operation aborted.")
        ctx.client.request("DELETE", f"v2/droplets?tag_name={tag}", "DELETE /v2/droplets?tag_name",
                           service.delete_by_tag(tag, ctx.state_file))
        return 0
    question = "delete this Droplet?" if len(p.args) == 1 else f"delete {len(p.args)} Droplets?"
    if not (force or confirm(question)):
        raise CmdError("Operation aborted.")
    for droplet_id in match_droplets(ctx, p.args):
        try:
            ctx.client.request("DELETE", f"v2/droplets/{droplet_id}", "DELETE /v2/droplets/{id}",
                               service.delete_droplet(droplet_id, ctx.state_file))
        except ApiError as exc:
            raise CmdError(f"Unable to delete Droplet {droplet_id}: {exc}") from None
    return 0


# --- sizes (commands/sizes.go, displayers/size.go) ----------------------------------------------

def run_size_list(ctx: Ctx) -> int:
    sizes = paginate(ctx, "v2/sizes", "GET /v2/sizes", "sizes", service.list_sizes)
    ctx.display(Displayable(
        sizes, ["Slug", "Memory", "VCPUs", "Disk", "PriceMonthly", "PriceHourly"],
        {"Slug": "Slug", "Memory": "Memory", "VCPUs": "VCPUs", "Disk": "Disk",
         "PriceMonthly": "Price Monthly", "PriceHourly": "Price Hourly"},
        lambda z: {"Slug": z["slug"], "Memory": z.get("memory", 0), "VCPUs": z.get("vcpus", 0),
                   "Disk": z.get("disk", 0), "PriceMonthly": f"{z.get('price_monthly', 0):0.2f}",
                   "PriceHourly": z.get("price_hourly", 0.0)}))
    return 0


# --- ssh keys, tags, account ----------------------------------------------------------------

def run_key_list(ctx: Ctx) -> int:
    keys = paginate(ctx, "v2/account/keys", "GET /v2/account/keys", "ssh_keys", service.list_keys)
    ctx.display(keys_display(keys))
    return 0


def run_key_get(ctx: Ctx) -> int:
    ident = ensure_one_arg(ctx.parsed)
    body = ctx.client.request("GET", f"v2/account/keys/{ident}", "GET /v2/account/keys/{id}",
                              service.get_key(ident))
    ctx.display(keys_display([body["ssh_key"]], with_public=True))
    return 0


def _create_key(ctx: Ctx, name: str, public_key: str) -> int:
    body = ctx.client.request("POST", "v2/account/keys", "POST /v2/account/keys",
                              service.create_key(name, public_key))
    ctx.display(keys_display([body["ssh_key"]]))
    return 0


def run_key_import(ctx: Ctx) -> int:
    name = ensure_one_arg(ctx.parsed)
    path = ctx.parsed.get("public-key-file")
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise CmdError(f"open {path}: no such file or directory") from None
    try:
        service.fingerprint(text)
    except ValueError as exc:
        raise CmdError(str(exc)) from None
    return _create_key(ctx, name, text)


def run_key_create(ctx: Ctx) -> int:
    return _create_key(ctx, ensure_one_arg(ctx.parsed), ctx.parsed.get("public-key"))


def run_key_delete(ctx: Ctx) -> int:
    ident = ensure_one_arg(ctx.parsed)
    if not (ctx.parsed.get("force") or confirm("delete this SSH key?")):
        raise CmdError("Operation aborted.")
    ctx.client.request("DELETE", f"v2/account/keys/{ident}", "DELETE /v2/account/keys/{id}",
                       service.delete_key(ident))
    return 0


def run_tag_create(ctx: Ctx) -> int:
    name = ensure_one_arg(ctx.parsed)
    body = ctx.client.request("POST", "v2/tags", "POST /v2/tags", service.create_tag(name))
    ctx.display(tags_display([body["tag"]]))
    return 0


def run_tag_get(ctx: Ctx) -> int:
    name = ensure_one_arg(ctx.parsed)
    body = ctx.client.request("GET", f"v2/tags/{name}", "GET /v2/tags/{name}",
                              service.get_tag(name))
    ctx.display(tags_display([body["tag"]]))
    return 0


def run_tag_list(ctx: Ctx) -> int:
    body = ctx.client.request("GET", "v2/tags?page=1&per_page=200", "GET /v2/tags",
                              service.list_tags())
    ctx.display(tags_display(body["tags"]))
    return 0


def run_tag_delete(ctx: Ctx) -> int:
    p = ctx.parsed
    if not p.args:
        raise missing_args(p.cmd)
    question = "delete this tag?" if len(p.args) == 1 else f"delete {len(p.args)} tags?"
    if not (p.get("force") or confirm(question)):
        raise CmdError("Operation aborted.")
    for name in p.args:
        ctx.client.request("DELETE", f"v2/tags/{name}", "DELETE /v2/tags/{name}",
                           service.delete_tag(name))
    return 0


def run_account_get(ctx: Ctx) -> int:
    acct = ctx.client.request("GET", "v2/account", "GET /v2/account", service.get_account())
    acct = acct["account"]
    ctx.display(Displayable(
        [acct], ["Email", "DropletLimit", "EmailVerified", "UUID", "Status"],
        {"Email": "Email", "DropletLimit": "Droplet Limit", "EmailVerified": "Email Verified",
         "UUID": "UUID", "Status": "Status"},
        lambda a: {"Email": a["email"], "DropletLimit": a["droplet_limit"],
                   "EmailVerified": a["email_verified"], "UUID": a["uuid"],
                   "Status": a["status"]}, single=True))
    return 0


# --- command tree -----------------------------------------------------------------------------

def _display_flags() -> list[Flag]:
    return [Flag("format", help="Columns for output in a comma-separated list"),
            Flag("no-header", kind="bool", help="Return raw data with no headers")]


def build_tree() -> Cmd:
    root = Cmd("doctl", "doctl is a command line interface (CLI) for the DigitalOcean API.", flags=[
        Flag("access-token", "t", help="API V2 access token"),
        Flag("api-url", "u", help="Override default API endpoint"),
        Flag("config", "c", help="Specify a custom config file"),
        Flag("context", help="Specify a custom authentication context name"),
        Flag("output", "o", help="Desired output format [text|json]"),
        Flag("trace", kind="bool"), Flag("verbose", "v", kind="bool"),
        Flag("interactive", kind="bool"),
        Flag("http-retry-max", kind="int"), Flag("http-retry-wait-max", kind="int"),
        Flag("http-retry-wait-min", kind="int"),
    ])
    root.add(Cmd("version", "Show the current version", run=lambda ctx: 0))
    account = root.add(Cmd("account", "Display commands that retrieve account details"))
    account.add(Cmd("get", "Retrieve account profile details", aliases=("g",),
                    flags=_display_flags(), run=run_account_get))
    compute = root.add(Cmd("compute", "Display commands that manage infrastructure"))

    droplet = compute.add(Cmd("droplet", "Manage virtual machines (Droplets)", aliases=("d",)))
    droplet.add(Cmd("create", "Create a new Droplet", aliases=("c",), use="<droplet-name>...",
                    run=run_droplet_create, flags=[
                        Flag("ssh-keys", kind="slice"), Flag("user-data"),
                        Flag("user-data-file"), Flag("wait", kind="bool"),
                        Flag("region", required=True), Flag("size", required=True),
                        Flag("enable-backups", kind="bool"), Flag("enable-ipv6", kind="bool"),
                        Flag("enable-private-networking", kind="bool"),
                        Flag("enable-monitoring", kind="bool"),
                        Flag("image", required=True), Flag("tag-name"), Flag("vpc-uuid"),
                        Flag("tag-names", kind="slice"), Flag("droplet-agent", kind="bool"),
                        Flag("volumes", kind="slice"), *_display_flags()]))
    droplet.add(Cmd("delete", "Permanently delete a Droplet", aliases=("d", "del", "rm"),
                    use="<droplet-id|droplet-name>...", run=run_droplet_delete,
                    flags=[Flag("force", "f", kind="bool"), Flag("tag-name")]))
    droplet.add(Cmd("get", "Retrieve information about a Droplet", aliases=("g",),
                    use="<droplet-id|droplet-name>", run=run_droplet_get,
                    flags=[Flag("template"), *_display_flags()]))
    droplet.add(Cmd("list", "List Droplets on your account", aliases=("ls",), use="[GLOB]",
                    run=run_droplet_list,
                    flags=[Flag("region"), Flag("tag-name"), *_display_flags()]))

    sizes = compute.add(Cmd("size", "List available Droplet sizes"))
    sizes.add(Cmd("list", "List available Droplet sizes", aliases=("ls",),
                  flags=_display_flags(), run=run_size_list))

    keys = compute.add(Cmd("ssh-key", "Display commands to manage SSH keys on your account",
                           aliases=("k",)))
    keys.add(Cmd("list", "List all SSH keys on your account", aliases=("ls",),
                 flags=_display_flags(), run=run_key_list))
    keys.add(Cmd("get", "Retrieve information about an SSH key on your account", aliases=("g",),
                 use="<key-id|key-fingerprint>", flags=_display_flags(), run=run_key_get))
    keys.add(Cmd("create", "Create a new SSH key on your account", aliases=("c",),
                 use="<key-name>", run=run_key_create,
                 flags=[Flag("public-key", required=True), *_display_flags()]))
    keys.add(Cmd("import", "Import an SSH key from your computer to your account",
                 aliases=("i",), use="<key-name>", run=run_key_import,
                 flags=[Flag("public-key-file", required=True), *_display_flags()]))
    keys.add(Cmd("delete", "Permanently delete an SSH key from your account", aliases=("d",),
                 use="<key-id|key-fingerprint>", run=run_key_delete,
                 flags=[Flag("force", "f", kind="bool")]))

    tags = compute.add(Cmd("tag", "Display commands to manage tags"))
    tags.add(Cmd("create", "Create a tag", use="<tag-name>", run=run_tag_create))
    tags.add(Cmd("get", "Retrieve information about a tag", use="<tag-name>",
                 flags=_display_flags(), run=run_tag_get))
    tags.add(Cmd("list", "List all tags", aliases=("ls",), flags=_display_flags(),
                 run=run_tag_list))
    tags.add(Cmd("delete", "Delete a tag", use="<tag-name>...", run=run_tag_delete,
                 flags=[Flag("force", "f", kind="bool")]))
    firewalls.add_commands(compute, _display_flags(), sys.modules[__name__])
    loadbalancers.add_commands(compute, _display_flags(), sys.modules[__name__])
    volumes.add_commands(compute, _display_flags(), sys.modules[__name__])
    images.add_commands(compute, _display_flags(), sys.modules[__name__])
    doctlauth.add_commands(root)
    return root


# --- main -------------------------------------------------------------------------------------

def _fail(message: str, output: str) -> int:
    if output == "json":
        sys.stdout.write(go_json({"errors": [{"detail": message}]}, indent=False) + "\n")
    else:
        sys.stderr.write(f"Error: {message}\n")
    return 1


def _retry_max(p: Parsed) -> int:
    if "http-retry-max" in p.given:
        return int(p.get("http-retry-max"))
    raw = os.environ.get("DIGITALOCEAN_HTTP_RETRY_MAX", "")
    return int(raw) if raw.strip().lstrip("-").isdigit() else 5


def main(argv: list[str]) -> int:
    root = build_tree()
    try:
        parsed = cli.parse(root, argv)
    except cli.HelpRequested as req:
        sys.stdout.write(f"{req.cmd.short}\n\n{cli.usage(req.cmd)}")
        return 0
    except cli.UsageError as err:
        sys.stderr.write(f"Error: {err}\n")
        if err.unknown_command:
            sys.stderr.write(f"Run '{err.cmd.path()} --help' for usage.\n")
            if err.cmd.parent is not None:
                sys.stderr.write("(dosim: real doctl prints help and exits 0 here; the stand-in "
                                 "refuses unknown or unsimulated subcommands)\n")
        else:
            sys.stderr.write(cli.usage(err.cmd) + "\n")
            sys.stdout.write(f"{err}\n")  # commands/doit.go Execute: fmt.Println(err)
        return 255
    output = parsed.get("output") or "text"
    parsed.values["output"] = output
    if parsed.cmd.name == "version":
        sys.stdout.write(f"doctl version {VERSION}\n")
        return 0
    if parsed.cmd.path().startswith("doctl auth "):
        assert parsed.cmd.run is not None
        return parsed.cmd.run(parsed)  # doctl's own config file only: no token, no API
    if not doctlauth.token(parsed).strip():
        return _fail(TOKEN_ERROR, output)
    try:
        ctx = Ctx(parsed, Client.from_env(_retry_max(parsed)), st.state_path())
        assert parsed.cmd.run is not None
        return parsed.cmd.run(ctx)
    except (CmdError, RuleError) as exc:
        return _fail(str(exc), output)
    except ApiError as exc:
        return _fail(str(exc), output)
    except st.ConfigError as exc:
        sys.stderr.write(f"dosim doctl: {exc}\n")
        return 70


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
