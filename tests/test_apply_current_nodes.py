"""Day two on the current profile's nodes (issue 22 items 2-4), on one shared cluster applied on
the stand-ins (one etcd member, one controller, three workers, the add-ons): a drain that a
PodDisruptionBudget blocks names the pod and the timeout (scripts/lib/drain.sh: kubectl drain,
whose evictions the current-kubectl stand-in answers 429 while the budget forbids them:
tests/fake_kubectl/nodeops.py), make scale drains and deletes the highest-numbered workers and
refuses fewer than one.

Each test leaves worker 01 as it found it (Ready, schedulable): they run in any order."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.applying import Apply, cert_sans, guarded_deployment, kubectl, snapshot
from tests.baking import copy_cluster
from tests.current_profile import bake_current

# kubectl drain keeps retrying a refused eviction this long (DRAIN_TIMEOUT_SECONDS)
DRAIN_SECONDS = "1"


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Apply:
    cluster = bake_current(tmp_path_factory.mktemp("current-nodes-bake"), worker_count="3")
    base = tmp_path_factory.mktemp("current-nodes")
    apply = Apply.create(copy_cluster(cluster, base), base / "sim")
    apply.make("image")
    apply.make("etcd", "controller", "worker")
    apply.make("addons")
    return apply


def nodes(apply: Apply) -> dict[str, dict[str, object]]:
    items = json.loads(kubectl(apply, "get", "nodes", "-o", "json"))["items"]
    return {n["metadata"]["name"]: n for n in items}


def worker(apply: Apply, nn: int) -> str:
    return f"{apply.settings()['WORKER_PREFIX']}-{nn:02d}"


def test_scale_in_drains_then_deletes_the_highest_workers(applied: Apply, tmp_path: Path) -> None:
    s = applied.settings()
    w1, w2, w3 = (worker(applied, n) for n in (1, 2, 3))
    before = nodes(applied)
    assert {w1, w2, w3} <= set(before)
    # fewer than one worker: refused before any API call, nothing changed
    local = (applied.cluster / "pki", applied.cluster / "state/droplets")
    calls, files = applied.calls(), snapshot(*local)
    proc = applied.make("scale", check=False, WORKERS="0")
    assert proc.returncode != 0
    assert "WORKERS='0': use a number of workers from 1" in proc.stderr
    assert applied.calls() == calls
    assert snapshot(*local) == files

    # three replicas, one per worker, none may go: the drain of worker 03 stops at its pod
    manifest = tmp_path / "guarded.yaml"
    manifest.write_text(guarded_deployment(3))
    kubectl(applied, "apply", "-f", str(manifest))
    pods = json.loads(kubectl(applied, "get", "pods", "-o", "json"))["items"]
    (blocked,) = [p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == w3
                  and p["metadata"]["labels"].get("app") == "guarded"]
    proc = applied.make("scale", check=False, WORKERS="1", DRAIN_TIMEOUT_SECONDS=DRAIN_SECONDS)
    assert proc.returncode != 0
    # kubectl's eviction answered 429 while the budget forbade it (pkg/drain/drain.go evictPods)
    assert "Cannot evict pod as it would violate the pod's disruption budget." in proc.stderr
    assert (f"draining {w3} stopped after {DRAIN_SECONDS}s (DRAIN_TIMEOUT_SECONDS): the "
            f"PodDisruptionBudget of pod(s) default/{blocked}") in proc.stderr
    assert "'make scale WORKERS=1 FORCE=1'" in proc.stderr
    # nothing of it deleted; it stays cordoned, its pods where they were
    assert set(applied.droplets()) >= {w1, w2, w3}
    after = nodes(applied)
    assert after[w3]["spec"].get("unschedulable") is True
    assert not after[w2]["spec"].get("unschedulable")
    assert (applied.cluster / f"pki/kubelet-{w3}.pem").exists()

    # the budget relaxed: 03 then 02 drained and deleted with their Node objects and files
    kubectl(applied, "delete", "-f", str(manifest))
    applied.make("scale", WORKERS="1", DRAIN_TIMEOUT_SECONDS=DRAIN_SECONDS)
    assert w1 in applied.droplets()
    assert not {w2, w3} & set(applied.droplets())
    left = nodes(applied)
    assert w1 in left and not {w2, w3} & set(left)
    for gone in (w2, w3):
        assert not list(applied.cluster.glob(f"pki/kubelet-{gone}*"))
        assert not (applied.cluster / f"state/droplets/{gone}.json").exists()
        assert not (applied.cluster / f"build/user-data/{gone}.yaml").exists()
    log = [c for c in applied.kube()["calls"] if " drain " in f" {c} "]
    assert any(f"drain {w3} --ignore-daemonsets" in c for c in log)
    # idempotent: nothing left to remove, no droplet touched
    proc = applied.make("scale", WORKERS="1")
    assert "nothing to remove" in proc.stderr
    # recorded: make worker and make replace keep the cluster at one worker
    assert (s["WORKER_COUNT"], applied.settings()["WORKER_COUNT"]) == ("3", "1")
    creates = applied.calls("POST /v2/droplets")
    applied.make("worker")
    assert applied.calls("POST /v2/droplets") == creates


def test_replace_recreates_a_worker_drained_and_uncordoned(applied: Apply) -> None:
    w1 = worker(applied, 1)
    old = applied.droplets()[w1]
    proc = applied.make("replace", check=False)
    assert proc.returncode != 0 and "NODE=<worker name> is required" in proc.stderr
    proc = applied.make("replace", check=False, NODE="nosuch")
    assert proc.returncode != 0 and "NODE=nosuch: expected one of the workers" in proc.stderr
    assert applied.droplets()[w1]["id"] == old["id"]
    # one worker more wanted than exist: make replace would create it too; refused first
    kinds = ("POST /v2/droplets", "DELETE /v2/droplets/{id}")
    changes = [applied.calls(k) for k in kinds]
    wanted = 1 + sum(n.startswith("do-cluster-worker-") for n in applied.droplets())
    proc = applied.make("replace", check=False, NODE=w1, WORKERS=str(wanted))
    assert proc.returncode != 0 and f"make replace re-creates {w1} alone" in proc.stderr
    assert "nothing was changed" in proc.stderr
    assert [applied.calls(k) for k in kinds] == changes
    assert applied.droplets()[w1]["id"] == old["id"]

    applied.make("replace", NODE=w1)
    new = applied.droplets()[w1]
    assert new["id"] != old["id"]
    calls = applied.kube()["calls"]
    drained = max(i for i, c in enumerate(calls) if f"drain {w1} " in c)
    uncordoned = max(i for i, c in enumerate(calls) if f"uncordon {w1}" in c)
    assert drained < uncordoned
    # the same name with the current user data (the role's cloud-config: the addresses come
    # over ssh), its files as filled in those of the record, its kubelet back and schedulable
    assert (applied.root(w1) / "var/lib/dosim/user-data").read_text() == \
        (applied.cluster / "cloud-config/worker.yaml").read_text()
    record = yaml.safe_load((applied.cluster / f"build/user-data/{w1}.yaml").read_text())
    assert applied.node_files(w1) == {f["path"]: f["content"] for f in record["write_files"]}
    node = nodes(applied)[w1]
    assert node["status"]["conditions"][0]["status"] == "True"
    assert not node["spec"].get("unschedulable")
    # the kubelet certificate names the new droplet's addresses
    sans = cert_sans(applied.cluster / f"pki/kubelet-{w1}.pem")
    assert f"IP Address:{new['sim']['public_ip']}" in sans


PVC = """apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
  namespace: default
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1500Mi
"""


def test_a_claim_binds_only_once_the_csi_driver_runs_with_its_token(applied: Apply) -> None:
    """Issue 21 item 2 on this cluster: a PersistentVolumeClaim of the default class stays
    Pending without the CSI driver; make addons with DIGITALOCEAN_CLUSTER_TOKEN installs it and
    the claim binds to a volume the driver created in the account (pvc-<uid>, 1500Mi rounded up
    to 2 GiB, tagged CLOUD_TAG by its --do-tag); deleting the claim deletes the volume
    (reclaimPolicy Delete). The cloud add-ons stay (a drain evicts their pods like others)."""
    kubectl(applied, "apply", "-f", "-", stdin=PVC)
    claim = json.loads(kubectl(applied, "get", "pvc", "data", "-o", "json"))
    assert claim["status"]["phase"] == "Pending"
    assert applied.account().get("volumes", {}) == {}

    applied.make("addons", DIGITALOCEAN_CLUSTER_TOKEN="dop_v1_0cluster0token0for0tests0d41c")
    claim = json.loads(kubectl(applied, "get", "pvc", "data", "-o", "json"))
    assert claim["status"] == {"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                               "capacity": {"storage": "2Gi"}}
    assert claim["spec"]["storageClassName"] == "do-block-storage"
    [volume] = applied.account()["volumes"].values()
    assert (volume["name"], volume["size_gigabytes"], volume["tags"]) == (
        claim["spec"]["volumeName"], 2, [applied.settings()["CLOUD_TAG"]])
    pv = json.loads(kubectl(applied, "get", "pv", volume["name"], "-o", "json"))
    # csi-provisioner's --default-fstype=ext4 (digitalocean-csi.yaml) names the filesystem
    assert pv["spec"]["csi"] == {"driver": "dobs.csi.digitalocean.com",
                                 "volumeHandle": volume["id"], "fsType": "ext4"}
    kubectl(applied, "apply", "-f", "-", stdin=PVC)  # re-applied: still bound to the same one
    assert len(applied.account()["volumes"]) == 1

    kubectl(applied, "delete", "-f", "-", stdin=PVC)
    kubectl(applied, "get", "pv")  # the driver's controller deletes it as it comes round
    assert applied.account()["volumes"] == {}


def writer(name: str, context: str = "fsGroup: 65534", read_only: bool = False) -> str:
    """A busybox pod running as nobody (CONTEXT: more of its securityContext) with claim data
    at /data."""
    return f"""apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: default
