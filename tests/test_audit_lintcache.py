"""The lint cache (generator/lintcache.py): a result is reused only for the same tool,
configuration and text; a hit never hides a finding; concurrent writers leave whole entries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from generator import lintcache
from generator.audit import audit, lint
from tests.test_audit_rules import mutate


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "lint-cache"
    monkeypatch.setenv(lintcache.ENV, str(directory))
    return directory


def test_a_result_is_reused_only_for_the_same_tool_and_text(cache: Path) -> None:
    runs: list[str] = []

    def compute(text: str) -> list[str]:
        runs.append(text)
        return [f"checked {text}"]

    for tool, text in [("sc:1", "a"), ("sc:1", "a"), ("sc:1", "b"), ("sc:2", "a")]:
        value = lintcache.cached(lintcache.key(tool, text), lambda t=text: compute(t))
        assert value == [f"checked {text}"]
    assert runs == ["a", "b", "a"]  # the second ("sc:1", "a") was a hit


def test_an_unreadable_entry_is_a_miss_and_is_written_again(cache: Path) -> None:
    entry = lintcache.key("tool", "text")
    lintcache.put(entry, [1])
    (stored,) = cache.rglob(f"{entry}.json")
    stored.write_text('{"value": [1')  # cut short
    assert lintcache.get(entry) is None
    assert lintcache.cached(entry, lambda: [2]) == [2]
    assert json.loads(stored.read_text()) == {"value": [2]}


def test_off_checks_every_time(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(lintcache.ENV, lintcache.OFF)
    runs = []
    for _ in range(2):
        lintcache.cached(lintcache.key("t"), lambda: runs.append(1) or [0])
    assert runs == [1, 1] and lintcache.cache_dir() is None


WRITER = """
import sys
from generator import lintcache
entry, size = sys.argv[1], int(sys.argv[2])
for n in range(40):
    lintcache.put(entry, [n] * size)
    got = lintcache.get(entry)
    assert got is None or (len(got) == size and len(set(got)) == 1), "torn entry"
"""


def test_concurrent_writers_leave_whole_entries(cache: Path) -> None:
    entry = lintcache.key("concurrent")
    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[1]), lintcache.ENV: str(cache)}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, entry, "20000"], env=env,
                                stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for proc in writers:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    value = lintcache.get(entry)
    assert value is not None and len(value) == 20000 and len(set(value)) == 1
    assert [p.name for p in cache.rglob("*") if p.is_file()] == [f"{entry}.json"]


def test_a_cached_audit_reports_what_a_cold_one_does(
    cluster_copy: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A planted shellcheck error is found cold and warm; warm, shellcheck never runs; the
    fixed text is checked again (content keyed), and the error is gone."""
    original = mutate(cluster_copy, "scripts/lib/pki.sh", "PKI_DIR=${PKI_DIR:-pki}",
                      "cd /tmp\nPKI_DIR=${PKI_DIR:-pki}")
    assert original
    runs: list[str] = []
    real = lint.shellcheck_text

    def counting(binary: str, text: str) -> tuple[list[lint.Comment], bool]:
        runs.append(text)
        return real(binary, text)

    monkeypatch.setattr(lint, "shellcheck_text", counting)

    def shellcheck_findings() -> list[str]:
        return [f"{f.file}:{f.message}" for f in audit(cluster_copy).findings
                if f.rule == "lint.shellcheck"]

    cold = shellcheck_findings()
    assert any(f.startswith("scripts/lib/pki.sh:SC2164") for f in cold), cold
    assert len(runs) == len(set(runs)) > 1  # each distinct script once
    checked = len(runs)
    assert shellcheck_findings() == cold
    assert len(runs) == checked  # all hits
    mutate(cluster_copy, "scripts/lib/pki.sh", "cd /tmp\n", "")
    assert shellcheck_findings() == []
    assert len(runs) == checked + 1  # only the changed script
