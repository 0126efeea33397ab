"""The v2 load balancer endpoints (godo load_balancers.go), strict and stateful.

What the real API does, with where it is known from:
- Fields and their JSON names: godo ``LoadBalancer``, ``LoadBalancerRequest``, ``ForwardingRule``,
  ``HealthCheck`` (digitalocean/godo load_balancers.go). Create is ``POST /v2/load_balancers``
  (202), update ``PUT /v2/load_balancers/{id}`` (the whole object), delete 204.
- ``status`` is "new", "active" or "errored" (API reference, Load Balancers: status); doctl's
  ``--wait`` polls until "active" (doctl commands/load_balancers.go waitForActiveLoadBalancer).
  The IP is assigned while the load balancer is provisioned: the stand-in shows it only once
  ``active`` (``config.lb_boot_seconds`` after the create).
- ``tag`` and ``droplet_ids`` are mutually exclusive (API reference: "droplet_ids ... Mutually
  exclusive with tag"); backend droplets must be in the load balancer's region ("The Droplets
  in a load balancer's backend pool must be in the same region", docs.digitalocean.com
  networking/load-balancers); a tag LB lists the ids of the droplets carrying the tag.
- Names are not unique: nothing in the API reference or godo requires it, so two creates with
  one name make two load balancers (the scripts must look before they create).
- Health check defaults (API reference, health_check): protocol http, port 80, path "/",
  check_interval_seconds 10, response_timeout_seconds 5, unhealthy_threshold 5,
  healthy_threshold 3. The entry/target protocols are http, https, http2, http3, tcp, udp
  (doctl forwarding_detail.txt). Error texts of refused fields are not published: they are
  marked ``(dosim)``.
- ``firewall``: ``{allow: [...], deny: [...]}``, each rule "ip:1.2.3.4" or "cidr:1.2.0.0/16"
  (godo ``LBFirewall``, ``IPSourceFirewall``/``CIDRSourceFirewall``; openapi lb_firewall.yml,
  default [] for both). A PUT replaces it like every other field (one not sent is reset). The
  API's refusal text for a malformed rule is not published (the API reference, godo, doctl and
  the Terraform provider show none): the stand-in refuses with 422 and a ``(dosim)`` text. IPv6
  rules are refused too: the load balancer has an IPv4 address only (network_stack IPV4 by
  default) and a user reports that the real API took a list with IPv6 ranges and then filtered
  nothing (digitalocean-cloud-controller-manager#692); refusing makes a script that sends one fail
  here instead of leaving a load balancer open. The rules are enforced in ``lbhealth.admits``.
- ``type``: "REGIONAL" (the default: it proxies, so the droplets see connections from the load
  balancer, which a cloud firewall admits by ``load_balancer_uids``) or "REGIONAL_NETWORK" (a
  network load balancer passing the client's packets through: the droplets' firewall must admit
  the clients); godo ``LoadBalancerTypeRegional``/``LoadBalancerTypeRegionalNetwork``, the two
  digitalocean-cloud-controller-manager v0.1.68 accepts (loadbalancers.go getType).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from . import catalog, model
from .api import NOT_FOUND, Handler, HttpError
from .state import knob

TYPES = ("REGIONAL", "REGIONAL_NETWORK")
PROTOCOLS = ("http", "https", "http2", "http3", "tcp", "udp")
CHECK_PROTOCOLS = ("http", "https", "tcp")
CHECK_DEFAULTS = {"protocol": "http", "port": 80, "path": "/", "check_interval_seconds": 10,
                  "response_timeout_seconds": 5, "healthy_threshold": 3,
                  "unhealthy_threshold": 5}


def _port(value: Any, what: str) -> int:
    if not isinstance(value, int) or not 1 <= value <= 65535:
        raise HttpError(422, f"(dosim) {what} must be a port from 1 to 65535, got {value!r}")
    return value


def _rules(req: dict[str, Any]) -> list[dict[str, Any]]:
    rules = req.get("forwarding_rules") or []
    if not rules:
        raise HttpError(422, "(dosim) forwarding_rules: at least one rule is required")
    out = []
    for r in rules:
        for side in ("entry", "target"):
            if r.get(f"{side}_protocol") not in PROTOCOLS:
                raise HttpError(422, f"(dosim) {side}_protocol {r.get(f'{side}_protocol')!r} is "
                                f"not one of {', '.join(PROTOCOLS)}")
            _port(r.get(f"{side}_port"), f"{side}_port")
        if r.get("tls_passthrough") and r["entry_protocol"] != "https":
            raise HttpError(422, "(dosim) tls_passthrough needs entry_protocol https")
        if (r["entry_protocol"] in ("https", "http2", "http3") and not r.get("tls_passthrough")
                and not r.get("certificate_id")):
            raise HttpError(422, f"(dosim) entry_protocol {r['entry_protocol']} needs a "
                            "certificate_id or tls_passthrough")
        out.append({"entry_protocol": r["entry_protocol"], "entry_port": r["entry_port"],
                    "target_protocol": r["target_protocol"], "target_port": r["target_port"],
                    "certificate_id": r.get("certificate_id", ""),
                    "tls_passthrough": bool(r.get("tls_passthrough"))})
    return out


def _health_check(req: dict[str, Any]) -> dict[str, Any]:
    given = {k: v for k, v in (req.get("health_check") or {}).items() if v not in (None, "", 0)}
    check = {**CHECK_DEFAULTS, **given}
    if check["protocol"] not in CHECK_PROTOCOLS:
        raise HttpError(422, f"(dosim) health_check.protocol {check['protocol']!r} is not one "
                        f"of {', '.join(CHECK_PROTOCOLS)}")
    _port(check["port"], "health_check.port")
    if check["protocol"] == "tcp":
        check["path"] = ""
    return check


def _rule(rule: Any, side: str) -> str:
    kind, _, source = rule.partition(":") if isinstance(rule, str) else ("", "", "")
    try:
        net = (ipaddress.ip_address(source) if kind == "ip"
               else ipaddress.ip_network(source, strict=False) if kind == "cidr" else None)
    except ValueError:
        net = None
    if net is None:
        raise HttpError(422, f"(dosim) firewall.{side}: invalid rule {rule!r}: expected "
                        "'ip:1.2.3.4' or 'cidr:1.2.0.0/16'")
    if net.version != 4:
        raise HttpError(422, f"(dosim) firewall.{side}: {rule!r} is IPv6; the load balancer "
                        "has an IPv4 address only")
    return rule


def _firewall(req: dict[str, Any]) -> dict[str, list[str]] | None:
    given = req.get("firewall")
    if given is None:
        return None
    return {side: [_rule(r, side) for r in given.get(side) or []] for side in ("allow", "deny")}


def _validated(data: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
    name = req.get("name") or ""
    if not name:
        raise HttpError(422, "(dosim) name is required")
    region = req.get("region") or ""
    if not region:
        raise HttpError(422, "(dosim) region is required")
    if region not in catalog.REGIONS:
        raise HttpError(422, f"(dosim) region {region!r} is not available")
    if req.get("size") and req.get("size_unit"):
        raise HttpError(422, "(dosim) size and size_unit are mutually exclusive")
    size_unit = req.get("size_unit") or 1
    if not 1 <= size_unit <= 100:
        raise HttpError(422, "(dosim) size_unit must be from 1 to 100")
    tag = req.get("tag") or ""
    droplet_ids = list(req.get("droplet_ids") or [])
    if tag and droplet_ids:
        raise HttpError(422, "(dosim) tag and droplet_ids are mutually exclusive")
    if tag and tag not in data["tags"]:
        raise HttpError(422, f"(dosim) tag {tag!r} does not exist: create it first")
    for droplet_id in droplet_ids:
        droplet = data["droplets"].get(str(droplet_id))
        if droplet is None:
            raise HttpError(422, f"(dosim) droplet {droplet_id} does not exist")
        if droplet["region"] != region:
            raise HttpError(422, f"(dosim) droplet {droplet_id} is not in region {region}")
    lb_type = req.get("type") or "REGIONAL"
    if lb_type not in TYPES:
        raise HttpError(422, f"(dosim) type {lb_type!r} is not one of {', '.join(TYPES)}")
    return {"name": name, "region": region, "size_unit": size_unit, "tag": tag, "type": lb_type,
            "droplet_ids": droplet_ids, "forwarding_rules": _rules(req),
            "health_check": _health_check(req), "firewall": _firewall(req),
            "algorithm": req.get("algorithm") or "round_robin", "tags": _tags(data, req),
            "redirect_http_to_https": bool(req.get("redirect_http_to_https")),
            "enable_proxy_protocol": bool(req.get("enable_proxy_protocol")),
            "enable_backend_keepalive": bool(req.get("enable_backend_keepalive"))}


def _tags(data: dict[str, Any], req: dict[str, Any]) -> list[str]:
    """godo LoadBalancerRequest.Tags (what DigitalOcean's cloud-controller-manager sends:
    k8s:<DO_CLUSTER_ID>, its loadbalancers.go buildK8sTag); new tag names are created."""
    tags = list(req.get("tags") or [])
    for tag in tags:
        if tag not in data["tags"]:
            data["tags"].append(tag)
    return tags


def backend_ids(data: dict[str, Any], lb: dict[str, Any]) -> list[int]:
    """The droplets behind ``lb``: its tag's droplets in its region, or its droplet_ids."""
    if not lb["tag"]:
        return [i for i in lb["droplet_ids"] if str(i) in data["droplets"]]
    return sorted(d["id"] for d in data["droplets"].values()
                  if lb["tag"] in d["tags"] and d["region"] == lb["region"])


