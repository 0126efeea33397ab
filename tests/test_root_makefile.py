"""The template repo's own Makefile: its apt step waits for another apt run's lock."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from generator.schema import DEFAULT_PROFILE, PROFILES
from tests.applying import REPO

LOCK_WAIT = "-o DPkg::Lock::Timeout=120"
# apt-get as another apt run leaves it: the lists lock taken for the first update.
APT_GET = """#!/bin/bash
echo "$*" >>{calls}
if [[ " $* " == *" update "* ]] && [[ ! -e {calls}.updated ]]; then
  touch {calls}.updated
  echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)" >&2
  exit 100
fi
"""


def test_apt_get_waits_for_another_apt_run(tmp_path: Path) -> None:
    """`make test` once failed because another apt run held apt's lock. Every apt-get the
    install step runs carries the dpkg lock timeout, and a locked update is retried.
    apt-get and dpkg-query are recording stand-ins: nothing is installed or downloaded."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    (bin_dir / "dpkg-query").write_text("#!/bin/bash\nexit 1\n")  # nothing installed
    (bin_dir / "apt-get").write_text(APT_GET.format(calls=calls))
    (bin_dir / "sudo").write_text('#!/bin/bash\nexec "$@"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), "APT_RETRY_SECONDS=0",
         "--eval", "apt-probe: ; @$(call install_debian,jq etcd-server,)", "apt-probe"],
        env=env, check=False, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "retrying" in proc.stdout
    lines = calls.read_text().splitlines()
    verbs = [next((w for w in line.split() if w in ("update", "install")), "") for line in lines]
    assert verbs == ["update", "update", "install"], lines
    assert all(LOCK_WAIT in line for line in lines), lines


def test_make_demo_bakes_the_default_profile_unless_told() -> None:
    """Plain `make demo` answers no profile (cookiecutter takes the first choice, the default);
    `PROFILE=tutorial make demo` bakes that one; make help names both from cookiecutter.json.
    (A dry run: make still runs the recursive `$(MAKE) -C out/... diagram`, which fails.)"""
    def make(*args: str, **env: str) -> str:
        return subprocess.run(["make", "--no-print-directory", "-C", str(REPO), *args],
                              env={**os.environ, **env}, check=False, capture_output=True,
                              text=True, timeout=60).stdout

    def dry_run(**env: str) -> str:
        return next(line for line in make("-n", "demo", **env).splitlines()
                    if "cookiecutter --no-input" in line)

    assert dry_run(PROFILE="tutorial").endswith(" . profile=tutorial")
    assert dry_run().endswith(" . ")
    others = "|".join(p for p in PROFILES if p != DEFAULT_PROFILE)
    (demo,) = [line for line in make("help").splitlines() if line.split()[:2] == ["make", "demo"]]
    assert f"Bake the default profile ({DEFAULT_PROFILE})" in demo
    assert f"(PROFILE={others}: that profile)" in demo


# python3 as a fresh Ubuntu has it without python3-venv: `-m venv` leaves a half-made directory
# and exits 1 with ensurepip's complaint (the text Debian's python3.11 prints); the rest is real.
NO_ENSUREPIP = """#!/bin/bash
if [[ "$1 $2" == "-m venv" ]]; then
  mkdir -p "$3/bin"
  echo "The virtual environment was not created successfully because ensurepip is not"
  echo "available.  On Debian/Ubuntu systems, you need to install the python3-venv"
  exit 1
fi
exec {python} "$@"
"""


def test_venv_without_python3_venv_names_the_package(tmp_path: Path) -> None:
    """Issue 23: a fresh Ubuntu without python3-venv gets the package to install, and no
    half-made virtualenv stays behind to break the next run."""
    import sys

    bin_dir, venv = tmp_path / "bin", tmp_path / "venv"
    bin_dir.mkdir()
    shim = bin_dir / "python3"
    shim.write_text(NO_ENSUREPIP.format(python=sys.executable))
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), f"VENV={venv}",
                           "venv"], env=env, check=False, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0
    assert "sudo apt-get install python3-venv" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not venv.exists()
