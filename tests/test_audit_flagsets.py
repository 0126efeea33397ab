"""Rule 14 (generator/audit/flagsets.py): flags and config fields against the upstream sets.

The planted cluster (tests/data/flagsets/) uses only flags and fields the upstream sources of
generator/data/upstream/ list; each twin below breaks one component's flag or one config kind's
field and must fail at the line it broke. Sources: kube-apiserver 1.35 and kube-scheduler 1.36
generated references (kubernetes/website), kubelet and kube-controller-manager 1.35 references,
cmd/kube-proxy/app/options.go, etcd v3.6.14 server/embed/config.go, flannel v0.28.9 main.go,
and the Go types of kubelet.config.k8s.io/v1beta1, kubeproxy.config.k8s.io/v1alpha1 and
kubescheduler.config.k8s.io/v1 at v1.37.0-beta.0.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from generator import TEMPLATE_ROOT
from generator.audit import flagsets
from generator.audit.cluster import Cluster
from generator.audit.report import ERROR, WARNING, Finding
from generator.audit.upstream import DATA, config_schemas, flag_tables
from tests.baking import bake
from tests.test_audit_rules import mutate

PLANTED = Path(__file__).parent / "data" / "flagsets"
APISERVER, CM = "manifests/controller/kube-apiserver.yaml", \
    "manifests/controller/kube-controller-manager.yaml"
SCHEDULER, PROXY = "manifests/controller/kube-scheduler.yaml", "manifests/addons/kube-proxy.yaml"
FLANNEL, ETCD, WORKER = "manifests/addons/flannel.yaml", "cloud-config/etcd.yaml", \
    "cloud-config/worker.yaml"
KUBELET_CONFIG, SCHEDULER_CONFIG = "node/kubelet-config.yaml", "node/scheduler-config.yaml"
CSI = "manifests/addons/digitalocean-csi.yaml"
METRICS = "manifests/addons/metrics-server.yaml"


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    shutil.copytree(PLANTED, tmp_path / "cluster")
    return tmp_path / "cluster"


def check(cluster: Path) -> list[Finding]:
    return sorted(flagsets.check(Cluster(cluster)))


def test_planted_current_cluster_is_clean(planted: Path) -> None:
    assert check(planted) == []


# (id, file, old, new, rule, severity, words the message must hold)
TWINS = [
    ("kube-apiserver-unknown", APISERVER, "- --secure-port=443", "- --secure-prot=443",
     "flags.unknown", ERROR, ["kube-apiserver: --secure-prot", "did you mean --secure-port?"]),
    ("kube-apiserver-removed", APISERVER, "- --v=2", "- --azure-container-registry-config=/x",
     "flags.removed", ERROR, ["--azure-container-registry-config is not accepted", "remove it"]),
    ("kube-controller-manager-unknown", CM, "- --allocate-node-cidrs=true",
     "- --allocate-node-cidr=true", "flags.unknown", ERROR,
     ["kube-controller-manager: --allocate-node-cidr ", "did you mean --allocate-node-cidrs?"]),
    ("kube-scheduler-removed", SCHEDULER, "- --bind-address=127.0.0.1", "- --address=127.0.0.1",
     "flags.removed", ERROR, ["kube-scheduler: --address is not accepted", "removed in 1.24"]),
    ("kube-scheduler-unknown", SCHEDULER, "- --bind-address=127.0.0.1",
     "- --bind-adress=127.0.0.1", "flags.unknown", ERROR,
     ["kube-scheduler: --bind-adress is not a flag", "did you mean --bind-address?"]),
    ("kube-scheduler-one-dash", SCHEDULER, "- --config=", "- -config=", "flags.unknown", ERROR,
     ["-config has one dash", "write --config"]),
    ("kube-proxy-unknown", PROXY, "- --hostname-override=$(NODE_NAME)",
     "- --proxy-port-range=30000-32767", "flags.unknown", ERROR,
     ["kube-proxy: --proxy-port-range"]),
    ("kubelet-removed", WORKER, "--node-ip=$private_ipv4", "--network-plugin=cni",
     "flags.removed", ERROR, ["kubelet: --network-plugin is not accepted", "1.3-era"]),
    ("kubelet-deprecated", WORKER, "--v=2", "--cluster-domain=cluster.local",
     "flags.deprecated", WARNING,
     ["kubelet: --cluster-domain is deprecated", "KubeletConfiguration"]),
    ("etcd-removed", ETCD, "--client-cert-auth \\", "--enable-v2 \\", "flags.removed", ERROR,
     ["etcd: --enable-v2 is not accepted", "removed in 3.6"]),
    ("etcd-unknown", ETCD, "--data-dir=/var/lib/etcd", "--data-directory=/var/lib/etcd",
     "flags.unknown", ERROR, ["etcd: --data-directory", "did you mean --data-dir?"]),
    ("flanneld-unknown", FLANNEL, "- --iface=eth1", "- --interface=eth1", "flags.unknown", ERROR,
     ["flanneld: --interface is not a flag of flanneld v0.28.9"]),
    # metrics-server v0.9.0's docs/command-line-flags.txt: a misspelled kubelet flag, and the
    # one its help calls DEPRECATED
    ("metrics-server-unknown", METRICS, "- --kubelet-use-node-status-port",
     "- --kubelet-use-node-port", "flags.unknown", ERROR,
     ["metrics-server: --kubelet-use-node-port is not a flag of metrics-server v0.9.0"]),
    ("metrics-server-deprecated", METRICS, "- --kubelet-use-node-status-port",
     "- --deprecated-kubelet-completely-insecure", "flags.deprecated", WARNING,
     ["metrics-server: --deprecated-kubelet-completely-insecure"]),
    ("kubelet-config-field", KUBELET_CONFIG, "staticPodPath:", "staticPodPaths:",
     "config.unknown-field", ERROR, ["KubeletConfiguration: staticPodPaths is not a field"]),
    ("kubelet-config-nested", KUBELET_CONFIG, "    clientCAFile:", "    clientCaFile:",
     "config.unknown-field", ERROR, ["authentication.x509.clientCaFile"]),
    ("kubelet-config-list-item", KUBELET_CONFIG, "    effect: NoSchedule", "    efect: NoSchedule",
     "config.unknown-field", ERROR, ["registerWithTaints.0.efect"]),
    ("kubelet-config-embedded", WORKER, "      staticPodPath:", "      podManifestPath:",
     "config.unknown-field", ERROR, ["KubeletConfiguration: podManifestPath"]),
    ("kubelet-config-api-version", KUBELET_CONFIG, "kubelet.config.k8s.io/v1beta1",
     "kubelet.config.k8s.io/v1", "config.api-version", ERROR,
     ["'kubelet.config.k8s.io/v1'", "reads kubelet.config.k8s.io/v1beta1"]),
    ("kube-proxy-config-field", PROXY, "    mode: iptables", "    proxyMode: iptables",
     "config.unknown-field", ERROR, ["KubeProxyConfiguration: proxyMode"]),
    ("kube-proxy-config-nested", PROXY, "      maxPerCore: 0", "      maxPerCPU: 0",
     "config.unknown-field", ERROR, ["KubeProxyConfiguration: conntrack.maxPerCPU"]),
    ("scheduler-config-field", SCHEDULER_CONFIG, "  - schedulerName:", "  - name:",
     "config.unknown-field", ERROR, ["KubeSchedulerConfiguration: profiles.0.name"]),
    # the tables hold one release and the earlier minor they record the differences of (1.36):
    # a component at any other minor is not checked against them
    ("kube-apiserver-image-minor", APISERVER, "kube-apiserver:v1.37.0", "kube-apiserver:v1.35.2",
     "flags.version", ERROR, ["image registry.k8s.io/kube-apiserver:v1.35.2 is v1.35.2",
                              "flag table is for 1.37", "pin 1.37.x"]),
    ("flanneld-image-minor", FLANNEL, "flannel:v0.28.9", "flannel:v0.27.4", "flags.version",
     ERROR, ["flanneld: image ghcr.io/flannel-io/flannel:v0.27.4 is v0.27.4"]),
    ("kubernetes-version-minor", "settings.env", "KUBERNETES_VERSION=1.37.0",
     "KUBERNETES_VERSION=1.38.0", "flags.version", ERROR,
     ["kubelet: KUBERNETES_VERSION is 1.38.0", "add the 1.38 table"]),
]


def test_the_earlier_minor_is_the_table_less_its_later_changes(planted: Path) -> None:
    """A 1.36 bake (make upgrade's previous minor) is checked against the 1.37 table with the
    1.37 changes taken back: kubernetes/apiserver registers --tls-curve-preferences at
    v0.37.0-beta.0, not at v0.35.0, so a 1.36 apiserver is not known to take it;
    CHANGELOG-1.37 removed the controller-manager's --concurrent-service-syncs, so 1.36 takes
    it and 1.37 does not."""
    mutate(planted, CM, "- --v=2", "- --concurrent-service-syncs=2")
    assert [(f.file, f.rule) for f in check(planted)] == [(CM, "flags.removed")]
    mutate(planted, CM, "kube-controller-manager:v1.37.0", "kube-controller-manager:v1.36.4")
    assert check(planted) == []
    mutate(planted, APISERVER, "- --v=2", "- --tls-curve-preferences=X25519")
    assert check(planted) == []
    line = mutate(planted, APISERVER, "kube-apiserver:v1.37.0", "kube-apiserver:v1.36.4")
    found = check(planted)
    assert [(f.file, f.rule, f.severity) for f in found] == [(APISERVER, "flags.removed", ERROR)]
    assert found[0].line > line
    assert "not known to be in 1.36" in found[0].message


@pytest.mark.parametrize(("old", "new", "rel", "rule", "severity", "words"),
                         [t[2:4] + (t[1],) + t[4:] for t in TWINS], ids=[t[0] for t in TWINS])
def test_broken_twin_fails_at_its_line(planted: Path, old: str, new: str, rel: str, rule: str,
                                       severity: str, words: list[str]) -> None:
    line = mutate(planted, rel, old, new)
    found = check(planted)
    assert [(f.file, f.line, f.rule, f.severity) for f in found] == [(rel, line, rule, severity)], \
        found
    for word in words:
        assert word in found[0].message


def test_one_finding_per_bad_flag_of_each_component(planted: Path) -> None:
    """Every component's table is in use: a bogus flag is reported once per component."""
    for rel, old in ((APISERVER, "- --v=2"), (CM, "- --v=2"), (SCHEDULER, "- -v=2"),
                     (PROXY, "- --config="), (FLANNEL, "- --ip-masq")):
        mutate(planted, rel, old, old.replace(old.lstrip("- ").split("=")[0], "--bogus-flag"))
    mutate(planted, WORKER, "--v=2", "--bogus-flag=2")
    mutate(planted, ETCD, "--data-dir=", "--bogus-flag=")
    # DigitalOcean's CSI driver and its sidecars (issue 21), one flag each
    for flag in ("--do-tag=", "--default-fstype=", "--reconcile-sync=",
                 "--handle-volume-inuse-error=", "--kubelet-registration-path="):
        mutate(planted, CSI, flag, "--bogus-flag=")
    # metrics-server v0.9.0 (issue 21.3): docs/command-line-flags.txt at that tag
    mutate(planted, METRICS, "--metric-resolution=", "--bogus-flag=")
    named = {f.message.split(":")[0] for f in check(planted) if f.rule == "flags.unknown"}
    assert named == set(flag_tables()) == {
        "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "kubelet",
        "etcd", "flanneld", "do-csi-plugin", "csi-provisioner", "csi-attacher", "csi-resizer",
        "csi-node-driver-registrar", "metrics-server"}


def test_image_names_the_component_when_the_command_is_its_entrypoint(planted: Path) -> None:
    """A container without a command runs its image's entrypoint: its args are its flags."""
    line = mutate(planted, PROXY, "          command:\n            - /usr/local/bin/kube-proxy\n",
                  "          args:\n", "- --hostname-override")
    assert check(planted) == []
    mutate(planted, PROXY, "--hostname-override=", "--hostname-overide=")
    found = check(planted)
    assert [(f.line, f.rule) for f in found] == [(line, "flags.unknown")], found
    assert "did you mean --hostname-override?" in found[0].message


def test_current_bake_passes(tmp_path: Path) -> None:
    """The template's own current-profile artifacts use only flags and fields of the tables."""
    if not (TEMPLATE_ROOT / "{{cookiecutter.cluster_name}}" / "profiles" / "current" / APISERVER
            ).is_file():
        pytest.skip("this checkout has no current-profile static pods yet")
    cluster = bake(tmp_path, profile="current")
    assert [str(f) for f in check(cluster) if f.severity == ERROR] == []


def test_previous_minor_bake_passes(tmp_path: Path) -> None:
    """make upgrade's rehearsal starts from a bake at the pinned 1.36 release."""
    cluster = bake(tmp_path, profile="current", kubernetes_version="1.36.4")
    assert [str(f) for f in check(cluster) if f.severity == ERROR] == []
    assert "registry.k8s.io/kube-apiserver:v1.36.4" in (cluster / APISERVER).read_text()


def test_tutorial_profile_is_left_to_the_real_binaries(planted: Path) -> None:
    (planted / "settings.env").write_text("PROFILE=tutorial\n")
    mutate(planted, APISERVER, "- --secure-port=443", "- --insecure-port=8080")
    assert check(planted) == []


def test_go_flag_components_take_one_dash(planted: Path) -> None:
    """etcd and flanneld parse with Go's flag package: -name is --name."""
    mutate(planted, ETCD, "--data-dir=", "-data-dir=")
    mutate(planted, FLANNEL, "- --ip-masq", "- -ip-masq")
    assert check(planted) == []


@pytest.mark.parametrize("path", sorted((DATA / "flags").glob("*.json")), ids=lambda p: p.stem)
def test_flag_table_names_its_upstream_sources(path: Path) -> None:
    raw = json.loads(path.read_text())
    assert raw["sources"], path
    for source in raw["sources"]:
        assert {"repository", "path", "ref", "how", "flags"} <= source.keys(), source
    added = {f for s in raw["sources"] for f in s["flags"]}
    withdrawn = {f for s in raw["sources"] for f in s.get("removes", [])}
    assert set(raw["flags"]) == added - withdrawn
    assert withdrawn <= set(raw["removed"]), "a flag a later source removes must say so"
    assert not set(raw["removed"]) & set(raw["flags"]), "a removed flag is listed as accepted"
    assert set(raw["deprecated"]) <= set(raw["flags"]), "a deprecated flag must be accepted"


@pytest.mark.parametrize("path", sorted((DATA / "config").glob("*.json")), ids=lambda p: p.stem)
def test_config_schema_names_its_upstream_sources(path: Path) -> None:
    raw = json.loads(path.read_text())
    # the staging tags of 1.37 (kubernetes/pod-security-admission has no beta tag stored:
    # alpha.2, whose admission/api/v1/types.go is the same as at its newest commit)
    assert raw["sources"] and all(s["ref"] in ("v0.37.0-beta.0", "v0.37.0-alpha.2")
                                  for s in raw["sources"])
    assert {"apiVersion", "kind"} <= raw["fields"].keys()


def test_tables_hold_what_the_upstream_sources_say() -> None:
    """Spot checks against the cited sources (a wrong transcription fails here)."""
    tables, schemas = flag_tables(), config_schemas()
    apiserver = tables["kube-apiserver"].flags
    assert {"service-account-issuer", "authorization-mode", "etcd-servers",
            "tls-curve-preferences"} <= apiserver
    assert not {"insecure-port", "insecure-bind-address"} & apiserver  # gone since 1.24
    assert "kube-subnet-mgr" in tables["flanneld"].flags
    assert {"client-cert-auth", "peer-client-cert-auth", "listen-client-urls"} <= \
        tables["etcd"].flags
    assert "enable-v2" in tables["etcd"].removed
    kubelet = schemas["KubeletConfiguration"].fields
    assert {"staticPodPath", "containerRuntimeEndpoint", "authentication", "tlsCertFile"} <= \
        kubelet.keys()
    assert set(kubelet["authentication"]["fields"]) == {"anonymous", "webhook", "x509"}
    assert schemas["KubeProxyConfiguration"].api_version == "kubeproxy.config.k8s.io/v1alpha1"
    assert "profiles" in schemas["KubeSchedulerConfiguration"].fields
