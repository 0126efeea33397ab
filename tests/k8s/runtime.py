"""The node side that needs containers, stood in over the REAL apiserver's API.

No program here runs containers (no docker engine, no image registry), so this plays the
kubelet + docker of each worker, and nothing else: it registers the worker as a Node (named by
its public IP, as --hostname-override=$public_ipv4 does), keeps it Ready, and reports every pod
the real scheduler bound to it as Running and Ready with a pod IP from the node's flannel
subnet. Scheduling, replication, endpoints and service IPs stay the real control plane's work.

Workers are the simulated droplets (tests/standins) that carry the cluster's worker role and
have the worker certificate and key installed, like the kubelet that waits for them
(tls-ready.service).
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.error import HTTPError

from tests.standins import dropletfs

Api = Callable[[str, str, Any], Any]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def simulated_workers(dosim_state: Path, ssl_dir: str, worker_tag: str) -> list[tuple[str, str]]:
    """(public IP, private IP) of each simulated droplet carrying the worker role tag, with its
    TLS assets installed."""
    if not dosim_state.is_file():
        return []
    account = json.loads(dosim_state.read_text())
    found = []
    for rec in account.get("droplets", {}).values():
        if worker_tag not in rec.get("tags", []):
            continue
        sim = rec["sim"]
        root = Path(sim["root"])
        if all(dropletfs.resolve(root, f"{ssl_dir}/{f}").is_file()
               for f in ("worker.pem", "worker-key.pem")):
            found.append((sim["public_ip"], sim["private_ip"]))
    return sorted(found)


@dataclass
class NodeRuntime:
    api: Api
    pod_network: str
    workers: Callable[[], list[tuple[str, str]]]
    subnets: dict[str, ipaddress.IPv4Network] = field(default_factory=dict)
    next_ip: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_args(cls, plane: Any, args: list[str]) -> NodeRuntime:
        """runtime args: DOSIM_STATE SSL_DIR POD_NETWORK WORKER_TAG (the rehearsal's use)."""
        state, ssl_dir, pod_network, worker_tag = args
        return cls(plane.api, pod_network,
                   lambda: simulated_workers(Path(state), ssl_dir, worker_tag))

    def _subnet(self, node: str) -> ipaddress.IPv4Network:
        # flannel leases each node a /24 of the pod network
        if node not in self.subnets:
            subnets = ipaddress.ip_network(self.pod_network).subnets(new_prefix=24)
            for _ in range(len(self.subnets) + 1):
                subnet = next(subnets)
            self.subnets[node] = subnet
        return self.subnets[node]

    def register(self, name: str, private_ip: str) -> None:
        condition = {"type": "Ready", "status": "True", "reason": "KubeletReady",
                     "message": "node runtime stand-in (tests/k8s/runtime.py)",
                     "lastHeartbeatTime": _now(), "lastTransitionTime": _now()}
        status = {"capacity": {"cpu": "1", "memory": "1Gi", "pods": "40"},
                  "conditions": [condition],
                  "addresses": [{"type": "LegacyHostIP", "address": name},
                                {"type": "InternalIP", "address": private_ip},
                                {"type": "ExternalIP", "address": name}],
                  "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                  "nodeInfo": {"kubeletVersion": "v1.1.2", "kubeProxyVersion": "v1.1.2"}}
        try:
            node = self.api("GET", f"/api/v1/nodes/{name}", None)
        except HTTPError as error:
            if error.code != 404:
                raise
            node = self.api("POST", "/api/v1/nodes", {
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                "spec": {"externalID": name}})
        node["status"] = status
        self.api("PUT", f"/api/v1/nodes/{name}/status", node)

    def run_pods(self, nodes: set[str]) -> None:
        for pod in self.api("GET", "/api/v1/pods", None)["items"]:
            node = pod["spec"].get("nodeName")
            if node not in nodes or pod.get("status", {}).get("phase") == "Running":
                continue
            subnet = self._subnet(node)
            self.next_ip[node] = self.next_ip.get(node, 1) + 1
            pod["status"] = {
                "phase": "Running", "hostIP": node, "podIP": str(subnet[self.next_ip[node]]),
                "startTime": _now(),
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [
                    {"name": c["name"], "ready": True, "restartCount": 0, "image": c["image"],
                     "imageID": f"docker://{c['image']}", "containerID": f"docker://{c['name']}",
                     "state": {"running": {"startedAt": _now()}}}
                    for c in pod["spec"]["containers"]]}
            meta = pod["metadata"]
            self.api("PUT", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
                     pod)

    def sync(self) -> None:
        """One round: every worker registered and Ready, its bound pods Running."""
        workers = self.workers()
        for public, private in workers:
            self.register(public, private)
        self.run_pods({public for public, _ in workers})
