"""What ssh and scp share: OpenSSH option parsing, reaching a droplet, host keys, auth.

Nothing opens a socket: "connecting" means finding the live droplet whose public IPv4 is
visible in the simulated account right now.
"""

from __future__ import annotations

import base64
import fcntl
import getpass
import hashlib
import hmac
import ipaddress
import os
import sys
import time
from pathlib import Path
from typing import Any

from . import boots, model
from . import state as st

# Options that change nothing the stand-in can observe, or that it implements.
KNOWN_OPTIONS = frozenset(k.lower() for k in (
    "UserKnownHostsFile", "GlobalKnownHostsFile", "StrictHostKeyChecking", "BatchMode",
    "ConnectTimeout", "ConnectionAttempts", "LogLevel", "IdentityFile", "IdentitiesOnly",
    "User", "Port", "PasswordAuthentication", "PubkeyAuthentication",
    "KbdInteractiveAuthentication", "PreferredAuthentications", "ServerAliveInterval",
    "ServerAliveCountMax", "CheckHostIP", "HashKnownHosts", "UpdateHostKeys", "TCPKeepAlive",
    "Compression", "RequestTTY", "SendEnv", "SetEnv", "AddKeysToAgent", "ForwardAgent",
    "VisualHostKey", "ControlMaster", "ControlPath", "ControlPersist",
))
# Flags whose real behaviour (tunnels, jump hosts, backgrounding) the stand-in cannot fake.
UNSIMULATED = {"L": "port forwarding", "R": "port forwarding", "D": "dynamic forwarding",
               "W": "stdio forwarding", "J": "jump hosts", "f": "backgrounding",
               "N": "no-command sessions", "O": "control commands", "w": "tunnels",
               "M": "connection sharing", "S": "control sockets", "3": "remote-to-remote copy"}


class RemoteFailure(Exception):
    """ssh/scp gives up: message for stderr, exit status."""

    def __init__(self, message: str, status: int = 255) -> None:
        super().__init__(message)
        self.status = status


class Invocation:
    """One ssh or scp command line, parsed. (A plain class, as the stand-ins' other records:
    dataclasses imports inspect, ~8 ms of every one of the thousands of starts a run makes.)"""

    def __init__(self, tool: str) -> None:
        self.tool = tool
        self.options: dict[str, list[str]] = {}
        self.flags: set[str] = set()
        self.identities: list[str] = []
        self.port = 22
        self.user = ""
        self.operands: list[str] = []

    def opt(self, key: str, default: str = "") -> str:
        values = self.options.get(key.lower())
        return values[0] if values else default  # OpenSSH: the first value given wins

    @property
    def quiet(self) -> bool:
        return "q" in self.flags or self.opt("LogLevel").upper() in ("QUIET", "FATAL", "ERROR")


def parse(tool: str, argv: list[str], no_arg: str, with_arg: str) -> Invocation:
    inv = Invocation(tool)
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            inv.operands += argv[i:]
            break
        if not arg.startswith("-") or arg == "-":
            inv.operands.append(arg)
            if tool == "ssh":  # everything after the destination is the remote command
                inv.operands += argv[i:]
                break
            continue
        letters = arg[1:]
        while letters:
            ch, letters = letters[0], letters[1:]
            if ch in UNSIMULATED and (ch in no_arg or ch in with_arg):
                raise RemoteFailure(f"dosim-{tool}: -{ch} ({UNSIMULATED[ch]}) is not simulated")
            if ch in no_arg:
                inv.flags.add(ch)
                continue
            if ch not in with_arg:
                raise RemoteFailure(f"{tool}: illegal option -- {ch}\nusage: {tool} ...")
            value = letters or (argv[i] if i < len(argv) else None)
            if value is None:
                raise RemoteFailure(f"{tool}: option requires an argument -- {ch}")
            if not letters:
                i += 1
            letters = ""
            _option(inv, ch, value)
    return inv


def _option(inv: Invocation, ch: str, value: str) -> None:
    if ch == "o":
        key, sep, val = value.partition("=")
        if not sep:
            key, _, val = value.partition(" ")
        key = key.strip().lower()
        if key not in KNOWN_OPTIONS:
            raise RemoteFailure(f"command-line line 0: Bad configuration option: {key}")
        inv.options.setdefault(key, []).append(val.strip())
        if key == "identityfile":
            inv.identities.append(val.strip())
        elif key == "port":
            inv.port = int(val)
        elif key == "user" and not inv.user:
            inv.user = val.strip()
    elif ch == "i":
        inv.identities.append(value)
    elif ch in ("p", "P") and (ch == "p") == (inv.tool == "ssh"):
        inv.port = int(value)
    elif ch == "l":
        inv.user = value
    # -F config, -c cipher, -E log file, -b bind address ...: accepted and ignored.


def split_destination(dest: str, inv: Invocation) -> tuple[str, str]:
    user, at, host = dest.rpartition("@")
    if not at:
        user, host = "", dest
    return (user or inv.user or inv.opt("User") or getpass.getuser()), host


def _expand(path: str) -> Path:
    return Path(os.path.expanduser(path))


