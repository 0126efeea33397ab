"""The current profile's cluster repo as a bake lays it out, without the bake's final audit,
and its component certificates as the apply issues them.

Until the current profile's cloud-configs exist (issue 11, other rows), a `profile=current`
bake fails its audit and leaves nothing; these tests need its other artifacts. So this does
the bake's steps by hand, with the same code: the answers checked by the pre-generation
validation, the template rendered by cookiecutter, the profile kept by `keep_profile`, the CA
and admin certificate made by `ensure_pki`. Only the audit is left out.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from cookiecutter.main import cookiecutter

from generator import TEMPLATE_ROOT
from generator.answers import validate
from generator.bake import keep_profile
from generator.pki import PkiSettings, ensure_pki
from tests.baking import default_answers


def render_current(output_dir: Path, **overrides: str) -> Path:
    """Render profile=current with overrides (validated like a bake's answers) into output_dir."""
    answers = default_answers(profile="current", **overrides)
    errors = validate(answers)
    assert errors == [], errors
    cluster = Path(cookiecutter(str(TEMPLATE_ROOT), no_input=True, accept_hooks=False,
                                extra_context={"profile": "current", **overrides},
                                output_dir=str(output_dir)))
    keep_profile(cluster, "current")
    ensure_pki(cluster / "pki", PkiSettings(
        rsa_bits=int(answers["_rsa_bits"]), ca_days=int(answers["_ca_days"]),
        cert_days=int(answers["_cert_days"]), profile="current"))
    return cluster


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
    "pki_issue_kube_proxy; pki_issue_controller_clients; pki_issue_service_account"
)


def components(cluster: Path, commands: str) -> subprocess.CompletedProcess[str]:
    """commands run by bash in cluster with the apply's libraries (settings.env, pki.sh,
    etcdtls.sh, components.sh), as the apply sources them."""
    script = ("set -euo pipefail; set -a; . ./settings.env; set +a; . scripts/lib/log.sh; "
              ". scripts/lib/pki.sh; . scripts/lib/etcdtls.sh; . scripts/lib/components.sh; "
              + commands)
    return subprocess.run(["bash", "-c", script], cwd=cluster, env={"PATH": os.environ["PATH"]},
                          capture_output=True, text=True, timeout=120, check=False)


def issue_all(cluster: Path) -> Path:
    """Every component certificate and the service-account key pair, for the test addresses."""
    result = components(cluster, ISSUE_ALL)
    assert result.returncode == 0, result.stderr
    return cluster
