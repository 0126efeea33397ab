"""Rule 7: certificates and keys in pki/, after the bake and after the apply."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.audit import audit
from tests.bench.audit import issue_cert

APISERVER_IPS = ["10.3.0.1", "203.0.113.10", "10.133.0.2"]
CONTROLLER = ("do-cluster-controller-01",)


def pki_findings(cluster: Path) -> list[tuple[str, str, str]]:
    return [(f.file, f.rule, f.severity) for f in audit(cluster).findings
            if f.rule.startswith("pki.")]


def test_node_certs_as_the_apply_issues_them_are_clean(cluster_copy: Path) -> None:
    pki = cluster_copy / "pki"
    issue_cert(pki, "apiserver", "kube-apiserver", APISERVER_IPS, CONTROLLER)
    issue_cert(pki, "worker-01", "kube-worker-01", ["10.133.0.3"])
    assert pki_findings(cluster_copy) == []


@pytest.mark.parametrize(
    ("name", "cn", "ips", "kwargs", "rule", "severity"),
    [
        ("apiserver", "kube-apiserver", ["203.0.113.10", "10.133.0.2"], {"dns": CONTROLLER},
         "pki.san", "error"),
        ("apiserver", "kube-apiserver", APISERVER_IPS, {}, "pki.san", "error"),
        ("worker-02", "kube-worker-03", ["10.133.0.4"], {}, "pki.san", "error"),
        ("worker-02", "kube-worker-02", ["10.133.0.4"], {"signer": None}, "pki.chain", "error"),
        ("worker-02", "kube-worker-02", ["10.133.0.4"], {"signer": "admin"}, "pki.chain",
         "error"),
        ("worker-02", "kube-worker-02", ["10.133.0.4"], {"bits": 1024}, "pki.key-size",
         "error"),
        ("worker-02", "kube-worker-02", ["10.133.0.4"], {"days": -1}, "pki.expiry", "error"),
        ("worker-02", "kube-worker-02", ["10.133.0.4"], {"days": 10}, "pki.expiry", "warning"),
    ],
    ids=["san-no-service-ip", "san-no-dns", "cn", "self-signed", "wrong-issuer", "small-key",
         "expired", "expiring"],
)
def test_bad_node_cert(cluster_copy: Path, name: str, cn: str, ips: list[str],
                       kwargs: dict, rule: str, severity: str) -> None:
    issue_cert(cluster_copy / "pki", name, cn, ips, **kwargs)
    assert (f"pki/{name}.pem", rule, severity) in pki_findings(cluster_copy)


def test_key_not_matching_its_cert(cluster_copy: Path) -> None:
    pki = cluster_copy / "pki"
    (pki / "admin-key.pem").write_bytes((pki / "ca-key.pem").read_bytes())
    assert ("pki/admin.pem", "pki.pair", "error") in pki_findings(cluster_copy)


def test_readable_private_key(cluster_copy: Path) -> None:
    (cluster_copy / "pki/admin-key.pem").chmod(0o644)
    assert ("pki/admin-key.pem", "pki.mode", "error") in pki_findings(cluster_copy)


def test_pki_not_git_ignored(cluster_copy: Path) -> None:
    gitignore = cluster_copy / ".gitignore"
    gitignore.write_text(gitignore.read_text().replace("/pki/\n", ""))
    found = [f for f in audit(cluster_copy).findings if f.rule == "pki.gitignore"]
    assert [(f.file, f.line) for f in found] == [(".gitignore", 1)]
    # Keys that git would now commit are secrets leaving the machine.
    assert any(f.rule == "secrets.private-key" and f.file == "pki/ca-key.pem"
               for f in audit(cluster_copy).findings)


def record_droplet(cluster: Path, name: str, public: str, private: str) -> None:
    """What the apply writes for a droplet in state/droplets/ (scripts/lib/common.sh)."""
    state = cluster / "state" / "droplets"
    state.mkdir(parents=True, exist_ok=True)
    (state / f"{name}.json").write_text(
        f'{{"id":1,"name":"{name}","public_ip":"{public}","private_ip":"{private}"}}'
    )


def test_node_certs_match_the_recorded_droplet_ips(cluster_copy: Path) -> None:
    pki = cluster_copy / "pki"
    record_droplet(cluster_copy, CONTROLLER[0], "203.0.113.10", "10.133.0.2")
    record_droplet(cluster_copy, "do-cluster-worker-01", "203.0.113.11", "10.133.0.3")
    issue_cert(pki, "apiserver", "kube-apiserver", APISERVER_IPS, CONTROLLER)
    issue_cert(pki, "worker-01", "kube-worker-01", ["10.133.0.3"])
    assert pki_findings(cluster_copy) == []


@pytest.mark.parametrize(
    ("name", "cn", "ips", "dns"),
    [
        ("apiserver", "kube-apiserver", ["10.3.0.1", "203.0.113.99", "10.133.0.2"], CONTROLLER),
        ("worker-01", "kube-worker-01", ["10.133.0.99"], ()),
    ],
    ids=["apiserver-for-an-old-public-ip", "worker-for-an-old-private-ip"],
)
def test_node_cert_of_a_recreated_droplet(cluster_copy: Path, name: str, cn: str,
                                          ips: list[str], dns: tuple[str, ...]) -> None:
    """A droplet re-created with new addresses invalidates the certificate issued for it."""
    record_droplet(cluster_copy, CONTROLLER[0], "203.0.113.10", "10.133.0.2")
    record_droplet(cluster_copy, "do-cluster-worker-01", "203.0.113.11", "10.133.0.3")
    issue_cert(cluster_copy / "pki", name, cn, ips, dns)
    assert (f"pki/{name}.pem", "pki.san", "error") in pki_findings(cluster_copy)
