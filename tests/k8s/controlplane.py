"""The controller's control plane run from the cluster repo's own files, on this machine.

What runs is what the controller droplet would run: the kube-apiserver, kube-scheduler and
kube-controller-manager commands of the pod manifests that the controller's user data writes
(write_files), with cloud-init's $public_ipv4/$private_ipv4 filled in, and the
create-kube-system-ns unit's curl. etcd 3.4 (v2 API) stands for the node's etcd2 proxy.
Only what one machine forces is rewritten, and each rewrite is recorded (`rewrites`):
ports (when `ports` maps them to free ones), listen addresses (`bind`), the advertised address
(the apiserver refuses a loopback one) and host paths (the droplet's TLS directory). In a
network namespace of its own (the rehearsal) addresses and ports stay as written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.k8s import binaries
from tests.k8s.userdata import ControllerSpec, Probe

_LOCAL_URL = re.compile(r"(?P<scheme>https?)://(?P<host>127\.0\.0\.1|localhost|0\.0\.0\.0)"
                        r":(?P<port>\d+)")


@dataclass
class Rewriter:
    """Rewrites what one machine forces and records each change as (before, after)."""

    bind: str | None  # None: listen where the files say (a private network namespace)
    ports: Mapping[int, int]
    host_paths: Mapping[str, str]
    advertise: str | None = None
    rewrites: list[tuple[str, str]] = field(default_factory=list)

    def port(self, port: int) -> int:
        return self.ports.get(port, port)

    def value(self, value: str) -> str:
        for droplet_path, local in self.host_paths.items():
            if value == droplet_path or value.startswith(droplet_path + "/"):
                value = local + value[len(droplet_path):]
        return _LOCAL_URL.sub(
            lambda m: f"{m['scheme']}://{self.bind or m['host']}:{self.port(int(m['port']))}",
            value)

    def arg(self, arg: str) -> str:
        name, eq, value = arg.partition("=")
        if not eq:
            new = self.value(arg)
        elif name.replace("_", "-") in ("--bind-address", "--address") and self.bind:
            new = f"{name}={self.bind}"
        elif name.replace("_", "-") in ("--secure-port", "--port"):
            new = f"{name}={self.port(int(value))}"
        elif name == "--advertise-address" and self.advertise:
            new = f"{name}={self.advertise}"
        else:
            new = f"{name}={self.value(value)}"
        if new != arg:
            self.rewrites.append((arg, new))
        return new

    def command(self, argv: list[str], binary: str) -> list[str]:
        """argv[0] (the image's entrypoint name) becomes the real binary's path."""
        return [binary] + [self.arg(a) for a in argv[1:]]


class Processes:
    """Server processes, each in its own session, logging to LOGS/NAME.log; stopped in reverse."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], env: Mapping[str, str] | None = None,
              ) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{name}.log").open("wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    env=dict(env) if env is not None else None)
        self.started.append((name, proc))
        return proc

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_all(self) -> None:
        for _, proc in reversed(self.started):
            stop_process(proc)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """terminate, wait up to timeout, then kill."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class NotReady(RuntimeError):
    """A component exited or never answered; the message carries its log."""


def wait_http(url: str, alive: Callable[[], bool], log: Callable[[], str],
              timeout: float = 60) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        if not alive():
            raise NotReady(f"exited before {url} answered:\n{log()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
                return bytes(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise NotReady(f"{url} never answered:\n{log()[-4000:]}") from None
            time.sleep(0.1)


@dataclass
class ControlPlane:
    """etcd + kube-apiserver + kube-scheduler + kube-controller-manager of one controller."""

    spec: ControllerSpec
    rewriter: Rewriter
    work: Path
    etcd_port: int
    processes: Processes = field(init=False)

    def __post_init__(self) -> None:
        self.processes = Processes(self.work / "logs")

    # -- where things answer ------------------------------------------------------------------
    @property
    def host(self) -> str:
        """Where the node-local listeners (etcd proxy, insecure port, probes) answer."""
        return self.rewriter.bind or "127.0.0.1"

    @property
    def local_url(self) -> str:
        return f"http://{self.host}:{self.rewriter.port(self.spec.local_port)}"

    @property
    def secure_port(self) -> int:
        return self.rewriter.port(self.spec.secure_port)

    def probe_url(self, probe: Probe) -> str:
        return f"http://{self.host}:{self.rewriter.port(probe.port)}{probe.path}"

    # -- starting -------------------------------------------------------------------------------
    def start_etcd(self) -> None:
        url = f"http://{self.host}:{self.rewriter.port(self.etcd_port)}"
        env = {"PATH": os.environ["PATH"], "ETCD_DATA_DIR": str(self.work / "etcd"),
               "ETCD_LISTEN_CLIENT_URLS": url, "ETCD_ADVERTISE_CLIENT_URLS": url,
               "ETCD_LISTEN_PEER_URLS": f"http://{self.host}:0",
               "ETCD_ENABLE_V2": "true"}
        machine = os.uname().machine
        if machine not in ("x86_64", "amd64"):
            env["ETCD_UNSUPPORTED_ARCH"] = {"aarch64": "arm64"}.get(machine, machine)
        etcd = shutil.which("etcd")
        if etcd is None:
            raise NotReady("etcd is not installed (Debian package etcd-server)")
        proc = self.processes.start("etcd", [etcd], env)
        wait_http(f"{url}/version", lambda: proc.poll() is None, lambda: self.processes.log("etcd"))

    def start_component(self, name: str, argv: list[str], ready_url: str,
                        extra: list[str] | None = None) -> None:
        command = self.rewriter.command(argv, str(binaries.binary(name))) + (extra or [])
        proc = self.processes.start(name, command)
        wait_http(ready_url, lambda: proc.poll() is None, lambda: self.processes.log(name))

    def start_apiserver(self) -> None:
        """etcd (the node's proxy), the apiserver, and the unit that makes kube-system."""
        self.start_etcd()
        spec, rw = self.spec, self.rewriter
        # 1.1's insecure port is a default (8080 on 127.0.0.1): a remapped port must be said
        insecure = ([f"--insecure-port={rw.port(spec.local_port)}"]
                    if rw.port(spec.local_port) != spec.local_port else [])
        self.start_component("kube-apiserver", spec.apiserver, f"{self.local_url}/healthz",
                             insecure)
        self.create_kube_system()

    def start(self) -> None:
        """Everything, in the order the controller's units bring it up."""
        self.start_apiserver()
        spec, rw = self.spec, self.rewriter
        for name, argv, probe in (
                ("kube-scheduler", spec.scheduler, spec.scheduler_probe),
                ("kube-controller-manager", spec.controller_manager,
                 spec.controller_manager_probe)):
            port = [f"--port={rw.port(probe.port)}"] if rw.port(probe.port) != probe.port else []
            self.start_component(name, argv, self.probe_url(probe), port)

    def create_kube_system(self) -> subprocess.CompletedProcess[str]:
        """The create-kube-system-ns unit's ExecStart (its /usr/bin/curl, where this machine has
        one at that path)."""
        written = self.spec.kube_system_ns[0]
        curl = written if Path(written).is_file() else shutil.which("curl") or "curl"
        argv = self.rewriter.command(self.spec.kube_system_ns, curl)
        self.kube_system_result = subprocess.run(argv, capture_output=True, text=True,
                                                 timeout=60, check=False)
        return self.kube_system_result

    def stop(self) -> None:
        self.processes.stop_all()

    # -- the API, as the node-side pieces see it -------------------------------------------------
    def api(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.local_url}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return json.loads(response.read() or b"null")


def main(argv: list[str]) -> int:
    """Run a controller's control plane until SIGTERM (the rehearsal's use):
    controlplane USER_DATA SSL_DIR DROPLET_SSL_DIR WORK PUBLIC_IP PRIVATE_IP ETCD_PORT
    [NODE_RUNTIME_ARGS...], inside a network namespace holding PUBLIC_IP: addresses and ports
    as written, only the TLS directory mapped. Writes WORK/ready once everything answers."""
    user_data, ssl_dir, droplet_ssl, work, public, private, etcd_port = argv[:7]
    spec = ControllerSpec.from_user_data(Path(user_data).read_text(), public, private)
    rewriter = Rewriter(bind=None, ports={}, host_paths={droplet_ssl: ssl_dir})
    plane = ControlPlane(spec, rewriter, Path(work), int(etcd_port))
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    try:
        plane.start()
        from tests.k8s.runtime import NodeRuntime  # the node side, only when asked for
        runtime = NodeRuntime.from_args(plane, argv[7:]) if argv[7:] else None
        (Path(work) / "ready").write_text(json.dumps({
            "apiserver": f"https://{public}:{plane.secure_port}", "local": plane.local_url,
            "rewrites": rewriter.rewrites}) + "\n")
        while not stopping:
            if runtime:
                try:
                    runtime.sync()
                except OSError as error:  # a conflict with the node controller: next round
                    print(f"node runtime stand-in: {error}", file=sys.stderr)
            time.sleep(0.5)
    except NotReady as error:
        print(f"control plane: {error}", file=sys.stderr)
        return 1
    finally:
        plane.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
