"""Issue 24 item 1: the current profile's user data names no other droplet's address, so every
droplet can be created at once. The files that need one carry a placeholder (APISERVER_ENDPOINT,
a controller's ETCD_ENDPOINTS); the node's fill-endpoints (profiles/current/node/
fill-endpoints.sh, kubelet.service's ExecStartPre) writes in the values of the kubelet's
EnvironmentFile, which the apply delivers over ssh. Here the real script runs on the files the
baked cloud-configs write, with an EnvironmentFile as scripts/lib/nodeenv.sh writes it."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from generator import TEMPLATE_ROOT, facts

SCRIPT = TEMPLATE_ROOT / "{{cookiecutter.cluster_name}}/profiles/current/node/fill-endpoints.sh"
PLACEHOLDERS = ("ETCD_ENDPOINTS", "APISERVER_ENDPOINT")
ENV = {"controller": {"APISERVER_ENDPOINT": "127.0.0.1",
                      "ETCD_ENDPOINTS": "https://10.101.0.2:2379,https://10.101.0.3:2379"},
       "worker": {"APISERVER_ENDPOINT": "10.101.0.7"}}


def _config(cluster: Path, role: str) -> dict[str, object]:
    return yaml.safe_load((cluster / f"cloud-config/{role}.yaml").read_text())


def _fill_argv(cluster: Path, role: str) -> list[str]:
    """kubelet.service's ExecStartPre, as the cloud-config gives it to systemd."""
    unit = next(u for u in _config(cluster, role)["coreos"]["units"]  # type: ignore[index]
                if u["name"] == "kubelet.service")
    text = re.sub(r"\\\n\s*", " ", unit["content"])
    line = next(t for t in text.splitlines() if t.startswith("ExecStartPre="))
    return shlex.split(line.removeprefix("ExecStartPre="))


def _named(cluster: Path, role: str) -> dict[str, str]:
    """The user data's files that name a placeholder: path -> content."""
    files = _config(cluster, role)["write_files"]  # type: ignore[index]
    return {f["path"]: f["content"] for f in files  # type: ignore[union-attr]
            if re.search(rf"\b({'|'.join(PLACEHOLDERS)})\b", f["content"])}


@pytest.mark.parametrize("role", ["controller", "worker"])
def test_the_kubelet_fills_exactly_the_files_that_name_a_placeholder(current_cluster: Path,
                                                                     role: str) -> None:
    argv = _fill_argv(current_cluster, role)
    assert argv[0] == f"{facts.BIN_DIR}/fill-endpoints"
    assert sorted(argv[1:]) == sorted(_named(current_cluster, role))
    # the script itself rides in the same user data without naming them
    paths = [f["path"] for f in _config(current_cluster, role)["write_files"]]  # type: ignore
    assert f"{facts.BIN_DIR}/fill-endpoints" in paths


def test_etcd_members_need_no_fill(current_cluster: Path) -> None:
    assert _named(current_cluster, "etcd") == {}


def _node(cluster: Path, role: str, root: Path) -> list[Path]:
    files = []
    for path, content in _named(cluster, role).items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        target.chmod(0o644)
        files.append(target)
    return files


def _run(files: list[Path], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *map(str, files)], capture_output=True,
                          text=True, timeout=60, check=False,
                          env={"PATH": os.environ["PATH"], **env})


@pytest.mark.parametrize("role", ["controller", "worker"])
def test_fill_endpoints_writes_the_delivered_addresses(current_cluster: Path, tmp_path: Path,
                                                       role: str) -> None:
    files = _node(current_cluster, role, tmp_path)
    done = _run(files, ENV[role])
    assert done.returncode == 0, done.stderr
    for file in files:
        text = file.read_text()
        assert not re.search(rf"\b({'|'.join(PLACEHOLDERS)})\b", text), file
        assert file.stat().st_mode & 0o777 == 0o644
        doc = yaml.safe_load(text)
        if doc["kind"] == "Config":  # a kubeconfig: the apiserver at the delivered address
            server = doc["clusters"][0]["cluster"]["server"]
            assert server.startswith(f"https://{ENV[role]['APISERVER_ENDPOINT']}"), server
        else:  # the apiserver's static pod: every etcd member, as delivered
            assert f"--etcd-servers={ENV[role]['ETCD_ENDPOINTS']}" in \
                doc["spec"]["containers"][0]["command"]
    # no temporary file left where the kubelet reads its static pods
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == sorted(files)
    again = _run(files, ENV[role])  # a restart: nothing left to fill, nothing changed
    assert again.returncode == 0 and again.stdout == "", again


def test_a_missing_address_stops_the_kubelet_and_changes_nothing(current_cluster: Path,
                                                                 tmp_path: Path) -> None:
    files = _node(current_cluster, "controller", tmp_path)
    before = [f.read_text() for f in files]
    done = _run(files, {"APISERVER_ENDPOINT": "127.0.0.1"})  # no ETCD_ENDPOINTS delivered
    assert done.returncode != 0
    assert "names ETCD_ENDPOINTS, which the EnvironmentFile does not give" in done.stderr
    assert [f.read_text() for f in files] == before


@pytest.mark.parametrize("value", ["10.0.0.1;reboot", "10.0.0.1|x", "a b", "$(id)"])
def test_a_value_that_is_no_address_is_refused(current_cluster: Path, tmp_path: Path,
                                               value: str) -> None:
    files = _node(current_cluster, "worker", tmp_path)
    before = [f.read_text() for f in files]
    done = _run(files, {"APISERVER_ENDPOINT": value})
    assert done.returncode != 0 and "is not an address list" in done.stderr
    assert [f.read_text() for f in files] == before
