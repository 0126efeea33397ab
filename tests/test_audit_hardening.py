"""Rule 16 (issue 20): the current bake's hardening audits clean, and each planted defect is
caught by its rule (broken twins).

Upstream facts the rule and these twins encode, each read at the pinned release:
- kube-apiserver --audit-policy-file, --audit-log-path, --audit-log-maxage/-maxbackup/-maxsize,
  --admission-control-config-file, --encryption-provider-config,
  --kubelet-certificate-authority: generator/data/upstream/flags/kube-apiserver.json (the v1.35
  generated reference + v0.37.0-beta.0 staging); --kubelet-insecure-tls is no apiserver flag at
  all (metrics-server's).
- audit.k8s.io/v1 Policy, apiserver.config.k8s.io/v1 AdmissionConfiguration and
  EncryptionConfiguration: kubernetes/apiserver v0.37.0-beta.0 pkg/apis/audit/v1/types.go,
  pkg/apis/apiserver/v1/types.go, types_encryption.go; PodSecurityConfiguration:
  kubernetes/pod-security-admission v0.37.0-alpha.2 admission/api/v1/types.go
  (generator/data/upstream/config/*.json, checked by rule 14).
- kubernetes.io "Auditing" (docs/tasks/debug/debug-cluster/audit/): the first matching rule
  decides the level; Request/RequestResponse log bodies.
- kubernetes.io "Encrypting Confidential Data at Rest": aescbc/secretbox keys are 32 bytes,
  the first provider encrypts, identity last reads what was stored in plain text.
- KubeletConfiguration seccompDefault, protectKernelDefaults, tlsCertFile, serverTLSBootstrap:
  kubernetes/kubelet v0.37.0-beta.0 config/v1beta1/types.go; the sysctls protectKernelDefaults
  requires: kubernetes/kubernetes pkg/kubelet/cm/container_manager_linux.go
  setupKernelTunables, values in k8s.io/component-helpers node/util/sysctl/sysctl.go.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from generator import facts
from generator.audit import audit
from tests.baking import copy_cluster

CONTROLLER = "cloud-config/controller.yaml"


@pytest.fixture(scope="module")
def current(current_cluster: Path) -> Path:
    return current_cluster  # the session's shared bake (conftest.py), read only


def _edit(cluster: Path, rel: str, old: str, new: str) -> None:
    path = cluster / rel
    text = path.read_text()
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new))


def _rules(cluster: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in audit(cluster).findings:
        out.setdefault(f.rule, []).append(f.message)
    return out


def test_the_current_bake_is_hardened_and_audits_clean(current: Path) -> None:
    assert audit(current).errors == 0
    text = (current / CONTROLLER).read_text()
    for flag in ("--audit-policy-file=", "--audit-log-path=/var/log/kubernetes/audit/",
                 "--audit-log-maxsize=", "--encryption-provider-config=",
                 "--admission-control-config-file=", "--kubelet-certificate-authority="):
        assert flag in text, flag
    assert "kind: EncryptionConfiguration" not in text  # the key never rides in user data
    for key, value in facts.KUBELET_KERNEL_DEFAULTS.items():
        assert f"{key} = {value}" in (current / "node/kubernetes-sysctl.conf").read_text()


def _no_policy(c: Path) -> None:
    _edit(c, CONTROLLER, "- --audit-policy-file=/etc/kubernetes/audit-policy.yaml", "- --v=2")


def _bodies_of_secrets(c: Path) -> None:
    _edit(c, CONTROLLER, "- level: Metadata\n          resources:",
          "- level: RequestResponse\n          resources:")


def _unbounded_log(c: Path) -> None:
    _edit(c, CONTROLLER, "- --audit-log-maxsize=", "- --audit-log-truncate-max-batch-size=")


def _plain_secrets(c: Path) -> None:
    _edit(c, "scripts/lib/encryption.sh", "ENCRYPTION_PROVIDER=aescbc",
          "ENCRYPTION_PROVIDER=identity")


def _short_key(c: Path) -> None:
    _edit(c, "scripts/lib/encryption.sh", "ENCRYPTION_KEY_BYTES=32", "ENCRYPTION_KEY_BYTES=16")


def _no_encryption_flag(c: Path) -> None:
    _edit(c, CONTROLLER, "- --encryption-provider-config=", "- --v=2 #")


def _privileged_default(c: Path) -> None:
    _edit(c, CONTROLLER, "enforce: baseline", "enforce: privileged")


def _exempt_default(c: Path) -> None:
    _edit(c, CONTROLLER, "namespaces: [kube-system]", "namespaces: [kube-system, default]")


def _no_seccomp(c: Path) -> None:
    _edit(c, CONTROLLER, "seccompDefault: true", "seccompDefault: false")


def _missing_sysctl(c: Path) -> None:
    _edit(c, CONTROLLER, "kernel.panic = 10\n", "")


def _insecure_kubelet_tls(c: Path) -> None:
    _edit(c, CONTROLLER, "- --kubelet-certificate-authority=", "- --kubelet-insecure-tls #")


TWINS: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "audit policy missing": ("hardening.audit-log", _no_policy, "logs nothing"),
    "secret bodies logged": ("hardening.audit-log", _bodies_of_secrets, "bodies of secrets"),
    "log not bounded": ("hardening.audit-log", _unbounded_log, "--audit-log-maxsize"),
    "identity first": ("hardening.encryption", _plain_secrets, "'identity'"),
    "16-byte key": ("hardening.encryption", _short_key, "16 bytes, not 32"),
    "no encryption": ("hardening.encryption", _no_encryption_flag, "plain text"),
    "enforce privileged": ("hardening.pod-security", _privileged_default, "enforce=privileged"),
    "default exempt": ("hardening.pod-security", _exempt_default, "['default']"),
    "no seccomp default": ("hardening.kubelet", _no_seccomp, "seccompDefault is not true"),
    "sysctl missing": ("hardening.kubelet", _missing_sysctl, "kernel.panic = 10"),
    "insecure kubelet tls": ("hardening.kubelet", _insecure_kubelet_tls, "--kubelet-insecure"),
}


@pytest.mark.parametrize("name", sorted(TWINS))
def test_each_planted_defect_is_caught(current: Path, tmp_path: Path, name: str) -> None:
    rule, plant, said = TWINS[name]
    cluster = copy_cluster(current, tmp_path)
    plant(cluster)
    found = _rules(cluster).get(rule, [])
    assert any(said in message for message in found), (name, _rules(cluster))
    # the manifest and its copy in user data share one encryption script and one admission
    # configuration: each defect is reported once, where it is written
    assert len(found) == len(set(found)), found


def test_every_security_row_names_a_rule_with_a_twin() -> None:
    rules = {rule for _, _, rule in facts.SECURITY}
    assert rules == {rule for rule, _, _ in TWINS.values()}


def test_bash_spells_the_encryption_facts_as_facts_py() -> None:
    from tests.applying import REPO
    text = (REPO / "{{cookiecutter.cluster_name}}/profiles/current/scripts/lib"
            / "encryption.sh").read_text()
    assert f"ENCRYPTION_PROVIDER={facts.ENCRYPTION_PROVIDER}\n" in text
    assert f"ENCRYPTION_KEY_BYTES={facts.ENCRYPTION_KEY_BYTES}\n" in text
    assert facts.ENCRYPTION_CONFIG == facts.NODE_PKI_DIR + "/encryption-config.yaml"
    assert f"KUBERNETES_DIR={facts.KUBERNETES_DIR}\n" in text
    assert "STATIC_POD_DIR=$KUBERNETES_DIR/manifests\n" in text  # cookiecutter _manifest_dir


def test_the_readme_security_table_is_derived_from_the_facts(current: Path) -> None:
    readme = (current / "README.md").read_text()
    for what, how, rule in facts.SECURITY:
        assert f"| {what} | {how} | `{rule}` |" in readme, what
