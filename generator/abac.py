"""The apiserver's ABAC policy (lock-down, issue 10 row 3), in Kubernetes 1.1's format: one JSON
object per line with `user`, `readonly`, `resource`, `namespace` (1.1 pkg/auth/authorizer/abac;
an absent field matches anything, so every line here names its user). 1.1's client-certificate
authenticator gives only a user name (the certificate's CN), no groups, hence one set of lines
per possible worker (kube-worker-01 .. the worker limit).

What 1.1 can express is coarse: `readonly` is "GET/watch of anything" including secrets (the
kubelet needs them for service-account token volumes), there are no verbs, no subresources and
no non-resource paths; a kubelet may write pods (its pods' status, mirror pods), nodes (its
node and status) and events, but of any name. The scheduler, the controller-manager and the
podmaster use the insecure localhost port, which 1.1 never authorizes.
"""

from __future__ import annotations

import json

from generator.pki import ADMIN_CN
from generator.schema import MAX_WORKERS

# scripts/lib/pki.sh: pki_issue_worker NN -> CN=kube-worker-NN
WORKER_CN = "kube-worker-{:02d}"
# kube2sky (the kube-dns add-on) runs as the default service account of kube-system.
DNS_USER = "system:serviceaccount:kube-system:default"
KUBELET_WRITES = ("pods", "nodes", "events")
DNS_READS = ("services", "endpoints")


def policy_lines() -> list[dict[str, object]]:
    lines: list[dict[str, object]] = [{"user": ADMIN_CN}]
    for n in range(1, MAX_WORKERS + 1):
        user = WORKER_CN.format(n)
        # the kubelet and kube-proxy (same certificate): read everything they watch
        lines.append({"user": user, "readonly": True})
        lines += [{"user": user, "resource": r} for r in KUBELET_WRITES]
    lines += [{"user": DNS_USER, "readonly": True, "resource": r} for r in DNS_READS]
    return lines


def abac_policy() -> str:
    """The policy file's text (rendered as policy/abac-policy.jsonl)."""
    return "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in policy_lines())
