"""Issue 23 (3): every command the READMEs show runs here, in the order shown, against the
DigitalOcean stand-in: the root README (the demo, `make try`, the real-deployment quickstart,
the answers example) and the generated README of each profile (a fresh bake in an account of
its own). A command that cannot run here is in NOT_RUN with the reason; a new README command
runs automatically, and must pass. The commands
of a section whose heading says "(on a droplet)" run on a node, not here: they must be the
profile's own troubleshooting commands (Profile.docs), nothing else.

Each code block starts where a reader starts it (the workspace, or the cluster repo) and keeps
its own `cd` and `export`; every command reads empty lines on stdin (cookiecutter's prompts
take their defaults)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from generator import TEMPLATE_ROOT
from generator.audit.cluster import read_settings
from generator.profiles import PROFILES
from generator.schema import DEFAULT_PROFILE
from tests.applying import FAKE_BINS, LINT_BIN, STANDIN_BIN, TOKEN
from tests.baking import bake

# Commands shown that cannot run here, and why (each must still be in a README).
NOT_RUN = {
    "make test": "the test suite itself",
    "python3 -m venv ~/.venvs/k8s-do && . ~/.venvs/k8s-do/bin/activate":
        "a virtualenv for the next line, which needs PyPI; the suite runs in the .venv that "
        "`make venv` made from the same pyproject.toml",
    "pip install ./cookiecutter-kubernetes-digitalocean": "downloads the packages from PyPI",
    "doctl auth init": "asks for a real DigitalOcean token (the stand-in's dummy token is in "
                       "the environment instead)",
}
ON_A_DROPLET = "(on a droplet)"  # a heading's mark: its blocks run on a node
# Commands that must fail here, and what they say.
REFUSED = {
    "make destroy": "no terminal to confirm on",  # the README: without a terminal, nothing
}
CHECKOUT = "cookiecutter-kubernetes-digitalocean"  # where the quickstart has the checkout


def commands(readme: str, on_a_droplet: bool = False) -> list[list[str]]:
    """The shell code blocks (fenced sh/console/bash or unmarked, and indented ones), each a
    list of commands (comment-only lines dropped, continued lines joined): those run here, or
    with on_a_droplet those of the sections whose heading has ON_A_DROPLET."""
    blocks: list[list[str]] = []
    lines = readme.splitlines()
    heading = ""
    i = 0
    while i < len(lines):
        block: list[str] | None = None
        fence = re.match(r"```(\w*)", lines[i])
        if fence:
            end = lines.index("```", i + 1)
            if fence.group(1) in ("", "sh", "bash", "console"):
                block = lines[i + 1:end]
            i = end + 1
        elif lines[i].startswith("    ") and (i == 0 or not lines[i - 1].strip()):
            block = []
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                block.append(lines[i][4:])
                i += 1
        else:
            heading = lines[i] if lines[i].startswith("#") else heading
            i += 1
        if block is not None and (ON_A_DROPLET in heading) == on_a_droplet:
            blocks.append(block)
    result = []
    for block in blocks:
        joined = "\n".join(block).replace("\\\n", " ")
        cmds = [line.strip() for line in joined.splitlines()
                if line.strip() and not line.strip().startswith("#")]
        if cmds:
            result.append(cmds)
    return result


def shown(command: str) -> str:
    """The command without its trailing comment (what NOT_RUN and REFUSED name)."""
    return re.sub(r"\s+#[^'\"]*$", "", command)


def run_blocks(blocks: list[list[str]], cwd: Path, env: dict[str, str], work: Path,
               wrap: list[str] | None = None) -> list[tuple[str, int, str]]:
    """Run the blocks in order, each from cwd, in one bash (or in `wrap` + the script):
    [(command, exit status, output)]."""
    answers = work / "enter"
    answers.write_text("\n" * 40)
    script = ["cd_home=$PWD"]
    ran = []
    for block in blocks:
        script.append('cd "$cd_home"')
        for command in block:
            if shown(command) in NOT_RUN:
                continue
            n = len(ran)
            ran.append(command)
            script += [f"echo '@@@ {n}'", f"{{ {command}\n}} <{answers} 2>&1",
                       f'echo "@@@ {n} $?"']
    argv = [*(wrap or ["bash", "-c"]), "\n".join(script)]
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=1500,
                          check=False, stdin=subprocess.DEVNULL)
    out = proc.stdout
    results = []
    for n, command in enumerate(ran):
        found = re.search(rf"^@@@ {n}\n(.*?)^@@@ {n} (\d+)$", out, re.S | re.M)
        assert found, f"{command!r} did not finish:\n{out[-3000:]}\n{proc.stderr[-2000:]}"
        results.append((command, int(found.group(2)), found.group(1)))
    return results


def check(results: list[tuple[str, int, str]]) -> None:
    for command, status, out in results:
        if shown(command) in REFUSED:
            assert status != 0 and REFUSED[shown(command)] in out, (command, out[-2000:])
        else:
            assert status == 0, f"{command!r} failed ({status}):\n{out[-3000:]}"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("readme")
    (work / CHECKOUT).symlink_to(TEMPLATE_ROOT)
    home = work / "home"
    (home / ".ssh").mkdir(parents=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                    str(home / ".ssh/id_ed25519")], check=True)
    return work


def standin_env(work: Path, profile: str = DEFAULT_PROFILE, account: str = "sim") -> dict[str, str]:
    """The quickstart's environment: the stand-ins first on PATH (the profile's kubectl), the
    simulated account work/ACCOUNT, a dummy token, the ssh key the droplets trust, short
    polls."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DOSIM_", "DIGITALOCEAN_", "KUBECONFIG", "SSH_AUTH_SOCK"))}
    sim = work / account
    sim.mkdir(exist_ok=True)
    env.update({
        "PATH": os.pathsep.join([str(STANDIN_BIN), str(FAKE_BINS[profile]), str(LINT_BIN),
                                 str(Path(sys.executable).parent), env["PATH"]]),
        "HOME": str(work / "home"), "DOSIM_PYTHON": sys.executable,
        "DOSIM_STATE": str(sim / "account.json"), "DOSIM_ROOT": str(sim / "droplets"),
        "DOSIM_BOOT_SECONDS": "0", "DOSIM_POLL_SECONDS": "0.05",
        "FAKE_KUBECTL_STATE": str(sim / "kubernetes.json"), "DIGITALOCEAN_ACCESS_TOKEN": TOKEN,
        "APPLY_POLL_SECONDS": "0.2", "APPLY_BOOT_SECONDS": "0", "APPLY_TIMEOUT_SECONDS": "120",
        "IMAGE_POLL_SECONDS": "0.2", "SSH_IDENTITY_FILE": str(work / "home/.ssh/id_ed25519"),
        "COOKIECUTTER_CONFIG": os.environ["COOKIECUTTER_CONFIG"],
    })
    return env