def reach(inv: Invocation, host: str) -> dict[str, Any]:
    """The droplet answering on ``host`` port 22, or the error ssh would print."""
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise RemoteFailure(f"ssh: Could not resolve hostname {host}: "
                            "Name or service not known") from None
    now = time.time()
    with st.locked(write=False) as data:
        recs = list(data["droplets"].values())
    rec = next((r for r in recs if model.visible_public_ip(r, now) == host), None)
    if rec is None:
        raise RemoteFailure(f"ssh: connect to host {host} port {inv.port}: Connection timed out")
    sshd_at = rec["sim"].get("sshd_at")
    if inv.port != 22 or sshd_at is None or now < sshd_at or boots.down(Path(rec["sim"]["root"]),
                                                                        now):
        raise RemoteFailure(f"ssh: connect to host {host} port {inv.port}: Connection refused")
    return rec


def _known_host_files(inv: Invocation) -> list[Path]:
    raw = inv.opt("UserKnownHostsFile")
    names = raw.split() if raw else ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"]
    return [_expand(n) for n in names]


def _host_matches(field_: str, name: str) -> bool:
    for entry in field_.split(","):
        if entry.startswith("|1|"):
            _, _, salt, digest = entry.split("|", 3)
            mac = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1).digest()
            if base64.b64encode(mac).decode() == digest:
                return True
        elif entry == name:
            return True
    return False


CHANGED = """@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
Someone could be eavesdropping on you right now (man-in-the-middle attack)!
It is also possible that a host key has just been changed.
Offending ED25519 key in {path}
Host key for {host} has changed and you have requested strict checking."""


def check_host_key(inv: Invocation, host: str, rec: dict[str, Any]) -> None:
    """accept-new/no append unknown hosts; a changed key fails unless checking is off."""
    name = host if inv.port == 22 else f"[{host}]:{inv.port}"
    keytype, key = rec["sim"]["host_key"].split()
    files = _known_host_files(inv)
    for path in files:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) < 3 or fields[0].startswith(("#", "@")) or fields[1] != keytype:
                continue
            if not _host_matches(fields[0], name):
                continue
            if fields[2] == key:
                return
            strict = inv.opt("StrictHostKeyChecking", "ask").lower()
            if strict in ("no", "off"):
                sys.stderr.write(CHANGED.replace("you have requested strict checking",
                                                 "strict checking is off").format(path=path,
                                                                                  host=host) + "\n")
                return
            raise RemoteFailure(CHANGED.format(path=path, host=host)
                                + "\nHost key verification failed.")
    strict = inv.opt("StrictHostKeyChecking", "ask").lower()
    if strict == "yes":
        raise RemoteFailure(f"No ED25519 host key is known for {name} and you have requested "
                            "strict checking.\nHost key verification failed.")
    if strict == "ask":  # no terminal to ask on (and BatchMode forbids asking anyway)
        raise RemoteFailure("Host key verification failed.")
    entry = name
    if inv.opt("HashKnownHosts").lower() == "yes":
        salt = os.urandom(20)
        mac = hmac.new(salt, name.encode(), hashlib.sha1).digest()
        entry = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(mac).decode()}"
    target = files[0]
    try:
        with open(target, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.write(f"{entry} {keytype} {key}\n")
            fcntl.flock(fh, fcntl.LOCK_UN)
    except OSError:
        sys.stderr.write(f"Failed to add the host to the list of known hosts ({target}).\n")
        return
    if not inv.quiet:
        sys.stderr.write(f"Warning: Permanently added '{name}' (ED25519) to the list of known "
                         "hosts.\r\n")


def _blob(public_key: str) -> str:
    fields = public_key.split()
    return fields[1] if len(fields) >= 2 else ""


def authenticate(inv: Invocation, user: str, host: str, rec: dict[str, Any]) -> None:
    """Public-key auth against the keys the droplet was created with."""
    denied = RemoteFailure(f"{user}@{host}: Permission denied (publickey).")
    allowed = {_blob(k) for k in rec["sim"]["public_keys"]}
    if user not in rec["sim"]["login_users"] or not allowed:
        raise denied
    explicit = [_expand(p) for p in inv.identities]
    defaults = [_expand(f"~/.ssh/id_{t}") for t in ("rsa", "ecdsa", "ed25519")]
    only = inv.opt("IdentitiesOnly").lower() == "yes"
    candidates = explicit + ([] if only and explicit else defaults)
    for key in candidates:
        pub = key.with_name(key.name + ".pub")
        if pub.is_file() and _blob(pub.read_text()) in allowed:
            return
    # A private key without its .pub cannot be checked here; trust it, and trust an agent.
    if any(k.is_file() and not k.with_name(k.name + ".pub").exists() for k in explicit):
        return
    if os.environ.get("SSH_AUTH_SOCK") and not only:
        return
    raise denied


def connect(inv: Invocation, destination: str) -> tuple[str, str, dict[str, Any]]:
    """Reach, verify and log in: (user, host, droplet record)."""
    user, host = split_destination(destination, inv)
    rec = reach(inv, host)
    check_host_key(inv, host, rec)
    authenticate(inv, user, host, rec)
    return user, host, rec
