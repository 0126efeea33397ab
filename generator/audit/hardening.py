"""Rule 16 (`current` profile, issue 20): the hardening that is on by default stays on.

- hardening.audit-log: the apiserver has --audit-policy-file naming a Policy the controller's
  user data writes, with rules, none of which logs a request or response body of Secrets,
  ConfigMaps or TokenReviews; --audit-log-path on a host path; every --audit-log-max* flag
  (KTHW's trap: a log path without a policy logs nothing).
- hardening.encryption: --encryption-provider-config names the file the apply installs over ssh
  (facts.TLS_FILES, never user data); the EncryptionConfiguration encryption.sh makes (run here
  on a sample key) encrypts Secrets first with aescbc or secretbox under a 32-byte key.
- hardening.pod-security: --admission-control-config-file names an AdmissionConfiguration the
  user data writes whose PodSecurity defaults are at least facts.POD_SECURITY_DEFAULTS, exempting
  no namespace but facts.POD_SECURITY_EXEMPT_NAMESPACES.
- hardening.kubelet: every KubeletConfiguration has seccompDefault and protectKernelDefaults on
  and a serving certificate (tlsCertFile or serverTLSBootstrap); the node's sysctl.d sets every
  kernel setting protectKernelDefaults needs; the apiserver verifies the kubelets
  (--kubelet-certificate-authority) and nothing passes --kubelet-insecure-tls.
"""

from __future__ import annotations

import base64
import binascii
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from generator import facts
from generator.audit.cluster import Cluster, Manifest
from generator.audit.commands import args, containers, flags
from generator.audit.report import ERROR, Finding

PROFILE = "current"
LEVELS = ("None", "Metadata", "Request", "RequestResponse")
# (group, resource) whose bodies must never be logged (kubernetes.io "Auditing": they carry
# credentials; the GCE and kubeadm example policies keep them at Metadata)
SENSITIVE = (("", "secrets"), ("", "configmaps"), ("authentication.k8s.io", "tokenreviews"))
STRICTNESS = ("privileged", "baseline", "restricted")
AUDIT_FLAGS = ("--audit-log-maxage", "--audit-log-maxbackup", "--audit-log-maxsize")
ENCRYPTING = ("aescbc", "secretbox")
ENCRYPTION_SH = "scripts/lib/encryption.sh"
# encryption_config for one sample key, as make controller renders pki/encryption-config.yaml
_SAMPLE = ('set -euo pipefail; die() { echo "$*" >&2; exit 1; }; PKI_DIR=$(mktemp -d); '
           'trap \'rm -rf "$PKI_DIR"\' EXIT; . ./' + ENCRYPTION_SH + '; '
           'encryption_new_key >"$PKI_DIR/keys"; encryption_config "$PKI_DIR/keys"')


def _apiservers(cluster: Cluster) -> Iterator[tuple[Manifest, dict[str, str]]]:
    for m in cluster.manifests:
        if m.kind != "Pod":
            continue
        for _, container in containers(m):
            words = args(container)
            if words and Path(words[0]).name == "kube-apiserver":
                yield m, flags(words)


def _written(cluster: Cluster, path: str) -> list[Any]:
    """The YAML documents some cloud-config writes at path (empty when none does)."""
    return [m.data for m in cluster.manifests if m.host_path == path]


def _finding(m: Manifest, rule: str, message: str) -> Finding:
    return Finding(m.rel, m.first_line, ERROR, rule, message)


def _rule_logs_body(rule: dict[str, Any], group: str, resource: str) -> bool:
    """The rule matches requests for (group, resource) and logs bodies."""
    if LEVELS.index(str(rule.get("level", "None"))) < LEVELS.index("Request"):
        return False
    if rule.get("nonResourceURLs"):
        return False
    matches = rule.get("resources")
    if not matches:
        return True  # a rule without resources matches every resource
    return any((r.get("group") or "") == group and
               (not r.get("resources") or resource in r["resources"] or "*" in r["resources"])
               for r in matches if isinstance(r, dict))


def _first_match(rules: list[dict[str, Any]], group: str, resource: str) -> dict[str, Any]:
    """The rule deciding a plain request for (group, resource): the first whose resources
    hold it (or that names none), users, verbs and namespaces aside (it may apply to anyone)."""
    for rule in rules:
        if rule.get("nonResourceURLs"):
            continue
        matches = rule.get("resources")
        if not matches or any((r.get("group") or "") == group and
                              (not r.get("resources") or resource in r["resources"])
                              for r in matches if isinstance(r, dict)):
            return rule
    return {"level": "None"}


