"""The default bake: every artifact is there, fully rendered, parseable and lint-clean."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

EXPECTED_FILES = [
    "README.md",
    "Makefile",
    "settings.env",
    "settings.rules",
    ".gitignore",
    ".yamllint",
    ".pre-commit-config.yaml",
    "cloud-config/etcd.yaml",
    "cloud-config/controller.yaml",
    "cloud-config/worker.yaml",
    "manifests/controller/kube-controller.yaml",
    "manifests/controller/kube-scheduler.yaml",
    "manifests/controller/kube-controller-manager.yaml",
    "manifests/addons/kube-dns-svc.yaml",
    "manifests/addons/kube-dns-rc.yaml",
    "manifests/smoke/busybox.yaml",
    "manifests/smoke/inspector.yaml",
    "node/pull-kube-images.sh",
    "node/worker-kubeconfig.yaml",
    "openssl/apiserver.cnf",
    "openssl/worker.cnf",
    "client/admin-kubeconfig.yaml",
    "pki/ca.pem",
    "pki/ca-key.pem",
    "pki/admin.pem",
    "pki/admin-key.pem",
    "scripts/lib/pki.sh",
    "docs/topology.svg",
    "docs/topology.dot",
]

# What the apply substitutes (sed) and what coreos-cloudinit substitutes on the droplet.
ALLOWED_PLACEHOLDERS = {"ETCD_PEER", "CONTROLLER_PUBLIC_IP"}
ALLOWED_METADATA_VARS = {"$private_ipv4", "$public_ipv4"}
OPENSSL_ENV = {"CONTROLLER_PUBLIC_IP", "CONTROLLER_PRIVATE_IP", "WORKER_IP", "ETCD_PRIVATE_IP"}


def text_files(cluster: Path) -> list[Path]:
    return [p for p in sorted(cluster.rglob("*")) if p.is_file() and p.parent.name != "pki"]


def test_every_artifact_exists(default_cluster: Path) -> None:
    missing = [name for name in EXPECTED_FILES if not (default_cluster / name).is_file()]
    assert not missing


def test_nothing_left_unrendered(default_cluster: Path) -> None:
    # `{{.Image}}` (docker's Go templates) and bash's `${#` are meant to stay.
    jinja = re.compile(r"\{\{(?!\.)|\{%|(?<!\$)\{#|cookiecutter\.")
    leftovers = {
        str(path.relative_to(default_cluster)): found.group()
        for path in text_files(default_cluster)
        if (found := jinja.search(path.read_text()))
    }
    assert leftovers == {}


@pytest.mark.parametrize("folder", ["cloud-config", "manifests", "node", "client"])
def test_only_the_apply_and_metadata_placeholders_remain(
    default_cluster: Path, folder: str
) -> None:
    for path in (default_cluster / folder).rglob("*.yaml"):
        text = path.read_text()
        placeholders = set(re.findall(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b", text))
        metadata = set(re.findall(r"\$[A-Za-z_]\w*", text))
        assert placeholders <= ALLOWED_PLACEHOLDERS, path
        assert metadata <= ALLOWED_METADATA_VARS, path


def test_openssl_configs_only_read_the_apply_environment(default_cluster: Path) -> None:
    for path in (default_cluster / "openssl").glob("*.cnf"):
        assert set(re.findall(r"\$ENV::(\w+)", path.read_text())) <= OPENSSL_ENV
        assert "$" not in re.sub(r"\$ENV::\w+", "", path.read_text())


def test_every_yaml_file_parses(default_cluster: Path) -> None:
    files = list(default_cluster.rglob("*.yaml")) + [default_cluster / ".yamllint"]
    assert len(files) >= 14
    for path in files:
        assert list(yaml.safe_load_all(path.read_text())), path


def test_yamllint_passes_with_the_shipped_config(default_cluster: Path) -> None:
    config = YamlLintConfig(file=str(default_cluster / ".yamllint"))
    problems = {
        str(path.relative_to(default_cluster)): [
            str(problem) for problem in linter.run(path.read_text(), config)
        ]
        for path in default_cluster.rglob("*.yaml")
    }
    assert {name: found for name, found in problems.items() if found} == {}


@pytest.mark.parametrize("bake_of", ["default_cluster", "current_cluster"])
def test_make_lint_passes(bake_of: str, request: pytest.FixtureRequest) -> None:
    """Each profile's `make lint`: shellcheck -x on every script (the libraries too) with what
    it sources (a library's array local named like a script's string variable fails there,
    SC2178, while each file alone passes), yamllint on every YAML file; no blanket disable."""
    cluster: Path = request.getfixturevalue(bake_of)
    scripts = sorted(cluster.rglob("*.sh"))
    assert scripts
    for script in scripts:
        assert "shellcheck disable=all" not in script.read_text()
    result = subprocess.run(["make", "-s", "lint"], cwd=cluster, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_embedded_files_are_the_standalone_files(default_cluster: Path) -> None:
    """controller.yaml and worker.yaml embed the same bytes as the standalone files."""
    embedded = {
        "cloud-config/controller.yaml": {
            "/opt/bin/pull-kube-images.sh": "node/pull-kube-images.sh",
            "/srv/kubernetes/manifests/kube-scheduler.yaml":
                "manifests/controller/kube-scheduler.yaml",
            "/srv/kubernetes/manifests/kube-controller-manager.yaml":
                "manifests/controller/kube-controller-manager.yaml",
            "/srv/kubernetes/manifests/kube-controller.yaml":
                "manifests/controller/kube-controller.yaml",
        },
        "cloud-config/worker.yaml": {
            "/etc/kubernetes/worker-kubeconfig.yaml": "node/worker-kubeconfig.yaml",
        },
    }
    for cloud_config, files in embedded.items():
        written = {
            item["path"]: item["content"]
            for item in yaml.safe_load((default_cluster / cloud_config).read_text())["write_files"]
        }
        assert set(written) == set(files)
        for node_path, standalone in files.items():
            assert written[node_path] == (default_cluster / standalone).read_text(), node_path


def test_scripts_keep_their_executable_bit(default_cluster: Path) -> None:
    assert (default_cluster / "node/pull-kube-images.sh").stat().st_mode & 0o111


def test_cluster_makefile_lists_every_target(default_cluster: Path) -> None:
    result = subprocess.run(["make", "-s"], cwd=default_cluster, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for target in ("plan", "diagram", "etcd", "controller", "worker", "addons", "smoke",
                   "status", "certs", "rotate-certs", "destroy", "audit"):
        assert re.search(rf"make {target}\s", result.stdout), target
