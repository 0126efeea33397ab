"""The one schema of the answers and of settings.env: each value's rule is defined here once.

The pre-generation hook checks the answers with it, the audit re-checks settings.env with it,
and the bake writes it as a table (`settings.rules`) that scripts/lib/settings.sh applies
before every apply touches the API. So every regex here is written in the subset that Python's
`re` and POSIX extended regexes (bash `=~`) read alike: plain groups, classes, `{m,n}`, `?*+|`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

# Droplet names use two digits (cluster-worker-01 .. -99): the one worker limit.
MAX_WORKERS = 99
# Controllers are named like workers (cluster-controller-01 ..); every one of them contends for
# the podmaster leases and takes a node subnet: a handful is what high availability needs.
MAX_CONTROLLERS = 9
# flannel leases one /24 per node (controller and each worker) out of the pod network.
NODE_SUBNET_PREFIX = 24
# etcd members: one (the tutorial) or a static cluster that keeps a quorum without one or two.
ETCD_COUNTS = ("1", "3", "5")
# Every settings.env value is `include`d by make and sourced by bash unquoted: only characters
# inert for both (no quoting, expansion, comment, continuation, word splitting or tilde).
INERT_VALUE = r"^[A-Za-z0-9._/:,@+-]*$"
INERT_CHARS = "letters, digits and . _ / : , @ + -"
# Plain YAML scalars that a YAML 1.1 reader (PyYAML, go-yaml v2 in kubectl) takes for a bool,
# a null or a number, not for the intended string.
YAML_WORDS = ("y", "n", "yes", "no", "on", "off", "true", "false", "null", "~")
YAML_NUMBER = (
    r"^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?$"
    r"|^[-+]?0[bBoOxX][0-9a-fA-F_]+$|^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+$"
)

_DNS_LABEL = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_IMAGE_FIX = "use an image reference like repo/name:tag, at most 128 characters"
_PATH_FIX = "use an absolute path of letters, digits and . _ - (at most {} characters)"
_PORT_FIX = "use a port number from 1 to 65535, without leading zeros"


@dataclass(frozen=True)
class Rule:
    """kind 'pattern' (a = max length, b = regex), 'int' (a..b), 'cidr' or 'ip'."""

    kind: str
    a: str = "-"
    b: str = "-"
    yaml: bool = False  # the value lands in YAML as a plain scalar: must read as a string
    fix: str = ""


def pattern(max_len: int, regex: str, fix: str, *, yaml: bool = True) -> Rule:
    return Rule("pattern", str(max_len), f"^({regex})$", yaml, fix)


def integer(low: int, high: int, fix: str = "") -> Rule:
    return Rule("int", str(low), str(high), False, fix or f"use a whole number from {low} to "
                f"{high}, without leading zeros")


CIDR = Rule("cidr", fix="write an IPv4 network in prefix form, e.g. 10.2.0.0/16")
IPV4 = Rule("ip", fix="write an IPv4 address such as 10.3.0.10")


@dataclass(frozen=True)
class Field:
    answer: str | None  # the cookiecutter key (None: derived, only in settings.env)
    setting: str | None  # the settings.env key (None: not in settings.env)
    rule: Rule
    # an empty answer is allowed and derived by the bake (generator.facts); settings.env always
    # carries the derived value
    empty_derives: bool = False


_NAME = pattern(40, "[A-Za-z0-9]([A-Za-z0-9-]{0,38}[A-Za-z0-9])?",
                "use 1-40 letters, digits and inner '-' (it prefixes droplet names and is a tag)")
_SIZE = pattern(64, "[a-z0-9]+(-[a-z0-9]+)*", "use a droplet size slug such as s-1vcpu-1gb")
_IMAGE = pattern(128, "[a-z0-9]+([._/-][a-z0-9]+)*(:[A-Za-z0-9._-]+)?", _IMAGE_FIX)
# The current profile's add-on and smoke images: pinned to a version tag (one with a digit:
# not `latest`), so every node runs the image the manifests were validated with.
_PINNED_IMAGE = pattern(
    128, "[a-z0-9]+([._/-][a-z0-9]+)*:[A-Za-z0-9._-]*[0-9][A-Za-z0-9._-]*",
    "pin a version tag: repo/name:TAG with a digit in TAG (not latest), at most 128 characters")
_PATH = "(/[A-Za-z0-9._-]+)+"
_DROPLET = pattern(63, "[A-Za-z0-9]([A-Za-z0-9.-]{0,61}[A-Za-z0-9])?",
                   "it is derived from CLUSTER_NAME: re-bake rather than edit it")
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CIDR_ITEM = (f"{_OCTET}(\\.{_OCTET}){{3}}/(3[0-2]|[12]?[0-9])"
              "|[0-9a-f]{0,4}(:[0-9a-f]{0,4}){2,7}/(12[0-8]|1[01][0-9]|[1-9]?[0-9])")
# Firewall sources: the DigitalOcean API takes IPv4 and IPv6 networks (doctl address:...).
_CIDRS = pattern(1000, f"({_CIDR_ITEM})(,({_CIDR_ITEM})){{0,49}}",
                 "list IPv4/IPv6 networks separated by commas, without spaces, e.g. "
                 "203.0.113.7/32,2001:db8::/48 (0.0.0.0/0,::/0 is everyone)", yaml=False)
_TAG = pattern(255, "[A-Za-z0-9_:-]+", "it is derived from CLUSTER_NAME: re-bake rather than "
               "edit it")

# What each profile builds: Flatcar + current Kubernetes, or the tutorial's CoreOS + Kubernetes
# 1.1.2 (which no longer boots at DigitalOcean). Profile-specific artifacts live side by side in
# the template's profiles/<name>/ and the post-generation hook keeps only the chosen one's.
# The first is the default: cookiecutter.json lists them in this order (a test holds the two
# together), and cookiecutter answers a choice with its first entry unless told otherwise.
PROFILES = ("current", "tutorial")
DEFAULT_PROFILE = PROFILES[0]

FIELDS: tuple[Field, ...] = (
    Field("profile", "PROFILE", pattern(
        16, "|".join(PROFILES), f"use one of: {', '.join(PROFILES)}", yaml=False)),
    Field("cluster_name", "CLUSTER_NAME", _NAME),
    Field("region", "REGION", pattern(
        4, "[a-z]{3}[0-9]", "use a DigitalOcean region slug such as ams3 or nyc1")),
    Field("image", "IMAGE", pattern(
        64, "[a-z0-9]+([.-][a-z0-9]+)*|[0-9]+|",
        "use an image slug (coreos-alpha) or a custom image's numeric ID (current profile: "
        "empty, and `make image` imports Flatcar)", yaml=False)),
    Field("etcd_size", "ETCD_SIZE", _SIZE),
    Field("controller_size", "CONTROLLER_SIZE", _SIZE),
    Field("worker_size", "WORKER_SIZE", _SIZE),
    Field("worker_count", "WORKER_COUNT", integer(1, MAX_WORKERS)),
    # A static etcd cluster: an odd size keeps a majority through the loss of (N-1)/2 members.
    Field("etcd_count", "ETCD_COUNT", pattern(
        1, "|".join(ETCD_COUNTS), f"use {', '.join(ETCD_COUNTS[:-1])} or {ETCD_COUNTS[-1]} "
        "(1 is the tutorial's single member; 3 or 5 survive the loss of 1 or 2)", yaml=False)),
    Field("controller_count", "CONTROLLER_COUNT", integer(1, MAX_CONTROLLERS)),
    Field("ssh_key_name", "SSH_KEY_NAME", pattern(
        255, "[A-Za-z0-9][A-Za-z0-9._@+-]{0,254}",
        "use the name of an SSH key registered at DigitalOcean made of letters, digits and "
        ". _ @ + - (no spaces, quotes, $ or \\: settings.env carries it unquoted); rename the "
        "key with 'doctl compute ssh-key update ID --key-name NAME'")),
    Field("kubernetes_version", "KUBERNETES_VERSION", pattern(
        20, "[0-9]+\\.[0-9]+\\.[0-9]+",
        "use MAJOR.MINOR.PATCH without a 'v' (at most 20 characters), e.g. 1.2.0")),
    Field("_pod_network", "POD_NETWORK", CIDR),
    Field("_service_cidr", "SERVICE_CIDR", CIDR),
    # empty: the 10th address of _service_cidr (facts.dns_service_ip)
    Field("_dns_service_ip", "DNS_SERVICE_IP", IPV4, empty_derives=True),
    Field("_cluster_domain", "CLUSTER_DOMAIN", pattern(
        100, f"{_DNS_LABEL}(\\.{_DNS_LABEL})*",
        "use a lower-case DNS domain without trailing dot, at most 100 characters")),
    Field("_node_port_range", None, pattern(
        11, "[0-9]{4,5}-[0-9]{4,5}", "use LOW-HIGH with 1024 <= LOW < HIGH <= 65535, e.g. "
        "30000-37000", yaml=False)),
    Field("_admission_control", None, pattern(
        150, "[A-Za-z]+(,[A-Za-z]+)*",
        "use comma-separated plug-in names without spaces, at most 150 characters")),
    Field("_podmaster_image", None, _IMAGE),
    Field("_dns_etcd_image", None, _IMAGE),
    Field("_kube2sky_image", None, _IMAGE),
    Field("_skydns_image", None, _IMAGE),
    Field("_exechealthz_image", None, _IMAGE),
    Field("_busybox_image", None, _IMAGE),
    Field("_inspector_image", None, _IMAGE),
    Field("_inspector_node_port", "INSPECTOR_NODE_PORT", integer(1, 65535, _PORT_FIX)),
    # Pins and where they come from: profiles/current/manifests/README.md.
    Field("_coredns_image", None, _PINNED_IMAGE),
    Field("_flannel_image", None, _PINNED_IMAGE),
    Field("_flannel_cni_plugin_image", None, _PINNED_IMAGE),
    Field("_do_ccm_image", None, _PINNED_IMAGE),
    Field("_csi_do_image", None, _PINNED_IMAGE),
    Field("_csi_provisioner_image", None, _PINNED_IMAGE),
    Field("_csi_attacher_image", None, _PINNED_IMAGE),
    Field("_csi_resizer_image", None, _PINNED_IMAGE),
    Field("_csi_node_registrar_image", None, _PINNED_IMAGE),
    Field("_csi_udev_image", None, _PINNED_IMAGE),
    Field("_metrics_server_image", None, _PINNED_IMAGE),
    Field("_smoke_dns_image", None, _PINNED_IMAGE),
    Field("_smoke_http_image", None, _PINNED_IMAGE),
    Field("admin_cidrs", "ADMIN_CIDRS", _CIDRS),
    Field("_nodeport_cidrs", "NODEPORT_CIDRS", _CIDRS),
    Field("_rsa_bits", "RSA_BITS", integer(2048, 8192)),
    Field("_ca_days", None, integer(1, 36500)),
    Field("_cert_days", "CERT_DAYS", integer(1, 36500)),
    Field("_etcd_member", "ETCD_MEMBER", pattern(63, _DNS_LABEL, "use a lower-case DNS label")),
    # current profile: the etcd release its etcd droplet runs (sum pinned in generator/data/)
    Field("_etcd_version", None, pattern(
        20, "[0-9]+\\.[0-9]+\\.[0-9]+", "use MAJOR.MINOR.PATCH without a 'v', e.g. 3.6.14")),
    # current profile: the CNI plugins release its nodes install (sum pinned in generator/data/)
    Field("_cni_plugins_version", None, pattern(
        20, "[0-9]+\\.[0-9]+\\.[0-9]+", "use MAJOR.MINOR.PATCH without a 'v', e.g. 1.9.1")),
    Field("_etcd_client_port", "ETCD_CLIENT_PORT", integer(1, 65535, _PORT_FIX)),
    Field("_etcd_peer_port", "ETCD_PEER_PORT", integer(1, 65535, _PORT_FIX)),
    Field("_apiserver_local_port", None, integer(1, 65535, _PORT_FIX)),
    Field("_apiserver_secure_port", "APISERVER_SECURE_PORT", integer(1, 65535, _PORT_FIX)),
    # Lengths: what keeps the longest generated line within the .yamllint limit (200).
    Field("_ssl_dir", "SSL_DIR", pattern(32, _PATH, _PATH_FIX.format(32))),
    Field("_etcd_ssl_dir", "ETCD_SSL_DIR", pattern(32, _PATH, _PATH_FIX.format(32))),
    Field("_etcd_cluster_env", "ETCD_CLUSTER_ENV", pattern(64, _PATH, _PATH_FIX.format(64))),
    Field("_manifest_dir", None, pattern(64, _PATH, _PATH_FIX.format(64))),
    Field("_manifest_src_dir", None, pattern(64, _PATH, _PATH_FIX.format(64))),
    Field("_kubeconfig_path", None, pattern(64, _PATH, _PATH_FIX.format(64))),
    # Derived by the bake; checked when present, so an edited settings.env is as strict.
    Field(None, "SSH_USER", pattern(32, "[a-z_][a-z0-9_-]{0,31}", "use a Unix user name")),
    Field(None, "ETCD_NAME", _DROPLET),
    Field(None, "ETCD_PREFIX", _DROPLET),
    Field(None, "CONTROLLER_NAME", _DROPLET),
    Field(None, "WORKER_PREFIX", _DROPLET),
    Field(None, "CONTROLLER_PREFIX", _DROPLET),
    Field(None, "LOAD_BALANCER", _DROPLET),
    Field(None, "CLUSTER_TAG", _TAG),
    Field(None, "ETCD_TAG", _TAG),
    Field(None, "CONTROLLER_TAG", _TAG),
    Field(None, "WORKER_TAG", _TAG),
    Field(None, "CLOUD_TAG", _TAG),
    Field(None, "NODES_FIREWALL", _DROPLET),
    Field(None, "APISERVER_FIREWALL", _DROPLET),
    Field(None, "APISERVER_SERVICE_IP", IPV4),
)

CHOICES = {
    "profile": PROFILES,
    "_update_group": ("alpha", "beta", "stable"),
    "_reboot_strategy": ("reboot", "etcd-lock", "best-effort", "off"),
    "_kubelet_source": ("bundled", "download"),
    "_flannel_backend": ("vxlan", "udp", "host-gw"),
}
# Keys cookiecutter itself puts into the context (never rendered into the cluster repo).
COOKIECUTTER_KEYS = ("_template", "_output_dir", "_repo_dir", "_checkout", "_extensions",
                     "_copy_without_render", "__prompts__")

BY_ANSWER = {f.answer: f for f in FIELDS if f.answer}
BY_SETTING = {f.setting: f for f in FIELDS if f.setting}


def _canonical_int(value: str) -> bool:
    return re.fullmatch(r"[1-9][0-9]{0,8}|0", value) is not None


def reads_as_text(value: str) -> bool:
    """A plain YAML scalar with this text is read back as this string by YAML 1.1 readers."""
    return value.lower() not in YAML_WORDS and re.search(YAML_NUMBER, value) is None


def problem(rule: Rule, value: str) -> str | None:
    """What is wrong with value under rule (None: it passes). Mirrored by settings.sh."""
    shown = repr(value if len(value) <= 60 else f"{value[:40]}...({len(value)} characters)")
    if value != value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        return (f"{shown} has leading/trailing whitespace or a control character (a line "
                "break?); remove it: values are never trimmed")
    if rule.kind == "pattern":
        if len(value) > int(rule.a) or not re.search(rule.b, value):
            return f"{shown} is not valid; {rule.fix}"
    elif rule.kind == "int":
        if not _canonical_int(value) or not int(rule.a) <= int(value) <= int(rule.b):
            return f"{shown} is not valid; {rule.fix}"
    elif rule.kind == "cidr":
        return _cidr_problem(value)
    elif rule.kind == "ip":
        try:
            if str(ipaddress.IPv4Address(value)) != value:
                raise ValueError(value)
        except ValueError:
            return f"{shown} is not an IPv4 address; {rule.fix}"
    if rule.yaml and not reads_as_text(value):
        return (f"{shown} would read as a number, bool or null in the generated YAML; "
                "include a letter and avoid yes/no/on/off/true/false/null")
    return None


def _cidr_problem(value: str) -> str | None:
    fix = "write an IPv4 network in prefix form, e.g. 10.2.0.0/16"
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError as err:
        return f"{value!r} is not a network in CIDR notation ({err}); {fix}"
    if network.version != 4:
        return f"{value!r} is IPv6; flannel and the tutorial's ranges are IPv4: {fix}"
    if str(network) != value:
        return f"{value!r} is not in canonical prefix form; write {network}"
    return None


def settings_rules() -> str:
    """The schema as the tab-separated table settings.sh reads (rendered as settings.rules)."""
    lines = [
        "# Generated by the bake from the template's generator/schema.py: the rules",
        "# scripts/lib/settings.sh checks settings.env against. Do not edit; re-bake.",
        f"const\tMAX_WORKERS\t{MAX_WORKERS}",
        f"const\tNODE_SUBNET_PREFIX\t{NODE_SUBNET_PREFIX}",
        f"const\tINERT_VALUE\t{INERT_VALUE}",
        f"const\tINERT_CHARS\t{INERT_CHARS}",
        f"const\tYAML_WORDS\t{' '.join(YAML_WORDS)}",
        f"const\tYAML_NUMBER\t{YAML_NUMBER}",
    ]
    for f in FIELDS:
        if f.setting:
            r = f.rule
            lines.append("\t".join(("field", f.setting, "required" if f.answer else "optional",
                                    r.kind, r.a, r.b, "yaml" if r.yaml else "-", r.fix)))
    return "\n".join(lines) + "\n"