spec:
  securityContext:
    runAsUser: 65534
    {context}
  containers:
    - name: busybox
      image: busybox:1.28
      command: [sleep, "3600"]
      volumeMounts:
        - name: data
          mountPath: /data
          readOnly: {str(read_only).lower()}
  volumes:
    - name: data
      persistentVolumeClaim:
        claimName: data
"""


def pod(apply: Apply, name: str) -> dict[str, Any]:
    return dict(json.loads(kubectl(apply, "get", "pod", name, "-o", "json")))


def exec_in(apply: Apply, name: str, *command: str, stdin: str | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "--kubeconfig", str(apply.cluster / "kubeconfig"), "exec",
                           *(["-i"] if stdin is not None else []), name, "--", *command],
                          env=apply.env, input=stdin, capture_output=True, text=True,
                          check=False)


def test_a_pod_mounts_its_claim_once_the_volume_is_attached_and_writes_and_reads(
        applied: Apply) -> None:
    """Issue 21 item 2 ("a pod writes and reads"): a pod mounting a claim is not scheduled while
    the claim is Pending; once the driver binds it, the attacher attaches the volume to the
    pod's node's droplet (POST /v2/volumes/{id}/actions) and only then does the pod run. What
    it writes (busybox tee) is on the volume: a new pod reads it back (cat) after the first
    was deleted (the volume detached) and the volume re-attached. A non-root pod without
    fsGroup may not write there, nor one mounting it readOnly; the claim deleted with its pod,
    the volume is detached, then deleted."""
    secrets = json.loads(kubectl(applied, "get", "secrets", "-n", "kube-system", "-o", "json"))
    if any(s["metadata"]["name"] == "digitalocean" for s in secrets["items"]):
        kubectl(applied, "delete", "-f", "-", stdin=SECRET)  # the driver without its token
    kubectl(applied, "apply", "-f", "-", stdin=PVC + "---\n" + writer("writer"))
    assert pod(applied, "writer")["status"]["phase"] == "Pending"
    assert pod(applied, "writer")["spec"]["nodeName"] == ""  # not scheduled: claim unbound
    assert exec_in(applied, "writer", "cat", "/data/x").returncode != 0

    applied.make("addons", DIGITALOCEAN_CLUSTER_TOKEN=TOKEN)
    running = pod(applied, "writer")
    assert running["status"]["phase"] == "Running"
    [volume] = applied.account()["volumes"].values()
    node = running["spec"]["nodeName"]
    assert volume["droplet_ids"] == [applied.droplets()[node]["id"]]

    line = f"written at {time.time()}\n"
    wrote = exec_in(applied, "writer", "tee", "/data/note", stdin=line)
    assert (wrote.returncode, wrote.stdout) == (0, line), wrote.stderr
    assert volume_files(applied, volume["id"]) == {"note": line}
    missing = exec_in(applied, "writer", "cat", "/data/none")
    assert (missing.returncode, missing.stderr) == (1, "cat: can't open '/data/none': No such "
                                                    "file or directory\ncommand terminated "
                                                    "with exit code 1\n")
    assert exec_in(applied, "writer", "tee", "/data/sub/note", stdin="x").returncode == 1

    kubectl(applied, "delete", "-f", "-", stdin=writer("writer"))
    kubectl(applied, "get", "pods")  # the attach/detach controller comes round
    assert applied.account()["volumes"][volume["id"]]["droplet_ids"] == []
    kubectl(applied, "apply", "-f", "-", stdin=writer("reader", "runAsNonRoot: true"))
    assert pod(applied, "reader")["status"]["phase"] == "Running"
    read = exec_in(applied, "reader", "cat", "/data/note")
    assert (read.returncode, read.stdout) == (0, line), read.stderr
    denied = exec_in(applied, "reader", "tee", "/data/other", stdin="x")
    assert (denied.returncode, denied.stderr.splitlines()[0]) == (
        1, "tee: /data/other: Permission denied")
    kubectl(applied, "apply", "-f", "-", stdin=writer("viewer", read_only=True))
    refused = exec_in(applied, "viewer", "tee", "/data/note", stdin="x")
    assert refused.stderr.startswith("tee: /data/note: Read-only file system")
    assert volume_files(applied, volume["id"]) == {"note": line}

    kubectl(applied, "delete", "-f", "-",
            stdin=PVC + "---\n" + writer("reader", "runAsNonRoot: true") + "---\n"
            + writer("viewer", read_only=True))
    kubectl(applied, "get", "pv")  # detached, then deleted with its claim
    assert applied.account()["volumes"] == {}


def volume_files(apply: Apply, volume_id: str) -> dict[str, str]:
    """What the pods wrote on a volume, as the stand-in's account keeps it."""
    return dict(apply.account()["volumes"][volume_id]["sim"]["files"])


