"""Bad answers stop the bake before anything is written, naming the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.answers import validate

DEFAULTS = {
    "cluster_name": "do-cluster", "region": "ams3", "image": "coreos-alpha",
    "update_group": "alpha", "reboot_strategy": "off", "etcd_size": "s-1vcpu-1gb",
    "controller_size": "s-1vcpu-1gb", "worker_size": "s-1vcpu-1gb", "worker_count": "1",
    "ssh_key_name": "k8s-key", "kubernetes_version": "1.1.2", "kubelet_source": "bundled",
    "pod_network": "10.2.0.0/16", "flannel_backend": "vxlan", "service_cidr": "10.3.0.0/24",
    "dns_service_ip": "10.3.0.10", "cluster_domain": "cluster.local",
    "node_port_range": "30000-37000",
    "admission_control": "NamespaceLifecycle,LimitRanger,SecurityContextDeny,ServiceAccount",
    "podmaster_image": "gcr.io/google_containers/podmaster:1.1",
    "dns_etcd_image": "gcr.io/google_containers/etcd:2.0.9",
    "kube2sky_image": "gcr.io/google_containers/kube2sky:1.11",
    "skydns_image": "skynetservices/skydns:2.5.3a",
    "exechealthz_image": "gcr.io/google_containers/exechealthz:1.0",
    "busybox_image": "busybox", "inspector_image": "b.gcr.io/kuar/inspector:1.0.0",
    "inspector_node_port": "31000", "rsa_bits": "2048", "ca_days": "10000", "cert_days": "365",
}

# (answers, the field the error must name, a word of the fix or reason)
REJECTED = {
    "cluster name with underscore": ({"cluster_name": "my_cluster"}, "cluster_name", "letters"),
    "cluster name with space": ({"cluster_name": "my cluster"}, "cluster_name", "letters"),
    "droplet name too long": ({"cluster_name": "x" * 41}, "cluster_name", "1-40"),
    "CIDR prefix out of range": ({"pod_network": "10.2.0.0/33"}, "pod_network", "CIDR"),
    "CIDR with host bits": ({"service_cidr": "10.3.0.1/24"}, "service_cidr", "CIDR"),
    "CIDR not an address": ({"pod_network": "ten.two/16"}, "pod_network", "CIDR"),
    "pod and service overlap": ({"service_cidr": "10.2.128.0/24", "dns_service_ip": "10.2.128.10"},
                                "service_cidr", "overlaps"),
    "pod network too small": ({"pod_network": "10.2.0.0/24"}, "pod_network", "/24"),
    "DNS IP outside services": ({"dns_service_ip": "10.4.0.10"}, "dns_service_ip", "outside"),
    "DNS IP is the network": ({"dns_service_ip": "10.3.0.0"}, "dns_service_ip", "network address"),
    "DNS IP is the apiserver's": ({"dns_service_ip": "10.3.0.1"}, "dns_service_ip", "apiserver"),
    "DNS IP malformed": ({"dns_service_ip": "10.3.0"}, "dns_service_ip", "IPv4"),
    "node ports reversed": ({"node_port_range": "37000-30000"}, "node_port_range", "LOW-HIGH"),
    "node ports malformed": ({"node_port_range": "30000:37000"}, "node_port_range", "LOW-HIGH"),
    "NodePort outside range": ({"inspector_node_port": "38000"}, "inspector_node_port", "inside"),
    "zero workers": ({"worker_count": "0"}, "worker_count", "1 to 100"),
    "negative workers": ({"worker_count": "-2"}, "worker_count", "1 to 100"),
    "version with v": ({"kubernetes_version": "v1.1.2"}, "kubernetes_version", "MAJOR.MINOR"),
    "region slug malformed": ({"region": "Amsterdam 3"}, "region", "ams3"),
    "size slug malformed": ({"worker_size": "1 GB"}, "worker_size", "slug"),
    "image slug malformed": ({"image": "CoreOS Alpha"}, "image", "slug"),
    "unknown choice": ({"reboot_strategy": "sometimes"}, "reboot_strategy", "one of"),
    "stable channel without kubelet": ({"update_group": "stable"}, "kubelet_source", "download"),
    "weak keys": ({"rsa_bits": "1024"}, "rsa_bits", "2048"),
    "certs outlive the CA": ({"cert_days": "20000"}, "cert_days", "ca_days"),
    "ssh key name with quote": ({"ssh_key_name": "k8s'key"}, "ssh_key_name", "quotes"),
    "domain with trailing dot": (
        {"cluster_domain": "cluster.local."}, "cluster_domain", "trailing"
    ),
}


def test_the_defaults_are_valid() -> None:
    assert validate(DEFAULTS) == []


@pytest.mark.parametrize("case", REJECTED)
def test_validation_names_field_and_fix(case: str) -> None:
    answers, field, hint = REJECTED[case]
    errors = validate({**DEFAULTS, **answers})
    assert [error.field for error in errors] == [field]
    assert hint in errors[0].message


@pytest.mark.parametrize(
    "case",
    ["cluster name with underscore", "CIDR with host bits", "pod and service overlap",
     "DNS IP is the apiserver's", "node ports reversed", "zero workers", "version with v",
     "region slug malformed"],
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

    from generator import TEMPLATE_ROOT

    template = tmp_path / "template"
    shutil.copytree(TEMPLATE_ROOT, template, ignore=shutil.ignore_patterns(".venv", ".git", "out"))
    typo = template / "{{cookiecutter.cluster_name}}" / "cloud-config" / "etcd.yaml"
    typo.write_text(typo.read_text() + "# {{ cookiecutter.regoin }}\n")
    with pytest.raises(UndefinedVariableInTemplate):
        cookiecutter(str(template), no_input=True, output_dir=str(tmp_path / "out"))
    assert list((tmp_path / "out").iterdir()) == []
