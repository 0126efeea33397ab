"""The curl stand-in both clusters share: ``curl [-fsS] [--max-time N] [-o FILE] URL`` against
a node's NodePort. The cluster module says what answers at (host, port, path); the rest (the
command line, names never resolved, anything but a documentation address refused, ``-o``)
is curl's, the same for both."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from apiserver import documentation_address
from core import KubectlError

# (host, port, path) -> the body the backing pod answers, or None (connection refused); it
# may raise KubectlError(message, curl's exit code)
Backend = Callable[[str, int, str], "str | None"]


def curl(argv: list[str], backend: Backend) -> tuple[int, str, str]:
    url = ""
    out_file = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg in ("-f", "-s", "-S", "-fsS", "-sS", "-fs", "-sf"):
            continue
        if arg in ("--max-time", "-m", "-o"):
            if i >= len(argv):
                return 2, "", f"curl: option {arg}: requires parameter\n"
            if arg == "-o":
                out_file = argv[i]
            i += 1
            continue
        if arg.startswith("-"):
            return 2, "", f"curl: option {arg}: is unknown (fake curl)\n"
        url = arg
    parsed = urlparse(url)
    host, port = parsed.hostname or "", parsed.port or 80
    if not host.replace(".", "").isdigit():
        return 6, "", f"curl: (6) Could not resolve host: {host} (fake curl resolves nothing)\n"
    if not documentation_address(host):
        return 7, "", (f"curl: (7) Failed to connect to {host} port {port}: fake curl only "
                       "answers for documentation addresses (tests never leave loopback)\n")
    try:
        body = backend(host, port, parsed.path)
    except KubectlError as exc:
        return exc.code, "", f"{exc}\n"
    if body is None:
        return 7, "", f"curl: (7) Failed to connect to {host} port {port}: Connection refused\n"
    if out_file and out_file != "-":
        Path(out_file).write_text(body)
        return 0, "", ""
    return 0, body, ""