WEB = """apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  type: LoadBalancer
  selector:
    app: web
  ports:
    - name: http
      port: 80
      targetPort: 8080
      protocol: TCP
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: registry.k8s.io/e2e-test-images/agnhost:2.53
          args: [serve-hostname, --http=true, --port=8080]
          ports:
            - containerPort: 8080
"""
TOKEN = "dop_v1_0cluster0token0for0tests0d41c"
SECRET = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: digitalocean\n  namespace: kube-system\n"


def curl(apply: Apply, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-fsS", "--max-time", "5", url], env=apply.env,
                          capture_output=True, text=True, check=False)


def test_a_load_balancer_service_gets_the_ccms_load_balancer(applied: Apply) -> None:
    """Issue 21 items 1 and 6 on this cluster: a LoadBalancer Service stays <pending> while the
    CCM has no token (its Secret deleted); with it the CCM creates the load balancer in the
    account as digitalocean-cloud-controller-manager v0.1.68 would (loadbalancers.go: name "a" +
    the Service's UID without dashes cut to 32, tag k8s:<DO_CLUSTER_ID> = CLOUD_TAG, rule 80 ->
    the allocated NodePort, http health check on kube-proxy's 10256 /healthz, the nodes'
    droplets by provider ID, DEFAULT_LB_TYPE REGIONAL) and the Service shows its IP. It answers
    only once the nodes' firewall admits it by ID (make etcd re-runs ensure_firewalls); deleting
    the Service deletes the load balancer and the next apply drops its rules."""
    secrets = json.loads(kubectl(applied, "get", "secrets", "-n", "kube-system", "-o", "json"))
    if any(s["metadata"]["name"] == "digitalocean" for s in secrets["items"]):
        kubectl(applied, "delete", "-f", "-", stdin=SECRET)
    kubectl(applied, "apply", "-f", "-", stdin=WEB)
    svc = json.loads(kubectl(applied, "get", "service", "web", "-o", "json"))
    assert svc["status"] == {"loadBalancer": {}}  # <pending>
    node_port = svc["spec"]["ports"][0]["nodePort"]
    low, high = applied.settings()["NODE_PORT_RANGE"].split("-")
    assert 30000 <= node_port <= 32767 and int(low) <= node_port <= int(high)
    assert applied.account()["load_balancers"] == {}

    applied.make("addons", DIGITALOCEAN_CLUSTER_TOKEN=TOKEN)
    svc = json.loads(kubectl(applied, "get", "service", "web", "-o", "json"))
    [lb] = applied.account()["load_balancers"].values()
    ip = svc["status"]["loadBalancer"]["ingress"][0]["ip"]
    assert ip == lb["sim"]["ip"]
    assert svc["spec"]["ports"][0]["nodePort"] == node_port  # kept
    uid = next(e["uid"] for k, e in applied.kube()["ccm_lbs"].items() if k.endswith("/web"))
    assert lb["name"] == ("a" + uid.replace("-", ""))[:32] and len(lb["name"]) == 32
    assert lb["tags"] == [applied.settings()["CLOUD_TAG"]] and lb["type"] == "REGIONAL"
    assert [(r["entry_protocol"], r["entry_port"], r["target_port"])
            for r in lb["forwarding_rules"]] == [("tcp", 80, node_port)]
    assert (lb["health_check"]["protocol"], lb["health_check"]["port"],
            lb["health_check"]["path"]) == ("http", 10256, "/healthz")
    workers = {d["id"] for d in applied.droplets().values()
               if d["name"].startswith(applied.settings()["WORKER_PREFIX"])}
    assert workers <= set(lb["droplet_ids"])

    # the nodes' firewall does not admit it yet: nothing answers through it
    assert curl(applied, f"http://{ip}/").returncode != 0
    applied.make("etcd")  # ensure_firewalls: the load balancer by ID, nothing more
    nodes_fw = next(f for f in applied.account()["firewalls"].values()
                    if f["name"] == applied.settings()["NODES_FIREWALL"])
    by_lb = sorted((r["protocol"], r["ports"]) for r in nodes_fw["inbound_rules"]
                   if lb["id"] in r["sources"].get("load_balancer_uids", []))
    port_range = applied.settings()["NODE_PORT_RANGE"]
    assert by_lb == [("tcp", "10256"), ("tcp", port_range), ("udp", port_range)]
    answer = curl(applied, f"http://{ip}/")
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.startswith("web-")
    assert curl(applied, f"http://{ip}:8080/").returncode != 0  # no such forwarding rule

    kubectl(applied, "delete", "-f", "-", stdin=WEB)
    assert applied.account()["load_balancers"] == {}
    applied.make("etcd")
    nodes_fw = next(f for f in applied.account()["firewalls"].values()
                    if f["name"] == applied.settings()["NODES_FIREWALL"])
    assert not [r for r in nodes_fw["inbound_rules"] if r["sources"].get("load_balancer_uids")]
