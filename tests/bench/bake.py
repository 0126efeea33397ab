"""Bake time of the default cluster: median of 5 bakes (render, PKI, post-gen checks)."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.baking import bake  # noqa: E402

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
