"""Apply benchmark against the DigitalOcean stand-in (simulated boot latency, no network).

Rows (issue 24 item 3): `make up` of the current profile (make image, etcd, controller, worker,
addons in one run; the image imported before the clock starts) with 1, 20 and 99 workers (the
stand-in's droplet limit raised for the last two), and 20 workers the tutorial's way (tutorial
profile): `make etcd controller`, then one `doctl compute droplet create --wait` at a time,
then get, openssl, scp and ssh for that worker before the next. Columns: wall seconds of the
whole apply and of its worker phase (make up: its `make worker`), API requests the simulated
API counted, requests per droplet, the peak API request rate in any 60 s window (from the
stand-in's api_log timestamps), and the ratio to the first row.

Targets, each checked and reported after the table (every row is printed first, whatever
misses; exit 1 when one misses):
- the peak rate stays within DigitalOcean's 250 requests per minute ("Current rate limits are
  5000 requests per hour and 250 requests per minute": the `ratelimit-limit` header in
  DigitalOcean's OpenAPI specification, specification/shared/headers.yml). The bench runs on a
  1:5 clock (polls every 1 s for 5 s) and the stand-in answers faster than the API, so its
  peak is an upper bound of the real one;
- the tutorial's serial flow at 20 workers takes >= 10x the whole `make up` at 20 workers;
- `make up` at 99 workers takes <= 1.5x `make up` at one worker.

    .venv/bin/python tests/bench/apply.py [--boot SECONDS] [--poll SECONDS] [--workers N ...]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.applying import Apply  # noqa: E402
from tests.baking import bake  # noqa: E402
from tests.bench import cpu  # noqa: E402

RATE_LIMIT_PER_MINUTE = 250
DEFAULT_WORKERS = (1, 20, 99)
# issue 24 item 3's targets
SERIAL_OVER_UP = 10.0
UP_99_OVER_1 = 1.5

# The tutorial's step 10 for one worker, with the cluster's own helpers for openssl and ssh.
TUTORIAL_WORKER = r"""
set -euo pipefail
source scripts/lib/common.sh
preflight >/dev/null 2>&1
nn=$1 name=$(worker_name "$1")
doctl compute droplet create "$name" --image "$IMAGE" --size "$WORKER_SIZE" --region "$REGION" \
  --ssh-keys "$SSH_KEY_FINGERPRINT" --user-data-file "build/user-data/$(worker_name 1).yaml" \
  --enable-private-networking --tag-names "$CLUSTER_TAG,$WORKER_TAG" --wait -o json >/dev/null
