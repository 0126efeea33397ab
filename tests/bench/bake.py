"""Bake time of the default cluster, as a --no-input bake naming no profile gets it (render,
PKI, diagram, post-gen audit): one bake with an empty lint cache (cold: every script through
shellcheck), then the median of 5 (warm, as every bake after the first on a machine;
generator/lintcache.py). The target is on the warm
median; exits 1 when it is missed.

    .venv/bin/python -m tests.bench.bake
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from generator import lintcache
from generator.schema import DEFAULT_PROFILE
from tests.baking import bake

RUNS = 5
TARGET_SECONDS = 1.0


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the hook, shellcheck, dot): on a
    shared machine the wall time grows with the load, this does not."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main() -> int:
    times, cpus = [], []
    with tempfile.TemporaryDirectory(prefix="bake-bench-") as tmp:
        os.environ[lintcache.ENV] = str(Path(tmp) / "lint-cache")
        for run in range(RUNS + 1):
            start, cpu = time.perf_counter(), cpu_seconds()
            bake(Path(tmp) / f"bake-{run}", profile=None)
            times.append(time.perf_counter() - start)
            cpus.append(cpu_seconds() - cpu)
    cold, warm = times[0], times[1:]
    median = statistics.median(warm)
    runs = ", ".join(f"{t:.2f}" for t in warm)
    met = median <= TARGET_SECONDS
    print(f"bake (defaults, profile {DEFAULT_PROFILE}): median {median:.2f} s warm over {RUNS} "
          f"runs [{runs}] (target <= {TARGET_SECONDS:.1f} s on the warm median: "
          f"{'met' if met else 'MISSED'}; CPU {statistics.median(cpus[1:]):.2f} s), "
          f"{cold:.2f} s cold (empty lint cache, no target; CPU {cpus[0]:.2f} s); "
          f"load average {os.getloadavg()[0]:.1f}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
