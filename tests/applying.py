"""Run a baked cluster's make targets against the DigitalOcean stand-in and the fake kubectl.

Nothing leaves loopback: doctl/ssh/scp are tests/standins/bin, kubectl/curl are
tests/fake_kubectl, and the simulated droplets have documentation addresses.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator.audit.cluster import read_settings
from tests.standins import dropletfs, etcd3data
from tests.standins import state as standin_state

REPO = Path(__file__).resolve().parents[1]
STANDIN_BIN = REPO / "tests" / "standins" / "bin"
LINT_BIN = REPO / "tests" / "lintbin"  # the tests' shellcheck: each distinct check once a run
FAKE_BIN = REPO / "tests" / "fake_kubectl"
# the kubectl stand-in of each profile (tests/rehearse.sh picks the same)
FAKE_BINS = {"tutorial": FAKE_BIN, "current": REPO / "tests" / "fake_kubectl_current"}
# A recognisable dummy: the tests assert it is written nowhere and printed never.
TOKEN = "dummy-do-token-4f1c9e"
# A stand-in delay no test outlives: the fault lasts until the test ends it (Apply.bring_up),
# however slowly a loaded machine runs the apply. A short delay raced the apply instead.
NEVER_SECONDS = "86400"


def cache_bytecode(path: Path) -> None:
    """The stand-ins (doctl, ssh, kubectl...) are Python started thousands of times a run:
    their compiled modules go to PATH, even where PYTHONDONTWRITEBYTECODE is set to keep
    __pycache__ out of the checkout (every start then recompiled ~30 modules, ~40 ms)."""
    os.environ["PYTHONPYCACHEPREFIX"] = str(path)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


@dataclass
class Apply:
    """One cluster copy wired to one simulated account."""

    cluster: Path
    sim: Path
    env: dict[str, str] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, cluster: Path, sim: Path, key_name: str = "k8s-key") -> Apply:
        sim.mkdir(parents=True, exist_ok=True)
        home = sim / "home"
        home.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DOSIM_", "DIGITALOCEAN_", "KUBECONFIG", "SSH_AUTH_SOCK"))}
        profile = read_settings(cluster / "settings.env")["PROFILE"].value
        env.update({
            "PATH": f"{STANDIN_BIN}{os.pathsep}{FAKE_BINS[profile]}{os.pathsep}{env['PATH']}",
            "HOME": str(home),
            # The stand-ins' interpreter, not a version-manager shim that costs ~0.1 s a start.
            "DOSIM_PYTHON": sys.executable,
            "DOSIM_STATE": str(sim / "account.json"),
            "DOSIM_ROOT": str(sim / "droplets"),
            "DOSIM_BOOT_SECONDS": "0",
            "DOSIM_POLL_SECONDS": "0.05",
            "FAKE_KUBECTL_STATE": str(sim / "kubernetes.json"),
            "DIGITALOCEAN_ACCESS_TOKEN": TOKEN,
            "APPLY_POLL_SECONDS": "0.2",
            # make image polls the import every 15 s by default: the stand-in's import needs
            # two polls, so every fixture's make image slept 30 s
            "IMAGE_POLL_SECONDS": "0.2",
            "APPLY_BOOT_SECONDS": "0",  # the simulated droplets boot at once
            # Waits end as soon as the stand-in answers; the bound only matters when a test
            # injects a fault, and then the test sets its own. Margin for a loaded machine.
            "APPLY_TIMEOUT_SECONDS": "120",
            "RATE_LIMIT_WAIT_SECONDS": "0.1",  # the burst window, scaled like the polls
            "SSH_IDENTITY_FILE": str(sim / "id_test"),
        })
        apply = cls(cluster, sim, env)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(sim / "id_test")],
                       check=True)
        if key_name:
            apply.doctl("compute", "ssh-key", "import", key_name,
                        "--public-key-file", str(sim / "id_test.pub"))
        return apply

    # -- running ---------------------------------------------------------------------------
    def make(self, *targets: str, check: bool = True, stdin: str | None = None,
             **env: str) -> subprocess.CompletedProcess[str]:
        run_env = {**self.env, **env}
        proc = subprocess.run(
            ["make", "--no-print-directory", *targets], cwd=self.cluster, env=run_env,
            input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True, text=True, timeout=300, check=False)
        self.outputs.append(proc.stdout + proc.stderr)
        if check and proc.returncode != 0:
            raise AssertionError(f"make {' '.join(targets)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def doctl(self, *args: str) -> str:
        proc = subprocess.run(["doctl", *args], env=self.env, capture_output=True, text=True,
                              check=True)
        return proc.stdout

    # -- the simulated account -------------------------------------------------------------
    def bring_up(self, *names: str) -> None:
        """The named droplets get their addresses and sshd now (ending a NEVER_SECONDS delay)."""
        now = time.time()
        with standin_state.locked(self.sim / "account.json") as data:
            recs = [r for r in data["droplets"].values() if r["name"] in names]
            assert sorted(r["name"] for r in recs) == sorted(names), names
            for rec in recs:
                for key in ("ip_at", "sshd_at"):
                    if rec["sim"][key] is None or rec["sim"][key] > now:
                        rec["sim"][key] = now

    def account(self) -> dict[str, Any]:
        return json.loads((self.sim / "account.json").read_text())

    def droplets(self) -> dict[str, dict[str, Any]]:
        """Live droplets by name (a duplicate name fails the test)."""
        out: dict[str, dict[str, Any]] = {}
        for rec in self.account()["droplets"].values():
            assert rec["name"] not in out, f"duplicate droplet {rec['name']}"
            out[rec["name"]] = rec
        return out

    def calls(self, kind: str = "total") -> int:
        return int(self.account()["api_calls"].get(kind, 0))

    def root(self, name: str) -> Path:
        return Path(self.droplets()[name]["sim"]["root"])

    def node_files(self, name: str) -> dict[str, str]:
        """write_files of droplet NAME's user data as its kubelet reads them (current profile):
        the files kubelet.service's ExecStartPre names run through the fill-endpoints script of
        the same user data, with the EnvironmentFile the apply installed on the droplet."""
        config = yaml.safe_load((self.root(name) / "var/lib/dosim/user-data").read_text())
        files = {f["path"]: f.get("content", "") for f in config["write_files"]}
        unit = next(u for u in config["coreos"]["units"] if u["name"] == "kubelet.service")
        pre = re.search(r"^ExecStartPre=(\S+) (.*)$", unit["content"], re.M)
        assert pre, unit["content"]
        installed = dropletfs.resolve(self.root(name), "/etc/kubernetes/kubelet.env")
        env = dict(line.split("=", 1) for line in installed.read_text().splitlines()
                   if "=" in line and not line.startswith("#"))
        with tempfile.TemporaryDirectory() as tmp:
            script, paths = Path(tmp) / "fill-endpoints", pre[2].split()
            script.write_text(files[pre[1]])
            for n, path in enumerate(paths):
                (Path(tmp) / str(n)).write_text(files[path])
            subprocess.run(["bash", str(script), *(str(Path(tmp) / str(n))
                                                   for n in range(len(paths)))],
                           env={"PATH": os.environ["PATH"], **env}, check=True,
                           capture_output=True, text=True)
            for n, path in enumerate(paths):
                files[path] = (Path(tmp) / str(n)).read_text()
        return files

    def owner(self, name: str, path: str) -> str:
        """user:group the stand-in recorded for a droplet path (symlinks followed)."""
        return dropletfs.owner_of(self.root(name), path)

    def mode(self, name: str, path: str) -> int:
        return stat.S_IMODE((self.root(name) / path.lstrip("/")).stat().st_mode)

    def kube(self) -> dict[str, Any]:
        path = self.sim / "kubernetes.json"
        return json.loads(path.read_text()) if path.exists() else {"objects": {}, "calls": []}

    def settings(self) -> dict[str, str]:
        return {key: s.value for key, s in read_settings(self.cluster / "settings.env").items()}

    def status_layer(self, layer: str) -> dict[str, Any]:
        """LAYER of make status OUTPUT=json (whatever make status's exit: a failing layer is
        what a test looks at)."""
        report = json.loads(self.make("status", OUTPUT="json", check=False).stdout)
        return next(x for x in report["layers"] if x["layer"] == layer)  # type: ignore[no-any-return]

    def etcd3_keys(self, name: str) -> dict[str, str]:
        """The keys in member NAME's etcd v3 data dir (tests/standins/etcd3data)."""
        db = etcd3data.read_db(self.root(name))
        assert db is not None, name
        return db["keys"]  # type: ignore[no-any-return]