def _view(data: dict[str, Any], lb: dict[str, Any], now: float, *, fresh: bool = False
          ) -> dict[str, Any]:
    active = not fresh and now >= lb["sim"]["active_at"]
    view = {"id": lb["id"], "name": lb["name"], "ip": lb["sim"]["ip"] if active else "",
            "size_unit": lb["size_unit"], "type": lb.get("type", "REGIONAL"),
            "algorithm": lb["algorithm"],
            "status": "active" if active else "new", "created_at": lb["created_at"],
            "forwarding_rules": lb["forwarding_rules"], "health_check": lb["health_check"],
            "sticky_sessions": {"type": "none"}, "region": catalog.region_object(lb["region"]),
            "droplet_ids": backend_ids(data, lb), "tag": lb["tag"],
            "redirect_http_to_https": lb["redirect_http_to_https"],
            "enable_proxy_protocol": lb["enable_proxy_protocol"],
            "enable_backend_keepalive": lb["enable_backend_keepalive"],
            "vpc_uuid": model.vpc_uuid(lb["region"]), "network": "EXTERNAL",
            "tags": lb.get("tags"),
            "disable_lets_encrypt_dns_records": False, "firewall": lb.get("firewall")}
    return {k: v for k, v in view.items() if v not in ("", [], None) or k == "ip"}


