"""The tests' shellcheck (tests/lintbin/shellcheck): each distinct check runs the real program
once a run and is replayed after, failures included; a change to a file a script sources, not
named on the command line, is a new check, never a stale replay."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.applying import LINT_BIN

SCRIPT = ('#!/usr/bin/env bash\n# shellcheck source=lib/b.sh\nsource lib/b.sh\n'
          'list="x"\necho "$list"\n')
# An array local named like the script's string variable: SC2178 only with -x.
ARRAY_LIB = "f() {\n    list=(a b)\n    echo \"${list[@]}\"\n}\n"
STRING_LIB = "f() {\n    echo b\n}\n"


def lint(repo: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "K8S_DO_LINT_CACHE": str(cache)}
    return subprocess.run([str(LINT_BIN / "shellcheck"), "-x", "a.sh"], cwd=repo, env=env,
                          capture_output=True, text=True)


def entries(cache: Path) -> set[str]:
    return {p.name for p in (cache / "shellcheck-x").glob("*.d") if (p / "status").is_file()}


def test_a_failure_is_replayed_and_a_sourced_change_checks_again(tmp_path: Path) -> None:
    repo, cache = tmp_path / "repo", tmp_path / "cache"
    (repo / "lib").mkdir(parents=True)
    (repo / "a.sh").write_text(SCRIPT)
    (repo / "lib/b.sh").write_text(ARRAY_LIB)
    first = lint(repo, cache)
    assert first.returncode == 1 and "SC2178" in first.stdout
    replay = lint(repo, cache)
    assert (replay.returncode, replay.stdout, replay.stderr) == \
        (first.returncode, first.stdout, first.stderr)
    assert len(entries(cache)) == 1
    (repo / "lib/b.sh").write_text(STRING_LIB)
    fixed = lint(repo, cache)
    assert fixed.returncode == 0, fixed.stdout
    assert len(entries(cache)) == 2


def test_stdin_and_a_cache_turned_off_run_the_real_program(tmp_path: Path) -> None:
    for cache, argv in ((tmp_path, ["-"]), ("off", [str(tmp_path / "x.sh")])):
        (tmp_path / "x.sh").write_text("echo $1\n")
        env = {**os.environ, "K8S_DO_LINT_CACHE": str(cache)}
        checked = subprocess.run([str(LINT_BIN / "shellcheck"), "--shell=bash", *argv],
                                 input="echo $1\n", text=True, capture_output=True, env=env)
        assert checked.returncode == 1 and "SC2086" in checked.stdout
    assert not (tmp_path / "shellcheck-x").exists()
    assert not Path("off").exists()
