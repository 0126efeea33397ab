"""What the generated README and `make help` say that differs per profile, side by side: who
gets into the apiserver and etcd, what stays open and why, how to look inside a droplet. The
README renders these for the baked profile (Profile.docs); nothing there names a profile."""

from __future__ import annotations

from dataclasses import dataclass

from generator import facts


@dataclass(frozen=True)
class Docs:
    # README intro: how flannel learns the pod network
    flannel_config: str
    # Security table: who gets in at the apiserver and at an etcd member, and what else only
    # the cluster's droplets reach
    apiserver_access: str
    etcd_access: str
    inner_ports: str
    # "What stays open, and why": one bullet each
    open_notes: tuple[str, ...]
    # Troubleshooting on a droplet: (command, what it shows)
    troubleshooting: tuple[tuple[str, str], ...]
    # make help and the README's apply table: what make addons deploys and make smoke runs,
    # what make worker issues for each worker, what make status says of etcd, how kubectl
    # must match
    addons: str
    smoke: str
    worker_certs: str
    etcd_status: str
    kubectl_note: str
    # the README's apply table: how make backup takes a backup, what make restore checks of
    # the archive on top of backup.json and its sha256, and what it does once all is checked
    backup: str
    restore_checks: str
    restore: str
    # the README's offline rehearsal: what plays Kubernetes there (tests/rehearse.sh)
    rehearsal_kube: str


_USER_DATA = ("curl -sL 169.254.169.254/metadata/v1/user-data | less",
              "the user data the droplet got (DigitalOcean's metadata service)")

TUTORIAL = Docs(
    flannel_config="over etcd",
    apiserver_access="a client certificate of the cluster's CA, then ABAC: `kube-admin` "
    "everything; `kube-worker-NN` reads everything, writes pods, nodes and events; kube2sky "
    "reads services and endpoints",
    etcd_access="TLS with a client certificate of the cluster's CA (the nodes' proxies use the "
    "node certificate)",
    inner_ports="kubelet 10250, cAdvisor 4194",
    open_notes=(
        "**The kubelet API (10250)** runs commands in any container and cannot authenticate "
        "its callers in Kubernetes 1.1: the cloud firewall is its only protection. So is "
        "cAdvisor (4194): the Kubernetes 1.1 kubelet has no switch to close it. Its read-only "
        "port (10255) is closed (`--read-only-port=0`).",
        "**The apiserver's insecure port (8080)** listens on 127.0.0.1 of the controller, "
        "unauthorized (1.1 never authorizes it): the scheduler, controller-manager, podmaster "
        "and the controller's kubelet use it.",
        "**ABAC in 1.1 is coarse**: no verbs, groups or subresources; \"readonly\" reads "
        "everything, secrets included (the kubelet needs the service-account tokens it "
        "mounts). A worker's certificate can still write any pod or node.",
        "**Each node's etcd proxy** answers plain HTTP on localhost, for the apiserver, the "
        "podmaster and flannel, as in the tutorial.",
    ),
    troubleshooting=(
        ("journalctl -u oem-cloudinit -f", "coreos-cloudinit applying the user data"),
        ("watch -n 1 'docker ps --format=\"table {{.Image}}\\t{{.ID}}\\t{{.Status}}\\t"
         "{{.Ports}}\" -a'", "the containers docker runs (the kubelet's pods among them)"),
        _USER_DATA,
    ),
    addons="the kube-dns add-on: Service, then ReplicationController (step 11)",
    smoke="busybox `nslookup kubernetes.default`, then the pod inspector",
    worker_certs="`pki/worker-NN.pem` for its private IP, installed with the "
    "`worker.pem`/`worker-key.pem` symlinks",
    etcd_status="every member's health and the leader (`etcdctl cluster-health` and "
    "`member list` on the first member that answers, then through the controller's proxy; a "
    "member down with the quorum kept is WARN; JSON: `members`, `leader`), flannel's "
    "`/coreos.com/network/config`",
    backup="a consistent etcd v2 backup over ssh: on the leader (else a healthy member) the key "
    "list, a synced write, then `etcdctl backup` of its live data dir (the etcd v2 admin guide's "
    "\"Disaster Recovery\"), streamed into `backups/<UTC stamp>/` (`etcd2-data.tar.gz`, "
    "`keys.txt`, `backup.json` with the cluster's name, the etcd version, the member and key "
    "counts and the archive's sha256; directory 0700, files 0600, git-ignored); prints its size "
    "and key count.",
    restore_checks="its entries plain files and directories inside the data dir's member "
    "directory, laid out as etcd writes it; then copied to every member and checked there.",
    restore="Only then: etcd2 stopped on every member (each data dir kept aside in "
    "`/var/lib/etcd2.before-restore` until the restored cluster is healthy; a failure after the "
    "stop prints the commands that put it back), the first member's data dir replaced by the "
    "backup and started once with `--force-new-cluster` (a runtime drop-in), then normally, its "
    "peer URL set back (`member update`); every other member joins again with an empty data dir "
    "(`member add`, `initial-cluster-state existing`). Ends with the key count against the "
    "backup's",
    kubectl_note="a current kubectl cannot even read a 1.1 apiserver's resource list (\"no "
    "matches for kind Service in version v1\"). The scripts check `kubectl version --client` "
    "first and name the binary to fetch. Objects are created when missing and updated when "
    "present (kubectl 1.1's `apply` only updates existing objects, so they ask `kubectl get -f` "
    "first)",
    rehearsal_kube="the real Kubernetes apiserver, scheduler, controller-manager and kubectl "
    "run from this repo's files where the template checkout has them (only containers are "
    "simulated)",
)

