"""Command line of the template's tooling: `python -m generator audit DIR [--json]`
(installed as the `k8s-do` console script)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="k8s-do", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    audit_cmd = commands.add_parser(
        "audit", help="validate every generated artifact of a cluster repo, offline"
    )
    audit_cmd.add_argument("cluster_dir", type=Path, help="the generated cluster repo")
    audit_cmd.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)

    if not (args.cluster_dir / "settings.env").is_file():
        parser.error(f"{args.cluster_dir} is not a generated cluster repo (no settings.env)")
    from generator.audit import audit  # the rules' dependencies load only when needed

    report = audit(args.cluster_dir)
    print(report.json() if args.json else report.text())
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
