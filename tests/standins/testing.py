"""Helpers for tests that drive the stand-ins the way a bash script does (subprocesses)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import dropletfs

BIN = Path(__file__).resolve().parent / "bin"
TOKEN = "dop_v1_dosim-test-token-0123456789abcdef"


def fake_public_key(seed: bytes, comment: str = "tester@dosim") -> str:
    """A well-formed ``ssh-ed25519`` public key line (the stand-ins never see private keys)."""
    raw = (seed * 32)[:32]
    algo = b"ssh-ed25519"
    blob = len(algo).to_bytes(4, "big") + algo + len(raw).to_bytes(4, "big") + raw
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} {comment}\n"


@dataclass
class Sim:
    """A simulated account in ``base``: environment, runner and state readers."""

    base: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / ".ssh").mkdir(exist_ok=True)

    @property
    def home(self) -> Path:
        return self.base / "home"

    @property
    def state_file(self) -> Path:
        return self.base / "sim" / "account.json"

    @property
    def known_hosts(self) -> Path:
        return self.base / "known_hosts"

    def env(self, **overrides: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DOSIM_", "DIGITALOCEAN_", "SSH_AUTH_SOCK"))}
        env.update({
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": str(self.home),
            "DOSIM_STATE": str(self.state_file),
            "DIGITALOCEAN_ACCESS_TOKEN": TOKEN,
            "DOSIM_POLL_SECONDS": "0.05",
            "DOSIM_RETRY_WAIT_SECONDS": "0.001",
            # the interpreter itself, not a version-manager shim on PATH: startup dominates
            "DOSIM_PYTHON": sys.executable,
        })
        env.update(self.extra_env)
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def run(self, *argv: str, stdin: str | None = None, env: dict[str, str] | None = None,
            check: bool = False) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(list(argv), input=stdin if stdin is not None else "",
                              capture_output=True, text=True, env=env or self.env(),
                              cwd=self.base, timeout=60, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"{argv} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def doctl(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return self.run("doctl", *args, **kw)

    def doctl_json(self, *args: str) -> Any:
        proc = self.doctl(*args, "-o", "json", check=True)
        return json.loads(proc.stdout)

    def state(self) -> dict[str, Any]:
        return json.loads(self.state_file.read_text())

    def calls(self) -> dict[str, int]:
        return self.state()["api_calls"] if self.state_file.exists() else {"total": 0}

    def root(self, name: str) -> Path:
        return dropletfs.droplet_root(name, self.state_file)

    # ssh side -----------------------------------------------------------------------------
    def add_key(self, name: str = "k8s", seed: bytes = b"k") -> tuple[Path, str]:
        """A key pair on disk (the private half is a placeholder) registered on the account."""
        private = self.home / ".ssh" / f"id_{name}"
        private.write_text("placeholder private key\n")
        private.with_name(private.name + ".pub").write_text(fake_public_key(seed))
        key = self.doctl_json("compute", "ssh-key", "import", name, "--public-key-file",
                              str(private) + ".pub")[0]
        return private, key["fingerprint"]

    def ssh_opts(self, identity: Path) -> list[str]:
        return ["-i", str(identity), "-o", "IdentitiesOnly=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=accept-new", "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=10"]

    def create(self, *names: str, fingerprint: str = "", image: str = "coreos-stable",
               extra: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        args = ["compute", "droplet", "create", *names, "--image", image, "--size", "2gb",
                "--region", "nyc3", *extra]
        if fingerprint:
            args += ["--ssh-keys", fingerprint]
        return self.doctl_json(*args)

    def public_ip(self, name: str) -> str:
        droplet = self.doctl_json("compute", "droplet", "get", name)[0]
        nets = droplet.get("networks", {}).get("v4", [])
        return next(n["ip_address"] for n in nets if n["type"] == "public")
