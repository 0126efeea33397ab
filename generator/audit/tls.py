"""Rule 11: TLS stays on. The apiserver authenticates clients by certificate on its secure
port, and every kubeconfig verifies the apiserver's certificate against the cluster CA."""

from __future__ import annotations

from collections.abc import Iterator

from generator import facts
from generator.audit.cluster import Cluster
from generator.audit.kubeconfigs import Kubeconfig, kubeconfigs
from generator.audit.listeners import Apiserver, apiservers
from generator.audit.report import ERROR, Finding

CA_KEYS = ("certificate-authority", "certificate-authority-data")


def apiserver_tls(api: Apiserver) -> Iterator[Finding]:
    missing = [flag for flag in facts.APISERVER_TLS_FLAGS if not api.flags.get(flag, ("",))[0]]
    if missing:
        yield Finding(api.m.rel, api.line(missing[0]), ERROR, "tls.apiserver",
                      f"kube-apiserver lacks {', '.join(missing)}: its secure port must serve the "
                      "cluster's certificate and accept only clients the cluster CA signed")
    if api.secure is None:
        yield Finding(api.m.rel, api.line("--secure-port"), ERROR, "tls.apiserver",
                      f"kube-apiserver --secure-port={api.value('--secure-port')} serves no "
                      "HTTPS; workers and kubectl reach it only there")


def kubeconfig_tls(kc: Kubeconfig) -> Iterator[Finding]:
    for name, path, settings in kc.clusters():
        skip = settings.get("insecure-skip-tls-verify")
        if skip is True or str(skip).lower() == "true":
            yield Finding(kc.rel, kc.line_at([*path, "insecure-skip-tls-verify"]), ERROR,
                          "tls.kubeconfig",
                          f"cluster {name}: insecure-skip-tls-verify accepts any server "
                          "certificate; verify against the cluster CA (certificate-authority)")
        if not any(settings.get(key) for key in CA_KEYS):
            yield Finding(kc.rel, kc.line_at(path), ERROR, "tls.kubeconfig",
                          f"cluster {name}: no certificate-authority; the apiserver's "
                          "certificate is signed by the cluster CA, not a system one")


def check(cluster: Cluster) -> Iterator[Finding]:
    for api in apiservers(cluster):
        yield from apiserver_tls(api)
    for kc in kubeconfigs(cluster):
        yield from kubeconfig_tls(kc)
