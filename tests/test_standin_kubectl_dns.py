"""A pod's `nslookup` in the kubectl stand-ins (tests/fake_kubectl/dns.py): the cluster domain,
the DNS Service IP and the apiserver's Service IP come from the cluster repo's settings.env
beside the kubeconfig, and an answer comes only over the pod network (both the asking pod and
a DNS pod on a Ready node with a pod CIDR, not in the host's network namespace)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.applying import REPO
from tests.test_standin_kubectl_current import KUBECONFIG

CURRENT = REPO / "tests" / "fake_kubectl_current" / "kubectl"
TUTORIAL = REPO / "tests" / "fake_kubectl" / "kubectl"
SETTINGS = "CLUSTER_DOMAIN={domain}\nDNS_SERVICE_IP=10.3.0.10\nAPISERVER_SERVICE_IP=10.3.0.1\n"
WORKER = "c-worker-01"


def _cert(out: Path, cn: str, san: str = "") -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", f"/CN={cn}",
                    *(["-addext", f"subjectAltName={san}"] if san else []),
                    "-keyout", str(out.with_name(out.stem + "-key.pem")), "-out", str(out)],
                   check=True, capture_output=True)


def _manifest(kind: str, name: str, ns: str, spec: str) -> str:
    api = "apps/v1" if kind in ("Deployment", "DaemonSet") else "v1"
    return f"apiVersion: {api}\nkind: {kind}\nmetadata: {{name: {name}, namespace: {ns}}}\n{spec}"


def _workload(kind: str, name: str, app: str) -> str:
    return _manifest(kind, name, "kube-system",
                     f"spec:\n  selector: {{matchLabels: {{k8s-app: {app}}}}}\n  template:\n"
                     f"    metadata: {{labels: {{k8s-app: {app}}}}}\n"
                     "    spec: {containers: [{name: c, image: i}]}\n")


ADDONS = "---\n".join([
    _workload("DaemonSet", "kube-flannel-ds", "flannel"),
    _workload("DaemonSet", "kube-proxy", "kube-proxy"),
    _workload("Deployment", "coredns", "kube-dns"),
    _manifest("Service", "kube-dns", "kube-system",
              "spec: {clusterIP: 10.3.0.10, selector: {k8s-app: kube-dns}, "
              "ports: [{port: 53, protocol: UDP}]}\n"),
])

Run = Callable[..., subprocess.CompletedProcess[str]]


def _cluster(tmp_path: Path, binary: Path, domain: str) -> Run:
    """A controller at 203.0.113.9 (its apiserver certificate and --cluster-cidr) and one
    worker node, both profiles' files installed; settings.env beside the kubeconfig."""
    for name in ("ca.pem", "u.pem", "u-key.pem"):
        (tmp_path / name).write_text("x")
    (tmp_path / "kubeconfig").write_text(KUBECONFIG)
    (tmp_path / "settings.env").write_text(SETTINGS.format(domain=domain))
    ctl, worker = tmp_path / "ctl", tmp_path / "worker"
    for pki in ("etc/kubernetes/pki", "etc/kubernetes/ssl"):
        _cert(ctl / pki / "apiserver.pem", "kube-apiserver", "IP:203.0.113.9")
    (ctl / "var/lib/dosim").mkdir(parents=True)
    (ctl / "var/lib/dosim/user-data").write_text(
        "#cloud-config\n# kube-controller-manager --cluster-cidr=10.2.0.0/16 "
        "--node-cidr-mask-size=24\n")
    _cert(worker / "etc/kubernetes/pki/kubelet.pem", f"system:node:{WORKER}")
    _cert(worker / "etc/kubernetes/ssl/worker.pem", "worker")
    (worker / "etc/kubernetes/kubelet.env").write_text(
        "KUBELET_CLOUD_PROVIDER=\nAPISERVER_ENDPOINT=10.100.0.9\n")
    # the binary kubelet-install.service leaves (tests/standins/kubeletbin.py)
    (worker / "opt/bin").mkdir(parents=True)
    (worker / "opt/bin/kubelet").write_text(f"dosim kubelet v1.37.0 sha256 {'0' * 64}\n")
    account = {"droplets": {
        "1": {"name": "c-controller-01", "tags": ["k8s-do:c:controller"], "sim": {
            "root": str(ctl), "public_ip": "203.0.113.9", "private_ip": "10.100.0.9"}},
        "2": {"name": WORKER, "tags": ["k8s-do:c:worker"], "sim": {
            "root": str(worker), "public_ip": "203.0.113.20", "private_ip": "10.100.0.20"}}}}
    (tmp_path / "account.json").write_text(json.dumps(account))
    env = {**os.environ, "FAKE_KUBECTL_STATE": str(tmp_path / "k.json"),
           "DOSIM_STATE": str(tmp_path / "account.json")}

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(binary), "--kubeconfig", str(tmp_path / "kubeconfig"), *args],
                              capture_output=True, text=True, env=env, input=stdin,
                              check=False, timeout=60)
    return run


def _busybox(host_network: bool = False) -> str:
    return _manifest("Pod", "busybox", "default",
                     f"spec: {{hostNetwork: {str(host_network).lower()}, "
                     "containers: [{name: b, image: 'busybox:1.28'}]}\n")


