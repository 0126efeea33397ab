"""Issue 17.1: the pod network of a current node, run with the real CNI plugins (Debian's
containernetworking-plugins) the way containerd's CRI runs it, in network namespaces the test
makes (one stands for the node, one for the pod) and a private mount namespace (host-local's
/var/lib/cni), all removed afterwards.

What runs: the plugins the node's user data installs (cni-install.service's tar members, taken
from a tarball laid out as the upstream release is), nothing else on CNI_PATH; the CNI
configuration manifests/addons/flannel.yaml installs (cni-conf.json). The flannel
meta-plugin itself is not packaged by Debian, so it is NOT run: the test builds the delegate
configuration it would hand to bridge, as flannel-io/cni-plugin's source does
(flannel.go loadFlannelSubnetEnv, flannel_linux.go doCmdAdd/getDelegateIPAM: type bridge,
name of the network, ipMasq = !FLANNEL_IPMASQ, mtu = FLANNEL_MTU, isGateway true, cniVersion
of the list, host-local IPAM with ranges [[{subnet: FLANNEL_SUBNET's network}]] and a route
to FLANNEL_NETWORK, the list's delegate keys kept), from a subnet.env as flanneld writes it
for the node's podCIDR (flannel's pkg/subnet WriteSubnetFile: the subnet's first address,
MTU of the vxlan device, IPMASQ from --ip-masq).
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import facts
from tests.integration.current_nodes import droplet_config, exec_argv, units

DEBIAN_CNI = Path("/usr/lib/cni")  # Debian's containernetworking-plugins puts them here
# The node's flannel lease (the Node's spec.podCIDR) in the default 10.2.0.0/16, and the MTU
# flanneld gives its vxlan device on a 1500-byte interface (50 bytes of VXLAN header).
NODE_SUBNET = "10.2.3.0/24"
VXLAN_MTU = 1450
CONTAINER_ID = "h17cnitest0001"


def installed_plugins(cluster: Path, role: str) -> tuple[list[str], list[str]]:
    """(tar argv, plugin names) of the user data's cni-install.service."""
    unit = units(droplet_config(cluster, role))["cni-install.service"]["content"]
    tar = next(argv for argv in exec_argv(unit) if argv[0] == "/usr/bin/tar")
    return tar, [m.removeprefix("./") for m in tar if m.startswith("./")]


# Plugins of the release the user data does not take (a tar that took everything would put
# them into CNI_PATH too).
NOT_TAKEN = ("ptp", "macvlan")


def release_tarball(path: Path, plugins: list[str]) -> None:
    """A tarball laid out as containernetworking/plugins' scripts/release.sh makes it
    (`tar -C bin -caf FILE .`: members ./bridge, ...) with Debian's builds of the plugins the
    user data takes and of some it does not."""
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        tar.add(DEBIAN_CNI, arcname=".", recursive=False)
        for name in (*plugins, *NOT_TAKEN):
            tar.add(DEBIAN_CNI / name, arcname=f"./{name}")


def flannel_cni_conf(cluster: Path) -> dict[str, Any]:
    for doc in yaml.safe_load_all((cluster / "manifests/addons/flannel.yaml").read_text()):
        if doc and doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "kube-flannel-cfg":
            conf: dict[str, Any] = json.loads(doc["data"]["cni-conf.json"])
            return conf
    raise AssertionError("flannel.yaml has no kube-flannel-cfg ConfigMap")


def subnet_env(network: str, subnet: str, mtu: int) -> str:
    """/run/flannel/subnet.env as flanneld --ip-masq writes it."""
    first = ipaddress.ip_network(subnet).network_address + 1
    prefix = ipaddress.ip_network(subnet).prefixlen
    return (f"FLANNEL_NETWORK={network}\nFLANNEL_SUBNET={first}/{prefix}\n"
            f"FLANNEL_MTU={mtu}\nFLANNEL_IPMASQ=true\n")


