"""Issue 20 item 6 and 7: commands that are safe to try.

Every script answers --help and unknown arguments with its usage before anything else (no
settings read, no API call); make etcd/controller/worker change nothing in the account before
the image is known to exist and to run the profile's system; doctl's own authentication (its
configured contexts, doctl auth init) is honoured; a failed `make demo` bake keeps out/."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.applying import REPO, TOKEN, Apply, files_containing, snapshot

SCRIPTS = sorted(p.name for p in (REPO / "{{cookiecutter.cluster_name}}/scripts").glob("*.sh"))


def _set(cluster: Path, **values: str) -> None:
    env = cluster / "settings.env"
    text = env.read_text()
    for key, value in values.items():
        text, n = re.subn(rf"^{key}=.*$", f"{key}={value}", text, flags=re.M)
        assert n == 1, key
    env.write_text(text)


@pytest.fixture
def apply(cluster_copy: Path, tmp_path: Path) -> Apply:
    return Apply.create(cluster_copy, tmp_path / "sim")


def _script(apply: Apply, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", f"scripts/{name}", *args], cwd=apply.cluster, env=apply.env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                          check=False)


def test_every_script_answers_help_and_refuses_what_it_does_not_declare(apply: Apply) -> None:
    """etcd.sh --help used to run the apply, destroy.sh --help to reach the delete prompt.
    settings.env is broken on purpose: --help must not even read it."""
    (apply.cluster / "settings.env").write_text("REGION=$(rm -rf /)\n")
    assert len(SCRIPTS) >= 15
    before, calls = snapshot(apply.cluster), apply.calls()
    for name in SCRIPTS:
        helped = _script(apply, name, "--help")
        assert helped.returncode == 0, (name, helped.stderr)
        assert helped.stdout.startswith(f"usage: scripts/{name}"), (name, helped.stdout)
        assert len(helped.stdout.splitlines()) >= 2, name  # the header comment follows
        for bad in ("--bogus", "leftover"):
            refused = _script(apply, name, bad)
            assert refused.returncode == 2, (name, bad, refused.stderr)
            assert f"argument '{bad}'" in refused.stderr and "usage: scripts/" in refused.stderr
    assert apply.calls() == calls and apply.droplets() == {}
    assert snapshot(apply.cluster) == before


def test_declared_options_still_work(apply: Apply) -> None:
    refused = _script(apply, "plan.sh", "-o")
    assert refused.returncode == 2 and "-o needs a value" in refused.stderr
    drawn = _script(apply, "diagram.sh", "--planned", "--no-png", "--out", "build/t")
    assert drawn.returncode == 0, drawn.stderr
    assert (apply.cluster / "build/t.svg").is_file()


@pytest.mark.parametrize(("image", "said"), [
    ("ubuntu-22-04-x64", "is 'Ubuntu: ubuntu 22 04 x64', not CoreOS Container Linux"),
    ("4242", "image 4242 does not exist for this account"),
])
def test_a_wrong_or_missing_image_stops_before_any_account_change(
        apply: Apply, image: str, said: str) -> None:
    _set(apply.cluster, IMAGE=image)
    proc = apply.make("etcd", check=False)
    assert proc.returncode != 0 and said in proc.stderr, proc.stderr
    account = apply.account()
    assert account["droplets"] == {} and account.get("firewalls", {}) == {}
    assert account["tags"] == [] and not any(k.startswith(("POST", "PUT", "DELETE"))
                                             for k in account["api_calls"] if k != "total"
                                             and k != "POST /v2/account/keys")


def test_doctl_contexts_are_honoured_and_the_token_never_shown(apply: Apply) -> None:
    """doctl keeps tokens in its config (doctl auth init [--context NAME]); CONTEXT=NAME
    selects one as doctl --context does."""
    config = apply.sim / "xdg" / "doctl" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(f"access-token: ''\ncontext: default\nauth-contexts:\n  work: {TOKEN}\n")
    apply.env.pop("DIGITALOCEAN_ACCESS_TOKEN")
    apply.env["XDG_CONFIG_HOME"] = str(apply.sim / "xdg")
    none = apply.make("etcd", check=False)
    assert none.returncode != 0 and "no API token" in none.stderr
    assert "doctl auth init" in none.stderr
    typo = apply.make("etcd", check=False, CONTEXT="wrok")
    assert typo.returncode != 0 and "CONTEXT=wrok: doctl has no such context" in typo.stderr
    assert "doctl auth init --context wrok" in typo.stderr
    assert apply.calls() == 1  # the test's own key import
    apply.make("etcd", CONTEXT="work")
    assert list(apply.droplets()) == ["do-cluster-etcd-01"]
    # the default context from doctl's config, no variable at all
    config.write_text(f"access-token: {TOKEN}\ncontext: default\n")
    apply.make("etcd")
    assert all(TOKEN not in out for out in apply.outputs)
    assert files_containing(TOKEN, apply.cluster) == []


def test_a_missing_doctl_says_where_to_get_it(apply: Apply) -> None:
    proc = apply.make("etcd", check=False, PATH="/usr/bin:/bin")
    assert proc.returncode != 0 and "missing tool(s): doctl" in proc.stderr
    assert "https://docs.digitalocean.com/reference/doctl/how-to/install/" in proc.stderr


def test_a_failed_demo_bake_leaves_out_as_it_was(tmp_path: Path) -> None:
    """`PROFILE=typo make demo` used to remove out/ first. dpkg-query says every package is
    installed (nothing is installed); the venv is the one running these tests."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dpkg-query").write_text("#!/bin/bash\necho 'install ok installed'\n")
    (bin_dir / "dpkg-query").chmod(0o755)
    out = tmp_path / "out"
    (out / "do-cluster").mkdir(parents=True)
    (out / "do-cluster/kept").write_text("an earlier bake\n")
    before = snapshot(out)
    proc = subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), "-o", ".venv/bin/.installed", "demo",
         "PROFILE=typo", f"OUT={out}"],
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode != 0
    assert "typo provided for choice variable profile" in proc.stdout + proc.stderr
    assert snapshot(out) == before
