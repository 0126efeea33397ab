"""The current profile's node artifacts (issue 11): static pods valid for the pinned
Kubernetes version, every value rendered from the answers, downloads only against pinned
sums, the answers that guard them."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from generator import TEMPLATE_ROOT, facts, releases
from generator.answers import validate
from tests.baking import bake, default_answers

STATIC_PODS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
NODE_SCRIPTS = Path("profiles/current/node")
CUSTOM = {"_pod_network": "10.244.0.0/16", "_service_cidr": "10.96.0.0/20",
          "_dns_service_ip": "10.96.0.53", "_cluster_domain": "k8s.example",
          "_apiserver_secure_port": "6443", "_etcd_client_port": "12379",
          "_etcd_member": "etcd-main"}


@pytest.fixture(scope="module")
def current(current_cluster: Path) -> Path:
    return current_cluster  # the session's shared bake (conftest.py), read only


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake(tmp_path_factory.mktemp("custom"), profile="current", **CUSTOM)


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def embedded(cluster: Path, role: str) -> dict[str, str]:
    """write_files of a cloud-config: path -> content."""
    config = load(cluster / f"cloud-config/{role}.yaml")
    return {item["path"]: item["content"] for item in config["write_files"]}


def command(pod: dict[str, Any]) -> dict[str, str]:
    args = pod["spec"]["containers"][0]["command"][1:]
    return dict(arg.removeprefix("--").split("=", 1) for arg in args)


@pytest.mark.parametrize("name", STATIC_PODS)
def test_static_pods_validate_strictly_at_the_pinned_version(current: Path, name: str) -> None:
    """kubernetes-validate's strict 1.37 schema (unknown fields rejected), on the standalone
    manifest and on the copy the controller's user data writes into the kubelet's
    staticPodPath."""
    version = default_answers(profile="current")["kubernetes_version"]
    standalone = current / f"manifests/controller/{name}.yaml"
    copy = embedded(current, "controller")[f"/etc/kubernetes/manifests/{name}.yaml"]
    assert copy == standalone.read_text()
    pod = load(standalone)
    kubernetes_validate.validate(pod, version, strict=True)
    assert pod["spec"]["containers"][0]["image"] == f"registry.k8s.io/{name}:v{version}"


def test_a_misspelled_static_pod_field_fails_strict_validation(current: Path) -> None:
    pod = load(current / "manifests/controller/kube-apiserver.yaml")
    pod["spec"]["containers"][0]["comand"] = pod["spec"]["containers"][0].pop("command")
    with pytest.raises(kubernetes_validate.ValidationError, match="comand"):
        kubernetes_validate.validate(pod, "1.37.0", strict=True)


# What kubeadm writes into its static pods (kubernetes/kubernetes, read at commit
# effb98eaa665a33b16634ab968c91644b99d1ba7: cmd/kubeadm/app/util/staticpod/utils.go
# LivenessProbe -> createHTTPProbe(host, path, port, scheme, 10, 15, 8, 10), ReadinessProbe ->
# (0, 15, 3, 1), StartupProbe -> (10, 15, ceil(4 min / 10 s) = 24, 10);
# cmd/kubeadm/app/phases/controlplane/manifests.go: the apiserver probes /livez (liveness,
# startup) and /readyz (readiness) on its secure port, the controller manager and scheduler
# /healthz on 10257 and 10259 (liveness, startup), all HTTPS on 127.0.0.1). Written out here,
# not read from generator.facts, so a changed fact fails this test.
KUBEADM_LIVENESS = {"initialDelaySeconds": 10, "timeoutSeconds": 15, "failureThreshold": 8,
                    "periodSeconds": 10}
KUBEADM_READINESS = {"initialDelaySeconds": 0, "timeoutSeconds": 15, "failureThreshold": 3,
                     "periodSeconds": 1}
KUBEADM_STARTUP = {"initialDelaySeconds": 10, "timeoutSeconds": 15, "failureThreshold": 24,
                   "periodSeconds": 10}
KUBEADM_PROBE_PATHS = {
    "kube-apiserver": ("/livez", "/readyz", 443),
    "kube-controller-manager": ("/healthz", None, 10257),
    "kube-scheduler": ("/healthz", None, 10259),
}


def probe(path: str, port: int, timing: dict[str, int]) -> dict[str, Any]:
    return {"httpGet": {"scheme": "HTTPS", "host": "127.0.0.1", "path": path, "port": port},
            **timing}


@pytest.mark.parametrize("name", STATIC_PODS)
def test_probes_are_the_ones_kubeadm_writes(current: Path, name: str) -> None:
    """Issue 17.3: a startup probe on every control-plane pod (the liveness probe waits for up
    to 4 minutes of start-up, so a small droplet's apiserver is not killed while starting),
    the liveness and readiness probes with kubeadm's timings, in the pod the kubelet reads."""
    live, ready, port = KUBEADM_PROBE_PATHS[name]
    container = load(current / f"manifests/controller/{name}.yaml")["spec"]["containers"][0]
    probes = {k: v for k, v in container.items() if k.endswith("Probe")}
    expected = {"livenessProbe": probe(live, port, KUBEADM_LIVENESS),
                "startupProbe": probe(live, port, KUBEADM_STARTUP)}
    if ready:
        expected["readinessProbe"] = probe(ready, port, KUBEADM_READINESS)
    assert probes == expected


def test_apiserver_flags_lock_the_cluster_down(current: Path) -> None:
    flags = command(load(current / "manifests/controller/kube-apiserver.yaml"))
    assert flags["authorization-mode"] == "Node,RBAC"
    assert "NodeRestriction" in flags["enable-admission-plugins"].split(",")
    assert flags["etcd-servers"] == "ETCD_ENDPOINTS"
    pki = "/etc/kubernetes/pki"
    assert (flags["etcd-certfile"], flags["etcd-keyfile"]) == (
        f"{pki}/apiserver-etcd-client.pem", f"{pki}/apiserver-etcd-client-key.pem")
    assert flags["service-account-key-file"] == f"{pki}/service-account.pem"
    assert flags["service-account-signing-key-file"] == f"{pki}/service-account-key.pem"
    assert flags["service-account-issuer"] == "https://kubernetes.default.svc.cluster.local"
    # no insecure listener: kube-apiserver 1.24 removed --insecure-port and --port
    assert not {"insecure-port", "insecure-bind-address", "port", "address"} & set(flags)


def test_every_value_comes_from_the_answers(custom: Path) -> None:
    api = command(load(custom / "manifests/controller/kube-apiserver.yaml"))
    cm = command(load(custom / "manifests/controller/kube-controller-manager.yaml"))
    kubelet = load(custom / "node/kubelet-config.yaml")
    assert api["service-cluster-ip-range"] == cm["service-cluster-ip-range"] == "10.96.0.0/20"
    assert api["secure-port"] == "6443"
    assert api["service-account-issuer"] == "https://kubernetes.default.svc.k8s.example"
    assert (cm["allocate-node-cidrs"], cm["cluster-cidr"]) == ("true", "10.244.0.0/16")
    assert cm["node-cidr-mask-size"] == "24" and cm["use-service-account-credentials"] == "true"
    assert (kubelet["clusterDNS"], kubelet["clusterDomain"]) == (["10.96.0.53"], "k8s.example")
    kubeconfig = load(custom / "node/kubelet.kubeconfig")
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://APISERVER_ENDPOINT:6443"
    etcd = (custom / "cloud-config/etcd.yaml").read_text()
    assert "--listen-client-urls=https://$private_ipv4:12379" in etcd
    assert "--initial-cluster=etcd-main=https://$private_ipv4:2380" in etcd


def test_kubelet_configuration(current: Path) -> None:
    """KubeletConfiguration fields (k8s.io/kubelet/config/v1beta1/types.go): anonymous off,
    webhook authorization, x509 client CA, the apply's serving certificate."""
    config = load(current / "node/kubelet-config.yaml")
    pki = "/etc/kubernetes/pki"
    assert config["authentication"] == {"anonymous": {"enabled": False},
                                        "webhook": {"enabled": True},
                                        "x509": {"clientCAFile": f"{pki}/ca.pem"}}
    assert config["authorization"] == {"mode": "Webhook"}
    assert (config["tlsCertFile"], config["tlsPrivateKeyFile"]) == (
        f"{pki}/kubelet.pem", f"{pki}/kubelet-key.pem")
    assert config["cgroupDriver"] == "systemd" and config["readOnlyPort"] == 0
    assert config["staticPodPath"] == "/etc/kubernetes/manifests"
    for role in ("controller", "worker"):
        assert embedded(current, role)["/etc/kubernetes/kubelet-config.yaml"] == \
            (current / "node/kubelet-config.yaml").read_text()


@pytest.mark.parametrize("name, user, cert", [
    ("kubelet", "kubelet", "kubelet"), ("kube-proxy", "kube-proxy", "kube-proxy"),
    ("controller-manager", "system:kube-controller-manager", "controller-manager"),
    ("scheduler", "system:kube-scheduler", "scheduler"),
])
def test_kubeconfigs_name_files_not_keys(current: Path, name: str, user: str, cert: str) -> None:
    """Certificates by path (they ride in user data; the keys come over ssh); the server
    certificate checked for `kubernetes`, one of the apiserver's SANs."""
    text = (current / f"node/{name}.kubeconfig").read_text()
    config = yaml.safe_load(text)
    assert "-data" not in text
    cluster = config["clusters"][0]["cluster"]
    assert cluster["certificate-authority"] == "/etc/kubernetes/pki/ca.pem"
    assert cluster["tls-server-name"] == facts.APISERVER_TLS_NAME
    assert cluster["server"] in ("https://APISERVER_ENDPOINT", "https://127.0.0.1")
    assert config["users"][0] == {"name": user, "user": {
        "client-certificate": f"/etc/kubernetes/pki/{cert}.pem",
        "client-key": f"/etc/kubernetes/pki/{cert}-key.pem"}}


def test_downloads_are_pinned_and_checked(current: Path) -> None:
    """Every download on a node goes through fetch-verified with the data file's sum."""
    data = releases.data()
    version = default_answers(profile="current")["kubernetes_version"]
    texts = {role: (current / f"cloud-config/{role}.yaml").read_text()
             for role in ("etcd", "controller", "worker")}
    kubelet = data["kubernetes"][version]["kubelet"]["sha256"]
    kubectl = data["kubernetes"][version]["kubectl"]["sha256"]
    url = f"https://dl.k8s.io/v{version}/bin/linux/amd64"
    for role in ("controller", "worker"):
        assert f"/opt/bin/fetch-verified {url}/kubelet \\\n" in texts[role]
        assert f"  {kubelet} /opt/bin/kubelet" in texts[role]
    assert f"{url}/kubectl" in texts["controller"] and kubectl in texts["controller"]
    etcd = next(iter(data["etcd"]))
    assert f"etcd-io/etcd/releases/download/v{etcd}/etcd-v{etcd}-linux-amd64.tar.gz" in \
        texts["etcd"] and data["etcd"][etcd]["sha256"] in texts["etcd"]
    cni = next(iter(data["cni-plugins"]))
    for role in ("controller", "worker"):
        assert (f"containernetworking/plugins/releases/download/v{cni}/cni-plugins-linux-amd64-"
                f"v{cni}.tgz" in texts[role] and data["cni-plugins"][cni]["sha256"] in texts[role])
    for role in texts:  # no other download: curl only inside fetch-verified
        config = load(current / f"cloud-config/{role}.yaml")
        config["write_files"] = [f for f in config["write_files"]
                                 if f["path"] != "/opt/bin/fetch-verified"]
        dumped = yaml.safe_dump(config)
        assert "curl" not in dumped and "wget" not in dumped, role


def test_the_image_and_kubectl_urls_are_pinned_current_ones(current: Path) -> None:
    """Issue 17.4 (image and kubectl): make image imports a pinned Flatcar stable release (a
    stable version is MAJOR.2.PATCH; not the moving "current" alias) in the bzip2 form Flatcar
    documents for DigitalOcean (whose import takes gzip or bzip2, not xz); an operator's
    kubectl comes from dl.k8s.io (the old release bucket stops at v1.31.0)."""
    settings = dict(line.split("=", 1) for line in (current / "settings.env").read_text()
                    .splitlines() if "=" in line and not line.startswith("#"))
    assert re.fullmatch(r"https://stable\.release\.flatcar-linux\.net/amd64-usr/[0-9]+\.2\."
                        r"[0-9]+/flatcar_production_digitalocean_image\.bin\.bz2",
                        settings["IMAGE_URL"]), settings["IMAGE_URL"]
    version = default_answers(profile="current")["kubernetes_version"]
    assert settings["KUBECTL_URL"] == f"https://dl.k8s.io/v{version}/bin/linux/amd64/kubectl"


def test_every_pinned_sum_names_its_source() -> None:
    data = json.loads(releases.DATA.read_text())
    entries = [*(e for v in data["kubernetes"].values() for e in v.values()),
               *data["etcd"].values(), *data["cni-plugins"].values()]
    for entry in entries:
        assert len(entry["sha256"]) == 64 and int(entry["sha256"], 16) >= 0
        assert entry["source"].strip()


def _fetch(tmp_path: Path, payload: bytes, sum_: str) -> subprocess.CompletedProcess[str]:
    source = tmp_path / "release"
    source.write_bytes(payload)
    script = TEMPLATE_ROOT / "{{cookiecutter.cluster_name}}" / NODE_SCRIPTS
    return subprocess.run(
        ["bash", str(script / "fetch-verified.sh"), source.as_uri(), sum_,
         str(tmp_path / "opt/bin/tool")], capture_output=True, text=True, timeout=60,
        check=False)


def test_fetch_verified_installs_a_matching_download(tmp_path: Path) -> None:
    payload = b"#!/bin/sh\necho tool\n"
    result = _fetch(tmp_path, payload, hashlib.sha256(payload).hexdigest())
    assert result.returncode == 0, result.stderr
    installed = tmp_path / "opt/bin/tool"
    assert installed.read_bytes() == payload and installed.stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize("sum_", [hashlib.sha256(b"other").hexdigest(), releases.UNPINNED])
def test_fetch_verified_refuses_a_mismatch_and_installs_nothing(tmp_path: Path,
                                                                sum_: str) -> None:
    result = _fetch(tmp_path, b"tampered\n", sum_)
    assert result.returncode != 0
    assert not any((tmp_path / "opt/bin").iterdir())  # no binary, no leftover download


@pytest.mark.parametrize("answers, field, words", [
    ({"kubernetes_version": "1.37.1"}, "kubernetes_version", "no pinned sha256"),
    ({"kubernetes_version": "1.36.0"}, "kubernetes_version", "kubernetes-release.json"),
    ({"_etcd_version": "3.5.0"}, "_etcd_version", "no pinned sha256"),
    ({"_etcd_version": "v3.6.14"}, "_etcd_version", "MAJOR.MINOR.PATCH"),
    ({"_cni_plugins_version": "1.8.0"}, "_cni_plugins_version", "no pinned sha256"),
    ({"_reboot_strategy": "best-effort"}, "_reboot_strategy", "Flatcar"),
])
def test_current_answers_are_checked(answers: dict[str, str], field: str, words: str) -> None:
    errors = [str(e) for e in validate(default_answers(profile="current") | answers)]
    assert any(e.startswith(f"{field}:") and words in e for e in errors), errors


def test_tutorial_answers_need_no_pinned_sums() -> None:
    assert validate(default_answers(_etcd_version="3.0.0")) == []


def test_current_pki_dirs_reach_settings_env(current: Path) -> None:
    text = (current / "settings.env").read_text()
    assert "SSL_DIR=/etc/kubernetes/pki\n" in text and "ETCD_SSL_DIR=/etc/etcd/pki\n" in text


def test_only_the_controller_is_tainted_through_a_config_drop_in(current: Path) -> None:
    """registerWithTaints in a --config-dir drop-in (KubeletConfiguration field; the flag
    --register-with-taints is deprecated in favour of the config file): the controller's
    kubelet reads it, the workers' has neither the flag nor the drop-in."""
    drop_in = "/etc/kubernetes/kubelet.conf.d/10-control-plane.conf"
    controller, worker = embedded(current, "controller"), embedded(current, "worker")
    taints = yaml.safe_load(controller[drop_in])["registerWithTaints"]
    assert taints == [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    assert drop_in not in worker
    units = {role: {u["name"]: u.get("content", "") for u in
                    load(current / f"cloud-config/{role}.yaml")["coreos"]["units"]}
             for role in ("controller", "worker")}
    assert "--config-dir=/etc/kubernetes/kubelet.conf.d" in units["controller"]["kubelet.service"]
    assert "--config-dir" not in units["worker"]["kubelet.service"]
    assert "--register-with-taints" not in units["controller"]["kubelet.service"]

