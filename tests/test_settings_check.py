"""settings.env edited after the bake: refused before make includes it, before bash sources
it, and (every rule of the schema) before any target touches the DigitalOcean API.

Issue 9 rows 2, 3, 10, 12 and 14 (empty CLUSTER_NAME), run with the real scripts against the
stand-in: each test asserts the refusal message and that no API call was made.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from generator.audit import audit
from tests.applying import Apply


@pytest.fixture
def apply(cluster_copy: Path, tmp_path: Path) -> Apply:
    return Apply.create(cluster_copy, tmp_path / "sim")


def edit(apply: Apply, key: str, value: str) -> None:
    path = apply.cluster / "settings.env"
    text, count = re.subn(rf"(?m)^{key}=.*$", lambda _: f"{key}={value}", path.read_text())
    assert count == 1, key
    path.write_text(text)


def refused(apply: Apply, *targets: str, **env: str) -> str:
    """Run make TARGETS, which must fail without one API call; return its stderr."""
    before = apply.calls()
    proc = apply.make(*targets, check=False, **env)
    assert proc.returncode != 0
    assert apply.calls() == before, "an API call was made"
    return proc.stderr


# -- settings.env can carry no code (rows 2 and 3) ---------------------------------------------

@pytest.mark.parametrize("line", [
    "X != touch {mark}",  # row 2: a make directive (shell assignment) after a line break
    "SSL_DIR=/etc/kssl;touch${{IFS}}{mark}",  # row 3: a command for bash
    "SSH_KEY_NAME='k8s-key'$(touch {mark})",
    "CLUSTER_NAME=x\\",  # make would join the next line
])
def test_a_line_that_could_run_something_is_refused_by_make_and_bash(
        apply: Apply, tmp_path: Path, line: str) -> None:
    mark = tmp_path / "ran"
    with (apply.cluster / "settings.env").open("a") as f:
        f.write(line.format(mark=mark) + "\n")
    out = refused(apply, "help")
    assert "settings.env is refused; nothing was run" in out and "settings.env refused" in out
    # the scripts refuse it on their own too (bash reads it without make)
    proc = subprocess.run(["bash", "scripts/status.sh"], cwd=apply.cluster, env=apply.env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "settings.env is refused" in proc.stderr
    assert not mark.exists()


def test_the_default_settings_pass_make_and_bash(apply: Apply) -> None:
    assert "Cluster do-cluster in ams3" in apply.make("help").stdout


# -- every rule before the API (rows 10, 12, 14) ----------------------------------------------

def test_a_pod_network_too_small_for_the_workers_is_refused(apply: Apply) -> None:
    edit(apply, "POD_NETWORK", "10.2.0.0/22")  # 4 node subnets: controller + 3 workers
    out = refused(apply, "etcd", WORKERS="6")
    assert ("POD_NETWORK: 10.2.0.0/22 holds 4 node subnet(s) (/24 each) but 1 controller(s) "
            "and 6 worker(s) need 7; use a /21 or larger network") in out
    assert "nothing was sent to DigitalOcean" in out
    assert apply.droplets() == {}
    apply.make("etcd", WORKERS="3")  # 4 nodes fit
    assert list(apply.droplets()) == ["do-cluster-etcd-01"]


def test_the_pod_network_counts_every_controller(apply: Apply) -> None:
    edit(apply, "POD_NETWORK", "10.2.0.0/23")  # 2 node subnets
    edit(apply, "CONTROLLER_COUNT", "2")
    edit(apply, "WORKER_COUNT", "1")
    out = refused(apply, "etcd", WORKERS="1")
    assert "but 2 controller(s) and 1 worker(s) need 3; use a /22 or larger network" in out
    assert apply.droplets() == {}


def test_a_weak_key_size_is_refused(apply: Apply) -> None:
    edit(apply, "RSA_BITS", "512")
    out = refused(apply, "etcd")
    assert "RSA_BITS: '512' is not valid; use a whole number from 2048 to 8192" in out
    assert apply.droplets() == {}


def test_a_region_changed_after_the_droplets_were_made_is_refused(apply: Apply) -> None:
    apply.make("etcd")
    edit(apply, "REGION", "nyc1")
    out = refused(apply, "controller")
    assert ("REGION: nyc1, but do-cluster-etcd-01 was created in ams3; set REGION=ams3 back"
            in out)
    assert list(apply.droplets()) == ["do-cluster-etcd-01"]
    findings = [f.message for f in audit(apply.cluster).findings if f.rule == "settings.region"]
    assert findings == ["REGION is nyc1, but do-cluster-etcd-01 was created in ams3; set "
                        "REGION=ams3 back (make destroy first to move)"]


@pytest.mark.parametrize("target", ["status", "destroy"])
def test_an_empty_cluster_name_is_refused_before_any_listing(apply: Apply, target: str) -> None:
    apply.make("etcd")
    edit(apply, "CLUSTER_NAME", "")
    out = refused(apply, target, FORCE="1")
    assert "CLUSTER_NAME: '' is not valid; use 1-40 letters" in out
    assert list(apply.droplets()) == ["do-cluster-etcd-01"]


def test_one_worker_limit_at_apply_time(apply: Apply) -> None:
    out = refused(apply, "worker", WORKERS="100")
    assert "from 1 to 99" in out
    edit(apply, "WORKER_COUNT", "100")
    out = refused(apply, "etcd")
    assert "WORKER_COUNT: '100' is not valid; use a whole number from 1 to 99" in out


def test_a_netmask_and_a_stray_space_are_refused_with_the_fix(apply: Apply) -> None:
    edit(apply, "SERVICE_CIDR", "10.3.0.0/255.255.255.0")
    out = refused(apply, "etcd")
    assert "SERVICE_CIDR: '10.3.0.0/255.255.255.0' is not in canonical prefix form; " \
           "write 10.3.0.0/24" in out
    edit(apply, "SERVICE_CIDR", "10.3.0.0/24")
    edit(apply, "REGION", "ams3 ")
    out = refused(apply, "etcd")
    assert re.search(r"REGION \(settings\.env:[0-9]+\): 'ams3 ' may only hold letters, digits and",
                     out)


def test_the_audit_rechecks_settings_with_the_same_rules(cluster_copy: Path) -> None:
    path = cluster_copy / "settings.env"
    text = path.read_text().replace("RSA_BITS=2048", "RSA_BITS=512")
    path.write_text(text.replace("POD_NETWORK=10.2.0.0/16", "POD_NETWORK=10.2.0.0/255.255.0.0")
                    + "X != touch /tmp/x\n")
    messages = {f.message for f in audit(cluster_copy).findings if f.rule.startswith("settings.")}
    assert "RSA_BITS: '512' is not valid; use a whole number from 2048 to 8192, without " \
           "leading zeros" in messages
    assert "POD_NETWORK: '10.2.0.0/255.255.0.0' is not in canonical prefix form; write " \
           "10.2.0.0/16" in messages
    assert "'X != touch /tmp/x' is not a KEY=value line; make and bash would run it" in messages


def test_a_missing_setting_is_refused_by_name(apply: Apply) -> None:
    path = apply.cluster / "settings.env"
    path.write_text(re.sub(r"(?m)^RSA_BITS=.*\n", "", path.read_text()))
    out = refused(apply, "etcd")
    assert "RSA_BITS: missing from settings.env; re-bake or add RSA_BITS=..." in out


@pytest.mark.parametrize("line", ["WORKER_COUT=3", "MAKEFLAGS=-j9", "SHELL=/bin/sh",
                                  "PATH=/tmp"])
def test_a_key_the_bake_did_not_write_is_refused(apply: Apply, line: str) -> None:
    """Issue 18 row 9: only the documented keys (settings.rules' SETTINGS_KEYS, the baked
    settings.env's own) are accepted: a typo is not silently ignored, make's and the shell's
    variables are not set from it."""
    with (apply.cluster / "settings.env").open("a") as f:
        f.write(line + "\n")
    out = refused(apply, "help")
    key = line.split("=", 1)[0]
    assert f"{key} (settings.env:" in out and "not a setting of this cluster" in out


def test_settings_keys_are_the_baked_settings_env_keys(apply: Apply) -> None:
    rules = (apply.cluster / "settings.rules").read_text()
    (listed,) = re.findall(r"(?m)^const\tSETTINGS_KEYS\t(.*)$", rules)
    written = re.findall(r"(?m)^([A-Z][A-Z0-9_]*)=", (apply.cluster / "settings.env").read_text())
    assert listed.split() == written and "WORKER_COUNT" in written
