"""``kubectl top node`` / ``top pod`` against the current profile's cluster, answered only as
the Metrics API would answer (issue 21.3).

kubectl (k8s.io/kubectl pkg/cmd/top/top_node.go, top_pod.go) first asks discovery for the
metrics.k8s.io group: it is served only when the APIService ``v1beta1.metrics.k8s.io`` is
registered, its Service has a Running metrics-server pod behind it (the Deployment applied and
its pod on a Ready node), and the apiserver can proxy to it: the kube-apiserver static pod on a
controller droplet has the aggregation layer's flags (--requestheader-client-ca-file,
--requestheader-allowed-names, the three header flags, --proxy-client-cert-file and
--proxy-client-key-file, as kubeadm sets them) and the files they name are on that droplet.
Otherwise kubectl prints ``error: Metrics API not available``.

metrics-server then scrapes each node's kubelet at the first of its
--kubelet-preferred-address-types the node has, verifying the kubelet's serving certificate
(the droplet's /etc/kubernetes/pki/kubelet.pem) with ``openssl verify -purpose sslserver`` against
the CA it trusts: --kubelet-certificate-authority, which must be a file in its pod (the service
account's ca.crt, which is kube-controller-manager's --root-ca-file as installed on the
controller), or that same ca.crt when the flag is absent (its in-cluster config);
--kubelet-insecure-tls skips the check, as the real one does. A Hostname address never verifies
here: CoreDNS does not resolve droplet names. A node it cannot scrape has no metrics: kubectl
prints ``<unknown>`` for it; none at all: ``error: metrics not available yet``.

Usage figures are the stand-in's own (no container runs here): a node uses 100m CPU and 400 MiB
for its system, each Running pod on it 5m and 20 MiB more; allocatable is the droplet's size
(vcpus, memory). Tables are kubectl's metricsutil TopCmdPrinter through cli-runtime's tabwriter
(minwidth 6, padding 3, every cell tab-terminated: trailing blanks kept)."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import atrest
from apiserver import droplets, installed
from core import KubectlError, key
from current_nodes import ready
from current_workloads import workload_pods

APISERVICE = "APIService//v1beta1.metrics.k8s.io"
DEPLOYMENT = "Deployment/kube-system/metrics-server"
SA_CA = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
AGGREGATION = ("--requestheader-client-ca-file", "--requestheader-allowed-names",
               "--requestheader-extra-headers-prefix", "--requestheader-group-headers",
               "--requestheader-username-headers", "--proxy-client-cert-file",
               "--proxy-client-key-file")
FILES = ("--requestheader-client-ca-file", "--proxy-client-cert-file", "--proxy-client-key-file")
CONTROLLER_MANAGER = "/etc/kubernetes/manifests/kube-controller-manager.yaml"
NOT_AVAILABLE = "error: Metrics API not available"
NOT_YET = "error: metrics not available yet"
SYSTEM = (100, 400)  # millicores, MiB
PER_POD = (5, 20)


def _flags(text: str) -> dict[str, str]:
    return dict(re.findall(r"^\s*- (--[\w-]+)=(\S*)\s*$", text, re.M))


def _aggregating_controller() -> Path | None:
    """A controller droplet whose apiserver can proxy to an extension apiserver."""
    for rec in droplets():
        root = Path(rec["sim"]["root"])
        manifest = installed(root, atrest.STATIC_POD)
        if manifest is None:
            continue
        flags = _flags(manifest.read_text())
        if all(flags.get(f) for f in AGGREGATION) and \
                all(installed(root, flags[f]) for f in FILES):
            return root
    return None


def _root_ca() -> bytes | None:
    """The service account's ca.crt: kube-controller-manager's --root-ca-file, on its droplet."""
    for rec in droplets():
        root = Path(rec["sim"]["root"])
        manifest = installed(root, CONTROLLER_MANAGER)
        ca = _flags(manifest.read_text()).get("--root-ca-file") if manifest else None
        path = installed(root, ca) if ca else None
        if path is not None:
            return path.read_bytes()
    return None


def _args(data: dict[str, Any]) -> list[str]:
    spec = data["objects"][DEPLOYMENT]["spec"]["template"]["spec"]
    return [str(a) for c in spec.get("containers") or [] for a in
            (c.get("command") or []) + (c.get("args") or [])]


def _server_pod(data: dict[str, Any], pods: list[dict[str, Any]],
                node_list: list[dict[str, Any]]) -> bool:
    if DEPLOYMENT not in data["objects"] or APISERVICE not in data["objects"]:
        return False
    up = {n["metadata"]["name"] for n in node_list if ready(n)}
    return any(p["metadata"]["namespace"] == "kube-system" and
               p["metadata"]["name"].startswith("metrics-server-") and
               p["status"]["phase"] == "Running" and p["spec"]["nodeName"] in up for p in pods)


def available(data: dict[str, Any], node_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pods now, once the Metrics API is served (KubectlError: kubectl's words if not)."""
    pods = workload_pods(data, node_list)
    service = data["objects"].get(key("Service", "kube-system", "metrics-server"))
    if service is None or not _server_pod(data, pods, node_list) or \
            _aggregating_controller() is None:
        raise KubectlError(NOT_AVAILABLE)
    return pods