def static_pod_moves(apply: Apply, name: str, aside: str) -> list[tuple[float, str]]:
    """(time, "out"|"back") of each move of the apiserver's static pod manifest on droplet name
    into or out of the directory aside (the kubelet stops and starts the pod so)."""
    moves = []
    for entry in dropletfs.read_log(apply.root(name)):
        args = entry.get("args") or []
        if entry.get("cmd") == "mv" and any(str(a).endswith("kube-apiserver.yaml") for a in args) \
                and any(f"{aside}/" in str(a) for a in args):
            moves.append((entry["t"], "out" if str(args[-1]).endswith(f"{aside}/") else "back"))
    return moves


def unit_ops(apply: Apply, name: str, unit: str) -> list[tuple[float, str]]:
    """(time, verb) of each ``systemctl VERB UNIT`` an ssh session ran on droplet name."""
    return [(e["t"], str(e["args"][0])) for e in dropletfs.read_log(apply.root(name))
            if e.get("cmd") == "systemctl" and len(e.get("args") or []) >= 2
            and unit in {str(x) for x in e["args"][1:]}]


def squeezed(text: str) -> str:
    """Runs of spaces as one: the status summary pads its columns to the longest layer name."""
    return re.sub(" {2,}", " ", text)


def cert_sans(path: Path) -> set[str]:
    out = subprocess.run(["openssl", "x509", "-in", str(path), "-noout", "-ext",
                          "subjectAltName"], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()[1:]
    return {t.strip() for line in lines for t in line.split(",") if t.strip()}


def snapshot(*dirs: Path) -> dict[str, tuple[int, int]]:
    """(mtime_ns, size) of every file below dirs (symlinks not followed)."""
    out: dict[str, tuple[int, int]] = {}
    for base in dirs:
        for path in sorted(base.rglob("*")):
            if path.is_file() or path.is_symlink():
                st = path.lstat()
                out[str(path)] = (st.st_mtime_ns, st.st_size)
    return out


def files_containing(needle: str, *dirs: Path) -> list[Path]:
    hits = []
    for base in dirs:
        for path in base.rglob("*"):
            if path.is_file() and not path.is_symlink():
                try:
                    if needle.encode() in path.read_bytes():
                        hits.append(path)
                except OSError:
                    continue
    return hits


def kubectl(apply: Apply, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(["kubectl", "--kubeconfig", str(apply.cluster / "kubeconfig"), *args],
                          env=apply.env, input=stdin, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def guarded_deployment(replicas: int) -> str:
    """A Deployment with a PodDisruptionBudget that allows no disruption at all."""
    labels = {"app": "guarded"}
    return yaml.safe_dump_all([
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "guarded", "namespace": "default"},
         "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels},
                               "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
         "metadata": {"name": "guarded", "namespace": "default"},
         "spec": {"minAvailable": replicas, "selector": {"matchLabels": labels}}},
    ])
