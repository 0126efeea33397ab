"""Issue 23: the platform statement holds. bash older than 4.4 (macOS's 3.2) and LibreSSL's
openssl are refused before anything runs, with the fix; Debian's bash and OpenSSL pass."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

PLATFORM = "scripts/lib/platform.sh"


def call(cluster: Path, function: str, *args: str) -> str:
    """Run one platform.sh function in bash; its output (the problem, empty when none)."""
    proc = subprocess.run(["bash", "-c", f'source {PLATFORM}; {function} "$@"', "-", *args],
                          cwd=cluster, check=True, capture_output=True, text=True, timeout=30)
    return proc.stdout.strip()


@pytest.mark.parametrize(("major", "minor", "refused"), [
    ("3", "2", True), ("4", "3", True), ("4", "4", False), ("5", "2", False)])
def test_bash_version(default_cluster: Path, major: str, minor: str, refused: bool) -> None:
    problem = call(default_cluster, "bash_problem", major, minor)
    assert bool(problem) == refused
    if refused:
        assert "4.4 or newer" in problem and "brew install bash" in problem


def test_libressl_refused_openssl_passes(default_cluster: Path) -> None:
    problem = call(default_cluster, "openssl_problem", "LibreSSL 3.3.6")
    assert "OpenSSL 1.1.1 or newer" in problem and "brew install openssl@3" in problem
    real = subprocess.run(["openssl", "version"], check=True, capture_output=True, text=True)
    assert call(default_cluster, "openssl_problem", real.stdout.strip()) == ""


def test_make_certs_stops_on_libressl(cluster_copy: Path, tmp_path: Path) -> None:
    """An openssl answering `version` as macOS's does (LibreSSL) stops `make certs` before it
    reads a certificate; the same target runs with Debian's OpenSSL."""
    shim = tmp_path / "bin" / "openssl"
    shim.parent.mkdir()
    shim.write_text('#!/bin/bash\n[[ "$1" == version ]] && { echo "LibreSSL 3.3.6"; exit; }\n'
                    'exec /usr/bin/openssl "$@"\n')
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGITALOCEAN_")}
    run = {"cwd": cluster_copy, "capture_output": True, "text": True, "timeout": 60,
           "check": False}
    refused = subprocess.run(["make", "certs"], **run,
                             env={**env, "PATH": f"{shim.parent}:{env['PATH']}"})
    assert refused.returncode != 0
    assert "ERROR: openssl is LibreSSL 3.3.6" in refused.stderr
    assert "CERTIFICATE" not in refused.stderr
    assert subprocess.run(["make", "certs"], **run, env=env).returncode == 0


def test_bash_is_checked_first(default_cluster: Path) -> None:
    """require_bash runs before any line bash 3.2 could not run (the scripts' common entry and
    the Makefile's settings check)."""
    for script in ("scripts/lib/common.sh", "scripts/check-settings.sh"):
        code = [line for line in (default_cluster / script).read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
        first_source = next(i for i, line in enumerate(code) if line.startswith("source "))
        assert code[first_source].endswith(PLATFORM.removeprefix("scripts") + '"') \
            or code[first_source] == f"source {PLATFORM}", script
        assert code[first_source + 1] == "require_bash", script
        # bash 3.2 refuses inherit_errexit (a 4.4 option): the check must come before it
        errexit = [i for i, line in enumerate(code) if line == "shopt -s inherit_errexit"]
        assert all(i > first_source for i in errexit), script
