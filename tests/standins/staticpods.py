"""``curl`` on a current-profile controller: the control plane's health endpoints as the
kubelet's probes ask them, ``curl [-fsSk] [-m SECONDS] https://127.0.0.1:PORT/healthz``.

A static pod serves on the ports its manifest probes (the ``port:`` of its httpGet probes: the
controller manager 10257, the scheduler 10259, the apiserver its secure port; kubeadm's
static pods probe the same, kubernetes cmd/kubeadm/app/phases/controlplane/manifests.go)
while its manifest is in the kubelet's directory, the kubelet runs (``systemctl stop
kubelet`` stops it) and its image can be pulled. Each component binds 127.0.0.1 and
answers anonymous ``/healthz``, ``/livez``, ``/readyz`` with ``ok`` (their
``--authorization-always-allow-paths`` default) from a self-signed certificate (no
``--tls-cert-file``): without ``-k`` curl refuses it, as the real one does. Anything else
(another host, other options) is not simulated and fails loudly.

Fault knob (tests): ``DOSIM_UNPULLABLE_IMAGES=GLOB[,GLOB...]`` (or ``config.unpullable_images``)
names images the registry does not serve: a static pod running one never starts (the kubelet
retries the pull, ImagePullBackOff) and its port refuses connections, until the knob is gone.

Stdlib only: the droplet's file operations run in a Python started without site-packages.
"""

from __future__ import annotations

import fnmatch
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from . import dropletfs, units
from . import state as st

if TYPE_CHECKING:
    from .rops import Session

KUBELET = "kubelet.service"
LOOPBACK = ("127.0.0.1", "localhost")
ANONYMOUS_PATHS = ("/healthz", "/livez", "/readyz")
_FLAGS = {"-f": "fail", "--fail": "fail", "-s": "silent", "--silent": "silent",
          "-S": "show-error", "--show-error": "show-error", "-k": "insecure",
          "--insecure": "insecure"}
_WITH_VALUE = ("-m", "--max-time")


def _image(text: str) -> str:
    match = re.search(r"^\s*(?:-\s+)?image:\s*(\S+)\s*$", text, re.MULTILINE)
    return match[1] if match else ""


def unpullable(image: str) -> bool:
    with st.locked(write=False) as data:
        globs = st.knob(data, "unpullable_images", "", str)
    return any(fnmatch.fnmatchcase(image, g.strip()) for g in globs.split(",") if g.strip())


def listener(root: Path, port: int) -> str | None:
    """The static pod serving ``port`` on the droplet at ``root`` (None: the port refuses)."""
    if units.stopped(root, KUBELET):
        return None
    pods = dropletfs.resolve(root, dropletfs.STATIC_POD_DIR)
    for manifest in sorted(pods.glob("*.yaml")) if pods.is_dir() else []:
        text = manifest.read_text()
        if str(port) not in re.findall(r"^\s*port:\s*(\d+)\s*$", text, re.MULTILINE):
            continue
        return None if unpullable(_image(text)) else manifest.stem
    return None


def _parse(args: list[str]) -> tuple[set[str], str]:
    """(flags, url); ValueError names what is not simulated."""
    flags: set[str] = set()
    urls: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg in _WITH_VALUE:
            if i >= len(args) or not args[i].replace(".", "", 1).isdigit():
                raise ValueError(f"option {arg}: expected a number of seconds")
            i += 1
        elif arg.startswith("--") and arg in _FLAGS:
            flags.add(_FLAGS[arg])
        elif arg.startswith("-") and not arg.startswith("--") and len(arg) > 1 and \
                all(f"-{c}" in _FLAGS for c in arg[1:]):
            flags.update(_FLAGS[f"-{c}"] for c in arg[1:])
        elif arg.startswith("-"):
            raise ValueError(f"option {arg}")
        else:
            urls.append(arg)
    if len(urls) != 1:
        raise ValueError(f"{len(urls)} URLs (one is)")
    return flags, urls[0]


def op_curl(s: Session, args: list[str]) -> int:
    try:
        flags, url = _parse(args)
        parts = urlsplit(url)
        if parts.hostname not in LOOPBACK or parts.port is None:
            raise ValueError(f"{url}: only https://127.0.0.1:PORT/PATH (the probes' address)")
    except ValueError as exc:
        sys.stderr.write(f"curl: {exc} (dosim: not simulated by the ssh stand-in)\n")
        return 2
    quiet = "silent" in flags and "show-error" not in flags

    def fail(code: int, message: str) -> int:
        if not quiet:
            sys.stderr.write(f"curl: ({code}) {message}\n")
        return code

    if listener(s.root, parts.port) is None:
        return fail(7, f"Failed to connect to {parts.hostname} port {parts.port} after 0 ms: "
                       "Couldn't connect to server")
    if parts.scheme != "https":  # Go's TLS server answers plain HTTP so
        if "fail" in flags:
            return fail(22, "The requested URL returned error: 400")
        print("Client sent an HTTP request to an HTTPS server.")
        return 0
    if "insecure" not in flags:
        return fail(60, "SSL certificate problem: self-signed certificate in certificate chain")
    path = parts.path or "/"
    if path not in ANONYMOUS_PATHS:
        if "fail" in flags:
            return fail(22, "The requested URL returned error: 403")
        print(f'{{"kind":"Status","apiVersion":"v1","status":"Failure","message":"forbidden: '
              f'User \\"system:anonymous\\" cannot get path \\"{path}\\"","reason":"Forbidden",'
              f'"code":403}}')
        return 0
    sys.stdout.write("ok")  # the health endpoints print "ok" without a newline
    return 0