def _verified(node: dict[str, Any], args: list[str], ca: bytes | None) -> bool:
    """metrics-server reaches NODE's kubelet and accepts its serving certificate."""
    flags = dict(a.split("=", 1) for a in args if "=" in a)
    types = flags.get("--kubelet-preferred-address-types",
                      "Hostname,InternalDNS,InternalIP,ExternalDNS,ExternalIP").split(",")
    addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
    kind = next((t for t in types if t in addresses), None)
    if kind is None or kind == "Hostname":
        return False
    if any(a in ("--kubelet-insecure-tls", "--kubelet-insecure-tls=true") for a in args):
        return True
    trusted = flags.get("--kubelet-certificate-authority", SA_CA)
    if trusted != SA_CA or ca is None:
        return False  # a file its pod does not have: every scrape fails
    rec = next(r for r in droplets() if r["name"] == node["metadata"]["name"])
    cert = installed(Path(rec["sim"]["root"]), "/etc/kubernetes/pki/kubelet.pem")
    if cert is None:
        return False
    with tempfile.NamedTemporaryFile(suffix=".pem") as bundle:
        bundle.write(ca)
        bundle.flush()
        result = subprocess.run(["openssl", "verify", "-CAfile", bundle.name, "-purpose",
                                 "sslserver", "-verify_ip", addresses[kind], str(cert)],
                                capture_output=True, text=True, check=False)
    return result.returncode == 0


def _tabwriter(rows: list[list[str]]) -> str:
    """cli-runtime printers.GetNewTabWriter: tabwriter.NewWriter(out, 6, 4, 3, ' ', 0) over
    lines whose every cell ends in a tab."""
    widths = [max(6, max(len(r[c]) for r in rows) + 3) for c in range(len(rows[0]))]
    return "".join("".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + "\n"
                   for r in rows)


def _usage(name: str, pods: list[dict[str, Any]]) -> tuple[int, int]:
    running = sum(1 for p in pods if p["spec"]["nodeName"] == name and
                  p["status"]["phase"] == "Running")
    return SYSTEM[0] + PER_POD[0] * running, SYSTEM[1] + PER_POD[1] * running


def top_node(args: list[str], opts: dict[str, Any], data: dict[str, Any],
             node_list: list[dict[str, Any]]) -> str:
    if len(args) > 1:
        # cmdutil.UsageErrorf(cmd, "%s", cmd.Use)
        raise KubectlError("error: node [NAME | -l label]\nSee 'kubectl top node -h' for help "
                           "and examples")
    pods = available(data, node_list)
    chosen = [n for n in node_list if not args or n["metadata"]["name"] == args[0]]
    if args and not chosen:
        raise KubectlError(f'Error from server (NotFound): nodes.metrics.k8s.io "{args[0]}" '
                           "not found")
    ca, server_args = _root_ca(), _args(data)
    measured = [n for n in chosen if ready(n) and _verified(n, server_args, ca)]
    if not measured:
        raise KubectlError(NOT_YET)
    sizes = {r["name"]: r for r in droplets()}
    rows = [] if opts["no_headers"] else [["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)",
                                           "MEMORY(%)"]]
    for node in sorted(measured, key=lambda n: n["metadata"]["name"]):
        name = node["metadata"]["name"]
        cpu, mem = _usage(name, pods)
        size = sizes[name]
        rows.append([name, f"{cpu}m", f"{cpu * 100 // (int(size['vcpus']) * 1000)}%",
                     f"{mem}Mi", f"{mem * 100 // int(size['memory'])}%"])
    # nodes metrics-server could not scrape (metricsutil printMissingMetricsNodeLine)
    rows += [[n["metadata"]["name"], *["<unknown>"] * 4] for n in chosen if n not in measured]
    return _tabwriter(rows)


def top_pod(args: list[str], opts: dict[str, Any], data: dict[str, Any],
            node_list: list[dict[str, Any]]) -> tuple[str, str]:
    """(stdout, stderr): NAME CPU(cores) MEMORY(bytes), NAMESPACE first with -A."""
    pods = available(data, node_list)
    every = opts["all_namespaces"]
    ns = opts["namespace"]
    chosen = [p for p in pods if p["status"]["phase"] == "Running" and
              (every or p["metadata"]["namespace"] == ns) and
              (not args or p["metadata"]["name"] in args)]
    if not chosen:
        if any(every or p["metadata"]["namespace"] == ns for p in pods):
            raise KubectlError(NOT_YET)  # top_pod.go verifyEmptyMetrics: pods, no metrics
        return "", ("No resources found\n" if every else
                    f"No resources found in {ns} namespace.\n")
    head = ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    rows = [] if opts["no_headers"] else [["NAMESPACE", *head] if every else head]
    for pod in sorted(chosen, key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"])):
        line = [pod["metadata"]["name"], f"{PER_POD[0]}m", f"{PER_POD[1]}Mi"]
        rows.append([pod["metadata"]["namespace"], *line] if every else line)
    return _tabwriter(rows), ""
