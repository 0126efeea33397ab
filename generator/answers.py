"""Validate the cookiecutter answers (before anything is written) and settings.env (audit).

Per-value rules come from generator.schema; this module adds the rules across fields. Every
problem names the field and says how to fix it; the pre-generation hook prints them all at
once and stops the bake. Values are checked as given, never trimmed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from generator import profiles, releases, sizes
from generator.facts import apiserver_service_ip, dns_service_ip
from generator.schema import (
    BY_ANSWER,
    BY_SETTING,
    CHOICES,
    COOKIECUTTER_KEYS,
    INERT_CHARS,
    INERT_VALUE,
    NODE_SUBNET_PREFIX,
)
from generator.schema import problem as rule_problem

PORT_RANGE = re.compile(r"^([0-9]{1,5})-([0-9]{1,5})$")


@dataclass(frozen=True)
class AnswerError:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def _check_choices(answers: Mapping[str, str]) -> list[AnswerError]:
    return [
        AnswerError(field, f"{answers[field]!r} is not one of: {', '.join(allowed)}")
        for field, allowed in CHOICES.items()
        if answers[field] not in allowed
    ]


def _check_networks(values: Mapping[str, str], bad: set[str]) -> list[AnswerError]:
    """Cross-field network rules; values by answer name (settings are mapped to them)."""
    errors: list[AnswerError] = []
    networks = {"_pod_network", "_service_cidr"}
    if networks & bad or not networks <= set(values):
        return errors
    pods = ipaddress.ip_network(values["_pod_network"])
    services = ipaddress.ip_network(values["_service_cidr"])
    if pods.overlaps(services):
        errors.append(
            AnswerError(
                "_service_cidr",
                f"{services} overlaps _pod_network {pods}; pick disjoint ranges "
                "(tutorial: pods 10.2.0.0/16, services 10.3.0.0/24)",
            )
        )
    if services.num_addresses < 16:
        errors.append(
            AnswerError("_service_cidr", f"{services} is too small; use a /28 or larger")
        )
    workers = 1 if "worker_count" in bad else int(values.get("worker_count", "1"))
    controllers = 1 if "controller_count" in bad else int(values.get("controller_count", "1"))
    if problem := pod_capacity_problem(pods, workers, controllers):
        errors.append(AnswerError("_pod_network", problem))
    if "_dns_service_ip" in values and "_dns_service_ip" not in bad:
        errors.extend(_check_dns_ip(dns_service_ip(values), services))
    return errors


def pod_capacity_problem(pods: ipaddress.IPv4Network | ipaddress.IPv6Network,
                         workers: int, controllers: int = 1) -> str | None:
    """flannel needs one /NODE_SUBNET_PREFIX of the pod network per node."""
    nodes = workers + controllers
    fits = 2 ** (NODE_SUBNET_PREFIX - pods.prefixlen) if pods.prefixlen <= NODE_SUBNET_PREFIX else 0
    if fits >= nodes:
        return None
    wide = NODE_SUBNET_PREFIX - (nodes - 1).bit_length()
    return (f"{pods} holds {fits} node subnet(s) (/{NODE_SUBNET_PREFIX} each) but the "
            f"{controllers} controller(s) and {workers} worker(s) need {nodes}; use a /{wide} "
            "or larger "
            "network or fewer workers")


def _check_dns_ip(value: str, services: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[
    AnswerError
]:
    try:
        dns_ip = ipaddress.ip_address(value)
    except ValueError:
        return [AnswerError("_dns_service_ip", f"{value!r} is not an IPv4 address, e.g. 10.3.0.10")]
    reserved = {
        services.network_address: "the network address",
        ipaddress.ip_address(apiserver_service_ip(str(services))): "the apiserver's service IP",
        services.broadcast_address: "the broadcast address",
    }
    if dns_ip not in services:
        return [
            AnswerError(
                "_dns_service_ip",
                f"{dns_ip} is outside _service_cidr {services}; pick an address inside it",
            )
        ]
    if dns_ip in reserved:
        return [
            AnswerError(
                "_dns_service_ip",
                f"{dns_ip} is {reserved[dns_ip]} of {services}; pick another, e.g. "
                f"{services.network_address + 10}",
            )
        ]
    return []


def _check_ports(answers: Mapping[str, str]) -> list[AnswerError]:
    match = PORT_RANGE.fullmatch(answers["_node_port_range"])
    if not match or not 1024 <= int(match[1]) < int(match[2]) <= 65535:
        return [
            AnswerError(
                "_node_port_range",
                f"{answers['_node_port_range']!r} is not valid; use LOW-HIGH with "
                "1024 <= LOW < HIGH <= 65535, e.g. 30000-37000",
            )
        ]
    port = answers["_inspector_node_port"]
    if not port.isdigit() or not int(match[1]) <= int(port) <= int(match[2]):
        return [
            AnswerError(
                "_inspector_node_port",
                f"{port!r} is outside _node_port_range {answers['_node_port_range']}; "
                "pick a port inside it",
            )
        ]
    return []


def _check_combinations(answers: Mapping[str, str], bad: set[str]) -> list[AnswerError]:
    errors: list[AnswerError] = []
    if answers["profile"] == "tutorial" and not answers["image"]:
        errors.append(AnswerError("image", "is empty; the tutorial profile boots a CoreOS image "
                                  "slug or custom image ID, e.g. coreos-alpha"))
    if answers["_update_group"] == "stable" and answers["_kubelet_source"] == "bundled":
        errors.append(
            AnswerError(
                "_kubelet_source",
                "CoreOS stable never bundles the kubelet; choose 'download' or the "
                "alpha/beta _update_group",
            )
        )
    if not {"_ca_days", "_cert_days"} & bad and int(answers["_cert_days"]) > int(
        answers["_ca_days"]
    ):
        errors.append(
            AnswerError(
                "_cert_days",
                f"{answers['_cert_days']} days outlives the CA ({answers['_ca_days']} days); "
                "use at most _ca_days",
            )
        )
    return errors


def _check_profile(answers: Mapping[str, str], bad: set[str]) -> list[AnswerError]:
    """Answers the chosen profile's system cannot honour, each refused with the reason."""
    if "profile" in bad or answers["profile"] not in profiles.PROFILES:
        return []
    chosen = profiles.PROFILES[answers["profile"]]
    errors = []
    backend = answers["_flannel_backend"]
    if backend in chosen.refused_flannel_backends:
        allowed = [b for b in CHOICES["_flannel_backend"]
                   if b not in chosen.refused_flannel_backends]
        errors.append(AnswerError("_flannel_backend", (
            f"{backend!r} cannot work in the {chosen.name} profile: "
            f"{chosen.refused_flannel_backends[backend]}; use {' or '.join(allowed)}")))
    version = answers["kubernetes_version"]
    if ("kubernetes_version" not in bad and chosen.kubernetes_minors
            and not version.startswith(chosen.kubernetes_minors)):
        minors = " or ".join(f"{m}x" for m in chosen.kubernetes_minors)
        errors.append(AnswerError("kubernetes_version", (
            f"{version!r}: the {chosen.name} profile builds Kubernetes {minors} only (its "
            "units, manifests and policy use that release's flags and API, which later "
            f"releases removed); use {minors}, or profile=current for a current release")))
    return errors


