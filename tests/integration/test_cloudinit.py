"""The real coreos-cloudinit v1.13.0 validator (../shared/cloudinit, built from the tag; its
README has the sha256) on the user data as the apply sends it: every key known, every value
valid. Issue 10 row 4: flannel pinned to the private interface; the lock-down's etcd2 TLS keys."""

from __future__ import annotations

import hashlib
import lzma
import os
import re
from pathlib import Path

import pytest

from generator import TEMPLATE_ROOT
from tests.integration.conftest import CONTROLLER_PUBLIC_IP
from tests.integration.support import applied_user_data, cloudinit_config, run

SHARED = TEMPLATE_ROOT.parent / "shared" / "cloudinit"
NAME = "coreos-cloudinit-v1.13.0"


@pytest.fixture(scope="session")
def validator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    readme, packed = SHARED / "README.md", SHARED / f"{NAME}.xz"
    if not (readme.is_file() and packed.is_file()):
        message = f"{packed} is missing (the validators live in ../shared/cloudinit)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    want = re.search(rf"`{re.escape(NAME)}\.xz` \| `([0-9a-f]{{64}})`", readme.read_text())
    assert want, f"{readme} lists no sha256 for {NAME}"
    binary = tmp_path_factory.mktemp("cloudinit") / NAME
    binary.write_bytes(lzma.decompress(packed.read_bytes()))
    assert hashlib.sha256(binary.read_bytes()).hexdigest() == want[1]
    binary.chmod(0o755)
    return binary


def validate(validator: Path, text: str, tmp_path: Path) -> tuple[int, list[str]]:
    path = tmp_path / "user-data.yaml"
    path.write_text(text)
    result = run([str(validator), "-validate", "-from-file", str(path)])
    return result.returncode, re.findall(r"line \d+: (?:error|warning): .*", result.stderr)


@pytest.mark.parametrize("role", ["etcd", "controller", "worker"])
def test_user_data_as_sent_validates_clean(
        default_cluster: Path, validator: Path, role: str, tmp_path: Path) -> None:
    text = applied_user_data(default_cluster, f"{role}.yaml", "https://10.0.0.2:2380",
                             CONTROLLER_PUBLIC_IP)
    assert validate(validator, text, tmp_path) == (0, [])
    if role != "etcd":
        config = cloudinit_config(text, private_ipv4="10.0.0.3")
        assert config["coreos"]["flannel"] == {"interface": "10.0.0.3"}


def test_a_misspelled_flannel_or_etcd2_key_is_reported(
        default_cluster: Path, validator: Path, tmp_path: Path) -> None:
    text = applied_user_data(default_cluster, "worker.yaml", "https://10.0.0.2:2380",
                             CONTROLLER_PUBLIC_IP)
    for old, new in (("interface: $private_ipv4", "interfase: $private_ipv4"),
                     ("peer-key-file:", "peer-kee-file:")):
        assert text.count(old) == 1
        status, found = validate(validator, text.replace(old, new), tmp_path)
        key = new.split(":")[0].replace("-", "_")
        assert status == 1 and any(f'unrecognized key "{key}"' in f for f in found), found
