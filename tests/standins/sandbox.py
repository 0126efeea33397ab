"""Run a remote command string with bash, with every file command mapped into the droplet.

bash runs with ``set -f`` (globs are expanded by the stand-in, inside the droplet), an empty
PATH (a command the stand-in does not simulate is "not found" and makes the session fail),
HOME inside the droplet, and functions for sudo, cd and the simulated file commands.  Host
paths can still be reached by redirections or absolute command paths; those are refused up
front rather than run.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from . import dropletfs as fs
from . import rops

SIMULATED = ("mkdir", "mv", "cp", "chown", "chmod", "ln", "rm", "cat", "ls", "install", "tee",
             "touch", "test", "etcdctl", "systemctl", "tar", "sha256sum", "update_engine_client",
             "reboot", "curl")
REPO = Path(__file__).resolve().parents[2]
# Programs the current profile's user data installs into /opt/bin, run by their path (sudo's
# secure_path need not name /opt/bin): simulated, not refused as host paths.
DROPLET_PROGRAMS = {"/opt/bin/etcdctl": "etcdctl3", "/opt/bin/etcdutl": "etcdutl"}

PRELUDE = r"""
set -f
# A command that reads stdin (tee, cat without files) runs as its own process; every other one
# is served in-process by the session's op server over loopback (see OpServer), which spares
# the ~40 ms a Python start costs, so many droplets installed at once stay cheap to simulate.
_dosim_op_process() { "$DOSIM_PY" -S -m tests.standins.rops "$@"; }  # stdlib only: skip site
_dosim_op() {
  case "$1 ${*:2} " in
    "tee "* | "cat  " | "cat "*" - "*) _dosim_op_process "$@"; return ;;
    "tar "*) _dosim_op_process "$@"; return ;;  # binary output
  esac
  local LC_ALL=C fd rc outlen errlen out="" err=""
  exec {fd}<>"/dev/tcp/127.0.0.1/$DOSIM_OP_PORT" || return 70
  printf '%s\0' "$#" "$PWD" "${DOSIM_AS_ROOT:-}" "$@" >&"$fd"
  read -r rc outlen errlen <&"$fd"
  if ((outlen > 0)); then IFS= read -r -d '' -N "$outlen" out <&"$fd"; fi
  if ((errlen > 0)); then IFS= read -r -d '' -N "$errlen" err <&"$fd"; fi
  exec {fd}>&-
  printf '%s' "$out"
  printf '%s' "$err" >&2
  return "$rc"
}
_dosim_unsupported() {
  printf 'dosim-ssh: %s: not simulated on droplet %s\n' "$1" "$DOSIM_DROPLET_NAME" >&2
  printf '%s\n' "$1" >> "$DOSIM_UNSUPPORTED_FILE"
}
for _dosim_c in __SIMULATED__; do eval "$_dosim_c() { _dosim_op $_dosim_c \"\$@\"; }"; done
__PROGRAMS__
unset _dosim_c
[() { _dosim_op '[' "$@"; }
cd() { local _dosim_t; _dosim_t="$(_dosim_op mappath "$@")" || return 1; builtin cd "$_dosim_t"; }
sudo() {
  while [[ "$1" == -* ]]; do
    case "$1" in
      -E|-H|-n|-S) shift ;;
      -u) if [[ "$2" != root ]]; then _dosim_unsupported "sudo -u $2"; return 1; fi; shift 2 ;;
      --) shift; break ;;
      *) _dosim_unsupported "sudo $1"; return 1 ;;
    esac
  done
  local DOSIM_AS_ROOT=1; export DOSIM_AS_ROOT
  "$@"
}
command_not_found_handle() {
  if [[ ",$DOSIM_SSH_ALLOW," == *",$1,"* ]]; then _dosim_op noop "$@"; return $?; fi
  _dosim_unsupported "$1"
  return 127
}
""".replace("__SIMULATED__", " ".join(SIMULATED)).replace("__PROGRAMS__", "\n".join(
    f'{path}() {{ _dosim_op {op} "$@"; }}' for path, op in DROPLET_PROGRAMS.items()))

_REDIRECT = re.compile(r"(?<![<>&])(?:\d*>>?|&>>?|<)\|?\s*(/[^\s;|&)]*)")
_ABS_COMMAND = re.compile(
    r"(?:^|[;&|(`]|\$\(|\b(?:sudo|then|do|else|exec|command)\s)\s*(/[\w./+-]+)", re.MULTILINE)
_SAFE_DEVICES = ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/zero")


def refuse_reason(script: str) -> str | None:
    """Constructs that would touch the host file system despite the sandbox."""
    for m in _REDIRECT.finditer(script):
        if m.group(1) not in _SAFE_DEVICES:
            return f"redirection to the absolute path {m.group(1)} (use 'sudo tee' instead)"
    for m in _ABS_COMMAND.finditer(script):
        if m.group(1) not in DROPLET_PROGRAMS:
            return f"absolute command path {m.group(1)}"
    return None


class OpServer:
    """Serves the file commands of one ssh session on 127.0.0.1 (an ephemeral port, closed
    with the session). A request is NUL-separated: argc, bash's $PWD, the sudo flag, argv;
    the answer is "rc outlen errlen\n" followed by the command's stdout and stderr."""

    def __init__(self, root: Path, user: str, session_id: str) -> None:
        self.root, self.user, self.session_id = root, user, session_id
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        # One command at a time: rops writes to sys.stdout/sys.stderr, which are per process.
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self) -> None:
        # shutdown, unlike close, wakes the accept() blocked in the serving thread
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(timeout=5)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed: the session is over
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            fields = _read_request(conn)
            if fields is None:
                return
            cwd, sudo, argv = fields[0], fields[1] == "1", fields[2:]
            session = rops.Session.at(self.root, self.user, sudo, Path(cwd), self.session_id)
            out, err = io.BytesIO(), io.BytesIO()
            stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
            stderr = io.TextIOWrapper(err, encoding="utf-8", write_through=True)
            with self.lock, redirect_stdout(stdout), redirect_stderr(stderr):
                rc = rops.run(session, argv)
            data_out, data_err = out.getvalue(), err.getvalue()
            if b"\0" in data_out:  # bash's read drops NUL bytes: fail rather than corrupt
                data_out, rc = b"", 2
                data_err += f"{argv[0]}: binary output is not simulated over ssh\n".encode()
            conn.sendall(f"{rc} {len(data_out)} {len(data_err)}\n".encode() + data_out + data_err)