def _check_sizes(values: Mapping[str, str], bad: set[str]) -> list[AnswerError]:
    """Each role's droplet size holds the least the profile's role needs (the size table)."""
    profile = values.get("profile", profiles.TUTORIAL.name)
    return [AnswerError(answer, problem) for role, answer in sizes.ROLE_ANSWERS.items()
            if answer in values and answer not in bad and "profile" not in bad
            and (problem := sizes.too_small(profile, role, values[answer]))]


def _check_current(answers: Mapping[str, str], bad: set[str]) -> list[AnswerError]:
    """What the current profile needs beyond each value's rule."""
    if answers["profile"] != "current":
        return []
    errors = [AnswerError(field, message) for field, message in releases.unpinned(answers)
              if field not in bad]
    if "cluster_name" not in bad and answers["cluster_name"] != answers["cluster_name"].lower():
        # the kubelet registers the node under its lower-cased hostname (k8s.io/kubernetes
        # pkg/util/node GetHostname: strings.ToLower), the certificate names the droplet
        errors.append(AnswerError("cluster_name", (
            f"{answers['cluster_name']!r} has upper-case letters: each node registers under "
            "its lower-cased hostname while its kubelet certificate names the droplet, and "
            f"the Node authorizer refuses the mismatch; use {answers['cluster_name'].lower()!r}")))
    if answers["_reboot_strategy"] == "best-effort":
        # flatcar/coreos-cloudinit rejects it (see ../shared/cloudinit/README.md)
        errors.append(AnswerError("_reboot_strategy", (
            "'best-effort' is not accepted by Flatcar's coreos-cloudinit; use reboot, "
            "etcd-lock or off")))
    return errors


