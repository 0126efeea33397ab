"""The cluster's root CA and admin client certificate, created once at bake time.

Mirrors the tutorial's openssl steps (genrsa 2048, self-signed CN=kube-ca for 10000
days; CN=kube-admin signed by it for 365 days) with `cryptography`. Existing keys are
never replaced: a re-bake keeps the CA every node already trusts. The current profile's admin
is CN=admin, O=system:masters: the group RBAC's cluster-admin binding names (the tutorial's
ABAC policy names the user kube-admin instead).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

CA_CN = "kube-ca"
# The current profile's second CA: the apiserver's aggregation layer (front proxy). Its client
# certificate (pki/front-proxy-client.pem, issued by the apply: components.sh) is what the
# apiserver shows metrics-server; kubeadm keeps the same CA apart from the cluster CA, so that a
# certificate of the cluster CA cannot pass for the proxy (kubernetes/kubernetes
# cmd/kubeadm/app/constants/constants.go: FrontProxyCACertAndKeyBaseName "front-proxy-ca").
FRONT_PROXY_CA = ("front-proxy-ca", "front-proxy-ca")
ADMIN_CN = "kube-admin"
# The admin client certificate's subject per profile: (CN, O...).
ADMIN_SUBJECTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "tutorial": (ADMIN_CN, ()),
    "current": ("admin", ("system:masters",)),
}


@dataclass(frozen=True)
class PkiSettings:
    rsa_bits: int
    ca_days: int
    cert_days: int
    profile: str


def _write_private(path: Path, data: bytes) -> None:
    # Created 0600 from the start (O_EXCL): never a window where the key is readable,
    # and never an overwrite of an existing key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    tmp.replace(path)


def _new_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    return x509.Name([*(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _load_key(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} is not an RSA private key")
    return key


def _validity(days: int) -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    return now - dt.timedelta(minutes=5), now + dt.timedelta(days=days)


def ensure_ca(pki_dir: Path, settings: PkiSettings, base: str = "ca", cn: str = CA_CN) -> bool:
    """Create pki/BASE-key.pem and pki/BASE.pem unless the key exists. True when created."""
    key_path, cert_path = pki_dir / f"{base}-key.pem", pki_dir / f"{base}.pem"
    if key_path.exists():
        if not cert_path.exists():
            raise FileNotFoundError(
                f"{key_path} exists but {cert_path} is missing; restore {base}.pem from backup"
            )
        return False
    key = _new_key(settings.rsa_bits)
    not_before, not_after = _validity(settings.ca_days)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(key))
    _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return True


def ensure_admin(pki_dir: Path, settings: PkiSettings) -> bool:
    """Create pki/admin-key.pem and pki/admin.pem (client cert, the profile's admin) once."""
    key_path, cert_path = pki_dir / "admin-key.pem", pki_dir / "admin.pem"
    if key_path.exists():
        return False
    ca_key = _load_key(pki_dir / "ca-key.pem")
    ca_cert = x509.load_pem_x509_certificate((pki_dir / "ca.pem").read_bytes())
    key = _new_key(settings.rsa_bits)
    not_before, not_after = _validity(settings.cert_days)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(*ADMIN_SUBJECTS[settings.profile]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(min(not_after, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(key))
    _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return True


def ensure_pki(pki_dir: Path, settings: PkiSettings) -> list[str]:
    """Create what is missing of the bake-time PKI; returns the names of new files."""
    pki_dir.mkdir(mode=0o700, exist_ok=True)
    pki_dir.chmod(0o700)
    created = []
    if ensure_ca(pki_dir, settings):
        created += ["ca-key.pem", "ca.pem"]
    if ensure_admin(pki_dir, settings):
        created += ["admin-key.pem", "admin.pem"]
    if settings.profile == "current" and ensure_ca(pki_dir, settings, *FRONT_PROXY_CA):
        created += [f"{FRONT_PROXY_CA[0]}-key.pem", f"{FRONT_PROXY_CA[0]}.pem"]
    return created
