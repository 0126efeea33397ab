"""Rule 7: whatever certificates and keys exist in pki/ (CA and admin after the bake,
node certificates after the apply)."""

from __future__ import annotations

import datetime as dt
import fnmatch
import stat
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from generator.audit.cluster import Cluster
from generator.audit.pki_names import identities
from generator.audit.report import ERROR, WARNING, Finding
from generator.pki import FRONT_PROXY_CA

MIN_BITS = 2048
EXPIRY_WARNING = dt.timedelta(days=30)
BAKE_FILES = ("ca.pem", "ca-key.pem", "admin.pem", "admin-key.pem")
# The current profile's bake also makes the aggregation layer's CA (generator/pki.py), which
# signs the front proxy's client certificate; every other certificate is the cluster CA's.
FRONT_PROXY = FRONT_PROXY_CA[0]
PROFILE_BAKE_FILES = {"tutorial": BAKE_FILES,
                      "current": (*BAKE_FILES, f"{FRONT_PROXY}.pem", f"{FRONT_PROXY}-key.pem")}
SIGNERS = {FRONT_PROXY: FRONT_PROXY, "front-proxy-client": FRONT_PROXY}
# Mode bits a private key must not have.
KEY_MODE_FORBIDDEN = stat.S_IRWXG | stat.S_IRWXO


class PkiChecker:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.dir = cluster.root / "pki"
        self.now = dt.datetime.now(dt.UTC)
        self.ca: x509.Certificate | None = None
        self.bake_files = PROFILE_BAKE_FILES[cluster.profile.name]

    def finding(self, path: Path, rule: str, message: str, severity: str = ERROR) -> Finding:
        return Finding(self.cluster.rel(path), 1, severity, rule, message)

    def key(self, path: Path) -> Iterator[Finding]:
        mode = path.stat().st_mode
        if mode & KEY_MODE_FORBIDDEN:
            yield self.finding(path, "pki.mode",
                               f"private key mode is {stat.S_IMODE(mode):04o}; chmod 600 it")

    def load_key(self, path: Path) -> rsa.RSAPublicKey | None:
        # The pair check compares the modulus with the certificate's; OpenSSL's full RSA
        # consistency check would cost ~40 ms a key, seconds for a hundred workers.
        key = serialization.load_pem_private_key(
            path.read_bytes(), password=None, unsafe_skip_rsa_key_validation=True
        )
        return key.public_key() if isinstance(key, rsa.RSAPrivateKey) else None

    def cert(self, path: Path) -> Iterator[Finding]:
        try:
            cert = x509.load_pem_x509_certificate(path.read_bytes())
        except ValueError as err:
            yield self.finding(path, "pki.load", f"not a PEM certificate: {err}")
            return
        yield from self.validity(path, cert)
        yield from self.identity(path, cert)
        key_path = path.with_name(path.stem + "-key.pem")
        public = cert.public_key()
        if isinstance(public, rsa.RSAPublicKey) and public.key_size < MIN_BITS:
            yield self.finding(path, "pki.key-size",
                               f"{public.key_size}-bit RSA key; use at least {MIN_BITS}")
        if not key_path.is_file():
            yield self.finding(path, "pki.pair", f"{key_path.name} is missing")
        else:
            try:
                key = self.load_key(key_path)
            except (ValueError, TypeError) as err:
                yield self.finding(key_path, "pki.load", f"unreadable private key: {err}")
                return
            if key is None or key.public_numbers() != public.public_numbers():
                yield self.finding(path, "pki.pair", f"does not match {key_path.name}")
        signer = SIGNERS.get(path.stem, "ca")
        ca = self.ca if signer == "ca" else self.load_ca(signer)
        if ca is not None:  # a CA itself: self-signed
            try:
                cert.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature):
                yield self.finding(path, "pki.chain", f"is not signed by pki/{signer}.pem")

    def validity(self, path: Path, cert: x509.Certificate) -> Iterator[Finding]:
        end = cert.not_valid_after_utc
        if end <= self.now or cert.not_valid_before_utc > self.now:
            yield self.finding(path, "pki.expiry",
                               f"not valid now (valid {cert.not_valid_before_utc:%Y-%m-%d} to "
                               f"{end:%Y-%m-%d})")
        elif end - self.now < EXPIRY_WARNING:
            yield self.finding(path, "pki.expiry", f"expires {end:%Y-%m-%d}, in under 30 days",
                               WARNING)

    def identity(self, path: Path, cert: x509.Certificate) -> Iterator[Finding]:
        stem = path.stem
        for identity in identities(self.cluster):
            if match := identity.pattern.fullmatch(stem):
                break
        else:
            return
        cns = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        want = identity.common_name(self.cluster, match)
        if cns != [want]:
            yield self.finding(path, "pki.san", f"CN is {cns}, expected {want}")
        orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
        if orgs != list(identity.organizations):
            yield self.finding(path, "pki.san",
                               f"O is {orgs}, expected {list(identity.organizations)}")
        if identity.sans is None:
            return
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
            names = san.get_values_for_type(x509.DNSName)
        except x509.ExtensionNotFound:
            ips, names = [], []
        if problem := identity.sans(self.cluster, match, ips, names):
            yield self.finding(path, "pki.san", problem)

    def load_ca(self, name: str) -> x509.Certificate | None:
        try:
            return x509.load_pem_x509_certificate((self.dir / f"{name}.pem").read_bytes())
        except (OSError, ValueError):
            return None

    def gitignored(self) -> Iterator[Finding]:
        path = self.cluster.root / ".gitignore"
        patterns = path.read_text().splitlines() if path.is_file() else []
        ignored = False
        for raw in patterns:
            line = raw.strip()
            negated = line.startswith("!")
            pattern = line.lstrip("!").strip("/")
            if line and not line.startswith("#") and any(
                fnmatch.fnmatch(candidate, pattern) for candidate in ("pki", "pki/ca-key.pem")
            ):
                ignored = not negated
        if not ignored:
            yield Finding(".gitignore", 1, ERROR, "pki.gitignore",
                          "pki/ is not git-ignored; add /pki/ so private keys never get committed")

    def run(self) -> Iterator[Finding]:
        yield from self.gitignored()
        for name in self.bake_files:
            if not (self.dir / name).is_file():
                yield self.finding(self.dir / name, "pki.pair", f"pki/{name} is missing")
        self.ca = self.load_ca("ca")
        for path in sorted(self.dir.glob("*.pem")):
            if not self.cluster.applied and path.name not in self.bake_files:
                continue  # the apply's node certificates
            if path.name.endswith("-key.pem"):
                yield from self.key(path)
            else:
                yield from self.cert(path)


def check(cluster: Cluster) -> Iterator[Finding]:
    yield from PkiChecker(cluster).run()
