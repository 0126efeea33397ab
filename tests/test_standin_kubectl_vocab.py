"""Each kubectl stand-in speaks its version's vocabulary (tests/fake_kubectl/vocab_v1_1.py,
vocab_current.py): a flag that version's kubectl lacks is refused in its words, one it has is
accepted. The 1.1.2 refusals are compared with the real 1.1.2 binary (../shared/k8s-1.1.2)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.applying import REPO
from tests.k8s import binaries

TUTORIAL = REPO / "tests" / "fake_kubectl" / "kubectl"
CURRENT = REPO / "tests" / "fake_kubectl_current" / "kubectl"


def run(binary: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FAKE_KUBECTL_STATE": str(cwd / "k.json")}
    env.pop("DOSIM_STATE", None)
    return subprocess.run([str(binary), *args], capture_output=True, text=True, env=env,
                          cwd=cwd, check=False, timeout=60)


def real_112(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        kubectl = binaries.binary("kubectl")
    except binaries.Unavailable as error:
        if os.environ.get("CI") == "true":
            pytest.fail(str(error))
        pytest.skip(str(error))
    return subprocess.run([str(kubectl), *args], capture_output=True, text=True, cwd=cwd,
                          check=False, timeout=60)


# (args, the last lines kubectl 1.1.2 prints; it prints the command's usage before them)
REFUSED_BY_112 = [
    (("create", "--save-config", "-f", "x.yaml"), "Error: unknown flag: --save-config"),
    (("get", "pods", "-n", "kube-system"), "Error: unknown shorthand flag: 'n' in -n"),
    (("get", "pods", "-A"), "Error: unknown shorthand flag: 'A' in -A"),
    (("rollout", "restart", "daemonset/x"), 'Error: unknown command "rollout" for "kubectl"\n'
                                            "Run 'kubectl --help' for usage."),
    (("version", "--client=maybe"), 'Error: invalid argument "maybe" for --client=maybe: '
                                    'strconv.ParseBool: parsing "maybe": invalid syntax'),
]


@pytest.mark.parametrize(("args", "last"), REFUSED_BY_112, ids=[a[0] for a, _ in REFUSED_BY_112])
def test_the_112_stand_in_refuses_what_kubectl_112_lacks(
        args: tuple[str, ...], last: str, tmp_path: Path) -> None:
    stand_in = run(TUTORIAL, "--kubeconfig", "kc", *args, cwd=tmp_path)
    assert (stand_in.returncode, stand_in.stderr) == (1, last + "\n"), stand_in
    real = real_112("--kubeconfig", "kc", *args, cwd=tmp_path)
    assert real.returncode == 1 and real.stderr.endswith(last + "\n"), real.stderr[-300:]


def test_the_current_stand_in_has_what_112_lacks(tmp_path: Path) -> None:
    """The broken twin of the refusals above: the same flags pass the current vocabulary's
    parser (they fail later, on the missing kubeconfig, not as unknown flags)."""
    for args in (("create", "--save-config", "-f", "x.yaml"), ("get", "pods", "-n", "x"),
                 ("get", "pods", "-A")):
        out = run(CURRENT, "--kubeconfig", "kc", *args, cwd=tmp_path)
        assert out.returncode == 1 and "unknown" not in out.stderr, out
        assert "kc: no such file or directory" in out.stderr, out


def test_the_current_stand_in_refuses_in_a_current_kubectls_words(tmp_path: Path) -> None:
    """As kubectl 1.32 here prints it (cobra + pflag; `apply` has no --save-config)."""
    out = run(CURRENT, "--kubeconfig", "kc", "apply", "--save-config", "-f", "x.yaml",
              cwd=tmp_path)
    assert (out.returncode, out.stderr) == (
        1, "Error: unknown flag: --save-config\nSee 'kubectl apply --help' for usage.\n")
    # --client belongs to `version` only
    out = run(CURRENT, "--kubeconfig", "kc", "get", "pods", "--client", cwd=tmp_path)
    assert out.stderr == "Error: unknown flag: --client\nSee 'kubectl get --help' for usage.\n"
    # a real flag the stand-in does not model is refused as such, not called unknown
    out = run(CURRENT, "--kubeconfig", "kc", "get", "pods", "--watch", cwd=tmp_path)
    assert out.returncode == 1
    assert "--watch of kubectl get is not simulated" in out.stderr, out
    out = run(CURRENT, "--kubeconfig", "kc", "rollout", "status", "ds/x", cwd=tmp_path)
    assert "kubectl rollout status is not simulated" in out.stderr, out


def test_each_stand_in_refuses_an_output_format_as_its_version_does(tmp_path: Path) -> None:
    from tests.test_standin_kubectl_current import KUBECONFIG
    for name in ("ca.pem", "u.pem", "u-key.pem"):
        (tmp_path / name).write_text("x")
    (tmp_path / "kc").write_text(KUBECONFIG)
    old = run(TUTORIAL, "--kubeconfig", "kc", "get", "pods", "-o", "yaml2", cwd=tmp_path)
    assert old.stderr == 'error: output format "yaml2" not recognized\n', old
    new = run(CURRENT, "--kubeconfig", "kc", "get", "pods", "-o", "yaml2", cwd=tmp_path)
    assert new.stderr.startswith('error: unable to match a printer suitable for the output '
                                 'format "yaml2", allowed formats are: custom-columns,'), new
    # a format the version has but the stand-in does not print: said so, never faked
    wide = run(CURRENT, "--kubeconfig", "kc", "get", "pods", "-o", "wide", cwd=tmp_path)
    assert wide.returncode == 1 and "-o wide is not simulated" in wide.stderr, wide
