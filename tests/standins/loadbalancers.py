"""``doctl compute load-balancer create|update|get|list|delete`` (doctl commands/load_balancers.go).

Flags are parsed as doctl's ``buildRequestFromArgs`` does (ruleargs.py, shared with the
firewall's rules): ``--forwarding-rules`` splits rules on single spaces and each rule's
key:value pairs on commas (``extractForwardingRules``); ``--health-check`` is one
comma-separated key:value list (``fillStructFromStringSliceArgs``). A pair that is not exactly
``key:value`` is "Unexpected input value [...]: must be a key:value pair"; an unknown key is
silently dropped; an int field whose value does not parse stays 0. ``--algorithm`` defaults
to round_robin. ``--allow-list``/``--deny-list`` are string slices (comma separated,
repeatable); when either is given the request carries ``firewall`` with both
(``GetStringSliceIsFlagSet``; godo ``LBFirewall`` omits an empty list). Output columns: doctl
commands/displayers/load_balancer.go (the Firewall column only when the API returned one, as
``prettyPrintStruct`` prints it: ``allow:[ip:1.2.3.4 cidr:10.0.0.0/8],deny:[]``).
"""

from __future__ import annotations

import os
import sys
import time
from types import ModuleType
from typing import Any

from . import lbservice
from .cli import Cmd, Flag
from .output import Displayable
from .ruleargs import droplet_ids, fill_struct, rules

RULE_FIELDS = {"entry_protocol": str, "entry_port": int, "target_protocol": str,
               "target_port": int, "certificate_id": str, "tls_passthrough": bool}
CHECK_FIELDS = {"protocol": str, "port": int, "path": str, "check_interval_seconds": int,
                "response_timeout_seconds": int, "healthy_threshold": int,
                "unhealthy_threshold": int}
_doctl: ModuleType | None = None


def _d() -> ModuleType:
    assert _doctl is not None, "add_commands() sets the doctl module"
    return _doctl


def _request(ctx: Any) -> dict[str, Any]:
    p = ctx.parsed
    body: dict[str, Any] = {
        "name": p.get("name"), "region": p.get("region"), "size": p.get("size"),
        "size_unit": p.get("size-unit"),
        "algorithm": p.get("algorithm") if "algorithm" in p.given else "round_robin",
        "tag": p.get("tag-name"), "droplet_ids": droplet_ids(p.get("droplet-ids")),
        "forwarding_rules": [fill_struct(r, RULE_FIELDS) for r in rules(p.get("forwarding-rules"))],
        "health_check": fill_struct(p.get("health-check"), CHECK_FIELDS),
        "redirect_http_to_https": p.get("redirect-http-to-https"),
        "enable_proxy_protocol": p.get("enable-proxy-protocol"),
        "enable_backend_keepalive": p.get("enable-backend-keepalive")}
    if "allow-list" in p.given or "deny-list" in p.given:
        firewall = {"allow": p.get("allow-list"), "deny": p.get("deny-list")}
        body["firewall"] = {k: v for k, v in firewall.items() if v}
    # godo's omitempty: zero values are not sent
    return {k: v for k, v in body.items() if v not in ("", 0, [], {}, False, None)}


def _rule_text(r: dict[str, Any]) -> str:
    return ",".join(f"{k}:{_go(r.get(k, '' if RULE_FIELDS[k] is str else 0))}"
                    for k in RULE_FIELDS)