@pytest.fixture
def current(tmp_path: Path) -> Run:
    run = _cluster(tmp_path, CURRENT, "k8s.example.org")
    assert run("create", "-f", "-", stdin=ADDONS).returncode == 0
    return run


def test_the_cluster_domain_and_addresses_come_from_settings(current: Run,
                                                             tmp_path: Path) -> None:
    assert current("create", "-f", "-", stdin=_busybox()).returncode == 0
    out = current("exec", "busybox", "--", "nslookup", "kubernetes.default")
    assert (out.returncode, out.stdout) == (0, (
        "Server:    10.3.0.10\nAddress 1: 10.3.0.10 kube-dns.kube-system.svc.k8s.example.org\n\n"
        "Name:      kubernetes.default\n"
        "Address 1: 10.3.0.1 kubernetes.default.svc.k8s.example.org\n")), out
    assert current("exec", "busybox", "--", "nslookup",
                   "kubernetes.default.svc.k8s.example.org").returncode == 0
    # broken twin: the default domain is not this cluster's
    other = current("exec", "busybox", "--", "nslookup", "kubernetes.default.svc.cluster.local")
    assert other.returncode == 1
    assert "can't resolve 'kubernetes.default.svc.cluster.local'" in other.stderr, other
    # broken twin: the kubelet's --cluster-dns (DNS_SERVICE_IP) is not the Service's address
    (tmp_path / "settings.env").write_text(
        SETTINGS.format(domain="k8s.example.org").replace("10.3.0.10", "10.3.0.53"))
    moved = current("exec", "busybox", "--", "nslookup", "kubernetes.default")
    assert moved.returncode == 1 and "no servers could be reached" in moved.stderr, moved


def test_dns_is_refused_from_outside_the_pod_network(current: Run, tmp_path: Path) -> None:
    assert current("create", "-f", "-", stdin=_busybox(host_network=True)).returncode == 0
    out = current("exec", "busybox", "--", "nslookup", "kubernetes.default")
    assert out.returncode == 1, out
    assert out.stderr == (";; connection timed out; no servers could be reached\n\n"
                          "command terminated with exit code 1\n")
    # broken twin: the same pod on the pod network gets its answer
    assert current("replace", "-f", "-", stdin=_busybox()).returncode == 0
    assert current("exec", "busybox", "--", "nslookup", "kubernetes.default").returncode == 0
    # no pod CIDR for the node (the controller-manager allocates none): flannel gives the
    # node no subnet, so no pod network, however Ready its kubelet says it is
    (tmp_path / "ctl/var/lib/dosim/user-data").write_text("#cloud-config\n")
    (tmp_path / "k.json").write_text(json.dumps({
        **json.loads((tmp_path / "k.json").read_text()), "pod_cidrs": {}}))
    cidrless = current("exec", "busybox", "--", "nslookup", "kubernetes.default")
    assert cidrless.returncode == 1 and "no servers could be reached" in cidrless.stderr


def test_dns_needs_kube_proxy_on_the_asking_pods_node(tmp_path: Path) -> None:
    run = _cluster(tmp_path, CURRENT, "cluster.local")
    without_proxy = ADDONS.replace("name: kube-proxy,", "name: other,")
    assert run("create", "-f", "-", stdin=without_proxy).returncode == 0
    assert run("create", "-f", "-", stdin=_busybox()).returncode == 0
    out = run("exec", "busybox", "--", "nslookup", "kubernetes.default")
    assert out.returncode == 1 and "no servers could be reached" in out.stderr, out


TUTORIAL_DNS = "---\n".join([
    _manifest("ReplicationController", "kube-dns-v9", "kube-system",
              "spec:\n  replicas: 1\n  selector: {k8s-app: kube-dns}\n  template:\n"
              "    metadata: {labels: {k8s-app: kube-dns}}\n"
              "    spec: {containers: [{name: c, image: i}]}\n"),
    _manifest("Service", "kube-dns", "kube-system",
              "spec: {clusterIP: 10.3.0.10, selector: {k8s-app: kube-dns}, "
              "ports: [{port: 53, protocol: UDP}]}\n"),
])


def test_the_112_stand_in_answers_from_settings_only_with_a_node(tmp_path: Path) -> None:
    run = _cluster(tmp_path, TUTORIAL, "k8s.example.org")
    (tmp_path / "dns.yaml").write_text(TUTORIAL_DNS)
    (tmp_path / "busybox.yaml").write_text(_busybox())
    assert run("create", "-f", str(tmp_path / "dns.yaml"), "-f",
               str(tmp_path / "busybox.yaml")).returncode == 0
    out = run("exec", "busybox", "--", "nslookup", "kubernetes.default.svc.k8s.example.org")
    assert (out.returncode, out.stdout) == (0, (
        "Server:    10.3.0.10\nAddress 1: 10.3.0.10\n\n"
        "Name:      kubernetes.default.svc.k8s.example.org\nAddress 1: 10.3.0.1\n")), out
    # broken twin: without a registered worker the pods run nowhere, so nothing answers
    (tmp_path / "worker/etc/kubernetes/ssl/worker.pem").unlink()
    out = run("exec", "busybox", "--", "nslookup", "kubernetes.default")
    assert out.returncode == 1
    assert out.stderr == ("Server:    (null)\nnslookup: can't resolve 'kubernetes.default'\n"
                          "command terminated with exit code 1\n")