def root_blocks() -> list[list[str]]:
    """The root README's blocks, `make demo` and `make try` pointed at the template checkout
    with OUT in the workspace (the checkout's own out/ stays as it is)."""
    blocks = commands((TEMPLATE_ROOT / "README.md").read_text())
    return [[re.sub(r"^make (demo|try)\b", rf'make -C "{TEMPLATE_ROOT}" OUT="$cd_home/out" \1', c)
             for c in block] for block in blocks]


@pytest.fixture(scope="module")
def fresh(workspace: Path) -> dict[str, Path]:
    """A fresh bake of each profile, in the workspace."""
    return {profile: bake(workspace / f"fresh-{profile}", profile=profile) for profile in PROFILES}


def test_not_run_names_commands_the_readmes_show(fresh: dict[str, Path]) -> None:
    """NOT_RUN and REFUSED stay true: each names a command a README shows (broken twin of a
    stale entry hiding nothing)."""
    texts = [(TEMPLATE_ROOT / "README.md").read_text(),
             *((cluster / "README.md").read_text() for cluster in fresh.values())]
    every = {shown(c) for text in texts for block in commands(text) for c in block}
    assert set(NOT_RUN) - every == set() and set(REFUSED) - every == set()
    assert "make demo" in every and "make try RUN='make status'" in every


def test_droplet_sections_hold_only_the_profiles_troubleshooting(fresh: dict[str, Path]) -> None:
    """What is not run here because it runs on a droplet is exactly the baked profile's
    troubleshooting list; without the heading's mark those commands would run here (twin)."""
    for cluster in fresh.values():
        readme = (cluster / "README.md").read_text()
        profile = PROFILES[read_settings(cluster / "settings.env")["PROFILE"].value]
        wanted = [command for command, _ in profile.docs.troubleshooting]
        assert [c for block in commands(readme, on_a_droplet=True) for c in block] == wanted
        here = {c for block in commands(readme) for c in block}
        assert here.isdisjoint(wanted)
        unmarked = readme.replace(ON_A_DROPLET, "")
        assert set(wanted) <= {c for block in commands(unmarked) for c in block}


def test_root_readme_commands(workspace: Path) -> None:
    env = standin_env(workspace)
    env["REHEARSE_KUBE"] = "fake"  # the real control plane: test_apply_rehearse
    results = run_blocks(root_blocks(), workspace, env, workspace)
    check(results)
    out = "".join(o for _, _, o in results)
    assert "== Try next" in out and "status of prod: 0 failed" in out
    # the demo and the quickstart bake the default profile, naming none
    for baked in ("out/do-cluster", "prod"):
        assert f"PROFILE={DEFAULT_PROFILE}\n" in (workspace / baked / "settings.env").read_text()
    assert "DNS_SERVICE_IP=10.10.0.10" in (workspace / "do-cluster/settings.env").read_text()


@pytest.mark.parametrize("profile", PROFILES)
def test_generated_readme_commands(workspace: Path, fresh: dict[str, Path], profile: str) -> None:
    """A fresh bake of each profile: its README's commands in its directory, in the README's
    order (audit first, then the apply, then tear down), in an account of its own holding the
    ssh key (the quickstart's step 4)."""
    cluster = fresh[profile]
    env = standin_env(workspace, profile, account=f"sim-{profile}")
    subprocess.run(["doctl", "compute", "ssh-key", "import", "k8s-key", "--public-key-file",
                    str(workspace / "home/.ssh/id_ed25519.pub")], env=env, check=True,
                   capture_output=True)
    blocks = commands((cluster / "README.md").read_text())
    imports = ["make image" in c for block in blocks for c in block].count(True)
    # make image once where the bake names no image (it imports one), else never
    assert imports == (read_settings(cluster / "settings.env")["IMAGE"].value == "")
    check(run_blocks(blocks, cluster, env, workspace))
