"""What the post-generation hook does to a freshly rendered cluster repo."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def finish_bake(cluster_dir: Path, answers_json: str) -> int:
    answers = json.loads(answers_json)
    try:
        from generator.pki import PkiSettings, ensure_pki
    except ImportError as err:  # cryptography is not a cookiecutter dependency
        print(
            f"ERROR: {err}; install the template's requirements first: "
            "pip install cryptography (or `make venv` in the template checkout)",
            file=sys.stderr,
        )
        return 1
    settings = PkiSettings(
        rsa_bits=int(answers["rsa_bits"]),
        ca_days=int(answers["ca_days"]),
        cert_days=int(answers["cert_days"]),
    )
    created = ensure_pki(cluster_dir / "pki", settings)
    kept = "" if created else " (kept the existing CA and admin keys)"
    for name in created:
        print(f"  created pki/{name}")
    return _audit_fresh_bake(cluster_dir, kept)


def _audit_fresh_bake(cluster_dir: Path, kept: str) -> int:
    """A bake whose artifacts fail the audit is an error: nothing wrong reaches a droplet."""
    try:
        from generator.audit import audit
    except ImportError as err:  # kubernetes-validate, yamllint: the template's requirements
        print(f"ERROR: {err}; install the template's requirements first (`make venv`)",
              file=sys.stderr)
        return 1
    report = audit(cluster_dir)
    if report.findings:
        print(report.text(), file=sys.stderr)
    if report.errors:
        print(f"ERROR: the fresh bake fails its audit ({report.errors} error(s)); "
              "this is a template defect, please report it", file=sys.stderr)
        return 1
    print(f"Cluster repo ready and audited: {cluster_dir}{kept}")
    print(f"Next: cd {cluster_dir} && make help")
    return 0
