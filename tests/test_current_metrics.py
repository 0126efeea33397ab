"""Issue 21 item 3: metrics-server (kubernetes-sigs/metrics-server v0.9.0) verifying the
kubelets' serving certificates, behind the apiserver's aggregation layer.

Upstream at the pinned tag: the release manifest is `kubectl kustomize
manifests/overlays/release` of tag v0.9.0 (manifests/base/{rbac,service,deployment,
apiservice}.yaml, image registry.k8s.io/metrics-server/metrics-server:v0.9.0 from
manifests/components/release); its flags are docs/command-line-flags.txt at that tag
(generator/data/upstream/flags/metrics-server.json, rule 14). The aggregation layer's flags are
kubeadm's (kubernetes/kubernetes cmd/kubeadm/app/phases/controlplane/manifests.go:
getAPIServerCommand's requestheader/proxy-client arguments, getControllerManagerCommand's
--requestheader-client-ca-file). Rule 18 (generator/audit/metrics.py) and its broken twins."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.audit import audit
from tests.applying import Apply
from tests.baking import copy_cluster

METRICS = "manifests/addons/metrics-server.yaml"
APISERVER = "manifests/controller/kube-apiserver.yaml"
CONTROLLER_MANAGER = "manifests/controller/kube-controller-manager.yaml"
# the service account volume every pod gets: ca.crt is kube-controller-manager's --root-ca-file
SA_CA = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"


@pytest.fixture(scope="module")
def current(current_cluster: Path) -> Path:
    return current_cluster  # the session's shared bake (conftest.py), read only


@pytest.fixture
def copy(current: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(current, tmp_path / "do-cluster", symlinks=True))


def docs(cluster: Path, rel: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((cluster / rel).read_text()) if d]


def command(cluster: Path, rel: str) -> list[str]:
    return docs(cluster, rel)[0]["spec"]["containers"][0]["command"]


def findings(cluster: Path, *rules: str) -> list[tuple[str, str, str]]:
    return [(f.file, f.rule, f.message) for f in audit(cluster).findings if f.rule in rules]


def edit(cluster: Path, rel: str, old: str, new: str) -> None:
    path = cluster / rel
    assert old in path.read_text(), old
    path.write_text(path.read_text().replace(old, new))


def test_the_release_manifest_objects_and_the_verifying_args(current: Path) -> None:
    objects = {(d["kind"], d["metadata"]["name"]): d for d in docs(current, METRICS)}
    assert set(objects) == {
        ("ServiceAccount", "metrics-server"),
        ("ClusterRole", "system:aggregated-metrics-reader"),
        ("ClusterRole", "system:metrics-server"),
        ("RoleBinding", "metrics-server-auth-reader"),
        ("ClusterRoleBinding", "metrics-server:system:auth-delegator"),
        ("ClusterRoleBinding", "system:metrics-server"),
        ("Service", "metrics-server"),
        ("Deployment", "metrics-server"),
        ("APIService", "v1beta1.metrics.k8s.io"),
    }
    reader = objects[("ClusterRole", "system:aggregated-metrics-reader")]
    assert {k for k, v in reader["metadata"]["labels"].items() if v == "true"} == {
        f"rbac.authorization.k8s.io/aggregate-to-{r}" for r in ("view", "edit", "admin")}
    assert objects[("RoleBinding", "metrics-server-auth-reader")]["roleRef"]["name"] == \
        "extension-apiserver-authentication-reader"
    api = objects[("APIService", "v1beta1.metrics.k8s.io")]["spec"]
    assert (api["group"], api["version"], api["service"]) == (
        "metrics.k8s.io", "v1beta1", {"name": "metrics-server", "namespace": "kube-system"})
    pod = objects[("Deployment", "metrics-server")]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "registry.k8s.io/metrics-server/metrics-server:v0.9.0"
    args = container["args"]
    assert f"--kubelet-certificate-authority={SA_CA}" in args
    assert "--kubelet-preferred-address-types=InternalIP" in args
    assert not [a for a in args if "insecure" in a]
    assert pod["serviceAccountName"] == "metrics-server"
    # make addons applies it with the add-ons that need no token
    assert METRICS in (current / "scripts/lib/profile.sh").read_text()


def test_the_kubelets_certificates_are_what_metrics_server_trusts(current: Path) -> None:
    """The CA metrics-server is given (the service account's ca.crt) is the controller-manager's
    --root-ca-file, the CA that signs each kubelet's serving certificate (openssl/kubelet.cnf:
    serverAuth, SANs the node's IPs; the kubelets' --node-ip is the private IP, InternalIP)."""
    cm = command(current, CONTROLLER_MANAGER)
    assert "--root-ca-file=/etc/kubernetes/pki/ca.pem" in cm
    kubelet = (current / "node/kubelet-config.yaml").read_text()
    assert "tlsCertFile: /etc/kubernetes/pki/kubelet.pem" in kubelet
    assert "serverTLSBootstrap: false" in kubelet
    cnf = (current / "openssl/kubelet.cnf").read_text()
    assert "serverAuth" in cnf and "IP.1 = $ENV::NODE_PRIVATE_IP" in cnf
    assert "--node-ip=$private_ipv4" in (current / "node/kubelet.service").read_text()


def test_the_apiserver_has_kubeadms_aggregation_flags(current: Path) -> None:
    api = command(current, APISERVER)
    for flag in ("--requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.pem",
                 "--requestheader-allowed-names=front-proxy-client",
                 "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                 "--requestheader-group-headers=X-Remote-Group",
                 "--requestheader-username-headers=X-Remote-User",
                 "--proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.pem",
                 "--proxy-client-key-file=/etc/kubernetes/pki/front-proxy-client-key.pem"):
        assert flag in api, flag
    assert "--requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.pem" in \
        command(current, CONTROLLER_MANAGER)
    # the bake made the front-proxy CA (the apply signs its client: components.sh)
    assert {"front-proxy-ca.pem", "front-proxy-ca-key.pem"} <= {
        p.name for p in (current / "pki").iterdir()}
    assert "openssl/front-proxy-client.cnf" in (
        current / "scripts/lib/components.sh").read_text()


def test_a_current_bake_breaks_no_metrics_rule(current: Path) -> None:
    assert findings(current, "addons.metrics-insecure", "addons.aggregation") == []


@pytest.mark.parametrize("flag", ["--kubelet-insecure-tls",
                                  "--deprecated-kubelet-completely-insecure"])
def test_twin_metrics_server_without_verification(copy: Path, flag: str) -> None:
    edit(copy, METRICS, "- --kubelet-use-node-status-port",
         f"- --kubelet-use-node-status-port\n            - {flag}")
    found = findings(copy, "addons.metrics-insecure")
    assert len(found) == 1 and found[0][0] == METRICS and flag in found[0][2], found


def test_twin_insecure_tls_false_is_verification(copy: Path) -> None:
    edit(copy, METRICS, "- --kubelet-use-node-status-port",
         "- --kubelet-use-node-status-port\n            - --kubelet-insecure-tls=false")
    assert findings(copy, "addons.metrics-insecure") == []


@pytest.mark.parametrize("flag", ["--requestheader-client-ca-file",
                                  "--proxy-client-cert-file",
                                  "--requestheader-allowed-names"])
def test_twin_apiserver_without_the_aggregation_layer(copy: Path, flag: str) -> None:
    text = (copy / APISERVER).read_text()
    line = next(x for x in text.splitlines() if f"- {flag}=" in x)
    edit(copy, APISERVER, line + "\n", "")
    found = findings(copy, "addons.aggregation")
    # once, though the controller's user data embeds the same manifest
    assert len(found) == 1, found
    assert flag in found[0][2] and "v1beta1.metrics.k8s.io" in found[0][2]


def test_twin_no_aggregated_apiservice_needs_no_aggregation_layer(copy: Path) -> None:
    text = (copy / APISERVER).read_text()
    line = next(x for x in text.splitlines() if "- --proxy-client-cert-file=" in x)
    edit(copy, APISERVER, line + "\n", "")
    path = copy / METRICS
    kept = [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] != "APIService"]
    path.write_text(yaml.safe_dump_all(kept))
    assert findings(copy, "addons.aggregation") == []


# ------------------------------------------------------------- on the stand-ins (make + kubectl)

def kubectl(apply: Apply, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "--kubeconfig", str(apply.cluster / "kubeconfig"), *args],
                          env=apply.env, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def applied(current: Path, tmp_path_factory: pytest.TempPathFactory) -> Apply:
    base = tmp_path_factory.mktemp("metrics-apply")
    apply = Apply.create(copy_cluster(current, base), base / "sim")
    apply.make("image")
    apply.make("etcd", "controller", "worker")
    return apply


def names(apply: Apply) -> tuple[str, str]:
    settings = apply.settings()
    return f"{settings['CONTROLLER_PREFIX']}-01", f"{settings['WORKER_PREFIX']}-01"


@contextmanager
def changed(path: Path, old: str, new: str) -> Iterator[None]:
    """A droplet file edited for the block, then put back."""
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))
    try:
        yield
    finally:
        path.write_text(text)


def test_top_nodes_answers_only_with_metrics_server_and_the_aggregation_layer(
        applied: Apply) -> None:
    """Before make addons: kubectl's own error (top_node.go: discovery has no metrics.k8s.io).
    After: kubectl's table for both nodes (the controller's kubelet and the worker's), both
    kubelet certificates verified against the cluster CA at their InternalIP. The stand-in
    refuses as the Metrics API would when the controller's apiserver lacks a front-proxy flag
    or a file it names (its kube-apiserver static pod and /etc/kubernetes/pki on the droplet),
    and prints <unknown> for a node whose serving certificate metrics-server cannot verify."""
    controller, worker = names(applied)
    before = kubectl(applied, "top", "nodes")
    assert (before.returncode, before.stdout, before.stderr) == (
        1, "", "error: Metrics API not available\n")

    applied.make("addons")
    assert "APIService//v1beta1.metrics.k8s.io" in applied.kube()["objects"]
    top = kubectl(applied, "top", "nodes")
    assert top.returncode == 0, top.stderr
    lines = top.stdout.splitlines()
    assert lines[0].split() == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert set(rows) == {controller, worker}
    for figures in rows.values():
        assert re.fullmatch(r"\d+m \d+% \d+Mi \d+%", " ".join(figures)), figures
    # every cell tab-terminated through kubectl's tabwriter: padded, trailing blanks kept
    assert all(line.endswith("   ") for line in lines)
    assert kubectl(applied, "top", "node", worker, "--no-headers").stdout.split()[0] == worker

    root = applied.root(controller)
    manifest = root / "etc/kubernetes/manifests/kube-apiserver.yaml"
    line = next(x for x in manifest.read_text().splitlines() if "--proxy-client-cert-file=" in x)
    with changed(manifest, line + "\n", ""):
        assert kubectl(applied, "top", "nodes").stderr == "error: Metrics API not available\n"
    ca = root / "etc/kubernetes/pki/front-proxy-ca.pem"
    ca.rename(ca.with_suffix(".aside"))
    try:
        assert kubectl(applied, "top", "nodes").stderr == "error: Metrics API not available\n"
    finally:
        ca.with_suffix(".aside").rename(ca)
    assert kubectl(applied, "top", "nodes").returncode == 0

    # the worker serving a certificate of another CA (its own name and IP, self-signed): the
    # node is still registered, but metrics-server cannot verify it
    kubelet = applied.root(worker) / "etc/kubernetes/pki/kubelet.pem"
    private = applied.droplets()[worker]["sim"]["private_ip"]
    other = applied.cluster / "other-kubelet.pem"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
         str(applied.cluster / "other-kubelet-key.pem"), "-out", str(other), "-days", "1",
         "-subj", f"/O=system:nodes/CN=system:node:{worker}",
         "-addext", f"subjectAltName=DNS:{worker},IP:{private}",
         "-addext", "extendedKeyUsage=serverAuth,clientAuth"], capture_output=True, check=False)
    assert made.returncode == 0, made.stderr
    with changed(kubelet, kubelet.read_text(), other.read_text()):
        rows = {x.split()[0]: x.split()[1:] for x in
                kubectl(applied, "top", "nodes").stdout.splitlines()[1:]}
        assert rows[worker] == ["<unknown>"] * 4 and "<unknown>" not in rows[controller]


def test_metrics_server_trusts_only_what_its_flags_say(applied: Apply) -> None:
    """Its flags decide what it can scrape: a Hostname address does not resolve in the
    cluster, a CA file its pod lacks verifies nothing (then kubectl: metrics not available
    yet); the manifest as baked answers."""
    applied.make("addons")
    manifest = applied.cluster / METRICS
    for old, new in (("--kubelet-preferred-address-types=InternalIP",
                      "--kubelet-preferred-address-types=Hostname"),
                     (f"--kubelet-certificate-authority={SA_CA}",
                      "--kubelet-certificate-authority=/etc/kubernetes/pki/ca.pem")):
        with changed(manifest, old, new):
            assert kubectl(applied, "apply", "-f", str(manifest)).returncode == 0
            top = kubectl(applied, "top", "nodes")
            assert (top.returncode, top.stderr) == (1, "error: metrics not available yet\n")
    assert kubectl(applied, "apply", "-f", str(manifest)).returncode == 0
    assert kubectl(applied, "top", "nodes").returncode == 0
    pods = kubectl(applied, "top", "pods", "-n", "kube-system")
    assert pods.stdout.splitlines()[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert any(x.startswith("metrics-server-") for x in pods.stdout.splitlines()[1:])


def test_make_smoke_and_status_report_kubectl_top(applied: Apply) -> None:
    applied.make("addons")
    out = applied.make("smoke").stderr
    assert "kubectl top nodes" in out and "metrics: kubectl top nodes answered for 2 node(s)" \
        in out, out
    layer = applied.status_layer("metrics")
    assert (layer["status"], layer["detail"]) == ("OK", "kubectl top nodes answers for 2 node(s)")
    assert len(layer["items"]) == 2
    # its twin: metrics-server gone, the smoke fails and names what to look at
    assert kubectl(applied, "delete", "-f", str(applied.cluster / METRICS)).returncode == 0
    layer = applied.status_layer("metrics")
    assert layer["status"] == "FAIL" and "Metrics API not available" in layer["detail"]
    failed = applied.make("smoke", check=False, APPLY_TIMEOUT_SECONDS="1",
                          APPLY_POLL_SECONDS="0.2")
    assert failed.returncode != 0
    assert "FAILED: kubectl top nodes did not answer for every node" in failed.stderr
    assert "error: Metrics API not available" in failed.stderr
    applied.make("addons")


def _standin_tabwriter() -> Any:
    """The stand-in's printer (its modules import each other by bare name: its directory on
    the path, as its kubectl entry point has it)."""
    folder = str(Path(__file__).parent / "fake_kubectl")
    sys.path.insert(0, folder)
    try:
        return importlib.import_module("metrics")._tabwriter
    finally:
        sys.path.remove(folder)


def test_the_tabwriter_prints_as_kubectl_does() -> None:
    """metricsutil's lines through tabwriter.NewWriter(out, 6, 4, 3, ' ', 0), each cell ended by
    a tab: a kubectl top pod -A table as kubectl prints it."""
    tabwriter = _standin_tabwriter()
    assert tabwriter([["NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"],
                               ["default", "resource-consumer-pod", "100m", "7Mi"]]) == (
        "NAMESPACE   NAME                    CPU(cores)   MEMORY(bytes)   \n"
        "default     resource-consumer-pod   100m         7Mi             \n")
    assert tabwriter([["a", "1m"]]) == "a     1m    \n"  # minwidth 6
