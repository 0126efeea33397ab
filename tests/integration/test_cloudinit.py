"""The real coreos-cloudinit v1.13.0 validator (../shared/cloudinit, built from the tag; its
README has the sha256) on the user data as the apply sends it: every key known, every value
valid. Issue 10 row 4: flannel pinned to the private interface; the lock-down's etcd2 TLS keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.cloudinit_validators import unpack_validator, validate
from tests.integration.conftest import CONTROLLER_PUBLIC_IP
from tests.integration.support import applied_user_data, cloudinit_config


@pytest.fixture(scope="session")
def validator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return unpack_validator("coreos-cloudinit-v1.13.0", tmp_path_factory)


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
