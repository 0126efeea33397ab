"""The current profile: a bake (cookiecutter's API, hooks and audit included, as a user bakes
with profile=current) and its component certificates as the apply issues them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.baking import bake


def bake_current(output_dir: Path, **overrides: str) -> Path:
    """Bake profile=current with these answers (others default) into output_dir."""
    return bake(output_dir, profile="current", **overrides)


WORKER = "do-cluster-worker-01"
CONTROLLER = "do-cluster-controller-01"
# Test addresses: the controller's public IP is what TLS clients verify, at 127.0.0.1.
CONTROLLER_PUBLIC, CONTROLLER_PRIVATE = "127.0.0.1", "127.0.0.2"
WORKER_PRIVATE, WORKER_PUBLIC = "127.0.0.3", "127.0.0.4"
ETCD_PRIVATE = "127.0.0.5"

ISSUE_ALL = (
    f"pki_issue_apiserver {CONTROLLER_PUBLIC} {CONTROLLER_PRIVATE}; "
    f"pki_issue_etcd {ETCD_PRIVATE}; "
    f"pki_issue_kubelet {WORKER} {WORKER_PRIVATE} {WORKER_PUBLIC}; "
    f"pki_issue_kubelet {CONTROLLER} {CONTROLLER_PRIVATE} {CONTROLLER_PUBLIC}; "
    "pki_issue_kube_proxy; pki_issue_controller_clients; pki_issue_service_account; "
    "encryption_key_issue"
)


def components(cluster: Path, commands: str) -> subprocess.CompletedProcess[str]:
    """commands run by bash in cluster with the apply's libraries (settings.env, pki.sh,
    etcdtls.sh, components.sh, encryption.sh), as the apply sources them."""
    script = ("set -euo pipefail; set -a; . ./settings.env; set +a; . scripts/lib/log.sh; "
              ". scripts/lib/pki.sh; . scripts/lib/etcdtls.sh; . scripts/lib/components.sh; "
              ". scripts/lib/encryption.sh; "
              + commands)
    return subprocess.run(["bash", "-c", script], cwd=cluster, env={"PATH": os.environ["PATH"]},
                          capture_output=True, text=True, timeout=120, check=False)


def issue_all(cluster: Path) -> Path:
    """Every component certificate and the service-account key pair, for the test addresses."""
    result = components(cluster, ISSUE_ALL)
    assert result.returncode == 0, result.stderr
    return cluster
