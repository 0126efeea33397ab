"""DigitalOcean's cloud-controller-manager's service controller as the current kubectl stand-in
models it (issue 21 item 1), from digitalocean-cloud-controller-manager at v0.1.68,
cloud-controller-manager/do/loadbalancers.go (and cloud.go for its environment):

- The apiserver gives every port of a NodePort or LoadBalancer Service a NodePort, the lowest
  free one of the default --service-node-port-range 30000-32767 unless the manifest names one
  (kept apart from the object: kubectl apply's three-way merge keeps what the server set).
- A ``type: LoadBalancer`` Service gets a load balancer only once the CCM's Deployment and the
  Secret with its token (kube-system/digitalocean) exist and some node is initialized (no
  uninitialized taint): EnsureLoadBalancer's request
  (buildLoadBalancerRequest) is ``POST /v2/load_balancers`` in the doctl stand-in's account:
  name ``a`` + the Service's UID without dashes, cut to 32 characters (getLoadBalancerLegacyName:
  cloudprovider.DefaultLoadBalancerName); region: the droplets' (dropletRegion, from the
  metadata of the droplet it runs on); one forwarding rule per port, tcp (getProtocol's
  default) or udp, from ``port`` to ``nodePort`` (buildForwardingRule); health check http on
  kube-proxy's /healthz at 10256 (healthCheckPathAndPort, kubeProxyHealthPort), every 3 s,
  timeout 5 s, unhealthy 3, healthy 5; droplet_ids from the nodes' provider IDs, else the
  droplet named as the node (nodesToDropletIDs); tags ``k8s:<DO_CLUSTER_ID>`` (buildK8sTag);
  type: DEFAULT_LB_TYPE (REGIONAL or REGIONAL_NETWORK, the latter when unset; getType); an
  empty firewall. Then the
  Service's status.loadBalancer.ingress[0].ip is the load balancer's IP once it is active.
  A changed Service or node set is a ``PUT``; a deleted Service (or one no longer of type
  LoadBalancer) deletes its load balancer (EnsureLoadBalancerDeleted).
- Without the CCM or its token nothing is created and the Service stays <pending>, as in a
  cluster without a cloud provider.
Its API calls are the CCM's (godo), not doctl's: they change the account but are not in
doctl's call log.
"""

from __future__ import annotations

import uuid
from typing import Any

import csivolumes
from current_nodes import CCM, UNINITIALIZED

from tests.standins import lbservice
from tests.standins.api import HttpError

NODE_PORTS = range(30000, 32768)  # kube-apiserver --service-node-port-range default
KUBE_PROXY_HEALTH_PORT = 10256  # loadbalancers.go kubeProxyHealthPort
PROVIDER = "digitalocean://"


def _services(data: dict[str, Any], kind: str | None = None) -> dict[str, dict[str, Any]]:
    return {k: o for k, o in data["objects"].items() if o["kind"] == "Service" and
            (kind is None and o["spec"].get("type") in ("NodePort", "LoadBalancer")
             or o["spec"].get("type") == kind)}


def node_ports(data: dict[str, Any], key: str, svc: dict[str, Any]) -> list[dict[str, Any]]:
    """SVC's ports with the NodePort each has (the manifest's or the one allocated)."""
    given = data.get("node_ports", {}).get(key, {})
    return [{**p, "nodePort": p.get("nodePort") or given.get(str(i))}
            for i, p in enumerate(svc["spec"].get("ports") or [])]


def _allocate(data: dict[str, Any]) -> None:
    allocated = data.setdefault("node_ports", {})
    services = _services(data)
    for key in [k for k in allocated if k not in services]:
        del allocated[key]
    used = {p["nodePort"] for k, s in services.items() for p in node_ports(data, k, s)
            if p["nodePort"]}
    for key, svc in services.items():
        for i, port in enumerate(svc["spec"].get("ports") or []):
            if not port.get("nodePort") and str(i) not in allocated.get(key, {}):
                free = next(p for p in NODE_PORTS if p not in used)
                allocated.setdefault(key, {})[str(i)] = free
                used.add(free)


def _env(controller: dict[str, Any], name: str) -> str:
    for container in controller["spec"]["template"]["spec"]["containers"]:
        for env in container.get("env") or []:
            if env["name"] == name:
                return str(env.get("value", ""))
    return ""


