"""Issue 10 row 3: policy/abac-policy.jsonl in Kubernetes 1.1's ABAC format (one JSON object a
line; fields user, readonly, resource, namespace: 1.1 pkg/auth/authorizer/abac's policy type).
The real 1.1.2 apiserver reading it and deciding with it: tests/integration/test_controlplane.py
(test_abac_admin_may_everything_a_worker_only_what_a_kubelet_does)."""

from __future__ import annotations

import json
from pathlib import Path

from generator import abac
from generator.pki import ADMIN_CN
from generator.schema import MAX_WORKERS

FIELDS_1_1 = {"user", "readonly", "resource", "namespace"}


def lines(cluster: Path) -> list[dict[str, object]]:
    text = (cluster / "policy/abac-policy.jsonl").read_text()
    assert text.endswith("\n") and "\n\n" not in text
    return [json.loads(line) for line in text.splitlines()]


def test_policy_is_json_lines_in_the_1_1_format(default_cluster: Path) -> None:
    policy = lines(default_cluster)
    assert policy == abac.policy_lines()
    for line in policy:
        assert set(line) <= FIELDS_1_1, line
        # an absent user matches every user in 1.1: each line must name one
        assert isinstance(line.get("user"), str) and line["user"], line


def test_who_may_do_what(default_cluster: Path) -> None:
    policy = lines(default_cluster)
    by_user: dict[str, list[dict[str, object]]] = {}
    for line in policy:
        by_user.setdefault(str(line["user"]), []).append(line)
    assert by_user.pop(ADMIN_CN) == [{"user": ADMIN_CN}]  # everything
    dns = by_user.pop("system:serviceaccount:kube-system:default")
    assert all(line["readonly"] is True for line in dns)
    assert {line["resource"] for line in dns} == {"services", "endpoints"}
    assert sorted(by_user) == [f"kube-worker-{n:02d}" for n in range(1, MAX_WORKERS + 1)]
    for user, rules in by_user.items():
        writes = {r["resource"] for r in rules if not r.get("readonly")}
        assert writes == {"pods", "nodes", "events"}, user
        assert {"user": user, "readonly": True} in rules


def test_readme_says_who_reaches_what_and_what_stays_open(default_cluster: Path) -> None:
    readme = (default_cluster / "README.md").read_text()
    security = readme[readme.index("## Security"):readme.index("## Apply")]
    for text in ("`do-cluster-nodes`", "`do-cluster-apiserver`", "| 22/tcp |", "| 443/tcp |",
                 "| 2379, 2380/tcp |", "30000-37000 tcp/udp", "cannot authenticate",
                 "10255", "4194", "127.0.0.1", "ABAC"):
        assert text in security, text
