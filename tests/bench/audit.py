"""Bench: audit time of a cluster with 100 workers' certificates in pki/, one row per profile.

    .venv/bin/python -m tests.bench.audit [--workers 100] [--runs 7]

Bakes each profile's defaults and issues the certificates an apply of that many workers leaves
(tutorial: apiserver and worker-NN signed by the bake's CA, as its scripts/lib/pki.sh would;
current: every component's and one kubelet certificate per worker, by the repo's own
scripts/lib/components.sh), then audits it: once with an empty lint cache
(generator/lintcache.py; every script through shellcheck), then `--runs` times warm (as every
audit after the first on a machine). The target is on the warm median; every row is printed
before the exit status says whether one missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from generator import lintcache
from generator.audit import audit
from generator.audit.report import Report
from tests.baking import bake
from tests.bench.bake import cpu_seconds
from tests.current_profile import ISSUE_ALL, bake_current, components

TARGET_SECONDS = 1.0


def issue_cert(
    pki_dir: Path, name: str, cn: str, ips: list[str], dns: tuple[str, ...] = (),
    days: int = 365, bits: int = 2048, signer: str | None = "ca",
) -> None:
    """pki/NAME.pem and pki/NAME-key.pem (0600), signed by pki/SIGNER (None: self-signed)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    if signer:
        ca_cert = x509.load_pem_x509_certificate((pki_dir / f"{signer}.pem").read_bytes())
        ca_key = serialization.load_pem_private_key(
            (pki_dir / f"{signer}-key.pem").read_bytes(), password=None
        )
        issuer = ca_cert.subject
    else:
        ca_key, issuer = key, subject
    now = dt.datetime.now(dt.UTC)
    sans = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    sans += [x509.DNSName(name) for name in dns]
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(issuer).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1) if days > 0 else now + dt.timedelta(days))
        .not_valid_after(now + dt.timedelta(days=days) if days > 0 else now - dt.timedelta(1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    key_path = pki_dir / f"{name}-key.pem"
    key_path.unlink(missing_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    (pki_dir / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def applied_cluster(root: Path, workers: int) -> Path:
    """A default tutorial bake with the node certificates an apply of `workers` workers
    issues."""
    cluster = bake(root)
    pki = cluster / "pki"
    issue_cert(pki, "apiserver", "kube-apiserver", ["10.3.0.1", "203.0.113.10", "10.133.0.2"],
               ("do-cluster-controller-01",))
    for n in range(1, workers + 1):
        issue_cert(pki, f"worker-{n:02d}", f"kube-worker-{n:02d}", [f"10.133.1.{n}"])
    return cluster


def applied_current(root: Path, workers: int) -> Path:
    """A default current bake with every certificate an apply of `workers` workers issues."""
    cluster = bake_current(root)
    kubelets = "; ".join(f"pki_issue_kubelet do-cluster-worker-{n:02d} 10.133.1.{n} "
                         f"203.0.113.{n}" for n in range(2, workers + 1))
    result = components(cluster, f"{ISSUE_ALL}; {kubelets}")
    if result.returncode != 0:
        raise SystemExit(f"issuing the current profile's certificates failed:\n{result.stderr}")
    return cluster


def measure(cluster: Path, cache: Path, runs: int) -> tuple[list[float], list[float], Report]:
    """Wall and CPU seconds of one cold audit (empty lint cache), then `runs` warm ones."""
    shutil.rmtree(cache, ignore_errors=True)  # the bake's hook filled it
    timings, cpus = [], []
    for _ in range(runs + 1):
        start, cpu = time.perf_counter(), cpu_seconds()
        report = audit(cluster)
        timings.append(time.perf_counter() - start)
        cpus.append(cpu_seconds() - cpu)
    return timings, cpus, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    missed = False
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
        cache = Path(tmp) / "lint-cache"
        os.environ[lintcache.ENV] = str(cache)
        for profile, make in (("tutorial", applied_cluster), ("current", applied_current)):
            cluster = make(Path(tmp) / profile, args.workers)
            timings, cpus, report = measure(cluster, cache, args.runs)
            cold, warm = timings[0], timings[1:]
            median = statistics.median(warm)
            met = median <= TARGET_SECONDS and report.errors == 0
            print(f"audit, {profile} profile, {args.workers} workers' certs: median "
                  f"{median:.3f}s warm over {args.runs} runs (min {min(warm):.3f}s, max "
                  f"{max(warm):.3f}s; target <= {TARGET_SECONDS:.1f}s on the warm median: "
                  f"{'met' if met else 'MISSED'}; CPU {statistics.median(cpus[1:]):.3f}s), "
                  f"{cold:.3f}s cold (empty lint cache, no target; CPU {cpus[0]:.3f}s); "
                  f"load average {os.getloadavg()[0]:.1f}; {report.errors} error(s), "
                  f"{report.warnings} warning(s)", flush=True)
            missed |= not met
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