def _check_admin_networks(answers: Mapping[str, str], bad: set[str]) -> list[AnswerError]:
    """ADMIN_CIDRS feeds the load balancer's allow list, which takes IPv4 sources only
    (scripts/lib/loadbalancer.sh lb_allow_list): without one IPv4 network nobody could reach
    the apiservers through it (and the lock-down audit refuses a list without ADMIN_CIDRS)."""
    if "admin_cidrs" in bad or any(":" not in item for item in answers["admin_cidrs"].split(",")):
        return []
    return [AnswerError("admin_cidrs", (
        f"{answers['admin_cidrs']!r} holds IPv6 networks only, but the load balancer in front "
        "of the apiservers admits IPv4 sources only: nobody could reach them through it; add "
        "your IPv4 address, e.g. 203.0.113.7/32,2001:db8::/48"))]


def _check_strings(answers: Mapping[str, Any]) -> list[AnswerError]:
    """Every string answer, `_` ones included, passes its schema rule; none is unknown."""
    errors = []
    for key, value in answers.items():
        if key in COOKIECUTTER_KEYS or key in CHOICES:
            continue
        field = BY_ANSWER.get(key)
        if field is None:
            errors.append(AnswerError(key, "is not an answer of this template; remove it"))
        elif not isinstance(value, str):
            errors.append(AnswerError(key, f"{value!r} is not a string"))
        elif value == "" and field.empty_derives:
            continue
        elif problem := rule_problem(field.rule, value):
            errors.append(AnswerError(key, problem))
        elif field.setting and not re.fullmatch(INERT_VALUE, value):
            errors.append(AnswerError(key, f"{value!r} may only hold {INERT_CHARS} "
                                           "(settings.env carries it unquoted)"))
    return errors


def validate(answers: Mapping[str, Any]) -> list[AnswerError]:
    """All problems with the answers, in field order; empty when the bake may proceed."""
    missing = [key for key in [*BY_ANSWER, *CHOICES] if key not in answers]
    if missing:
        return [AnswerError(field, "missing from the answers") for field in missing]
    errors = _check_strings(answers)
    bad = {error.field for error in errors}
    values = {key: value for key, value in answers.items() if isinstance(value, str)}
    errors += _check_choices(values)
    errors += _check_networks(values, bad)
    if not {"_node_port_range", "_inspector_node_port"} & bad:
        errors += _check_ports(values)
    errors += _check_combinations(values, bad)
    errors += _check_profile(values, bad)
    errors += _check_sizes(values, bad)
    errors += _check_current(values, bad)
    errors += _check_admin_networks(values, bad)
    return errors


def validate_settings(settings: Mapping[str, str]) -> list[AnswerError]:
    """settings.env re-checked with the answers' rules; errors name the setting."""
    errors = [AnswerError(key, f"missing from settings.env; re-bake or add {key}=...")
              for key, field in BY_SETTING.items() if field.answer and key not in settings]
    errors += [AnswerError(key, problem) for key, value in settings.items()
               if key in BY_SETTING and (problem := rule_problem(BY_SETTING[key].rule, value))]
    bad = {BY_SETTING[e.field].answer or e.field for e in errors}
    values = {BY_SETTING[key].answer or key: value for key, value in settings.items()
              if key in BY_SETTING}
    setting_of = {f.answer: f.setting for f in BY_SETTING.values()}
    errors += [AnswerError(setting_of.get(e.field) or e.field, e.message)
               for e in _check_networks(values, bad) + _check_sizes(values, bad)]
    return errors