def _lb(data: dict[str, Any], lb_id: str) -> dict[str, Any]:
    lb = data["load_balancers"].get(lb_id)
    if lb is None:
        raise HttpError(404, NOT_FOUND)
    return lb


def _allocate_ip(data: dict[str, Any]) -> str:
    ip = model.allocate_public_ip(data)  # droplets' and load balancers' addresses are taken
    if ip is None:
        raise HttpError(422, "(dosim) no public address left")
    return ip


def create_load_balancer(req: dict[str, Any]) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        lb = _validated(data, req)
        boot = knob(data, "lb_boot_seconds", 0.0, float)
        lb.update(id=model.new_uuid(), created_at=model.iso(now),
                  sim={"active_at": now + boot, "ip": _allocate_ip(data)})
        data["load_balancers"][lb["id"]] = lb
        return 202, {"load_balancer": _view(data, lb, now, fresh=True)}

    return handle


def update_load_balancer(lb_id: str, req: dict[str, Any]) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        lb = _lb(data, lb_id)
        lb.update(_validated(data, req))
        return 200, {"load_balancer": _view(data, lb, now)}

    return handle


def get_load_balancer(lb_id: str) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        return 200, {"load_balancer": _view(data, _lb(data, lb_id), now)}

    return handle


def list_load_balancers(page: int) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        items = list(data["load_balancers"].values())
        return 200, {"load_balancers": [_view(data, lb, now) for lb in items] if page == 1
                     else [], "links": {}, "meta": {"total": len(items)}}

    return handle


def delete_load_balancer(lb_id: str) -> Handler:
    def handle(data: dict[str, Any], now: float) -> tuple[int, Any]:
        _lb(data, lb_id)
        del data["load_balancers"][lb_id]
        return 204, None

    return handle
