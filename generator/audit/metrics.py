"""Rule 18 (`current` profile): the Metrics API (issue 21.3) is served securely.

- metrics-server verifies each kubelet's serving certificate: `--kubelet-insecure-tls` ("Do not
  verify CA of serving certificates presented by Kubelets. For testing purposes only.") and
  `--deprecated-kubelet-completely-insecure` (no TLS at all) are errors
  (kubernetes-sigs/metrics-server v0.9.0 cmd/metrics-server/app/options/kubelet_client.go).
- An aggregated APIService (one served by a Service, as metrics-server's v1beta1.metrics.k8s.io)
  needs the apiserver's aggregation layer: the front-proxy flags kubeadm sets
  (cmd/kubeadm/app/phases/controlplane/manifests.go, getAPIServerCommand). Without
  --requestheader-client-ca-file the extension apiserver cannot authenticate what the apiserver
  proxies, and without --proxy-client-cert-file/--proxy-client-key-file the apiserver has no
  client certificate to show it: `kubectl top` then answers "Metrics API not available".
Each defect is reported once, where it is first written.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath

from generator.audit.cluster import Cluster, Manifest
from generator.audit.commands import arg_line, args, containers, flags, program
from generator.audit.report import ERROR, Finding
from generator.audit.yamlnodes import at_path

METRICS_SERVER = "metrics-server"
INSECURE = ("--kubelet-insecure-tls", "--deprecated-kubelet-completely-insecure")
# kubeadm's getAPIServerCommand: the front proxy's flags, "added unconditionally"
AGGREGATION_FLAGS = ("--requestheader-client-ca-file", "--requestheader-allowed-names",
                     "--requestheader-extra-headers-prefix", "--requestheader-group-headers",
                     "--requestheader-username-headers", "--proxy-client-cert-file",
                     "--proxy-client-key-file")


def _image_name(container: dict[str, object]) -> str:
    return PurePosixPath(str(container.get("image") or "").split("@")[0].split(":")[0]).name


def _insecure(m: Manifest, seen: set[tuple[str, str]]) -> Iterator[Finding]:
    for path, container in containers(m):
        if _image_name(container) != METRICS_SERVER:
            continue
        for word in args(container):
            flag = word.split("=", 1)[0]
            value = word.split("=", 1)[1].lower() if "=" in word else "true"
            if flag in INSECURE and value != "false" and (m.rel, flag) not in seen:
                seen.add((m.rel, flag))
                yield Finding(m.rel, arg_line(m, path, container, flag), ERROR,
                              "addons.metrics-insecure",
                              f"metrics-server {flag}: it would read every kubelet without "
                              "verifying its serving certificate; remove it (the kubelets "
                              "serve certificates of the cluster CA: "
                              "--kubelet-certificate-authority names it)")


def check(cluster: Cluster) -> Iterator[Finding]:
    if cluster.profile.name != "current":
        return
    seen: set[tuple[str, str]] = set()
    aggregated: list[str] = []
    apiservers: list[tuple[Manifest, list[str | int], dict[str, object]]] = []
    for m in cluster.api_objects():
        yield from _insecure(m, seen)
        data = m.data if isinstance(m.data, dict) else {}
        spec = data.get("spec") if isinstance(data.get("spec"), dict) else {}
        if m.kind == "APIService" and isinstance(spec, dict) and spec.get("service"):
            aggregated.append(str((data.get("metadata") or {}).get("name")))
        for path, container in containers(m):
            if program(args(container)) == "kube-apiserver":
                apiservers.append((m, path, container))
    if not aggregated:
        return
    reported: set[tuple[str, ...]] = set()
    for m, path, container in apiservers:
        given = flags(args(container))
        missing = tuple(f for f in AGGREGATION_FLAGS if not given.get(f))
        if missing and missing not in reported:
            reported.add(missing)
            yield Finding(m.rel, m.line_of(at_path(m.node, path)), ERROR,
                          "addons.aggregation",
                          f"the APIService {', '.join(sorted(aggregated))} is served through "
                          f"the apiserver's aggregation layer, but kube-apiserver has no "
                          f"{', '.join(missing)}: add them as kubeadm does (front-proxy CA "
                          "and its front-proxy-client certificate)")
