"""Rule 8: nothing secret in a file that leaves the machine (git, or user data sent to
DigitalOcean, which any process on the droplet can read from the metadata service)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from pathlib import Path

from generator import releases
from generator.audit.cluster import USER_DATA_DIR, Cluster
from generator.audit.report import ERROR, Finding

PRIVATE_KEY = re.compile(r"-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY)-----")
# Token shapes: DigitalOcean (dop_v1_, doo_v1_, legacy 64-hex), GitHub, AWS, bearer
# tokens, and a literal value assigned to a token/password variable or kubeconfig field.
TOKENS = {
    "DigitalOcean token": re.compile(r"\bdo[por]_v1_[a-f0-9]{64}\b"),
    "64-hex API token": re.compile(r"\b[a-f0-9]{64}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "bearer token": re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]{16,}"),
    # A literal (not $VAR or <placeholder>) of 12+ characters mixing letters and digits,
    # so names like `require_token: DIGITALOCEAN_ACCESS_TOKEN` are not taken for secrets.
    "token or password value": re.compile(
        r"(?i)\b[\w-]*(?:token|password|passwd|secret)[\w-]*\s*[:=]\s*['\"]?"
        r"(?=[A-Za-z._~+/=-]*[0-9])(?=[0-9._~+/=-]*[A-Za-z])[A-Za-z0-9._~+/=-]{12,}"
    ),
}

# The release sums the template pins (generator/data): public 64-hex values, not tokens.
PINNED_SUMS = releases.pinned_sums()


def _ignored(rel: str, patterns: list[str]) -> bool:
    ignored = False
    for raw in patterns:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pattern = line.lstrip("!").strip("/")
        parts = Path(rel).parts
        prefixes = ["/".join(parts[: k + 1]) for k in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) for p in prefixes) or fnmatch.fnmatch(
            Path(rel).name, pattern
        ):
            ignored = not line.startswith("!")
    return ignored


def leaving_files(cluster: Cluster) -> Iterator[Path]:
    """Files git would commit, and the user data the apply submits."""
    gitignore = cluster.root / ".gitignore"
    patterns = gitignore.read_text().splitlines() if gitignore.is_file() else []
    for path in sorted(cluster.root.rglob("*")):
        rel = cluster.rel(path)
        if not path.is_file() or rel.startswith(".git/"):
            continue
        if rel.startswith(USER_DATA_DIR + "/") or not _ignored(rel, patterns):
            yield path


def check(cluster: Cluster) -> Iterator[Finding]:
    for path in leaving_files(cluster):
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        # one pass per pattern over the whole file first: most files match none (a line's
        # match is also the file's, so nothing is missed), and only those are read by line
        if not (PRIVATE_KEY.search(text) or any(p.search(text) for p in TOKENS.values())):
            continue
        rel = cluster.rel(path)
        for number, line in enumerate(text.splitlines(), 1):
            if match := PRIVATE_KEY.search(line):
                yield Finding(rel, number, ERROR, "secrets.private-key",
                              f"a PEM {match[1]} in a file that leaves this machine")
            for what, pattern in TOKENS.items():
                if any(m not in PINNED_SUMS for m in pattern.findall(line)):
                    yield Finding(rel, number, ERROR, "secrets.token",
                                  f"looks like a {what}; keep secrets out of the repo and "
                                  "user data (use the environment)")
                    break