def audit_log(cluster: Cluster, m: Manifest, f: dict[str, str]) -> Iterator[Finding]:
    rule = "hardening.audit-log"
    policy_path, log_path = f.get("--audit-policy-file"), f.get("--audit-log-path")
    if not policy_path or not log_path:
        yield _finding(m, rule, "kube-apiserver without --audit-policy-file and --audit-log-path: "
                       "no request is audited (a log path without a policy logs nothing); set "
                       f"both ({facts.AUDIT_POLICY}, {facts.AUDIT_LOG_DIR}/audit.log)")
        return
    missing = [flag for flag in AUDIT_FLAGS if flag not in f]
    if missing or log_path == "-":
        yield _finding(m, rule, f"the audit log is not bounded on the controller's disk: "
                       f"{', '.join(missing) or '--audit-log-path=- (stdout)'}; set "
                       f"--audit-log-path on a host path and {', '.join(AUDIT_FLAGS)}")
    policy = next((p for p in cluster.manifests
                   if p.host_path == policy_path and isinstance(p.data, dict)), None)
    if policy is None:
        yield _finding(m, rule, f"--audit-policy-file={policy_path}: no cloud-config writes "
                       "that file; the apiserver would not start")
        return
    rules = [r for r in policy.data.get("rules") or [] if isinstance(r, dict)]
    if not rules:
        yield _finding(policy, rule, f"{policy_path}: the Policy has no rules: nothing is audited")
    for group, resource in SENSITIVE:
        if _rule_logs_body(_first_match(rules, group, resource), group, resource) or any(
                _rule_logs_body(r, group, resource) and r.get("resources") for r in rules):
            yield _finding(policy, rule, f"{policy_path}: a rule logs request or response "
                           f"bodies of {resource}: the audit log would hold their contents; "
                           f"keep {resource} at level Metadata")


def encryption(cluster: Cluster, m: Manifest, f: dict[str, str]) -> Iterator[Finding]:
    rule = "hardening.encryption"
    path = f.get("--encryption-provider-config")
    if path != facts.ENCRYPTION_CONFIG:
        yield _finding(m, rule, f"--encryption-provider-config is {path!r}, not "
                       f"{facts.ENCRYPTION_CONFIG} (installed over ssh by make controller): "
                       "Secrets are stored in etcd in plain text")
        return
    if _written(cluster, path) or any(wf.path == path for c in cluster.cloud_configs
                                      for wf in c.files):
        yield _finding(m, rule, f"{path} is written by user data: its key would be readable "
                       "from the droplet's metadata; the apply installs it over ssh")
    result = subprocess.run(["bash", "-c", _SAMPLE], cwd=cluster.root, capture_output=True,
                            text=True, timeout=60, check=False)
    if result.returncode != 0:
        yield Finding(ENCRYPTION_SH, 1, ERROR, rule,
                      f"encryption_config failed: {result.stderr.strip()[:300]}")
        return
    yield from _encryption_config(yaml.safe_load(result.stdout))


def _encryption_config(config: Any) -> Iterator[Finding]:
    rule = "hardening.encryption"
    for res in (config or {}).get("resources") or []:
        if "secrets" not in (res.get("resources") or []):
            continue
        first = (res.get("providers") or [{}])[0]
        kind = next(iter(first), "")
        if kind not in ENCRYPTING:
            yield Finding(ENCRYPTION_SH, 1, ERROR, rule, f"Secrets are written with provider "
                          f"{kind or 'none'!r}: {' or '.join(ENCRYPTING)} must come first")
            return
        for key in first[kind].get("keys") or []:
            try:
                size = len(base64.b64decode(str(key.get("secret")), validate=True))
            except (binascii.Error, ValueError):
                size = -1
            if size != facts.ENCRYPTION_KEY_BYTES:
                yield Finding(ENCRYPTION_SH, 1, ERROR, rule,
                              f"key {key.get('name')}: {size} bytes, not "
                              f"{facts.ENCRYPTION_KEY_BYTES} (base64)")
        return
    yield Finding(ENCRYPTION_SH, 1, ERROR, rule, "no EncryptionConfiguration entry for secrets")


