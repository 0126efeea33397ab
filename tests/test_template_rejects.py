"""Bad answers stop the bake before anything is written, naming the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import TEMPLATE_ROOT
from generator.answers import validate
from generator.schema import COOKIECUTTER_KEYS
from tests.baking import default_answers

# The template's own defaults (choices: their first entry), `_` answers included.
DEFAULTS = {key: value for key, value in default_answers().items()
            if key not in COOKIECUTTER_KEYS}

# (answers, the field the error must name, a word of the fix or reason)
REJECTED = {
    "cluster name with underscore": ({"cluster_name": "my_cluster"}, "cluster_name", "letters"),
    "cluster name with space": ({"cluster_name": "my cluster"}, "cluster_name", "letters"),
    "droplet name too long": ({"cluster_name": "x" * 41}, "cluster_name", "1-40"),
    "CIDR prefix out of range": ({"_pod_network": "10.2.0.0/33"}, "_pod_network", "CIDR"),
    "CIDR with host bits": ({"_service_cidr": "10.3.0.1/24"}, "_service_cidr",
                            "write 10.3.0.0/24"),
    "CIDR not an address": ({"_pod_network": "ten.two/16"}, "_pod_network", "CIDR"),
    "pod and service overlap": (
        {"_service_cidr": "10.2.128.0/24", "_dns_service_ip": "10.2.128.10"},
        "_service_cidr", "overlaps"),
    "pod network too small": ({"_pod_network": "10.2.0.0/24"}, "_pod_network", "/24"),
    "DNS IP outside services": ({"_dns_service_ip": "10.4.0.10"}, "_dns_service_ip", "outside"),
    "DNS IP is the network": ({"_dns_service_ip": "10.3.0.0"}, "_dns_service_ip",
                              "network address"),
    "DNS IP is the apiserver's": ({"_dns_service_ip": "10.3.0.1"}, "_dns_service_ip", "apiserver"),
    "DNS IP malformed": ({"_dns_service_ip": "10.3.0"}, "_dns_service_ip", "IPv4"),
    "node ports reversed": ({"_node_port_range": "37000-30000"}, "_node_port_range", "LOW-HIGH"),
    "node ports malformed": ({"_node_port_range": "30000:37000"}, "_node_port_range", "LOW-HIGH"),
    "NodePort outside range": ({"_inspector_node_port": "38000"}, "_inspector_node_port", "inside"),
    "zero workers": ({"worker_count": "0"}, "worker_count", "1 to 99"),
    "negative workers": ({"worker_count": "-2"}, "worker_count", "1 to 99"),
    # issue 12: an etcd cluster of an even size or more than 5 members
    "two etcd members": ({"etcd_count": "2"}, "etcd_count", "use 1, 3 or 5"),
    "seven etcd members": ({"etcd_count": "7"}, "etcd_count", "use 1, 3 or 5"),
    "etcd count with a leading zero": ({"etcd_count": "03"}, "etcd_count", "use 1, 3 or 5"),
    "version with v": ({"kubernetes_version": "v1.1.2"}, "kubernetes_version", "MAJOR.MINOR"),
    "region slug malformed": ({"region": "Amsterdam 3"}, "region", "ams3"),
    "size slug malformed": ({"worker_size": "1 GB"}, "worker_size", "slug"),
    "image slug malformed": ({"image": "CoreOS Alpha"}, "image", "slug"),
    "unknown choice": ({"_reboot_strategy": "sometimes"}, "_reboot_strategy", "one of"),
    "stable channel without kubelet": ({"_update_group": "stable"}, "_kubelet_source", "download"),
    "weak keys": ({"_rsa_bits": "1024"}, "_rsa_bits", "2048"),
    "certs outlive the CA": ({"_cert_days": "20000"}, "_cert_days", "_ca_days"),
    "ssh key name with quote": ({"ssh_key_name": "k8s'key"}, "ssh_key_name", "quotes"),
    "domain with trailing dot": (
        {"_cluster_domain": "cluster.local."}, "_cluster_domain", "trailing"
    ),
    # issue 9 row 2: a line break in the key name wrote make directives into settings.env
    "ssh key name with a line break": (
        {"ssh_key_name": "k8s-key\nX != touch /tmp/pwned\nY="}, "ssh_key_name", "line break"),
    "ssh key name with a space": ({"ssh_key_name": "my key"}, "ssh_key_name", "no spaces"),
    # row 3: `_` answers given on the command line were never validated
    "_ssl_dir with a command": (
        {"_ssl_dir": "/etc/kssl;touch${IFS}/tmp/x"}, "_ssl_dir", "absolute path"),
    "_etcd_client_port not a port": ({"_etcd_client_port": "2379;id"}, "_etcd_client_port",
                                     "port number"),
    "_etcd_member with a quote": ({"_etcd_member": 'etcd"01'}, "_etcd_member", "DNS label"),
    # row 7: values were stripped for the check but written raw
    "region with a leading space": ({"region": " ams3"}, "region", "never trimmed"),
    "size with a trailing tab": ({"worker_size": "s-1vcpu-1gb\t"}, "worker_size",
                                 "never trimmed"),
    # row 8: unquoted YAML scalars kubectl reads as a number or a bool
    "cluster name that is a number": ({"cluster_name": "1234"}, "cluster_name", "number, bool"),
    "cluster name that is a bool": ({"cluster_name": "yes"}, "cluster_name", "number, bool"),
    "cluster name that is a float": ({"cluster_name": "1e5"}, "cluster_name", "number, bool"),
    # row 9: netmask notation was accepted and copied verbatim
    "CIDR with a netmask": ({"_pod_network": "10.2.0.0/255.255.0.0"}, "_pod_network",
                            "write 10.2.0.0/16"),
    # row 12: one worker limit (two-digit droplet names)
    "100 workers": ({"worker_count": "100"}, "worker_count", "1 to 99"),
    # issue 12: controllers are named -01..-09 and each takes a node subnet
    "zero controllers": ({"controller_count": "0"}, "controller_count", "1 to 9"),
    "ten controllers": ({"controller_count": "10"}, "controller_count", "1 to 9"),
    "pod network too small for the controllers": (
        {"_pod_network": "10.2.0.0/23", "controller_count": "2"}, "_pod_network",
        "2 controller(s) and 1 worker(s) need 3"),
    # row 13: passed the answer check, failed only in the post-bake audit
    "version with a trailing line break": ({"kubernetes_version": "1.1.2\n"},
                                           "kubernetes_version", "line break"),
    "NodePort with a leading zero": ({"_inspector_node_port": "031000"}, "_inspector_node_port",
                                     "leading zeros"),
    "300-character image": ({"_podmaster_image": "a" * 300}, "_podmaster_image", "128"),
    # issue 10 row 1: the firewall's source networks
    "admin networks with a space": ({"admin_cidrs": "203.0.113.7/32, ::/0"}, "admin_cidrs",
                                    "without spaces"),
    "admin network without a prefix": ({"admin_cidrs": "203.0.113.7"}, "admin_cidrs",
                                       "networks"),
    "NodePort network prefix too long": ({"_nodeport_cidrs": "10.0.0.0/33"}, "_nodeport_cidrs",
                                         "networks"),
    "admin networks empty": ({"admin_cidrs": ""}, "admin_cidrs", "0.0.0.0/0,::/0"),
    # issue 18 row 4: an IPv6-only list failed the bake's audit as a "template defect"
    "admin networks IPv6 only": ({"admin_cidrs": "2001:db8::/48,::/0"}, "admin_cidrs",
                                 "admits IPv4 sources only"),
}


def test_the_defaults_are_valid() -> None:
    assert validate(DEFAULTS) == []


@pytest.mark.parametrize("case", REJECTED)
def test_validation_names_field_and_fix(case: str) -> None:
    answers, field, hint = REJECTED[case]
    errors = validate({**DEFAULTS, **answers})
    assert [error.field for error in errors] == [field]
    assert hint in errors[0].message


# Issue 17.7: answers the chosen profile's system cannot honour, refused with the reason
# (generator/profiles.py). (profile, answers, field, words of the reason)
PROFILE_REFUSALS = {
    "current with udp": ("current", {"_flannel_backend": "udp"}, "_flannel_backend",
                         "privileged"),
    "current with host-gw": ("current", {"_flannel_backend": "host-gw"}, "_flannel_backend",
                             "DigitalOcean"),
    # issue 18 row 6: the kubelet certificate named Prod-worker-01, the node prod-worker-01
    "current with an upper-case cluster name": ("current", {"cluster_name": "Prod"},
                                                "cluster_name", "use 'prod'"),
    "tutorial with 1.37.0": ("tutorial", {"kubernetes_version": "1.37.0"},
                             "kubernetes_version", "1.1.x only"),
    "tutorial with 1.10.0": ("tutorial", {"kubernetes_version": "1.10.0"},
                             "kubernetes_version", "1.1.x only"),
}


@pytest.mark.parametrize("case", PROFILE_REFUSALS)
def test_answers_the_profile_cannot_honour_are_refused_with_the_reason(case: str) -> None:
    profile, answers, field, reason = PROFILE_REFUSALS[case]
    base = {key: value for key, value in default_answers(profile=profile).items()
            if key not in COOKIECUTTER_KEYS}
    assert validate(base) == []
    errors = validate({**base, **answers})
    assert [error.field for error in errors] == [field]
    assert reason in errors[0].message and "use " in errors[0].message


@pytest.mark.parametrize("answers", [{"profile": "tutorial", "cluster_name": "Prod"},
                                     {"profile": "current",
                                      "admin_cidrs": "2001:db8::/48,203.0.113.7/32"},
                                     {"profile": "tutorial", "_flannel_backend": "udp"},
                                     {"profile": "tutorial", "_flannel_backend": "host-gw"},
                                     {"profile": "tutorial", "kubernetes_version": "1.1.8"}])
def test_what_the_profile_honours_is_accepted(answers: dict[str, str]) -> None:
    """The tutorial ran flannel with any backend on CoreOS's host flanneld; 1.1 patches; its
    nodes register by IP (an upper-case name is fine); IPv6 admin networks beside IPv4."""
    base = {key: value for key, value in default_answers(profile=answers["profile"]).items()
            if key not in COOKIECUTTER_KEYS}
    assert validate({**base, **answers}) == []


@pytest.mark.parametrize(
    "case",
    ["cluster name with underscore", "CIDR with host bits", "pod and service overlap",
     "DNS IP is the apiserver's", "node ports reversed", "zero workers", "version with v",
     "region slug malformed", "ssh key name with a line break", "_ssl_dir with a command",
     "region with a leading space", "cluster name that is a number", "CIDR with a netmask",
     "100 workers", "version with a trailing line break", "NodePort with a leading zero",
     "300-character image"],
)
def test_rejected_bake_leaves_no_directory(
    cookies: object, tmp_path: Path, capfd: pytest.CaptureFixture[str], case: str
) -> None:
    answers, field, hint = REJECTED[case]
    result = cookies.bake(extra_context=answers)  # type: ignore[attr-defined]
    assert result.exit_code != 0
    assert result.project_path is None or not result.project_path.exists()
    # pytest-cookies bakes into <tmp_path>/cookies/bakeNN: only that empty folder may remain.
    left = [p for p in (tmp_path / "cookies").rglob("*") if not p.name.startswith("bake")]
    assert left == []
    stderr = capfd.readouterr().err
    assert f"{field}: " in stderr and hint in stderr


def test_an_undefined_variable_fails_the_bake_and_leaves_nothing(tmp_path: Path) -> None:
    """StrictUndefined: a typo in a template is an error, not an empty string in user data."""
    import shutil

    from cookiecutter.exceptions import UndefinedVariableInTemplate
    from cookiecutter.main import cookiecutter


    template = tmp_path / "template"
    shutil.copytree(TEMPLATE_ROOT, template, ignore=shutil.ignore_patterns(".venv", ".git", "out"))
    typo = template / "{{cookiecutter.cluster_name}}/profiles/tutorial/cloud-config/etcd.yaml"
    typo.write_text(typo.read_text() + "# {{ cookiecutter.regoin }}\n")
    with pytest.raises(UndefinedVariableInTemplate):
        cookiecutter(str(template), no_input=True, output_dir=str(tmp_path / "out"))
    assert list((tmp_path / "out").iterdir()) == []
