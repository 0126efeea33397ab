"""A worker's real kubelet registering with a real apiserver, each from the cluster repo's user
data, inside network, mount and PID namespaces of their own (the kubelet changes host
settings: it must never run in the machine's own namespaces).

Run by the tests as
    unshare --net --mount --pid --fork --kill-child python -m tests.k8s.workernode ARGS.json
The namespaces die with this process, and everything started in them with it. Inside:
loopback up, /proc/sys and /sys/fs/cgroup bound read-only (global sysctls and cgroups cannot
change), the controller's etcd + apiserver with addresses and ports as written, then the
kubelet with the worker unit's ExecStart; host paths (its TLS directory, manifest directory,
kubeconfig, root dir) live under a scratch root. Prints one JSON object: the node as the
apiserver registered it, the kubelet's rewrites, its log tail.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.error import URLError

from tests.k8s import binaries
from tests.k8s.controlplane import ControlPlane, NotReady, Rewriter
from tests.k8s.userdata import (
    ControllerSpec,
    cloudinit_text,
    unit_commands,
    unit_content,
    unit_exec_start,
)


def isolate() -> None:
    """Loopback up; global kernel settings and cgroups read-only for everything in here."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for path in ("/proc/sys", "/sys/fs/cgroup"):
        subprocess.run(["mount", "--bind", path, path], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", path], check=True)


def install_worker_files(config: dict[str, Any], root: Path, ssl_dir: str, cert: Path,
                         key: Path, ca: Path) -> None:
    """write_files under root (their paths moved there too), and the TLS assets as the apply
    installs them: worker-NN files plus the generic worker.pem/worker-key.pem links."""
    for entry in config.get("write_files", []):
        target = root / entry["path"].lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(entry["content"].replace(ssl_dir, f"{root}{ssl_dir}"))
    ssl = root / ssl_dir.lstrip("/")
    ssl.mkdir(parents=True, exist_ok=True)
    for source in (cert, key, ca):
        (ssl / source.name).write_bytes(source.read_bytes())
    (ssl / "worker.pem").symlink_to(ssl / cert.name)
    (ssl / "worker-key.pem").symlink_to(ssl / key.name)


def _move_paths(word: str, paths: set[str], root: Path) -> str:
    """Host paths inside a command word (bash -c "mkdir -p ...") moved under root."""
    for path in sorted(paths, key=len, reverse=True):
        word = re.sub(rf"(?<![\w/]){re.escape(path)}(?=[/\s\"']|$)", f"{root}{path}", word)
    return word


def main(args_file: str) -> int:
    args = json.loads(Path(args_file).read_text())
    work = Path(args["work"])
    isolate()
    spec = ControllerSpec.from_user_data(Path(args["controller_user_data"]).read_text(),
                                         args["controller_public_ip"],
                                         args["controller_private_ip"])
    plane = ControlPlane(spec, Rewriter(None, {}, {args["ssl_dir"]: args["controller_ssl"]},
                                        advertise=args["advertise"]),
                         work / "controller", int(args["etcd_port"]))
    worker = cloudinit_text(Path(args["worker_user_data"]).read_text(),
                            args["worker_public_ip"], args["worker_private_ip"])
    root = work / "worker-root"
    install_worker_files(worker, root, args["ssl_dir"], Path(args["cert"]), Path(args["key"]),
                         Path(args["ca"]))
    unit = unit_content(worker, "kube-kubelet.service")
    command = unit_exec_start(unit)
    # every absolute path the kubelet is given lives under the scratch root
    paths = {arg.split("=", 1)[1] for arg in command[1:]
             if "=" in arg and arg.split("=", 1)[1].startswith("/")} | {args["ssl_dir"]}
    kubelet = Rewriter(None, {}, {path: f"{root}{path}" for path in paths})
    argv = kubelet.command(command, str(binaries.binary("kubelet")))
    argv.append(f"--root-dir={root}/var/lib/kubelet")
    result: dict[str, Any] = {"kubelet": argv, "rewrites": kubelet.rewrites, "node": None,
                              "exec_start_pre": []}
    for ignore, pre in unit_commands(unit, "ExecStartPre"):
        if Path(pre[0]).name == "curl":  # a download (_kubelet_source=download): not here
            continue
        moved = [_move_paths(word, paths, root) for word in pre]
        done = subprocess.run(moved, capture_output=True, text=True, check=False)
        result["exec_start_pre"].append({"argv": moved, "status": done.returncode})
        if done.returncode and not ignore:
            result["error"] = f"ExecStartPre {moved} failed: {done.stderr}"
            print(json.dumps(result))
            return 0
    try:
        plane.start_apiserver()
        proc = plane.processes.start("kubelet", argv)
        deadline = time.monotonic() + float(args.get("timeout", 60))
        name = args["worker_public_ip"]
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                result["node"] = plane.api("GET", f"/api/v1/nodes/{name}")
                break
            except (URLError, OSError):
                time.sleep(0.2)
        result["kubelet_exit"] = proc.poll()
    except NotReady as error:
        result["error"] = str(error)
    finally:
        result["kubelet_log"] = plane.processes.log("kubelet")[-3000:]
        plane.stop()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
