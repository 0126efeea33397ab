"""Issue 9 row 18: no JSON of unbounded size on a command line (Linux caps one argument at
128 KiB, MAX_ARG_STRLEN): `make worker WORKERS=99` died with "jq: Argument list too long"
after creating the droplets, when the create response went to jq as one --argjson."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.applying import REPO

SCRIPTS = REPO / "{{cookiecutter.cluster_name}}" / "scripts"
ARG_MAX_ONE = 128 * 1024


def _droplet(n: int) -> dict[str, object]:
    """A droplet as doctl -o json prints it after a create (about 2 KiB, as the API's are)."""
    return {
        "id": 300000000 + n, "name": f"do-cluster-worker-{n:02d}", "memory": 1024, "vcpus": 1,
        "disk": 25, "locked": False, "status": "new", "kernel": None,
        "created_at": "2026-01-01T00:00:00Z", "features": ["private_networking"],
        "backup_ids": [], "snapshot_ids": [], "volume_ids": [],
        "image": {"id": 1, "name": "CoreOS alpha", "distribution": "CoreOS", "slug":
                  "coreos-alpha", "public": True, "regions": ["ams3"] * 12,
                  "description": "x" * 600},
        "size": {"slug": "s-1vcpu-1gb", "memory": 1024, "vcpus": 1, "disk": 25,
                 "regions": ["ams3", "fra1", "lon1", "nyc1", "nyc3", "sfo3", "sgp1"] * 6},
        "size_slug": "s-1vcpu-1gb", "networks": {}, "region": {"slug": "ams3", "name":
                                                              "Amsterdam 3"},
        "tags": ["k8s-do:do-cluster", "k8s-do:do-cluster:worker"], "vpc_uuid": "u" * 36,
    }


def test_99_created_droplets_pass_through_jq(default_cluster: Path, tmp_path: Path) -> None:
    created = json.dumps([_droplet(n) for n in range(1, 100)])
    assert len(created) > ARG_MAX_ONE  # what the API returns for 99 creates
    (tmp_path / "created.json").write_text(created)
    script = r"""
source scripts/lib/common.sh
DROPLET_STATE_DIR=$1/state; mkdir -p "$DROPLET_STATE_DIR"
# a 100-droplet cluster listing past the limit, through every reader of CLUSTER_LIST
CLUSTER_LIST=$(jq -c "[.[] | $JQ_RECORD | . + {pad: (\"p\" * 1500)}]" "$1/created.json")
((${#CLUSTER_LIST} > 131072)) && echo big
records_tsv do-cluster-worker-99 do-cluster-etcd-01 | cut -f1,2
_pending_ips "$(printf '%s\n' do-cluster-worker-{01..99} | jq -R . | jq -sc .)" | wc -w
save_record do-cluster-worker-42 user_data_sha256 abc
jq -r .id "$DROPLET_STATE_DIR/do-cluster-worker-42.json"
# the create response of 99 droplets merged into the listing
CLUSTER_LIST='[{"id": 1, "name": "do-cluster-etcd-01", "public_ip": "203.0.113.1",
  "private_ip": "10.133.0.1", "status": "active", "tags": []}]'
CLUSTER_LIST=$(merge_created "$(<"$1/created.json")")
jq length <<<"$CLUSTER_LIST"
"""
    proc = subprocess.run(["bash", "-c", script, "test", str(tmp_path)], cwd=default_cluster,
                          capture_output=True, text=True, check=False)
    assert "Argument list too long" not in proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n") == [
        "big", "do-cluster-worker-99\t300000099", "do-cluster-etcd-01\t", "99", "300000042",
        "100", ""]


def test_no_json_variable_is_passed_as_a_jq_argument() -> None:
    """Every --argjson in the scripts carries a number (a count, a time, a day limit); JSON
    travels on stdin or in files."""
    numbers = ('"$count"', '"$now"', '"${SIZE_PRICES_MAX_AGE_SECONDS:-86400}"',
               '"$CERT_WARN_DAYS"', '"$CERT_FAIL_DAYS"', '"$CONTROLLER_COUNT"')
    for path in sorted(SCRIPTS.rglob("*.sh")):
        for value in re.findall(r"--argjson\s+\w+\s+(\S+)", path.read_text()):
            assert value in numbers, f"{path.name}: --argjson {value}"
