"""What a pod's shell and a NodePort answer, for `kubectl exec` and `curl` in the smoke test:
decided from the REAL apiserver's objects (read with the real kubectl 1.1.2), since nothing
here runs the busybox or inspector containers or kube-proxy.

- `kubectl exec POD -- nslookup NAME`: answers as busybox's nslookup through kube-dns would:
  only if POD is Running, the kube-dns Service exists and has ready endpoints, and NAME
  (`svc`, `svc.ns`, `svc.ns.svc.DOMAIN`) is a Service; the address is that Service's clusterIP.
- `curl [-fsS] [--max-time N] [-o FILE] http://NODE:PORT/PATH`: answers only if NODE is a
  registered node's address and PORT the nodePort of a Service with ready endpoints. Anything
  but a documentation address is refused: nothing leaves this machine.
Every other kubectl command runs the real kubectl 1.1.2.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tests.k8s import binaries

DOC_NETS = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24",
                                               "203.0.113.0/24")]


class Refused(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def real_kubectl(kubeconfig: str, *args: str) -> Any:
    out = subprocess.run([str(binaries.binary("kubectl")), "--kubeconfig", kubeconfig, *args,
                          "-o", "json"], capture_output=True, text=True, timeout=60, check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def _ready_addresses(kubeconfig: str, namespace: str, name: str) -> list[str]:
    endpoints = real_kubectl(kubeconfig, "get", "endpoints", name, f"--namespace={namespace}")
    return [a["ip"] for s in (endpoints or {}).get("subsets") or [] for a in s.get("addresses")
            or []]


def nslookup(kubeconfig: str, namespace: str, pod: str, target: str) -> str:
    found = real_kubectl(kubeconfig, "get", "pod", pod, f"--namespace={namespace}")
    if found is None:
        raise Refused(f'Error from server: pods "{pod}" not found')
    phase = found.get("status", {}).get("phase")
    if phase != "Running":
        raise Refused(f"error: pod {pod} is not running and cannot execute commands; "
                      f"current phase is {phase}")
    dns = real_kubectl(kubeconfig, "get", "service", "kube-dns", "--namespace=kube-system")
    if dns is None or not _ready_addresses(kubeconfig, "kube-system", "kube-dns"):
        raise Refused(f"Server:    (null)\nnslookup: can't resolve '{target}'\n"
                      "error: error executing remote command: Error executing command in "
                      "container: non-zero (1) exit code")
    server = dns["spec"]["clusterIP"]
    labels = target.split(".")
    svc, ns = labels[0], labels[1] if len(labels) > 1 else namespace
    service = real_kubectl(kubeconfig, "get", "service", svc, f"--namespace={ns}")
    if service is None:
        raise Refused(f"Server:    {server}\nAddress 1: {server}\n\n"
                      f"nslookup: can't resolve '{target}'")
    return (f"Server:    {server}\nAddress 1: {server}\n\n"
            f"Name:      {target}\nAddress 1: {service['spec']['clusterIP']}\n")


def kubectl_main(argv: list[str]) -> int:
    if "exec" not in argv:
        kubectl = str(binaries.binary("kubectl"))
        os.execv(kubectl, [kubectl, *argv])
    kubeconfig, namespace, rest = "", "default", list(argv)
    for flag in ("--kubeconfig", "--namespace"):
        if flag in rest:
            i = rest.index(flag)
            value = rest[i + 1]
            del rest[i:i + 2]
            kubeconfig, namespace = (value, namespace) if flag == "--kubeconfig" else (
                kubeconfig, value)
    try:
        if rest[:1] != ["exec"] or "--" not in rest or rest[rest.index("--") + 1:][:1] != [
                "nslookup"] or len(rest) != 5:
            raise Refused("error: the node runtime stand-in runs only "
                          "`kubectl exec POD -- nslookup NAME`")
        sys.stdout.write(nslookup(kubeconfig, namespace, rest[1], rest[4]))
        return 0
    except Refused as error:
        sys.stderr.write(f"{error}\n")
        return error.code


def curl_main(argv: list[str]) -> int:
    url, out_file, i = "", None, 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg in ("--max-time", "-m", "-o"):
            if arg == "-o":
                out_file = argv[i]
            i += 1
        elif arg.startswith("-"):
            if set(arg[1:]) - set("fsS"):
                sys.stderr.write(f"curl: option {arg}: is unknown (node runtime stand-in)\n")
                return 2
        else:
            url = arg
    parsed = urlparse(url)
    host, port = parsed.hostname or "", parsed.port or 80
    try:
        if not any(ipaddress.ip_address(host) in net for net in DOC_NETS):
            raise ValueError
    except ValueError:
        sys.stderr.write(f"curl: (7) Failed to connect to {host} port {port}: the stand-in "
                         "answers only for documentation addresses (nothing leaves loopback)\n")
        return 7
    kubeconfig = os.environ["K8S_RUNTIME_KUBECONFIG"]
    nodes = real_kubectl(kubeconfig, "get", "nodes") or {"items": []}
    known = {a["address"] for n in nodes["items"] for a in n["status"].get("addresses", [])}
    services = real_kubectl(kubeconfig, "get", "services", "--all-namespaces") or {"items": []}
    for svc in services["items"] if host in known else []:
        if any(p.get("nodePort") == port for p in svc["spec"].get("ports", [])):
            meta = svc["metadata"]
            backends = _ready_addresses(kubeconfig, meta["namespace"], meta["name"])
            if backends:
                body = json.dumps({"service": meta["name"], "pod_ip": backends[0],
                                   "path": parsed.path}) + "\n"
                if out_file and out_file != "-":
                    Path(out_file).write_text(body)
                else:
                    sys.stdout.write(body)
                return 0
    sys.stderr.write(f"curl: (7) Failed to connect to {host} port {port}: Connection refused\n")
    return 7