json=$(doctl compute droplet get "$name" -o json)
public=$(jq -r '.[0].networks.v4[] | select(.type == "public") | .ip_address' <<<"$json")
private=$(jq -r '.[0].networks.v4[] | select(.type == "private") | .ip_address' <<<"$json")
pki_issue_worker "$nn" "$private"
mkdir -p state/droplets
jq -c "[.[] | $JQ_RECORD][0]" <<<"$json" >"state/droplets/$name.json"
install_tls "$name" "$public" "pki/worker-$nn.pem" "pki/worker-$nn-key.pem" worker 2>/dev/null
"""


def fresh(base: Path, boot: str, poll: str, droplets: int = 0,
          profile: str | None = None) -> Apply:
    # the bake hook prints its report on fd 1: keep the table alone on stdout
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        cluster = bake(base / "bake", **({"profile": profile} if profile else {}))
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    apply = Apply.create(cluster, base / "sim")
    # One clock for both flows: doctl --wait polls its create action every `poll` seconds
    # (godo: 5 s) and the scripts back off to the same `poll` (APPLY_POLL_SECONDS, default 5 s).
    # The scripts' boot prior (APPLY_BOOT_SECONDS, 20 s) on the same 1:5 scale: 4 s.
    apply.env.update({"DOSIM_BOOT_SECONDS": boot, "DOSIM_POLL_SECONDS": poll,
                      "APPLY_POLL_SECONDS": poll, "APPLY_BOOT_SECONDS": "4",
                      "APPLY_TIMEOUT_SECONDS": "600",
                      # every request of the run in the log (for the peak rate); the account's
                      # droplet limit (25 by default) raised only where the row needs it
                      "DOSIM_API_LOG_MAX": "100000",
                      # the stand-in's burst limit off: the peak column is the flow's own rate
                      # (with it on, a 429 would only hide a peak over the target)
                      "DOSIM_RATE_LIMIT_PER_MINUTE": "0",
                      "DOSIM_DROPLET_LIMIT": str(max(25, droplets))})
    return apply


def peak_per_minute(apply: Apply, after: int) -> int:
    """Most API requests in any 60 s window, over the calls numbered above `after`."""
    times = sorted(e["t"] for e in apply.account()["api_log"] if e["n"] > after)
    peak, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= 60:
            first += 1
        peak = max(peak, last - first + 1)
    return peak


def timed(fn: Callable[..., object], *args: str) -> float:
    start = time.monotonic()
    fn(*args)
    return time.monotonic() - start


def up_row(workers: int, boot: str, poll: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-up-") as tmp:
        apply = fresh(Path(tmp), boot, poll, workers + 2, profile="current")
        apply.make("image")  # a one-time import, before the clock starts
        seed = apply.calls()
        total = timed(lambda: apply.make("up", WORKERS=str(workers)))
        calls = apply.calls() - seed
        assert len(apply.droplets()) == workers + 2
        # make up's own account of each target's seconds (scripts/up.sh's summary)
        phases = dict(re.findall(r"make (\w+): ([0-9.]+) s", apply.outputs[-1]))
        return {"total": total, "phase": float(phases["worker"]), "calls": calls,
                "droplets": workers + 2, "peak": peak_per_minute(apply, seed),
                **{f"make {k}": float(v) for k, v in phases.items()}}


def cpu_row(workers: int, boot: str, poll: str) -> list[str]:
    """make up at WORKERS again, each program timed (tests/bench/cpu.py): where its CPU goes."""
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as tmp:
        apply = fresh(Path(tmp), boot, poll, workers + 2, profile="current")
        apply.make("image")
        start = time.monotonic()
        found = cpu.profile(lambda env: apply.make("up", WORKERS=str(workers), **env),
                            Path(tmp) / "shims", apply.env["PATH"])
        return cpu.report(workers, time.monotonic() - start, found)


def tutorial_row(workers: int, boot: str, poll: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-tutorial-") as tmp:
        apply = fresh(Path(tmp), boot, poll)
        seed = apply.calls()
        head = timed(apply.make, "etcd", "controller")
        # user data for the workers, as `make worker` renders it (no droplet created)
        _render(apply)
        start = time.monotonic()
        for nn in range(1, workers + 1):
            subprocess.run(["bash", "-c", TUTORIAL_WORKER, "tutorial", f"{nn:02d}"],
                           cwd=apply.cluster, env=apply.env, check=True, capture_output=True,
                           text=True)
        phase = time.monotonic() - start
        calls = apply.calls() - seed
        assert len(apply.droplets()) == workers + 2
        return {"total": head + phase, "phase": phase, "calls": calls, "droplets": workers + 2,
                "peak": peak_per_minute(apply, seed)}


def _render(apply: Apply) -> None:
    """build/user-data/<worker-01>.yaml exactly as the scripts write it."""
    subprocess.run(["bash", "-c", 'source scripts/lib/common.sh; CLUSTER_LIST=$(cluster_droplets)'
                    '; e=$(need_droplet "$ETCD_NAME" etcd); c=$(need_droplet '
                    '"$CONTROLLER_NAME" controller); export ETCD_PEER="http://$(field "$e" '
                    'private_ip):$ETCD_PEER_PORT" CONTROLLER_PUBLIC_IP=$(field "$c" public_ip)'
                    '; render_user_data worker.yaml "$(worker_name 1)"'],
                   cwd=apply.cluster, env=apply.env, check=True, capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # A 1:5 time scale: 4 s of boot stand for ~20 s at DigitalOcean, 1 s polls for godo's 5 s.
    parser.add_argument("--boot", default=os.environ.get("DOSIM_BOOT_SECONDS", "4"),
                        help="simulated seconds from create to active (default 4)")
    parser.add_argument("--poll", default="1",
                        help="poll interval of doctl --wait and of the scripts (default 1)")
    parser.add_argument("--workers", type=int, nargs="+", default=list(DEFAULT_WORKERS),
                        help="worker counts of the make up rows (default 1 20 99)")
    parser.add_argument("--tutorial", type=int, default=20,
                        help="workers of the tutorial row (0: no tutorial row; default 20)")
    parser.add_argument("--cpu", type=int, default=20,
                        help="workers of the CPU profile of make up (0: none; default 20)")
    args = parser.parse_args()
    rows = []
    for workers in args.workers:
        rows.append(("make up (current)", workers, up_row(workers, args.boot, args.poll)))
        print(f"  ... make up, {workers} worker(s) done", file=sys.stderr)
    if args.tutorial:
        rows.append(("tutorial: one droplet at a time", args.tutorial,
                     tutorial_row(args.tutorial, args.boot, args.poll)))
    base = rows[0][2]["total"]
    print(f"\nApply benchmark: DigitalOcean stand-in, boot {args.boot}s per droplet, polls every "
          f"{args.poll}s, {os.cpu_count()} CPU(s)\n")
    print("| workers | mode | apply s | worker phase s | API calls | calls/droplet "
          "| peak req/min | ratio |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for mode, workers, r in rows:
        print(f"| {workers} | {mode} | {r['total']:.1f} | {r['phase']:.1f} | {r['calls']:.0f} | "
              f"{r['calls'] / r['droplets']:.1f} | {r['peak']:.0f} | "
              f"{r['total'] / base:.2f}x the first row's apply |")
    print("\nwhere make up's seconds go (its own account per target):")
    for mode, workers, r in rows:
        if mode.startswith("make up"):
            print(f"  {workers} worker(s): " + ", ".join(
                f"{k} {v:.1f} s" for k, v in r.items() if k.startswith("make ")))
    if args.cpu:
        print("\n" + "\n".join(cpu_row(args.cpu, args.boot, args.poll)))
    return 1 if report_targets(rows) else 0


def report_targets(rows: list[tuple[str, int, dict[str, float]]]) -> list[str]:
    """Print each target met or missed (every one, whatever misses); return the misses."""
    up = {workers: r for mode, workers, r in rows if mode.startswith("make up")}
    serial = {workers: r for mode, workers, r in rows if mode.startswith("tutorial")}
    checks = [(f"peak <= {RATE_LIMIT_PER_MINUTE} requests/min (DigitalOcean's limit) at "
               f"{workers} workers ({mode})", r["peak"], float(RATE_LIMIT_PER_MINUTE), "/min")
              for mode, workers, r in rows]
    for workers, r in serial.items():
        if workers in up:
            checks.append((f"tutorial serial / make up at {workers} workers >= "
                           f"{SERIAL_OVER_UP:.0f}x", -r["total"] / up[workers]["total"],
                           -SERIAL_OVER_UP, "x"))
    if 1 in up and 99 in up:
        checks.append((f"make up 99 workers / 1 worker <= {UP_99_OVER_1}x",
                       up[99]["total"] / up[1]["total"], UP_99_OVER_1, "x"))
    print()
    missed = []
    for what, value, limit, unit in checks:
        verdict = "met" if value <= limit else "MISSED"
        print(f"target {what}: {abs(value):.2f}{unit}: {verdict}")
        if verdict != "met":
            missed.append(what)
    if missed:
        print(f"\n{len(missed)} target(s) missed: {'; '.join(missed)}", file=sys.stderr)
    return missed


if __name__ == "__main__":
    sys.exit(main())