def _read_request(conn: socket.socket) -> list[str] | None:
    buffer = b""
    while True:
        parts = buffer.split(b"\0")
        if len(parts) > 1 and parts[0].isdigit() and len(parts) - 1 >= int(parts[0]) + 2:
            return [part.decode() for part in parts[1 : int(parts[0]) + 3]]
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buffer += chunk


def run(root: Path, user: str, name: str, script: str, *, script_on_stdin: bool) -> int:
    reason = refuse_reason(script)
    if reason:
        sys.stderr.write(f"dosim-ssh: refusing to run on {name}: {reason}; the stand-in "
                         "cannot keep that inside the droplet\n")
        return 2
    bash = shutil.which("bash") or "/bin/bash"
    home = fs.resolve(root, "/root" if user == "root" else f"/home/{user}")
    home.mkdir(parents=True, exist_ok=True)
    session = os.urandom(6).hex()
    fs.log(root, {"kind": "session", "session": session, "user": user, "script": script,
                  "script_on_stdin": script_on_stdin})
    with tempfile.TemporaryDirectory(prefix="dosim-ssh-") as tmp:
        empty_path = Path(tmp) / "no-commands"
        empty_path.mkdir()
        unsupported = Path(tmp) / "unsupported"
        unsupported.touch()
        program = Path(tmp) / "session.sh"
        program.write_text(PRELUDE + "\n" + script + "\n")
        env = {
            "PATH": str(empty_path), "HOME": str(home), "USER": user, "LOGNAME": user,
            "SHELL": "/bin/bash", "LANG": "C.UTF-8", "TMPDIR": str(root / "tmp"),
            "PYTHONPATH": str(REPO), "DOSIM_PY": sys.executable,
            "DOSIM_DROPLET_ROOT": str(root), "DOSIM_DROPLET_NAME": name,
            "DOSIM_REMOTE_USER": user, "DOSIM_UNSUPPORTED_FILE": str(unsupported),
            "DOSIM_SESSION": session, "DOSIM_SSH_ALLOW": os.environ.get("DOSIM_SSH_ALLOW", ""),
        }
        if user == "root":
            env["DOSIM_AS_ROOT"] = "1"
        stdin = subprocess.DEVNULL if script_on_stdin else None
        server = OpServer(root, user, session)
        env["DOSIM_OP_PORT"] = str(server.port)
        try:
            proc = subprocess.run([bash, "--noprofile", "--norc", str(program)], cwd=home,
                                  env=env, stdin=stdin, check=False)
        finally:
            server.close()
        missing = [line for line in unsupported.read_text().splitlines() if line]
    rc = proc.returncode
    if missing and rc == 0:
        rc = 127  # never let a skipped command pass as success
    fs.log(root, {"kind": "session-end", "session": session, "rc": rc, "unsupported": missing})
    return rc
