"""Issue 23 (4): refused answers. The errors stay the last words (no cookiecutter traceback
after them) and say how to bake again with the answers kept; every prompt states its limits
in each profile, from the answer schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from generator import TEMPLATE_ROOT
from generator.answers import validate
from generator.prompts import PROMPTED, limits
from tests.baking import default_answers

COOKIECUTTER = [sys.executable, "-m", "cookiecutter"]


def cookiecutter(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    config = home / "config.yaml"
    config.write_text(f"cookiecutters_dir: {home / 'clones'}\nreplay_dir: {home / 'replay'}\n")
    return subprocess.run([*COOKIECUTTER, *args], cwd=home, capture_output=True, text=True,
                          timeout=300, check=False,
                          env={**os.environ, "COOKIECUTTER_CONFIG": str(config)})


def test_refused_answers_end_with_the_way_to_re_run_and_no_traceback(tmp_path: Path) -> None:
    refused = cookiecutter("--no-input", "-o", "out", str(TEMPLATE_ROOT), "worker_count=0",
                           home=tmp_path)
    out = refused.stdout + refused.stderr
    assert refused.returncode == 1
    assert "Traceback" not in out and "FailedHookException" not in out
    assert "worker_count: '0' is not valid; use a whole number from 1 to 99" in refused.stderr
    replay = tmp_path / "replay" / f"{TEMPLATE_ROOT.name}.json"
    assert f"Your answers are kept in {replay}" in refused.stderr
    assert refused.stderr.rstrip().endswith(f"cookiecutter --replay {TEMPLATE_ROOT}")
    assert not (tmp_path / "out" / "do-cluster").exists()

    # the hint works: fix the answer in the replay file, bake again with the rest kept
    kept = json.loads(replay.read_text())
    kept["cookiecutter"]["worker_count"] = "2"
    replay.write_text(json.dumps(kept))
    again = cookiecutter("--replay", "-o", "out", str(TEMPLATE_ROOT), home=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "WORKER_COUNT=2" in (tmp_path / "out/do-cluster/settings.env").read_text()


def test_every_prompt_states_its_limits_per_profile() -> None:
    prompts = json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text())["__prompts__"]
    prompted = [key for key in json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text())
                if not key.startswith("_") and key != "profile"]
    assert sorted(prompted) == sorted(PROMPTED)
    for answer in PROMPTED:
        assert prompts[answer].endswith(f"Limits: {limits(answer)}"), answer
    # where the profiles differ, each is named with its own limit
    assert limits("kubernetes_version") == \
        "current: 1.36.4 or 1.37.0 (pinned sums); tutorial: 1.1.x"
    assert limits("controller_size").startswith("current: a size slug of at least 2 vCPU, 2 GB;")
    assert limits("worker_count") == "1-99"


# (profile, answer, a value the prompt's limit excludes, one it includes)
LIMITED = [("tutorial", "kubernetes_version", "1.2.0", "1.1.8"),
           ("current", "kubernetes_version", "1.36.0", "1.37.0"),
           ("current", "controller_size", "s-1vcpu-2gb", "s-2vcpu-2gb"),
           ("current", "worker_size", "s-1vcpu-1gb", "s-1vcpu-2gb"),
           ("tutorial", "worker_count", "100", "99")]


def test_each_stated_limit_is_what_the_answers_check_enforces() -> None:
    """A value outside the limit the prompt states for the profile is refused, naming the
    answer (broken twin); one inside it passes."""
    for profile, answer, outside, inside in LIMITED:
        refused = validate(default_answers(profile=profile, **{answer: outside}))
        assert [e.field for e in refused] == [answer], (profile, answer, refused)
        assert validate(default_answers(profile=profile, **{answer: inside})) == []
