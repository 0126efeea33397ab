"""Validate the cookiecutter answers before anything is written.

Every problem names the field and says how to fix it; the pre-generation hook
prints them all at once and stops the bake.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from generator.facts import apiserver_service_ip

# DigitalOcean droplet names allow [A-Za-z0-9.-]; tags allow [A-Za-z0-9_:-]. The cluster
# name goes into both (droplet names and the cluster tag), so only the intersection is safe.
CLUSTER_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}[A-Za-z0-9])?$")
REGION_SLUG = re.compile(r"^[a-z]{3}[0-9]$")
SIZE_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# A public image slug (coreos-alpha) or the numeric ID of a custom image.
IMAGE = re.compile(r"^(?:[a-z0-9]+(?:[.-][a-z0-9]+)*|[0-9]+)$")
VERSION = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")
DNS_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
DOMAIN = re.compile(rf"^{DNS_LABEL}(?:\.{DNS_LABEL})*$")
CONTAINER_IMAGE = re.compile(r"^[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[A-Za-z0-9._-]+)?$")
ADMISSION_LIST = re.compile(r"^[A-Za-z]+(?:,[A-Za-z]+)*$")
PORT_RANGE = re.compile(r"^([0-9]{1,5})-([0-9]{1,5})$")

CHOICES = {
    "update_group": ("alpha", "beta", "stable"),
    "reboot_strategy": ("reboot", "etcd-lock", "best-effort", "off"),
    "kubelet_source": ("bundled", "download"),
    "flannel_backend": ("vxlan", "udp", "host-gw"),
}

# flannel leases one /24 per node out of the pod network.
FLANNEL_SUBNET_PREFIX = 24


@dataclass(frozen=True)
class AnswerError:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def _pattern(regex: re.Pattern[str], fix: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if regex.fullmatch(value) else f"{value!r} is not valid; {fix}"

    return check


def _integer(low: int, high: int) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if not re.fullmatch(r"[0-9]+", value) or not low <= int(value) <= high:
            return f"{value!r} is not valid; use a whole number from {low} to {high}"
        return None

    return check


def _cidr(value: str) -> str | None:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as err:
        return f"{value!r} is not a network in CIDR notation ({err}); write it like 10.2.0.0/16"
    if network.version != 4:
        return f"{value!r} is IPv6; flannel and the tutorial's ranges are IPv4, e.g. 10.2.0.0/16"
    return None


FIELD_CHECKS: dict[str, Callable[[str], str | None]] = {
    "cluster_name": _pattern(
        CLUSTER_NAME,
        "use 1-40 letters, digits and inner '-' (it prefixes droplet names and is a tag)",
    ),
    "region": _pattern(REGION_SLUG, "use a DigitalOcean region slug such as ams3 or nyc1"),
    "etcd_size": _pattern(SIZE_SLUG, "use a droplet size slug such as s-1vcpu-1gb"),
    "controller_size": _pattern(SIZE_SLUG, "use a droplet size slug such as s-1vcpu-1gb"),
    "worker_size": _pattern(SIZE_SLUG, "use a droplet size slug such as s-1vcpu-1gb"),
    "image": _pattern(IMAGE, "use an image slug (coreos-alpha) or a custom image's numeric ID"),
    "ssh_key_name": _pattern(
        re.compile(r"^[^,\s'\"`$\\][^,'\"`$\\]{0,254}$"),
        "use the name of an SSH key registered at DigitalOcean (no commas, quotes, $ or \\)",
    ),
    "worker_count": _integer(1, 100),
    "kubernetes_version": _pattern(VERSION, "use MAJOR.MINOR.PATCH without a 'v', e.g. 1.1.2"),
    "pod_network": _cidr,
    "service_cidr": _cidr,
    "cluster_domain": _pattern(DOMAIN, "use a lower-case DNS domain without trailing dot"),
    "admission_control": _pattern(
        ADMISSION_LIST, "use comma-separated plug-in names without spaces"
    ),
    "podmaster_image": _pattern(CONTAINER_IMAGE, "use an image reference like repo/name:tag"),
    "dns_etcd_image": _pattern(CONTAINER_IMAGE, "use an image reference like repo/name:tag"),
    "kube2sky_image": _pattern(CONTAINER_IMAGE, "use an image reference like repo/name:tag"),
    "skydns_image": _pattern(CONTAINER_IMAGE, "use an image reference like repo/name:tag"),
    "exechealthz_image": _pattern(CONTAINER_IMAGE, "use an image reference like repo/name:tag"),
    "busybox_image": _pattern(CONTAINER_IMAGE, "use an image reference like repo/name:tag"),
    "inspector_image": _pattern(CONTAINER_IMAGE, "use an image reference like repo/name:tag"),
    "rsa_bits": _integer(2048, 8192),
    "ca_days": _integer(1, 36500),
    "cert_days": _integer(1, 36500),
}


def _check_choices(answers: Mapping[str, str]) -> list[AnswerError]:
    return [
        AnswerError(field, f"{answers[field]!r} is not one of: {', '.join(allowed)}")
        for field, allowed in CHOICES.items()
        if answers[field] not in allowed
    ]


def _check_networks(answers: Mapping[str, str], bad: set[str]) -> list[AnswerError]:
    errors: list[AnswerError] = []
    if {"pod_network", "service_cidr"} & bad:
        return errors
    pods = ipaddress.ip_network(answers["pod_network"])
    services = ipaddress.ip_network(answers["service_cidr"])
    if pods.overlaps(services):
        errors.append(
            AnswerError(
                "service_cidr",
                f"{services} overlaps pod_network {pods}; pick disjoint ranges "
                "(tutorial: pods 10.2.0.0/16, services 10.3.0.0/24)",
            )
        )
    if services.num_addresses < 16:
        errors.append(
            AnswerError("service_cidr", f"{services} is too small; use a /28 or larger")
        )
    nodes = (1 if "worker_count" in bad else int(answers["worker_count"])) + 1
    if pods.prefixlen >= FLANNEL_SUBNET_PREFIX or (
        2 ** (FLANNEL_SUBNET_PREFIX - pods.prefixlen) < nodes
    ):
        errors.append(
            AnswerError(
                "pod_network",
                f"{pods} cannot give each of the {nodes} nodes (controller + workers) "
                f"its own /{FLANNEL_SUBNET_PREFIX}; use a larger network such as 10.2.0.0/16",
            )
        )
    errors.extend(_check_dns_ip(answers["dns_service_ip"], services))
    return errors


def _check_dns_ip(value: str, services: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[
    AnswerError
]:
    try:
        dns_ip = ipaddress.ip_address(value)
    except ValueError:
        return [AnswerError("dns_service_ip", f"{value!r} is not an IPv4 address, e.g. 10.3.0.10")]
    reserved = {
        services.network_address: "the network address",
        ipaddress.ip_address(apiserver_service_ip(str(services))): "the apiserver's service IP",
        services.broadcast_address: "the broadcast address",
    }
    if dns_ip not in services:
        return [
            AnswerError(
                "dns_service_ip",
                f"{dns_ip} is outside service_cidr {services}; pick an address inside it",
            )
        ]
    if dns_ip in reserved:
        return [
            AnswerError(
                "dns_service_ip",
                f"{dns_ip} is {reserved[dns_ip]} of {services}; pick another, e.g. "
                f"{services.network_address + 10}",
            )
        ]
    return []


def _check_ports(answers: Mapping[str, str]) -> list[AnswerError]:
    match = PORT_RANGE.fullmatch(answers["node_port_range"])
    if not match or not 1024 <= int(match[1]) < int(match[2]) <= 65535:
        return [
            AnswerError(
                "node_port_range",
                f"{answers['node_port_range']!r} is not valid; use LOW-HIGH with "
                "1024 <= LOW < HIGH <= 65535, e.g. 30000-37000",
            )
        ]
    port = answers["inspector_node_port"]
    if not port.isdigit() or not int(match[1]) <= int(port) <= int(match[2]):
        return [
            AnswerError(
                "inspector_node_port",
                f"{port!r} is outside node_port_range {answers['node_port_range']}; "
                "pick a port inside it",
            )
        ]
    return []


def _check_combinations(answers: Mapping[str, str], bad: set[str]) -> list[AnswerError]:
    errors: list[AnswerError] = []
    if answers["update_group"] == "stable" and answers["kubelet_source"] == "bundled":
        errors.append(
            AnswerError(
                "kubelet_source",
                "CoreOS stable never bundles the kubelet; choose 'download' or the "
                "alpha/beta update_group",
            )
        )
    if not {"ca_days", "cert_days"} & bad and int(answers["cert_days"]) > int(
        answers["ca_days"]
    ):
        errors.append(
            AnswerError(
                "cert_days",
                f"{answers['cert_days']} days outlives the CA ({answers['ca_days']} days); "
                "use at most ca_days",
            )
        )
    return errors


def validate(answers: Mapping[str, Any]) -> list[AnswerError]:
    """All problems with the answers, in field order; empty when the bake may proceed."""
    values = {key: str(value).strip() for key, value in answers.items() if not key.startswith("_")}
    missing = [field for field in [*FIELD_CHECKS, *CHOICES] if field not in values]
    if missing:
        return [AnswerError(field, "missing from the answers") for field in missing]
    errors = [
        AnswerError(field, problem)
        for field, check in FIELD_CHECKS.items()
        if (problem := check(values[field]))
    ]
    bad = {error.field for error in errors}
    errors += _check_choices(values)
    errors += _check_networks(values, bad)
    errors += _check_ports(values)
    errors += _check_combinations(values, bad)
    return errors