def read_subnet_env(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def flannel_delegate(entry: dict[str, Any], name: str, version: str,
                     env: dict[str, str]) -> dict[str, Any]:
    """What flannel's doCmdAdd hands to its delegate (net.ParseCIDR: networks, not addresses)."""
    delegate = dict(entry.get("delegate", {}))
    delegate["name"] = name
    delegate.setdefault("type", "bridge")
    delegate.setdefault("ipMasq", env["FLANNEL_IPMASQ"] != "true")
    delegate.setdefault("mtu", int(env["FLANNEL_MTU"]))
    if delegate["type"] == "bridge":
        delegate.setdefault("isGateway", True)
    delegate["cniVersion"] = version
    subnet = str(ipaddress.ip_network(env["FLANNEL_SUBNET"], strict=False))
    network = str(ipaddress.ip_network(env["FLANNEL_NETWORK"], strict=False))
    delegate["ipam"] = {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                        "routes": [{"dst": network}]}
    return delegate


@dataclass
class Node:
    """Two network namespaces (node, pod) and a scratch /var/lib for host-local."""

    name: str
    pod: str
    var_lib: Path

    def run(self, argv: list[str], netns: str | None = None,
            stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        inner = ["ip", "netns", "exec", netns or self.name, *argv]
        script = 'mount --bind "$0" /var/lib && exec "$@"'
        return subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
             str(self.var_lib), *inner],
            input=stdin, env={**os.environ, **(env or {})}, capture_output=True, text=True,
            timeout=60, check=False)

    def plugin(self, command: str, cni_path: Path, conf: dict[str, Any],
               ifname: str = "eth0") -> subprocess.CompletedProcess[str]:
        """One plugin call as libcni makes it (the CNI_* environment, config on stdin)."""
        env = {"CNI_COMMAND": command, "CNI_CONTAINERID": CONTAINER_ID,
               "CNI_NETNS": f"/var/run/netns/{self.pod}", "CNI_IFNAME": ifname,
               "CNI_PATH": str(cni_path)}
        binary = cni_path / conf["type"]
        return self.run([str(binary)], stdin=json.dumps(conf), env=env)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    for program in ("ip", "unshare", "iptables"):
        subprocess.run(["which", program], check=True, capture_output=True)
    if not (DEBIAN_CNI / "bridge").exists():
        message = ("Debian's CNI plugins are not installed: apt-get install "
                   "containernetworking-plugins (make test installs it)")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    made = Node(f"h17cni-node-{os.getpid()}", f"h17cni-pod-{os.getpid()}", tmp_path / "varlib")
    made.var_lib.mkdir()
    for netns in (made.name, made.pod):
        subprocess.run(["ip", "netns", "add", netns], check=True, capture_output=True)
    try:
        made.run(["ip", "link", "set", "lo", "up"])
        yield made
    finally:
        for netns in (made.name, made.pod):
            subprocess.run(["ip", "netns", "del", netns], check=False, capture_output=True)


