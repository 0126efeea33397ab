"""Run a remote command string with bash, with every file command mapped into the droplet.

bash runs with ``set -f`` (globs are expanded by the stand-in, inside the droplet), an empty
PATH (a command the stand-in does not simulate is "not found" and makes the session fail),
HOME inside the droplet, and functions for sudo, cd and the simulated file commands.  Host
paths can still be reached by redirections or absolute command paths; those are refused up
front rather than run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from . import dropletfs as fs

SIMULATED = ("mkdir", "mv", "cp", "chown", "chmod", "ln", "rm", "cat", "ls", "install", "tee",
             "touch", "test")
REPO = Path(__file__).resolve().parents[2]

PRELUDE = r"""
set -f
_dosim_op() { "$DOSIM_PY" -S -m tests.standins.rops "$@"; }  # stdlib only: skip site
_dosim_unsupported() {
  printf 'dosim-ssh: %s: not simulated on droplet %s\n' "$1" "$DOSIM_DROPLET_NAME" >&2
  printf '%s\n' "$1" >> "$DOSIM_UNSUPPORTED_FILE"
}
for _dosim_c in __SIMULATED__; do eval "$_dosim_c() { _dosim_op $_dosim_c \"\$@\"; }"; done
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
""".replace("__SIMULATED__", " ".join(SIMULATED))

_REDIRECT = re.compile(r"(?<![<>&])(?:\d*>>?|&>>?|<)\|?\s*(/[^\s;|&)]*)")
_ABS_COMMAND = re.compile(
    r"(?:^|[;&|(`]|\$\(|\b(?:sudo|then|do|else|exec|command)\s)\s*(/[\w./+-]+)", re.MULTILINE)
_SAFE_DEVICES = ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/zero")


def refuse_reason(script: str) -> str | None:
    """Constructs that would touch the host file system despite the sandbox."""
    for m in _REDIRECT.finditer(script):
        if m.group(1) not in _SAFE_DEVICES:
            return f"redirection to the absolute path {m.group(1)} (use 'sudo tee' instead)"
    m = _ABS_COMMAND.search(script)
    if m:
        return f"absolute command path {m.group(1)}"
    return None


def run(root: Path, user: str, name: str, script: str, *, script_on_stdin: bool) -> int:
    reason = refuse_reason(script)
    if reason:
        sys.stderr.write(f"dosim-ssh: refusing to run on {name}: {reason}; the stand-in "
                         "cannot keep that inside the droplet\n")
        return 2
    bash = shutil.which("bash") or "/bin/bash"
    home = fs.resolve(root, "/root" if user == "root" else f"/home/{user}")
    home.mkdir(parents=True, exist_ok=True)
    session = uuid.uuid4().hex[:12]
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
        proc = subprocess.run([bash, "--noprofile", "--norc", str(program)], cwd=home, env=env,
                              stdin=stdin, check=False)
        missing = [line for line in unsupported.read_text().splitlines() if line]
    rc = proc.returncode
    if missing and rc == 0:
        rc = 127  # never let a skipped command pass as success
    fs.log(root, {"kind": "session-end", "session": session, "rc": rc, "unsupported": missing})
    return rc