def _go(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _firewall_text(fw: dict[str, list[str]]) -> str:
    return ",".join(f"{k}:[{' '.join(fw.get(k, []))}]" for k in ("allow", "deny"))


def lbs_display(items: list[dict[str, Any]]) -> Displayable:
    cols = ["ID", "IP", "IPv6", "Name", "Status", "Created", "Region", "Size", "SizeUnit",
            "VPCUUID", "SubnetUUID", "Tag", "DropletIDs", "RedirectHttpToHttps",
            "StickySessions", "HealthCheck", "ForwardingRules", "Firewall",
            "DisableLetsEncryptDNSRecords"]
    headers = {"ID": "ID", "IP": "IP", "IPv6": "IPv6", "Name": "Name", "Status": "Status",
               "Created": "Created At", "Region": "Region", "Size": "Size",
               "SizeUnit": "Size Unit", "VPCUUID": "VPC UUID", "SubnetUUID": "Subnet UUID",
               "Tag": "Tag", "DropletIDs": "Droplet IDs", "RedirectHttpToHttps": "SSL",
               "StickySessions": "Sticky Sessions", "HealthCheck": "Health Check",
               "ForwardingRules": "Forwarding Rules", "Firewall": "Firewall Rules",
               "DisableLetsEncryptDNSRecords": "Disable Lets Encrypt DNS Records"}

    def kv(lb: dict[str, Any]) -> dict[str, Any]:
        hc = lb.get("health_check", {})
        return {"ID": lb["id"], "IP": lb.get("ip", ""), "IPv6": "", "Name": lb["name"],
                "Status": lb["status"], "Created": lb["created_at"],
                "Region": lb["region"]["slug"], "SizeUnit": lb.get("size_unit"),
                "VPCUUID": lb.get("vpc_uuid", ""), "SubnetUUID": "", "Tag": lb.get("tag", ""),
                "DropletIDs": ",".join(str(i) for i in lb.get("droplet_ids", [])),
                "RedirectHttpToHttps": lb.get("redirect_http_to_https", False),
                "StickySessions": "type:none,cookie_name:,cookie_ttl_seconds:0",
                "HealthCheck": ",".join(f"{k}:{_go(hc.get(k, ''))}" for k in CHECK_FIELDS)
                + ",proxy_protocol:<nil>",
                "ForwardingRules": " ".join(_rule_text(r) for r in lb["forwarding_rules"]),
                "DisableLetsEncryptDNSRecords": False,
                **({"Firewall": _firewall_text(lb["firewall"])} if "firewall" in lb else {})}

    return Displayable(items, cols, headers, kv)


def run_create(ctx: Any) -> int:
    body = ctx.client.request("POST", "v2/load_balancers", "POST /v2/load_balancers",
                              lbservice.create_load_balancer(_request(ctx)))
    lb = body["load_balancer"]
    if ctx.parsed.get("wait"):  # waitForActiveLoadBalancer: one GET per poll until active
        poll = float(os.environ.get("DOSIM_POLL_SECONDS", "0.2") or 0.2)
        while lb["status"] != "active":
            time.sleep(poll)
            lb = ctx.client.request("GET", f"v2/load_balancers/{lb['id']}",
                                    "GET /v2/load_balancers/{id}",
                                    lbservice.get_load_balancer(lb["id"]))["load_balancer"]
    sys.stderr.write("Notice: Load balancer created\n")
    ctx.display(lbs_display([lb]))
    return 0


def run_update(ctx: Any) -> int:
    p = ctx.parsed
    if not p.args:
        raise _d().missing_args(p.cmd)
    lb_id = p.args[0]
    body = ctx.client.request("PUT", f"v2/load_balancers/{lb_id}", "PUT /v2/load_balancers/{id}",
                              lbservice.update_load_balancer(lb_id, _request(ctx)))
    ctx.display(lbs_display([body["load_balancer"]]))
    return 0


def run_get(ctx: Any) -> int:
    lb_id = _d().ensure_one_arg(ctx.parsed)
    body = ctx.client.request("GET", f"v2/load_balancers/{lb_id}", "GET /v2/load_balancers/{id}",
                              lbservice.get_load_balancer(lb_id))
    ctx.display(lbs_display([body["load_balancer"]]))
    return 0


def run_list(ctx: Any) -> int:
    items = _d().paginate(ctx, "v2/load_balancers", "GET /v2/load_balancers", "load_balancers",
                          lbservice.list_load_balancers)
    ctx.display(lbs_display(items))
    return 0


def run_delete(ctx: Any) -> int:
    lb_id = _d().ensure_one_arg(ctx.parsed)
    if not (ctx.parsed.get("force") or _d().confirm("delete this load balancer?")):
        raise _d().CmdError("Operation aborted.")
    ctx.client.request("DELETE", f"v2/load_balancers/{lb_id}", "DELETE /v2/load_balancers/{id}",
                       lbservice.delete_load_balancer(lb_id))
    return 0


def add_commands(compute: Cmd, display_flags: list[Flag], doctl: ModuleType) -> None:
    global _doctl
    _doctl = doctl

    def request_flags(*, create: bool) -> list[Flag]:
        return [Flag("name", required=create), Flag("region"), Flag("size"),
                Flag("size-unit", kind="int"), Flag("algorithm"), Flag("tag-name"),
                Flag("droplet-ids", kind="slice"), Flag("health-check"),
                Flag("forwarding-rules"), Flag("sticky-sessions"),
                Flag("redirect-http-to-https", kind="bool"),
                Flag("enable-proxy-protocol", kind="bool"),
                Flag("enable-backend-keepalive", kind="bool"),
                Flag("allow-list", kind="slice"), Flag("deny-list", kind="slice"),
                *([Flag("wait", kind="bool")] if create else []), *display_flags]

    lb = compute.add(Cmd("load-balancer", "Display commands to manage load balancers",
                         aliases=("lb",)))
    lb.add(Cmd("get", "Retrieve a load balancer", aliases=("g",), use="<load-balancer-id>",
               flags=list(display_flags), run=run_get))
    lb.add(Cmd("create", "Create a new load balancer", aliases=("c",),
               flags=request_flags(create=True), run=run_create))
    lb.add(Cmd("update", "Update a load balancer's configuration", aliases=("u",),
               use="<load-balancer-id>", flags=request_flags(create=False), run=run_update))
    lb.add(Cmd("list", "List load balancers", aliases=("ls",), flags=list(display_flags),
               run=run_list))
    lb.add(Cmd("delete", "Permanently delete a load balancer", aliases=("d", "rm"),
               use="<load-balancer-id>", flags=[Flag("force", "f", kind="bool")],
               run=run_delete))
