"""What the post-generation hook does to a freshly rendered cluster repo."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from generator.audit.report import Report

# The README's picture of the planned cluster, drawn at bake time by the cluster repo's own
# scripts/diagram.sh (bash + graphviz: re-drawing never needs Python).
TOPOLOGY = "docs/topology"
TOPOLOGY_EMBED = f"![The planned cluster: droplets, flows and ports]({TOPOLOGY}.svg)"


# Each profile's own artifacts (cloud-configs, manifests, openssl configs, ...) live side by
# side in profiles/<name>/, laid out as in the cluster repo; everything else is shared.
PROFILES_DIR = "profiles"


def keep_profile(cluster_dir: Path, profile: str) -> list[str]:
    """Move profiles/<profile>/ into place and drop every profile tree (the post-generation
    prune). A re-bake over a cluster repo (cookiecutter -f) replaces the earlier profile files;
    that no profile file shadows a shared one is a property of the template, tested there."""
    root = cluster_dir / PROFILES_DIR
    chosen = root / profile
    if not root.exists():  # the hook re-run on a finished cluster repo
        return []
    if not chosen.is_dir():
        raise ValueError(f"the template has no {PROFILES_DIR}/{profile}/")
    moved = []
    for source in sorted(p for p in chosen.rglob("*") if not p.is_dir()):
        relative = source.relative_to(chosen)
        target = cluster_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        source.replace(target)
        moved.append(str(relative))
    shutil.rmtree(root)
    return moved


def record_settings_keys(cluster_dir: Path) -> None:
    """settings.rules gets SETTINGS_KEYS, the keys the baked settings.env documents (its own,
    profile-dependent list): scripts/lib/settings.sh accepts no other (a typo, MAKEFLAGS)."""
    text = (cluster_dir / "settings.env").read_text()
    keys = re.findall(r"(?m)^([A-Z][A-Z0-9_]*)=", text)
    with (cluster_dir / "settings.rules").open("a") as rules:
        rules.write(f"const\tSETTINGS_KEYS\t{' '.join(keys)}\n")


def finish_bake(cluster_dir: Path, answers_json: str) -> int:
    answers = json.loads(answers_json)
    try:
        keep_profile(cluster_dir, answers["profile"])
    except ValueError as err:
        print(f"ERROR: {err}; this is a template defect, please report it", file=sys.stderr)
        return 1
    record_settings_keys(cluster_dir)
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
        rsa_bits=int(answers["_rsa_bits"]),
        ca_days=int(answers["_ca_days"]),
        cert_days=int(answers["_cert_days"]),
        profile=answers["profile"],
    )
    # the picture is drawn (bash, jq, graphviz: another process) while the keys are made and
    # the audit is loaded; the audit starts once it is there (it reads every file)
    drawn = start_planned_topology(cluster_dir)
    created = ensure_pki(cluster_dir / "pki", settings)
    kept = "" if created else " (kept the existing CA and admin keys)"
    for name in created:
        print(f"  created pki/{name}")
    audit = _load_audit()
    drawn()
    return _audit_fresh_bake(audit, cluster_dir, kept) if audit else 1


def draw_planned_topology(cluster_dir: Path) -> None:
    """docs/topology.svg for the README, when graphviz and jq are here; else a note instead."""
    start_planned_topology(cluster_dir)()


def start_planned_topology(cluster_dir: Path) -> Callable[[], None]:
    """Start drawing docs/topology.svg; the function returned waits for it and reports (or
    leaves the README a note instead)."""
    missing = [tool for tool in ("dot", "jq", "bash") if shutil.which(tool) is None]
    proc = None if missing else subprocess.Popen(
        ["bash", "scripts/diagram.sh", "--planned", "--no-png", "--out", TOPOLOGY],
        cwd=cluster_dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def finish() -> None:
        if proc is not None:
            _, stderr = proc.communicate()
            if proc.returncode == 0:
                print(f"  drew {TOPOLOGY}.svg")
                return
            missing.append(f"scripts/diagram.sh failed: {stderr.strip()[-300:]}")
        note = f"(No picture was drawn at bake time: {', '.join(missing)}; run `make diagram`.)"
        readme = cluster_dir / "README.md"
        readme.write_text(readme.read_text().replace(TOPOLOGY_EMBED, note))
        print(f"  no {TOPOLOGY}.svg: {', '.join(missing)}", file=sys.stderr)

    return finish


def _load_audit() -> Callable[..., Report] | None:
    try:
        from generator.audit import audit
    except ImportError as err:  # kubernetes-validate, yamllint: the template's requirements
        print(f"ERROR: {err}; install the template's requirements first (`make venv`)",
              file=sys.stderr)
        return None
    return audit


def _audit_fresh_bake(audit: Callable[..., Report], cluster_dir: Path, kept: str) -> int:
    """A bake whose artifacts fail the audit is an error: nothing wrong reaches a droplet."""
    # a re-bake over an applied repo: the user data already sent and the apply's certificates
    # are make audit's to judge, not the bake's
    report = audit(cluster_dir, applied=False)
    if report.findings:
        print(report.text(), file=sys.stderr)
    if report.errors:
        print(f"ERROR: the fresh bake fails its audit ({report.errors} error(s)); "
              "this is a template defect, please report it", file=sys.stderr)
        return 1
    print(f"Cluster repo ready and audited: {cluster_dir}{kept}")
    print(f"Next: cd {cluster_dir} && make help")
    return 0
