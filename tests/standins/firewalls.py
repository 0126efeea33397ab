"""``doctl compute firewall create|update|get|list|delete`` (doctl commands/firewalls.go).

Rule strings are split as doctl's ``extractRule`` does (ruleargs.py, shared with the load
balancer's rules); ``address``, ``droplet_id``, ``load_balancer_uid``, ``kubernetes_id``, ``tag``
become sources (destinations); any OTHER key is put into the rule map and then silently lost when
doctl unmarshals it into godo's ``InboundRule`` (Go's encoding/json ignores unknown fields) —
so ``port:22`` reaches the API as a rule without ports, which the API refuses.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

from . import fwservice
from .cli import Cmd, Flag
from .output import Displayable
from .ruleargs import RuleError, atoi, droplet_ids, firewall_pairs, rules

_KNOWN = ("protocol", "ports")
# The doctl entry module (run as __main__): its CmdError is the one main() catches.
_doctl: ModuleType | None = None


def _d() -> ModuleType:
    assert _doctl is not None, "add_commands() sets the doctl module"
    return _doctl


def extract_rules(text: str, side: str) -> list[dict[str, Any]]:
    out = []
    for rule_text in rules(text):
        rule: dict[str, Any] = {}
        where: dict[str, list[Any]] = {k: [] for k in fwservice.ENDPOINTS}
        for key, value in firewall_pairs(rule_text):
            if key == "address":
                where["addresses"].append(value)
            elif key == "droplet_id":
                droplet = atoi(value)
                if droplet is None:
                    raise RuleError(f"Provided value [{key}] for droplet id is not of type int")
                where["droplet_ids"].append(droplet)
            elif key == "load_balancer_uid":
                where["load_balancer_uids"].append(value)
            elif key == "kubernetes_id":
                where["kubernetes_ids"].append(value)
            elif key == "tag":
                where["tags"].append(value)
            elif key in _KNOWN:
                rule[key] = value
            # any other key: dropped by json.Unmarshal into godo.InboundRule/OutboundRule
        rule[side] = {k: v for k, v in where.items() if v}
        out.append(rule)
    return out


def _endpoint_text(where: dict[str, Any]) -> str:
    # doctl iterates a Go map here (random order); the stand-in uses one fixed order.
    out = [f"address:{a}" for a in where.get("addresses", [])]
    out += [f"tag:{t}" for t in where.get("tags", [])]
    out += [f"load_balancer_uid:{u}" for u in where.get("load_balancer_uids", [])]
    out += [f"droplet_id:{d}" for d in where.get("droplet_ids", [])]
    return ",".join(out)


def _rules_text(rules: list[dict[str, Any]], side: str) -> str:
    out = []
    for r in rules:
        where = _endpoint_text(r.get(side) or {})
        if r["protocol"] == "icmp":
            out.append(f"protocol:icmp,{where}")
        else:
            out.append(f"protocol:{r['protocol']},ports:{r['ports']},{where}")
    return " ".join(out)


def firewalls_display(items: list[dict[str, Any]]) -> Displayable:
    cols = ["ID", "Name", "Status", "Created", "InboundRules", "OutboundRules", "DropletIDs",
            "Tags", "PendingChanges"]
    headers = {"ID": "ID", "Name": "Name", "Status": "Status", "Created": "Created At",
               "InboundRules": "Inbound Rules", "OutboundRules": "Outbound Rules",
               "DropletIDs": "Droplet IDs", "Tags": "Tags", "PendingChanges": "Pending Changes"}
    return Displayable(items, cols, headers, lambda f: {
        "ID": f["id"], "Name": f["name"], "Status": f["status"], "Created": f["created_at"],
        "InboundRules": _rules_text(f["inbound_rules"], "sources"),
        "OutboundRules": _rules_text(f["outbound_rules"], "destinations"),
        "DropletIDs": ",".join(str(d) for d in f["droplet_ids"] or []),
        "Tags": ",".join(f["tags"]), "PendingChanges": ""})


def _request(ctx: Any) -> dict[str, Any]:
    """buildFirewallRequestFromArgs: the JSON body godo sends."""
    p = ctx.parsed
    body = {"name": p.get("name"),
            "inbound_rules": extract_rules(p.get("inbound-rules"), "sources"),
            "outbound_rules": extract_rules(p.get("outbound-rules"), "destinations"),
            "droplet_ids": droplet_ids(p.get("droplet-ids")), "tags": list(p.get("tag-names"))}
    # round-trip through JSON like godo, so the handler sees only what was sent
    return dict(json.loads(json.dumps(body)))


def run_create(ctx: Any) -> int:
    body = ctx.client.request("POST", "v2/firewalls", "POST /v2/firewalls",
                              fwservice.create_firewall(_request(ctx)))
    ctx.display(firewalls_display([body["firewall"]]))
    return 0


def run_update(ctx: Any) -> int:
    p = ctx.parsed
    if not p.args:
        raise _d().missing_args(p.cmd)
    fw_id = p.args[0]
    body = ctx.client.request("PUT", f"v2/firewalls/{fw_id}", "PUT /v2/firewalls/{id}",
                              fwservice.update_firewall(fw_id, _request(ctx)))
    ctx.display(firewalls_display([body["firewall"]]))
    return 0


def run_get(ctx: Any) -> int:
    fw_id = _d().ensure_one_arg(ctx.parsed)
    body = ctx.client.request("GET", f"v2/firewalls/{fw_id}", "GET /v2/firewalls/{id}",
                              fwservice.get_firewall(fw_id))
    ctx.display(firewalls_display([body["firewall"]]))
    return 0


def run_list(ctx: Any) -> int:
    items = _d().paginate(ctx, "v2/firewalls", "GET /v2/firewalls", "firewalls",
                     fwservice.list_firewalls)
    ctx.display(firewalls_display(items))
    return 0


def run_delete(ctx: Any) -> int:
    p = ctx.parsed
    if not p.args:
        raise _d().missing_args(p.cmd)
    noun = "firewall" if len(p.args) == 1 else f"{len(p.args)} firewalls"
    if not (p.get("force") or _d().confirm(f"delete this {noun}?" if len(p.args) == 1
                                      else f"delete {noun}?")):
        raise _d().CmdError("Operation aborted.")
    for fw_id in p.args:
        ctx.client.request("DELETE", f"v2/firewalls/{fw_id}", "DELETE /v2/firewalls/{id}",
                           fwservice.delete_firewall(fw_id))
    return 0


def add_commands(compute: Cmd, display_flags: list[Flag], doctl: ModuleType) -> None:
    global _doctl
    _doctl = doctl

    def request_flags() -> list[Flag]:
        return [Flag("name", required=True), Flag("inbound-rules"), Flag("outbound-rules"),
                Flag("droplet-ids", kind="slice"), Flag("tag-names", kind="slice"),
                *display_flags]

    fw = compute.add(Cmd("firewall", "Display commands to manage cloud firewalls"))
    fw.add(Cmd("get", "Retrieve information about a cloud firewall", aliases=("g",),
               use="<firewall-id>", flags=list(display_flags), run=run_get))
    fw.add(Cmd("create", "Create a new cloud firewall", aliases=("c",),
               flags=request_flags(), run=run_create))
    fw.add(Cmd("update", "Update a cloud firewall's configuration", aliases=("u",),
               use="<firewall-id>", flags=request_flags(), run=run_update))
    fw.add(Cmd("list", "List the cloud firewalls on your account", aliases=("ls",),
               flags=list(display_flags), run=run_list))
    fw.add(Cmd("delete", "Permanently delete a cloud firewall", aliases=("d", "rm"),
               use="<firewall-id>...", flags=[Flag("force", "f", kind="bool")],
               run=run_delete))

