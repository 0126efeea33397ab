"""The bake-time CA and admin credentials: private, valid, and never replaced."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from generator.bake import finish_bake
from tests.baking import bake


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keys_are_private_and_pki_is_closed(default_cluster: Path) -> None:
    pki = default_cluster / "pki"
    assert mode(pki) == 0o700
    assert mode(pki / "ca-key.pem") == 0o600
    assert mode(pki / "admin-key.pem") == 0o600


def test_pki_is_git_ignored(cluster_copy: Path) -> None:
    subprocess.run(["git", "init", "-q", str(cluster_copy)], check=True)
    subprocess.run(["git", "-C", str(cluster_copy), "add", "-A"], check=True)
    staged = subprocess.run(
        ["git", "-C", str(cluster_copy), "diff", "--cached", "--name-only"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    assert "cloud-config/controller.yaml" in staged
    assert [name for name in staged if name.startswith("pki/") or name.endswith(".pem")] == []


def test_ca_and_admin_are_the_tutorials(default_cluster: Path) -> None:
    pki = default_cluster / "pki"
    ca = x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes())
    admin = x509.load_pem_x509_certificate((pki / "admin.pem").read_bytes())
    assert ca.subject.rfc4514_string() == "CN=kube-ca"
    assert admin.subject.rfc4514_string() == "CN=kube-admin"
    assert admin.issuer == ca.subject
    assert (ca.not_valid_after_utc - ca.not_valid_before_utc).days == 10000
    assert (admin.not_valid_after_utc - admin.not_valid_before_utc).days == 365
    key = serialization.load_pem_private_key((pki / "ca-key.pem").read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(pki / "ca.pem"), str(pki / "admin.pem")],
        capture_output=True, text=True,
    )
    assert verify.returncode == 0, verify.stderr


def test_rerunning_post_gen_keeps_every_key(tmp_path: Path) -> None:
    cluster = bake(tmp_path)
    before = {p.name: p.read_bytes() for p in (cluster / "pki").iterdir()}
    answers = json.dumps({"profile": "tutorial", "_rsa_bits": "2048", "_ca_days": "10000",
                          "_cert_days": "365"})
    assert finish_bake(cluster, answers) == 0
    assert {p.name: p.read_bytes() for p in (cluster / "pki").iterdir()} == before


def test_rebaking_over_a_cluster_keeps_its_ca(tmp_path: Path) -> None:
    from cookiecutter.main import cookiecutter

    from generator import TEMPLATE_ROOT

    cluster = bake(tmp_path)
    ca = (cluster / "pki/ca-key.pem").read_bytes()
    cookiecutter(str(TEMPLATE_ROOT), no_input=True, output_dir=str(tmp_path),
                 overwrite_if_exists=True, extra_context={"profile": "tutorial"})
    assert (cluster / "pki/ca-key.pem").read_bytes() == ca


def test_a_lost_ca_certificate_is_an_error_not_a_new_ca(tmp_path: Path) -> None:
    cluster = bake(tmp_path)
    (cluster / "pki/ca.pem").unlink()
    key = (cluster / "pki/ca-key.pem").read_bytes()
    answers = json.dumps({"profile": "tutorial", "_rsa_bits": "2048", "_ca_days": "10000",
                          "_cert_days": "365"})
    try:
        finish_bake(cluster, answers)
    except FileNotFoundError as err:
        assert "ca.pem" in str(err)
    else:
        raise AssertionError("a CA key without its certificate must stop the bake")
    assert (cluster / "pki/ca-key.pem").read_bytes() == key