@pytest.fixture(scope="module")
def release(current_cluster: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    archive = tmp_path_factory.mktemp("cni") / "release.tgz"
    release_tarball(archive, installed_plugins(current_cluster, "worker")[1])
    return archive


@pytest.fixture
def cni_bin(current_cluster: Path, release: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    """/opt/cni/bin as the worker's cni-install.service fills it: its own tar command (paths
    moved under tmp_path) run on a release-shaped tarball."""
    tar, plugins = installed_plugins(current_cluster, "worker")
    archive = release
    target = tmp_path / "opt-cni-bin"
    target.mkdir()
    argv = [str(archive) if a.endswith(".tgz") else str(target) if a == facts.CNI_BIN_DIR
            else a for a in tar]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return target, plugins


def test_every_pod_node_installs_the_plugins_before_its_kubelet(current_cluster: Path) -> None:
    for role in ("controller", "worker"):
        config = units(droplet_config(current_cluster, role))
        kubelet = config["kubelet.service"]["content"]
        requires = next(line for line in kubelet.splitlines() if line.startswith("Requires="))
        after = next(line for line in kubelet.splitlines() if line.startswith("After="))
        assert "cni-install.service" in requires.split("=")[1].split()
        assert "cni-install.service" in after.split("=")[1].split()
        fetch = exec_argv(config["cni-install.service"]["content"])[0]
        assert fetch[1].startswith("https://github.com/containernetworking/plugins/releases/")
        assert fetch[2] == "b98f74a0f8522f0a83867178729c1aa70f2158f90c45a2ca8fa791db1c76b303"
    assert "cni-install.service" not in units(droplet_config(current_cluster, "etcd"))


def test_a_pod_gets_a_veth_in_the_node_subnet_and_loses_it_on_delete(
        current_cluster: Path, cni_bin: tuple[Path, list[str]], node: Node) -> None:
    cni_path, plugins = cni_bin
    assert sorted(p.name for p in cni_path.iterdir()) == sorted(plugins)
    conflist = flannel_cni_conf(current_cluster)
    flannel, portmap = conflist["plugins"]
    assert (flannel["type"], portmap["type"]) == ("flannel", "portmap")
    network = str(ipaddress.ip_network("10.2.0.0/16"))
    env = read_subnet_env(subnet_env(network, NODE_SUBNET, VXLAN_MTU))
    version, name = conflist["cniVersion"], conflist["name"]
    delegate = flannel_delegate(flannel, name, version, env)
    assert delegate["hairpinMode"] is True and delegate["ipMasq"] is False

    # containerd's CRI: the pod's lo (loopback), then the list: flannel (its delegate), portmap
    lo = node.plugin("ADD", cni_path, {"cniVersion": version, "name": "cni-loopback",
                                       "type": "loopback"}, ifname="lo")
    assert lo.returncode == 0, lo.stdout + lo.stderr
    added = node.plugin("ADD", cni_path, delegate)
    assert added.returncode == 0, added.stdout + added.stderr
    result = json.loads(added.stdout)
    chained = {**portmap, "name": name, "cniVersion": version, "prevResult": result,
               "runtimeConfig": {"portMappings": [
                   {"hostPort": 30080, "containerPort": 80, "protocol": "tcp"}]}}
    mapped = node.plugin("ADD", cni_path, chained)
    assert mapped.returncode == 0, mapped.stdout + mapped.stderr

    address = ipaddress.ip_interface(result["ips"][0]["address"])
    assert address.network == ipaddress.ip_network(NODE_SUBNET)
    pod_link = node.run(["ip", "-d", "-o", "addr", "show", "dev", "eth0"], netns=node.pod)
    assert f"inet {address}" in pod_link.stdout
    assert "veth" in node.run(["ip", "-d", "-o", "link", "show", "dev", "eth0"],
                              netns=node.pod).stdout
    routes = node.run(["ip", "route"], netns=node.pod).stdout
    assert f"{network} via {address.network.network_address + 1}" in routes
    bridge = node.run(["ip", "-o", "addr", "show", "dev", "cni0"]).stdout
    assert f"inet {address.network.network_address + 1}/24" in bridge
    assert "CNI-HOSTPORT-DNAT" in node.run(["iptables", "-t", "nat", "-S"]).stdout

    for conf in (chained, delegate):
        deleted = node.plugin("DEL", cni_path, conf)
        assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert node.run(["ip", "link", "show", "dev", "eth0"], netns=node.pod).returncode != 0
    leases = node.var_lib / "cni/networks" / name
    assert not [p for p in leases.iterdir() if p.name.startswith("10.")]


def test_a_plugin_missing_from_the_user_data_fails_with_the_runner_error(
        current_cluster: Path, cni_bin: tuple[Path, list[str]], node: Node) -> None:
    """Broken twin: without host-local the bridge plugin cannot run its IPAM (libcni's
    invoke package searches CNI_PATH), and the pod gets no address (bridge has made the veth
    by then and leaves it for the runtime's DEL)."""
    cni_path, _ = cni_bin
    (cni_path / "host-local").unlink()
    conflist = flannel_cni_conf(current_cluster)
    env = read_subnet_env(subnet_env("10.2.0.0/16", NODE_SUBNET, VXLAN_MTU))
    delegate = flannel_delegate(conflist["plugins"][0], conflist["name"],
                                conflist["cniVersion"], env)
    added = node.plugin("ADD", cni_path, delegate)
    assert added.returncode != 0
    error = json.loads(added.stdout)  # the CNI error result bridge prints
    assert error["msg"] == f'failed to find plugin "host-local" in path [{cni_path}]'
    assert "inet " not in node.run(["ip", "-o", "addr", "show"], netns=node.pod).stdout
