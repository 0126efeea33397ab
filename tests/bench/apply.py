"""Apply benchmark against the DigitalOcean stand-in (simulated boot latency, no network).

Rows: `make etcd controller worker` with 1, 5 and 20 workers, and the same 20 workers the
tutorial's way: one `doctl compute droplet create --wait` at a time, then get, openssl, scp and
ssh for that worker before the next. Columns: wall seconds of the whole apply and of the
worker phase, API requests the simulated API counted, requests per droplet, and the ratio
(to 1 worker for the scripts; scripts/tutorial for the tutorial row, worker phase).

    .venv/bin/python tests/bench/apply.py [--boot SECONDS] [--poll SECONDS]
"""

from __future__ import annotations

import argparse
import os
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

# The tutorial's step 10 for one worker, with the cluster's own helpers for openssl and ssh.
TUTORIAL_WORKER = r"""
set -euo pipefail
source scripts/lib/common.sh
preflight >/dev/null 2>&1
nn=$1 name=$(worker_name "$1")
doctl compute droplet create "$name" --image "$IMAGE" --size "$WORKER_SIZE" --region "$REGION" \
  --ssh-keys "$SSH_KEY_FINGERPRINT" --user-data-file "build/user-data/$(worker_name 1).yaml" \
  --enable-private-networking --tag-names "$CLUSTER_NAME,$WORKER_TAG" --wait -o json >/dev/null
json=$(doctl compute droplet get "$name" -o json)
public=$(jq -r '.[0].networks.v4[] | select(.type == "public") | .ip_address' <<<"$json")
private=$(jq -r '.[0].networks.v4[] | select(.type == "private") | .ip_address' <<<"$json")
pki_issue_worker "$nn" "$private"
mkdir -p state/droplets
jq -c "[.[] | $JQ_RECORD][0]" <<<"$json" >"state/droplets/$name.json"
install_tls "$name" "$public" "pki/worker-$nn.pem" "pki/worker-$nn-key.pem" worker 2>/dev/null
"""


def fresh(base: Path, boot: str, poll: str) -> Apply:
    # the bake hook prints its report on fd 1: keep the table alone on stdout
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        cluster = bake(base / "bake")
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    apply = Apply.create(cluster, base / "sim")
    # One clock for both flows: doctl --wait polls its create action every `poll` seconds
    # (godo: 5 s) and the scripts back off to the same `poll` (APPLY_POLL_SECONDS, default 5 s).
    # The scripts' boot prior (APPLY_BOOT_SECONDS, 20 s) on the same 1:5 scale: 4 s.
    apply.env.update({"DOSIM_BOOT_SECONDS": boot, "DOSIM_POLL_SECONDS": poll,
                      "APPLY_POLL_SECONDS": poll, "APPLY_BOOT_SECONDS": "4",
                      "APPLY_TIMEOUT_SECONDS": "300"})
    return apply


def timed(fn: Callable[..., object], *args: str) -> float:
    start = time.monotonic()
    fn(*args)
    return time.monotonic() - start


def scripts_row(workers: int, boot: str, poll: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-apply-") as tmp:
        apply = fresh(Path(tmp), boot, poll)
        seed = apply.calls()
        head = timed(apply.make, "etcd", "controller")
        phase = timed(lambda: apply.make("worker", WORKERS=str(workers)))
        calls = apply.calls() - seed
        assert len(apply.droplets()) == workers + 2
        return {"total": head + phase, "phase": phase, "calls": calls, "droplets": workers + 2}


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
        return {"total": head + phase, "phase": phase, "calls": calls, "droplets": workers + 2}


def _render(apply: Apply) -> None:
    """build/user-data/<worker-01>.yaml exactly as the scripts write it."""
    subprocess.run(["bash", "-c", 'source scripts/lib/common.sh; CLUSTER_LIST=$(cluster_droplets)'
                    '; e=$(need_droplet "$ETCD_NAME" etcd); c=$(need_droplet '
                    '"$CONTROLLER_NAME" controller); export ETCD_PEER="http://$(field "$e" '
                    'private_ip):$ETCD_PEER_PORT" CONTROLLER_PUBLIC_IP=$(field "$c" public_ip)'
                    '; render_user_data worker.yaml "$(worker_name 1)"'],
                   cwd=apply.cluster, env=apply.env, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # A 1:5 time scale: 4 s of boot stand for ~20 s at DigitalOcean, 1 s polls for godo's 5 s.
    parser.add_argument("--boot", default=os.environ.get("DOSIM_BOOT_SECONDS", "4"),
                        help="simulated seconds from create to active (default 4)")
    parser.add_argument("--poll", default="1",
                        help="poll interval of doctl --wait and of the scripts (default 1)")
    args = parser.parse_args()
    rows = []
    for workers in (1, 5, 20):
        rows.append(("make etcd controller worker", workers,
                     scripts_row(workers, args.boot, args.poll)))
        print(f"  ... {workers} worker(s) done", file=sys.stderr)
    rows.append(("tutorial: one droplet at a time", 20, tutorial_row(20, args.boot, args.poll)))
    base = rows[0][2]["total"]
    ours20 = rows[2][2]
    print(f"\nApply benchmark: DigitalOcean stand-in, boot {args.boot}s per droplet, polls every "
          f"{args.poll}s, {os.cpu_count()} CPU(s)\n")
    print("| workers | mode | apply s | worker phase s | API calls | calls/droplet | ratio |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | --- |")
    for mode, workers, r in rows:
        if mode.startswith("tutorial"):
            ratio = (f"{r['phase'] / ours20['phase']:.1f}x slower than the scripts (worker "
                     f"phase), {r['total'] / ours20['total']:.1f}x (whole apply)")
        else:
            ratio = f"{r['total'] / base:.2f}x the 1-worker apply"
        print(f"| {workers} | {mode} | {r['total']:.1f} | {r['phase']:.1f} | {r['calls']:.0f} | "
              f"{r['calls'] / r['droplets']:.1f} | {ratio} |")


if __name__ == "__main__":
    main()
