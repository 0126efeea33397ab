"""Pod Security admission as the current cluster's apiserver applies it, for the kubectl
stand-in: the namespace's levels (its pod-security.kubernetes.io/<mode> labels, else the
PodSecurity defaults of the AdmissionConfiguration the controller's user data writes at
ADMISSION_CONFIG; exempt namespaces skipped) and the checks of the Pod Security Standards.

Sources: kubernetes.io "Pod Security Standards" (the baseline and restricted controls) and
"Pod Security Admission" (enforce rejects a pod; warn returns a warning, also for a workload's
pod template; a workload whose pods enforce rejects gets none); messages as
k8s.io/pod-security-admission policy/check_*.go word them, e.g.
``violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)``.
"""

from __future__ import annotations

from typing import Any

from tests.standins import yamlfast

ADMISSION_CONFIG = "/etc/kubernetes/admission-config.yaml"
LEVELS = ("privileged", "baseline", "restricted")
MODES = ("enforce", "audit", "warn")
BASELINE_CAPS = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                 "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                      "persistentVolumeClaim", "projected", "secret"}


def defaults(user_data: str) -> tuple[dict[str, str], set[str]]:
    """(mode -> level, exempt namespaces) of the PodSecurity plugin the user data configures
    (no configuration: privileged everywhere, the apiserver's own default)."""
    for item in yamlfast.write_files(user_data):
        if item.get("path") != ADMISSION_CONFIG:
            continue
        for plugin in (yamlfast.load(item.get("content") or "") or {}).get("plugins") or []:
            if plugin.get("name") == "PodSecurity":
                conf = plugin.get("configuration") or {}
                found = conf.get("defaults") or {}
                return ({m: found.get(m, "privileged") for m in MODES},
                        set((conf.get("exemptions") or {}).get("namespaces") or []))
    return {m: "privileged" for m in MODES}, set()


def levels(namespace: dict[str, Any] | None, base: dict[str, str]) -> dict[str, str]:
    labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
    return {m: labels.get(f"pod-security.kubernetes.io/{m}", base[m]) for m in MODES}


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def _baseline(spec: dict[str, Any]) -> list[str]:
    out = []
    hosts = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]
    if hosts:
        out.append(f"host namespaces ({', '.join(hosts)})")
    for c in _containers(spec):
        sc = c.get("securityContext") or {}
        if sc.get("privileged"):
            out.append(f'privileged (container "{c["name"]}" must not set '
                       "securityContext.privileged=true)")
        added = set((sc.get("capabilities") or {}).get("add") or []) - BASELINE_CAPS
        if added:
            out.append(f'non-default capabilities (container "{c["name"]}" must not include '
                       f'{", ".join(sorted(added))} in securityContext.capabilities.add)')
        ports = [p["hostPort"] for p in c.get("ports") or [] if p.get("hostPort")]
        if ports:
            out.append(f'hostPort (container "{c["name"]}" uses hostPort '
                       f'{", ".join(map(str, ports))})')
    paths = [v["name"] for v in spec.get("volumes") or [] if "hostPath" in v]
    if paths:
        out.append(f'hostPath volumes ({", ".join(f"{chr(34)}{p}{chr(34)}" for p in paths)})')
    return out


def _restricted(spec: dict[str, Any]) -> list[str]:
    out = _baseline(spec)
    pod_sc = spec.get("securityContext") or {}
    bad = [v["name"] for v in spec.get("volumes") or []
           if not set(v) - {"name"} <= RESTRICTED_VOLUMES]
    if bad:
        out.append(f"restricted volume types ({', '.join(bad)})")
    for c in _containers(spec):
        sc, name = c.get("securityContext") or {}, c["name"]
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f'allowPrivilegeEscalation != false (container "{name}" must set '
                       "securityContext.allowPrivilegeEscalation=false)")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            out.append(f'unrestricted capabilities (container "{name}" must set '
                       'securityContext.capabilities.drop=["ALL"])')
        if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
            out.append(f'runAsNonRoot != true (pod or container "{name}" must set '
                       "securityContext.runAsNonRoot=true)")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            out.append(f'runAsUser=0 (container "{name}" must not set runAsUser=0)')
        profile = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if profile not in ("RuntimeDefault", "Localhost"):
            out.append(f'seccompProfile (pod or container "{name}" must set securityContext.'
                       'seccompProfile.type to "RuntimeDefault" or "Localhost")')
    return out


def violations(spec: dict[str, Any], level: str) -> list[str]:
    if level == "baseline":
        return _baseline(spec)
    if level == "restricted":
        return _restricted(spec)
    return []


def verdict(spec: dict[str, Any], modes: dict[str, str]) -> tuple[str, str]:
    """(why enforce rejects the pod, the warning kubectl prints): each empty when none."""
    denied = violations(spec, modes["enforce"])
    warned = violations(spec, modes["warn"])
    reject = (f'violates PodSecurity "{modes["enforce"]}:latest": {", ".join(denied)}'
              if denied else "")
    warning = (f'Warning: would violate PodSecurity "{modes["warn"]}:latest": '
               f'{", ".join(warned)}' if warned else "")
    return reject, warning
