"""Run every benchmark, print each one's figures, then exit 1 if any missed its target.

    .venv/bin/python -m tests.bench [MODULE ...]   (default: the bake, audit and apply benches)

Each benchmark is a module run as its own process; its exit status says whether it met its
target. One that misses does not stop the others (`make bench` used to stop at the first).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from tests.applying import cache_bytecode

BENCHES = ("tests.bench.bake", "tests.bench.audit", "tests.bench.apply")


def main(argv: list[str]) -> int:
    missed = []
    cache_bytecode(Path(tempfile.gettempdir()) / "k8s-do-bench-pycache")
    for module in argv or BENCHES:
        print(f"\n== {module}", flush=True)
        status = subprocess.run([sys.executable, "-m", module], check=False).returncode
        if status != 0:
            missed.append(f"{module} (exit {status})")
    print()
    if missed:
        print(f"bench: {len(missed)} benchmark(s) missed their target: {', '.join(missed)}",
              file=sys.stderr)
        return 1
    print("bench: every benchmark met its target")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