def _request(data: dict[str, Any], key: str, svc: dict[str, Any], uid: str,
             ready: list[dict[str, Any]], droplets: list[dict[str, Any]]) -> dict[str, Any]:
    controller = data["objects"][CCM]
    cluster_id = _env(controller, "DO_CLUSTER_ID")
    by_name = {d["name"]: d["id"] for d in droplets}
    ids = [int(n["spec"]["providerID"].removeprefix(PROVIDER)) if n["spec"].get("providerID")
           else by_name[n["metadata"]["name"]] for n in ready
           if n["spec"].get("providerID") or n["metadata"]["name"] in by_name]
    return {
        "name": ("a" + uid.replace("-", ""))[:32],
        "region": droplets[0]["region"],
        "forwarding_rules": [{"entry_protocol": p.get("protocol", "TCP").lower(),
                              "entry_port": p["port"],
                              "target_protocol": p.get("protocol", "TCP").lower(),
                              "target_port": p["nodePort"]}
                             for p in node_ports(data, key, svc)],
        "health_check": {"protocol": "http", "port": KUBE_PROXY_HEALTH_PORT,
                         "path": "/healthz", "check_interval_seconds": 3,
                         "response_timeout_seconds": 5, "unhealthy_threshold": 3,
                         "healthy_threshold": 5},
        "droplet_ids": sorted(ids),
        "tags": [f"k8s:{cluster_id}"] if cluster_id else [],
        "type": _env(controller, "DEFAULT_LB_TYPE") or "REGIONAL_NETWORK",
        "firewall": {"allow": [], "deny": []}}


def reconcile(data: dict[str, Any], node_list: list[dict[str, Any]],
              droplets: list[dict[str, Any]]) -> None:
    """The NodePorts the apiserver allocates, and the load balancers the CCM would make."""
    _allocate(data)
    objects = data["objects"]
    if CCM not in objects or csivolumes.SECRET not in objects:
        return
    made = data.setdefault("ccm_lbs", {})  # Service key -> {uid, id, request}
    wanted = _services(data, "LoadBalancer")
    for key in [k for k in made if k not in wanted]:
        if made[key].get("id"):
            csivolumes.api(lbservice.delete_load_balancer(made[key]["id"]))
        del made[key]
    ready = [n for n in node_list if str(n["spec"].get("providerID") or PROVIDER)
             .startswith(PROVIDER) and not any(t["key"] == UNINITIALIZED
                                               for t in n["spec"].get("taints") or [])]
    if not ready or not droplets:
        return  # ErrNoEligibleBackends: the Service stays pending
    for key, svc in wanted.items():
        entry = made.setdefault(key, {"uid": str(uuid.uuid4())})
        request = _request(data, key, svc, entry["uid"], ready, droplets)
        if not entry.get("id"):
            lb = csivolumes.api(lbservice.create_load_balancer(request))["load_balancer"]
            entry.update(id=lb["id"], request=request)
        elif entry["request"] != request:
            csivolumes.api(lbservice.update_load_balancer(entry["id"], request))
            entry["request"] = request


def view(data: dict[str, Any], key: str, svc: dict[str, Any]) -> dict[str, Any]:
    """The Service as the apiserver returns it: its NodePorts, and for a LoadBalancer the
    ingress IP once the CCM's load balancer has one (else <pending>: an empty status)."""
    if svc["spec"].get("type") not in ("NodePort", "LoadBalancer"):
        return svc
    svc["spec"]["ports"] = node_ports(data, key, svc)
    if svc["spec"]["type"] == "LoadBalancer":
        svc["status"] = {"loadBalancer": {}}
        ip = lb_ip(data, key)
        if ip:
            svc["status"]["loadBalancer"] = {"ingress": [{"ip": ip}]}
    return svc


def lb_ip(data: dict[str, Any], key: str) -> str:
    """The IP of the CCM's load balancer for Service KEY ("" while it has none)."""
    lb_id = data.get("ccm_lbs", {}).get(key, {}).get("id")
    try:
        return str(csivolumes.api(lbservice.get_load_balancer(lb_id))["load_balancer"]["ip"]) \
            if lb_id else ""
    except HttpError:  # deleted behind the CCM's back
        return ""
