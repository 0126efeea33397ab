"""Bake time of the default cluster: median of 5 bakes (render, PKI, post-gen audit).

    .venv/bin/python -m tests.bench.bake
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from tests.baking import bake

RUNS = 5


def main() -> None:
    times = []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            bake(Path(out))
            times.append(time.perf_counter() - start)
    runs = ", ".join(f"{t:.2f}" for t in times)
    print(f"bake (defaults): median {statistics.median(times):.2f} s over {RUNS} runs [{runs}]")


if __name__ == "__main__":
    main()