CURRENT = Docs(
    flannel_config="through the Kubernetes API (its kube subnet manager)",
    apiserver_access="a client certificate of the cluster's CA or a service-account token, "
    "then the Node authorizer (a kubelet: its own node and the pods bound to it) and RBAC "
    "(`admin` is in `system:masters`; the controller-manager, scheduler and kube-proxy have "
    "their built-in roles); anonymous requests reach only the health and version endpoints "
    "(RBAC's `system:public-info-viewer`)",
    etcd_access="mutual TLS (`--client-cert-auth`, `--peer-client-cert-auth`): the apiservers "
    "with their etcd client certificate, the members with their own; nothing else talks to "
    "etcd",
    inner_ports="kubelet 10250",
    open_notes=(
        "**The kubelet API (10250)** admits only a client certificate of the cluster's CA "
        "(anonymous access off) and asks the apiserver to authorize each request (webhook); "
        "its read-only port is off (`readOnlyPort: 0`). The cloud firewall keeps it to the "
        "cluster's droplets as well.",
        "**No unauthenticated port**: the apiserver serves TLS only; the controller-manager "
        "and the scheduler reach it at https://127.0.0.1 with certificates of their own, and "
        "their own ports listen on 127.0.0.1.",
        "**etcd** is reached by the apiservers only, with mutual TLS; no other node talks to "
        "it.",
    ),
    troubleshooting=(
        ("journalctl -u oem-cloudinit -f", "coreos-cloudinit applying the user data"),
        ("journalctl -u kubelet -f", "the kubelet: why a pod, static or not, does not start"),
        # Flatcar ships crictl (cri-tools, /usr/bin/crictl: flatcar/Flatcar#325, #951)
        (f"sudo crictl --runtime-endpoint {facts.CONTAINERD_SOCKET} ps -a",
         "the containers containerd runs for the kubelet (`crictl logs ID` shows one's log)"),
        _USER_DATA,
    ),
    addons="kube-proxy and flannel (DaemonSets), then CoreDNS behind the kube-dns Service and "
    "metrics-server (the Metrics API `kubectl top` reads)",
    smoke="busybox `nslookup kubernetes.default`, then agnhost `serve-hostname`, then "
    "`kubectl top nodes` (metrics-server)",
    worker_certs="`pki/kubelet-<name>.pem` (CN `system:node:<name>`, SANs its name and IPs), "
    "installed as `kubelet.pem` beside kube-proxy's client certificate",
    etcd_status="every member's health, the leader and the member count against `ETCD_COUNT` "
    "(`etcdctl endpoint health` and `endpoint status` over mutual TLS, run on a member), etcd's "
    "health as the apiserver sees it (`/readyz/etcd`), the pod network (every node's pod CIDR "
    "and flannel's pods)",
    kubectl_note="the scripts check `kubectl version --client` first and name the binary to "
    "fetch. Objects are applied with `kubectl apply`",
    # etcd's v3 disaster recovery: https://etcd.io/docs/v3.6/op-guide/recovery/
    backup="an etcd v3 snapshot as etcd's disaster recovery guide takes one: `etcdctl snapshot "
    "save` over mutual TLS on the leader (else a healthy member), checked there with `etcdutl "
    "snapshot status`, its keys counted at the snapshot's revision, copied into "
    "`backups/<UTC stamp>/` (`etcd-snapshot.db`, `backup.json` with the cluster's name, the etcd "
    "version, the member and key counts, the revision and hash, whether it holds Secrets and "
    "whether they are encrypted at rest, the snapshot's sha256; directory 0700, files 0600, "
    "git-ignored); prints its size and key count.",
    restore_checks="its size, revision and hash as recorded; then copied to every member, "
    "checked there (`etcdutl snapshot status`: the same hash and revision) and restored into a "
    "new data dir beside the live one (`etcdutl snapshot restore` with the member's name, the "
    "initial cluster and its token).",
    restore="Only then, as Kubernetes' etcd restore procedure asks: every controller's static "
    "pods stopped (their manifests moved to `/etc/kubernetes/manifests.restoring`), etcd "
    "stopped on every member, each data dir moved aside and the restored one put in its place, "
    "every member started; once the cluster is healthy the old data dirs are deleted and each "
    "controller's static pods and kubelet start again, one at a time, its apiserver's `/readyz` "
    "awaited (a failure after the stop prints the commands that put the old data and the "
    "control plane back). Ends with the key count against the backup's",
    rehearsal_kube="a kubectl stand-in speaking a current kubectl plays the cluster (no "
    "control plane of this version can run there)",
)