def pod_security(cluster: Cluster, m: Manifest, f: dict[str, str]) -> Iterator[Finding]:
    rule = "hardening.pod-security"
    path = f.get("--admission-control-config-file")
    # a defect of the configuration is reported where the user data writes it
    found = next(((c, p) for c in cluster.manifests
                  if c.host_path == (path or "") and isinstance(c.data, dict)
                  for p in c.data.get("plugins") or []
                  if isinstance(p, dict) and p.get("name") == "PodSecurity"), None)
    if found is None:
        yield _finding(m, rule, "no PodSecurity configuration (--admission-control-config-file "
                       "with an AdmissionConfiguration the user data writes): every namespace "
                       "admits privileged pods; enforce "
                       f"{facts.POD_SECURITY_DEFAULTS['enforce']}")
        return
    config, plugin = found
    psc = plugin.get("configuration") or {}
    defaults = psc.get("defaults") or {}
    for mode, want in facts.POD_SECURITY_DEFAULTS.items():
        got = str(defaults.get(mode, "privileged"))
        if got not in STRICTNESS or STRICTNESS.index(got) < STRICTNESS.index(want):
            yield _finding(config, rule, f"Pod Security {mode}={got}: at least {want}")
    extra = set((psc.get("exemptions") or {}).get("namespaces") or []) - set(
        facts.POD_SECURITY_EXEMPT_NAMESPACES)
    others = {k: v for k, v in (psc.get("exemptions") or {}).items() if k != "namespaces" and v}
    if extra or others:
        yield _finding(config, rule, f"Pod Security exempts {sorted(extra) or others}: only "
                       f"{', '.join(facts.POD_SECURITY_EXEMPT_NAMESPACES)} may be")


def kubelet(cluster: Cluster) -> Iterator[Finding]:
    rule = "hardening.kubelet"
    for m in cluster.manifests:
        data = m.data if isinstance(m.data, dict) else {}
        if m.kind != "KubeletConfiguration" or m.host_path is None:
            continue
        for field in ("seccompDefault", "protectKernelDefaults"):
            if data.get(field) is not True:
                yield _finding(m, rule, f"KubeletConfiguration {field} is not true")
        if not data.get("tlsCertFile") and data.get("serverTLSBootstrap") is not True:
            yield _finding(m, rule, "the kubelet serves 10250 with a self-signed certificate the "
                           "apiserver cannot verify: set tlsCertFile (a CA-signed certificate) "
                           "or serverTLSBootstrap")
        if data.get("protectKernelDefaults") is True and m.cloud_config is not None:
            yield from _sysctls(m)
    for config in cluster.cloud_configs:
        if "--kubelet-insecure-tls" in config.text:
            yield Finding(config.rel, 1, ERROR, rule, "--kubelet-insecure-tls: the kubelets' "
                          "certificates are not verified; remove it")
    for m, f in _apiservers(cluster):
        if not f.get("--kubelet-certificate-authority"):
            yield _finding(m, rule, "kube-apiserver without --kubelet-certificate-authority: "
                           "it talks to any kubelet impostor; set the cluster CA")


def _sysctls(m: Manifest) -> Iterator[Finding]:
    assert m.cloud_config is not None
    text = "\n".join(wf.content.value for wf in m.cloud_config.files
                     if wf.path.startswith("/etc/sysctl.d/") and wf.content is not None)
    found = dict(re.findall(r"^\s*([\w.]+)\s*=\s*(\S+)\s*$", text, flags=re.M))
    for key, value in facts.KUBELET_KERNEL_DEFAULTS.items():
        if found.get(key) != str(value):
            yield _finding(m, "hardening.kubelet",
                           f"protectKernelDefaults without {key} = {value} in /etc/sysctl.d: "
                           f"the kubelet refuses to start ({key} is "
                           f"{found.get(key, 'not set')})")


def check(cluster: Cluster) -> Iterator[Finding]:
    if cluster.setting("PROFILE") != PROFILE:
        return
    # every apiserver (the manifest and its copy in user data) leads to the one encryption
    # script and admission configuration: report each of their defects once
    seen: set[Finding] = set()
    for m, f in _apiservers(cluster):
        for finding in (*audit_log(cluster, m, f), *encryption(cluster, m, f),
                        *pod_security(cluster, m, f)):
            if finding not in seen:
                seen.add(finding)
                yield finding
    yield from kubelet(cluster)
