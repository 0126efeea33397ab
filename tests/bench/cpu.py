"""Where an apply's CPU goes on this machine: each call of the stand-ins (doctl, ssh, scp,
kubectl, curl) and of openssl timed through a shim (its wall seconds, and its CPU: its process
and every process it waited for, as bash's `times` counts its children), beside the CPU of the
whole `make` run (getrusage of the waited-for children).

The split the apply benchmark's misses need (issue 24 item 3): on DigitalOcean what the ssh and
scp stand-ins spend simulating a droplet (its shell, its file operations, its units) runs on
the droplets, one each, in parallel; here all of it shares this machine's cores with the apply.
"""

from __future__ import annotations

import os
import resource
import stat
from collections.abc import Callable
from pathlib import Path

TOOLS = ("doctl", "ssh", "scp", "kubectl", "curl", "openssl")
# the remote side: what the droplets themselves would run (beside a real ssh client's own)
DROPLET_SIDE = ("ssh", "scp")

# One call of TOOL: the next TOOL on PATH after this directory, timed; one line a call.
SHIM = r"""#!/usr/bin/env bash
tool=${0##*/}
PATH=${PATH#"$BENCH_SHIM_DIR:"}
start=$EPOCHREALTIME
"$tool" "$@"
rc=$?
end=$EPOCHREALTIME
# times, in this shell (a subshell counts its own children): this shell's user and system
# CPU, then its children's, as 0m0.012s
times >"$BENCH_SHIM_DIR/times.$$"
{ read -r _; read -r user sys; } <"$BENCH_SHIM_DIR/times.$$"
rm -f "$BENCH_SHIM_DIR/times.$$"
printf '%s %s %s %s %s\n' "$tool" "$start" "$end" "$user" "$sys" >>"$BENCH_SHIM_LOG"
exit "$rc"
"""


def install_shims(directory: Path) -> dict[str, str]:
    """Write the shims into DIRECTORY; the environment entries that put them first on PATH."""
    directory.mkdir(parents=True, exist_ok=True)
    for tool in TOOLS:
        path = directory / tool
        path.write_text(SHIM)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return {"BENCH_SHIM_DIR": str(directory), "BENCH_SHIM_LOG": str(directory / "calls.log")}


def _seconds(times: str) -> float:
    """bash's `times` figure (0m1.250s) in seconds."""
    minutes, seconds = times.rstrip("s").split("m")
    return int(minutes) * 60 + float(seconds)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def profile(run: Callable[[dict[str, str]], object], shim_dir: Path,
            path: str) -> dict[str, dict[str, float]]:
    """Run RUN (given the environment entries to add) with the shims first on PATH: per tool
    its calls, wall and CPU seconds, and "make" (the whole run's CPU) and "scripts" (the rest:
    bash, jq and the other commands the scripts run)."""
    env = install_shims(shim_dir)
    env["PATH"] = f"{shim_dir}{os.pathsep}{path}"
    before = children_cpu()
    run(env)
    total = children_cpu() - before
    out: dict[str, dict[str, float]] = {t: {"calls": 0, "wall": 0.0, "cpu": 0.0} for t in TOOLS}
    log = Path(env["BENCH_SHIM_LOG"])
    for line in log.read_text().splitlines() if log.exists() else []:
        tool, start, end, user, sys_cpu = line.split()
        out[tool]["calls"] += 1
        out[tool]["wall"] += float(end) - float(start)
        out[tool]["cpu"] += _seconds(user) + _seconds(sys_cpu)
    counted = sum(r["cpu"] for r in out.values())
    out["scripts"] = {"calls": 0, "wall": 0.0, "cpu": max(0.0, total - counted)}
    out["make"] = {"calls": 0, "wall": 0.0, "cpu": total}
    return out


def report(workers: int, wall: float, found: dict[str, dict[str, float]]) -> list[str]:
    """The lines the benchmark prints: the CPU per program, and the droplet side's share."""
    total = found["make"]["cpu"]
    cores = os.cpu_count() or 1
    lines = [f"where make up's CPU goes at {workers} worker(s), shims on PATH (wall {wall:.1f} s "
             f"on {cores} core(s); CPU {total:.1f} s, {total / max(wall, 1e-9):.1f} cores busy):"]
    for tool in (*TOOLS, "scripts"):
        r = found[tool]
        calls = f"{r['calls']:.0f} calls, " if tool != "scripts" else ""
        lines.append(f"  {tool:8} {calls}{r['cpu']:.1f} s CPU ({100 * r['cpu'] / total:.0f}%)")
    droplet = sum(found[t]["cpu"] for t in DROPLET_SIDE)
    lines.append(f"  the droplets' side (their ssh and scp sessions, simulated here): "
                 f"{droplet:.1f} s CPU, {droplet / cores:.1f} s of this machine's {cores} "
                 "core(s), which DigitalOcean spreads over the droplets")
    return lines
