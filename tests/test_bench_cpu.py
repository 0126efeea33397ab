"""The apply benchmark's CPU profile (tests/bench/cpu.py): every call of a timed program is
counted once, through its shim, and the whole run's CPU covers the calls' own."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.bench import cpu


def test_each_call_is_counted_once_and_the_total_covers_them(tmp_path: Path) -> None:
    def run(env: dict[str, str]) -> None:
        # two openssl calls, one of them busy (a key), and a doctl that is not on PATH
        subprocess.run(["bash", "-c", "openssl version >/dev/null; openssl genrsa 2048 "
                        ">/dev/null 2>&1; doctl version >/dev/null 2>&1 || true"],
                       env={**os.environ, **env}, check=True)

    found = cpu.profile(run, tmp_path / "shims", os.environ["PATH"])
    assert found["openssl"]["calls"] == 2 and found["openssl"]["cpu"] > 0
    assert found["doctl"]["calls"] == 1  # the shim ran, the program was not found
    assert found["make"]["cpu"] >= found["openssl"]["cpu"] > 0
    lines = cpu.report(1, 1.0, found)
    assert lines[0].startswith("where make up's CPU goes at 1 worker(s)")
    assert any(line.split()[:3] == ["openssl", "2", "calls,"] for line in lines)
