"""Issue 23 (5): progress a person can follow. Long waits speak at least every 10 s (what,
elapsed, limit); tables are aligned; colour only on a terminal, never with NO_COLOR; make help
shows values, not make variables."""

from __future__ import annotations

import os
import pty
import re
import subprocess
from pathlib import Path

LOG = "scripts/lib/log.sh"


def bash(cluster: Path, script: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", f"set -euo pipefail; source {LOG}; {script}"],
                          cwd=cluster, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=60, check=False)


def test_heartbeat_says_what_elapsed_and_limit(default_cluster: Path) -> None:
    proc = bash(default_cluster, 'wait_begin "the widget" 7; wait_sleep 0.7',
                HEARTBEAT_SECONDS="0.2")
    beats = re.findall(r"still waiting for the widget: (\d+\.\d)s elapsed, limit 7s",
                       proc.stderr)
    assert proc.returncode == 0 and len(beats) >= 3, proc.stderr
    assert [float(b) for b in beats] == sorted(float(b) for b in beats)


def test_heartbeat_default_is_ten_seconds_and_quiet_before(default_cluster: Path) -> None:
    proc = bash(default_cluster, 'echo "$HEARTBEAT_SECONDS"; wait_begin x 5; wait_sleep 0.3')
    assert proc.stdout.strip() == "10" and "still waiting" not in proc.stderr


# Files whose sleeps speak on their own: log.sh (wait_sleep itself); ssh.sh (ssh_retry's
# heartbeat every SSH_HEARTBEAT_SECONDS, 10, names ssh's own error).
SPEAK_THEMSELVES = ("log.sh", "ssh.sh")


def test_every_wait_of_the_apply_sleeps_with_a_heartbeat(default_cluster: Path) -> None:
    """A bare `sleep` in a script's loop would wait silently: every one goes through
    wait_sleep (log.sh), which sleeps in slices and speaks."""
    bare = [f"{path.relative_to(default_cluster)}:{n}"
            for path in sorted((default_cluster / "scripts").rglob("*.sh"))
            for n, line in enumerate(path.read_text().splitlines(), 1)
            if re.search(r"(^|[;&|]\s*)sleep\s", line.strip())
            and path.name not in SPEAK_THEMSELVES]
    assert bare == []


def test_table_aligns_columns_whatever_the_lengths(default_cluster: Path) -> None:
    rows = "etcd\\tOK: 3 of 3\\ncontrollers\\tOK: 2\\nssh\\tFAIL: none\\n"
    proc = bash(default_cluster, f"printf '{rows}' | table '  '")
    lines = proc.stdout.splitlines()
    assert lines == ["  etcd        OK: 3 of 3", "  controllers OK: 2", "  ssh         FAIL: none"]


def colour_of(cluster: Path, **env: str) -> str:
    """stderr of `warn` and `die` when stderr is a terminal (a pseudo-terminal here)."""
    leader, follower = pty.openpty()
    try:
        subprocess.run(["bash", "-c", f"source {LOG}; warn careful; die stop"], cwd=cluster,
                       env={**os.environ, "TERM": "xterm", **env}, stdout=subprocess.DEVNULL,
                       stderr=follower, timeout=30, check=False)
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode()
    finally:
        os.close(leader)


def test_colour_only_on_a_terminal_and_never_with_no_color(default_cluster: Path) -> None:
    on_terminal = colour_of(default_cluster)
    assert "\x1b[33mWARNING: careful" in on_terminal and "\x1b[1;31mERROR: stop" in on_terminal
    assert "\x1b[" not in colour_of(default_cluster, NO_COLOR="1")
    piped = bash(default_cluster, "warn careful; die stop")
    assert "WARNING: careful" in piped.stderr and "\x1b[" not in piped.stderr


def test_make_help_shows_values_not_variables(default_cluster: Path) -> None:
    out = subprocess.run(["make", "help"], cwd=default_cluster, capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert "$(" not in out
    assert "(WORKERS=N, default 1;" in out
