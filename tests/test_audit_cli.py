"""The audit end to end: the default bake is clean, the CLI's exit code and JSON, the hook."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from generator.__main__ import main
from generator.audit import audit
from generator.bake import finish_bake
from tests.baking import copy_cluster, default_answers

DEFAULT_ANSWERS = default_answers()


def test_default_bake_audits_clean(default_cluster: Path) -> None:
    report = audit(default_cluster)
    assert (report.errors, report.warnings) == (0, 0), report.text()


def test_cli_json_parses_and_exit_code_follows_errors(
    cluster_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", str(cluster_copy), "--json"]) == 0
    clean = json.loads(capsys.readouterr().out)
    assert (clean["errors"], clean["warnings"], clean["findings"]) == (0, 0, [])
    etcd = cluster_copy / "cloud-config/etcd.yaml"
    etcd.write_text(etcd.read_text().replace("reboot-strategy: off", "reboot-strategy: never"))
    line = etcd.read_text().splitlines().index("    reboot-strategy: never") + 1
    assert main(["audit", str(cluster_copy), "--json"]) == 1
    broken = json.loads(capsys.readouterr().out)
    assert broken["errors"] == 1
    assert broken["findings"][0] | {"message": ""} == {
        "file": "cloud-config/etcd.yaml", "line": line, "severity": "error",
        "rule": "cloud-config.value", "message": "",
    }


def test_human_report_groups_by_file(cluster_copy: Path) -> None:
    etcd = cluster_copy / "cloud-config/etcd.yaml"
    etcd.write_text(etcd.read_text().replace("#cloud-config", "#cloud-confg"))
    result = subprocess.run(
        [sys.executable, "-m", "generator", "audit", str(cluster_copy)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "cloud-config/etcd.yaml:"
    assert lines[1].startswith("  cloud-config/etcd.yaml:1: error: cloud-config.header: ")
    assert lines[-1].endswith("1 error(s), 0 warning(s) in 1 file(s)")


def test_post_gen_hook_fails_a_bake_whose_audit_fails(
    default_cluster: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = copy_cluster(default_cluster, tmp_path)
    assert finish_bake(cluster, json.dumps(DEFAULT_ANSWERS)) == 0
    worker = cluster / "cloud-config/worker.yaml"
    text = worker.read_text()
    worker.write_text(text.replace("--cluster-dns=10.3.0.10", "--cluster-dns=10.3.0.9"))
    assert finish_bake(cluster, json.dumps(DEFAULT_ANSWERS)) == 1
    err = capsys.readouterr().err
    assert "cloud-config/worker.yaml:" in err and "facts.dns-ip" in err
    assert "fails its audit" in err
