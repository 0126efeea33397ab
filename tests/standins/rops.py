"""File commands run "on" a droplet: ``python -m tests.standins.rops CMD ARGS``.

The ssh sandbox defines bash functions (``mkdir``, ``mv``, ``chown`` ...) that call this
module, so every path is taken as a droplet path and lands under the droplet's root.  A small
permission model (owner + mode bits, root via ``sudo``) makes a script that forgets ``sudo``
fail the way it would on the droplet.  Messages follow GNU coreutils.
"""

from __future__ import annotations

import glob
import os
import shutil
import stat
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import TypeVar

from . import (
    archive,
    boots,
    daemons,
    etcd3,
    kubeletbin,  # noqa: F401 (its start hook)
    staticpods,
)
from . import dropletfs as fs

KNOWN_USERS = ("root", "core", "etcd", "nobody")
KNOWN_GROUPS = (*KNOWN_USERS, "docker", "wheel", "sudo", "adm", "systemd-journal")
UMASK = 0o022
GLOB_CHARS = "*?["
T = TypeVar("T")


class OpError(Exception):
    """One operand failed; the command goes on with the others and exits 1."""


class Unsupported(Exception):
    """An option or form the stand-in does not simulate: exit 2, loudly."""


class Session:
    """One remote command's view of a droplet: its root, user (root under sudo) and cwd."""

    def __init__(self, root: Path, user: str, as_root: bool, cwd: str,
                 session_id: str = "") -> None:
        self.root = root
        self.user = user
        self.as_root = as_root
        self.cwd = cwd
        self.session_id = session_id

    @classmethod
    def from_env(cls) -> Session:
        return cls.at(
            Path(os.environ["DOSIM_DROPLET_ROOT"]),
            os.environ.get("DOSIM_REMOTE_USER", "core"),
            os.environ.get("DOSIM_AS_ROOT") == "1",
            Path(os.getcwd()),
            os.environ.get("DOSIM_SESSION", ""),
        )

    @classmethod
    def at(cls, root: Path, user: str, sudo: bool, host_cwd: Path, session_id: str) -> Session:
        """The session of one command: run by user (as root under sudo) in host_cwd."""
        try:
            cwd = fs.droplet_path(root, host_cwd)
        except ValueError:
            cwd = home_of(user)
        return cls(root, user, user == "root" or sudo, cwd, session_id)

    # -- paths ---------------------------------------------------------------------------
    def dpath(self, arg: str) -> str:
        """Droplet path for an operand: droplet-absolute, host path inside the root, ~, relative."""
        root = str(self.root)
        if arg == root or arg.startswith(root + "/"):
            return fs.normalize(fs.droplet_path(self.root, Path(arg)))
        if arg.startswith("~"):
            head, _, rest = arg[1:].partition("/")
            return fs.normalize(home_of(head or self.user) + "/" + rest)
        if arg.startswith("/"):
            return fs.normalize(arg)
        return fs.normalize(self.cwd + "/" + arg)

    def show(self, arg: str) -> str:
        root = str(self.root)
        return self.dpath(arg) if arg == root or arg.startswith(root + "/") else arg

    def host(self, dpath: str, *, follow: bool = True) -> Path:
        return fs.resolve(self.root, dpath, follow_last=follow)

    def expand(self, arg: str) -> list[str]:
        """Glob inside the droplet (bash runs with ``set -f``); no match keeps the word."""
        if not any(c in arg for c in GLOB_CHARS):
            return [arg]
        dp = self.dpath(arg)
        parts = PurePosixPath(dp).parts[1:]
        fixed = [p for p in parts[: next(i for i, p in enumerate(parts)
                                         if any(c in p for c in GLOB_CHARS))]]
        base = "/" + "/".join(fixed)
        pattern = "/".join(parts[len(fixed):])
        matches = sorted(glob.glob(pattern, root_dir=self.host(base)))
        if not matches:
            return [arg]
        return [fs.normalize(base + "/" + m) for m in matches]

    # -- ownership and permissions ----------------------------------------------------------
    def actor(self) -> str:
        return "root:root" if self.as_root else f"{self.user}:{self.user}"

    def owner(self, dpath: str) -> str:
        return fs.owner_of(self.root, dpath)

    def set_owner(self, dpath: str, owner: str) -> None:
        key = fs.canonical(self.root, dpath)
        with fs.meta(self.root) as data:
            data["owners"][key] = owner

    def _permits(self, dpath: str, owner_bit: int, other_bit: int) -> bool:
        """Owner or other permission bits, as the droplet's kernel would check them."""
        if self.as_root:
            return True
        mode = self.host(dpath).stat().st_mode
        if self.owner(dpath).split(":")[0] == self.user:
            return bool(mode & owner_bit)
        return bool(mode & other_bit)

    def can_write_dir(self, dpath: str) -> bool:
        if not self.as_root and not self.host(dpath).is_dir():
            return False
        return self._permits(dpath, stat.S_IWUSR, stat.S_IWOTH)

    def can_read(self, dpath: str) -> bool:
        return self._permits(dpath, stat.S_IRUSR, stat.S_IROTH)

    def can_write_file(self, dpath: str) -> bool:
        return self._permits(dpath, stat.S_IWUSR, stat.S_IWOTH)

    def owns(self, dpath: str) -> bool:
        return self.as_root or self.owner(dpath).split(":")[0] == self.user

    def subtree_owners(self, dpath: str) -> dict[str, str]:
        """Effective owner of ``dpath`` and everything below it, keyed by relative suffix."""
        host = self.host(dpath, follow=False)
        if host.is_symlink():
            return {}
        base = fs.canonical(self.root, dpath)
        out = {"": self.owner(base)}
        if host.is_dir():
            for dirpath, dirnames, filenames in os.walk(host):
                for name in dirnames + filenames:
                    rel = os.path.relpath(os.path.join(dirpath, name), host)
                    if not os.path.islink(os.path.join(dirpath, name)):
                        out["/" + rel] = self.owner(base + "/" + rel)
        return out

    def forget_owners(self, dpath: str) -> None:
        key = fs.canonical(self.root, dpath, follow_last=False)
        with fs.meta(self.root) as data:
            for k in [k for k in data["owners"] if k == key or k.startswith(key + "/")]:
                del data["owners"][k]

    def put_owners(self, dpath: str, owners: dict[str, str]) -> None:
        key = fs.canonical(self.root, dpath)
        with fs.meta(self.root) as data:
            for rel, owner in owners.items():
                data["owners"][key + rel] = owner


def home_of(user: str) -> str:
    return "/root" if user == "root" else f"/home/{user}"


def parent(dpath: str) -> str:
    return str(PurePosixPath(dpath).parent)


def split_opts(args: list[str], with_value: str = "") -> tuple[set[str], dict[str, str], list[str]]:
    """Short/long options before operands (``--`` ends them); ``with_value`` letters take one."""
    flags: set[str] = set()
    values: dict[str, str] = {}
    operands: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        if a == "--":
            operands += args[i:]
            break
        if a.startswith("--") and len(a) > 2:
            name, eq, val = a[2:].partition("=")
            if eq:
                values[name] = val
            else:
                flags.add(name)
            continue
        if a.startswith("-") and len(a) > 1:
            letters = a[1:]
            while letters:
                ch, letters = letters[0], letters[1:]
                if ch in with_value:
                    if letters:
                        values[ch] = letters
                    elif i < len(args):
                        values[ch] = args[i]
                        i += 1
                    else:
                        raise Unsupported(f"option requires an argument -- '{ch}'")
                    letters = ""
                else:
                    flags.add(ch)
            continue
        operands.append(a)
    return flags, values, operands


def _check_flags(flags: set[str], allowed: str, long_allowed: tuple[str, ...] = ()) -> None:
    bad = [f for f in flags if (len(f) == 1 and f not in allowed)
           or (len(f) > 1 and f not in long_allowed)]
    if bad:
        raise Unsupported(f"option {'-' if len(bad[0]) == 1 else '--'}{bad[0]} is not simulated")


# --- commands -----------------------------------------------------------------------------

def _each(cmd: str, operands: Iterable[T], act: Callable[[T], None]) -> int:
    """Act on every operand as coreutils do: a failing one is reported and the rest go on;
    the command exits 1 if any failed."""
    rc = 0
    for operand in operands:
        try:
            act(operand)
        except OpError as err:
            _err(cmd, err)
            rc = 1
    return rc


def op_mkdir(s: Session, args: list[str]) -> int:
    flags, values, operands = split_opts(args, "m")
    _check_flags(flags, "pv", ("parents", "verbose"))
    parents = bool(flags & {"p", "parents"})
    mode = parse_mode(values.get("m") or values.get("mode") or "", 0o777 & ~UMASK, True)
    if not operands:
        raise Unsupported("missing operand")

    def one(arg: str) -> None:
        dp = s.dpath(arg)
        if s.host(dp).exists():
            if parents and s.host(dp).is_dir():
                return
            raise OpError(f"cannot create directory '{s.show(arg)}': File exists")
        chain = []
        cur = dp
        while not s.host(cur).exists():
            chain.append(cur)
            cur = parent(cur)
        if len(chain) > 1 and not parents:
            raise OpError(f"cannot create directory '{s.show(arg)}': No such file or directory")
        for d in reversed(chain):
            if not s.host(parent(d)).is_dir():
                raise OpError(f"cannot create directory '{s.show(arg)}': Not a directory")
            if not s.can_write_dir(parent(d)):
                raise OpError(f"cannot create directory '{s.show(arg)}': Permission denied")
            s.host(d).mkdir()
            s.host(d).chmod(mode if d == dp else 0o755)
            s.set_owner(d, s.actor())

    return _each("mkdir", operands, one)


def _target(s: Session, cmd: str, operands: list[str], no_target_dir: bool) -> tuple[list[str], str,
                                                                                     bool]:
    if len(operands) < 2:
        raise Unsupported(f"missing destination file operand after '{operands[-1]}'"
                          if operands else "missing file operand")
    *srcs, dest = operands
    sources = [x for a in srcs for x in s.expand(a)]
    dest_dp = s.dpath(dest)
    into = s.host(dest_dp).is_dir() and not no_target_dir
    if len(sources) > 1 and not into:
        raise OpError(f"target '{s.show(dest)}' is not a directory")
    return sources, dest_dp, into


def _moves(s: Session, cmd: str, operands: list[str], no_target_dir: bool) -> list[
    tuple[str, str, str]
]:
    """(operand, its droplet path, where it goes) for each source of mv or cp."""
    sources, dest, into = _target(s, cmd, operands, no_target_dir)
    return [
        (src, s.dpath(src), dest + "/" + PurePosixPath(s.dpath(src)).name if into else dest)
        for src in sources
    ]


def op_mv(s: Session, args: list[str]) -> int:
    flags, _, operands = split_opts(args)
    _check_flags(flags, "fvT", ("force", "verbose", "no-target-directory"))
    try:
        moves = _moves(s, "mv", operands, "T" in flags)
    except OpError as err:
        _err("mv", err)
        return 1

    def one(move: tuple[str, str, str]) -> None:
        src, sdp, target = move
        shost = s.host(sdp, follow=False)
        if not os.path.lexists(shost):
            raise OpError(f"cannot stat '{s.show(src)}': No such file or directory")
        if not (s.can_write_dir(parent(sdp)) and s.can_write_dir(parent(target))):
            raise OpError(f"cannot move '{s.show(src)}' to '{target}': Permission denied")
        thost = s.host(target, follow=False)
        if thost.is_dir() and not thost.is_symlink() and not shost.is_dir():
            raise OpError(f"cannot overwrite directory '{target}' with non-directory")
        owners = s.subtree_owners(sdp)
        s.forget_owners(sdp)
        os.replace(shost, thost)
        s.put_owners(target, owners)

    return _each("mv", moves, one)


def op_cp(s: Session, args: list[str]) -> int:
    flags, _, operands = split_opts(args)
    _check_flags(flags, "rRafpvTL", ("recursive", "archive", "force", "preserve", "verbose"))
    recursive = bool(flags & {"r", "R", "a", "recursive", "archive"})
    preserve = bool(flags & {"a", "p", "archive", "preserve"})
    try:
        moves = _moves(s, "cp", operands, "T" in flags)
    except OpError as err:
        _err("cp", err)
        return 1

    def one(move: tuple[str, str, str]) -> None:
        src, sdp, target = move
        shost = s.host(sdp)
        if not shost.exists():
            raise OpError(f"cannot stat '{s.show(src)}': No such file or directory")
        if shost.is_dir() and not recursive:
            raise OpError(f"-r not specified; omitting directory '{s.show(src)}'")
        if not s.can_read(sdp):
            raise OpError(f"cannot open '{s.show(src)}' for reading: Permission denied")
        if not s.can_write_dir(parent(target)):
            raise OpError(f"cannot create regular file '{target}': Permission denied")
        owners = s.subtree_owners(sdp)
        thost = s.host(target)
        if shost.is_dir():
            shutil.copytree(shost, thost, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copyfile(shost, thost)
            mode = stat.S_IMODE(shost.stat().st_mode)
            thost.chmod(mode if preserve else mode & ~UMASK)
        if preserve and s.as_root:
            s.put_owners(target, owners)
        else:
            s.put_owners(target, {rel: s.actor() for rel in owners})

    return _each("cp", moves, one)


def parse_owner(spec: str) -> tuple[str | None, str | None]:
    sep = ":" if ":" in spec else ("." if "." in spec else "")
    user, group = (spec.split(sep, 1) if sep else (spec, None))
    if user and user not in KNOWN_USERS:
        raise OpError(f"invalid user: '{spec}'")
    if sep and group == "":
        group = user
    if group and group not in KNOWN_GROUPS:
        raise OpError(f"invalid group: '{spec}'")
    return user or None, group or None


def _walk(s: Session, dp: str) -> list[str]:
    host = s.host(dp)
    out = [dp]
    if host.is_dir():
        for dirpath, dirnames, filenames in os.walk(host):
            for name in sorted(dirnames + filenames):
                full = os.path.join(dirpath, name)
                if not os.path.islink(full):
                    out.append(dp + "/" + os.path.relpath(full, host))
    return out


def op_chown(s: Session, args: list[str]) -> int:
    flags, _, operands = split_opts(args)
    _check_flags(flags, "Rvfh", ("recursive", "verbose"))
    if len(operands) < 2:
        raise Unsupported("missing operand")
    spec, *paths = operands
    try:
        user, group = parse_owner(spec)
    except OpError as err:
        _err("chown", err)
        return 1

    def one(arg: str) -> None:
        dp = s.dpath(arg)
        if not s.host(dp).exists():
            raise OpError(f"cannot access '{s.show(arg)}': No such file or directory")
        if not s.as_root:
            raise OpError(f"changing ownership of '{s.show(arg)}': Operation not permitted")
        targets = _walk(s, dp) if flags & {"R", "recursive"} else [dp]
        for t in targets:
            old_user, old_group = s.owner(t).split(":")
            s.set_owner(t, f"{user or old_user}:{group or old_group}")

    return _each("chown", [x for a in paths for x in s.expand(a)], one)


def parse_mode(spec: str, old: int, is_dir: bool) -> int:
    """Octal or symbolic (``u+x,go-w``, ``+x``, ``a=r``) mode, as chmod(1) applies it."""
    if not spec:
        return old
    if all(c in "01234567" for c in spec):
        return int(spec, 8)
    mode = old
    for clause in spec.split(","):
        i = 0
        who = ""
        while i < len(clause) and clause[i] in "ugoa":
            who += clause[i]
            i += 1
        if i >= len(clause) or clause[i] not in "+-=":
            raise OpError(f"invalid mode: '{spec}'")
        while i < len(clause) and clause[i] in "+-=":
            op = clause[i]
            i += 1
            perms = ""
            while i < len(clause) and clause[i] in "rwxXst":
                perms += clause[i]
                i += 1
            bits = 0
            for p in perms:
                if p == "X" and not (is_dir or old & 0o111):
                    continue
                bits |= {"r": 0o444, "w": 0o222, "x": 0o111, "X": 0o111, "s": 0o6000,
                         "t": 0o1000}[p]
            mask = 0
            for w in who or "a":
                mask |= {"u": 0o4700, "g": 0o2070, "o": 0o1007, "a": 0o7777}[w]
            if not who:
                bits &= ~UMASK
            if op == "+":
                mode |= bits & mask
            elif op == "-":
                mode &= ~(bits & mask)
            else:
                mode = (mode & ~mask) | (bits & mask)
        if i != len(clause):
            raise OpError(f"invalid mode: '{spec}'")
    return mode


def op_chmod(s: Session, args: list[str]) -> int:
    # chmod -x FILE: a leading "-rwx" word is a mode, not an option.
    opts = [a for a in args if a in ("-R", "-v", "-f", "-c", "--recursive")]
    rest = [a for a in args if a not in opts]
    if len(rest) < 2:
        raise Unsupported("missing operand")
    spec, *paths = rest

    def one(arg: str) -> None:
        dp = s.dpath(arg)
        if not s.host(dp).exists():
            raise OpError(f"cannot access '{s.show(arg)}': No such file or directory")
        if not s.owns(dp):
            raise OpError(f"changing permissions of '{s.show(arg)}': Operation not permitted")
        targets = _walk(s, dp) if {"-R", "--recursive"} & set(opts) else [dp]
        for t in targets:
            host = s.host(t)
            old = stat.S_IMODE(host.stat().st_mode)
            host.chmod(parse_mode(spec, old, host.is_dir()))

    return _each("chmod", [x for a in paths for x in s.expand(a)], one)


def op_ln(s: Session, args: list[str]) -> int:
    flags, _, operands = split_opts(args)
    _check_flags(flags, "sfnTv", ("symbolic", "force", "no-dereference", "verbose"))
    symbolic = bool(flags & {"s", "symbolic"})
    force = bool(flags & {"f", "force"})
    if not operands or len(operands) > 2:
        raise Unsupported("only 'ln [-sfn] TARGET [LINK_NAME]' is simulated")
    target = operands[0]
    link = operands[1] if len(operands) == 2 else PurePosixPath(target).name
    ldp = s.dpath(link)
    kind = "symbolic link" if symbolic else "hard link"
    try:
        lhost = s.host(ldp, follow=not bool(flags & {"n", "no-dereference"}))
        if lhost.is_dir() and "T" not in flags:
            ldp = ldp + "/" + PurePosixPath(target).name
        lhost = s.host(ldp, follow=False)
        if os.path.lexists(lhost):
            if not force:
                raise OpError(f"failed to create {kind} '{s.show(link)}': File exists")
            if lhost.is_dir() and not lhost.is_symlink():
                raise OpError(f"'{s.show(link)}': cannot overwrite directory")
        if not s.host(parent(ldp)).is_dir():
            raise OpError(f"failed to create {kind} '{s.show(link)}': No such file or directory")
        if not s.can_write_dir(parent(ldp)):
            raise OpError(f"failed to create {kind} '{s.show(link)}': Permission denied")
        if os.path.lexists(lhost):
            lhost.unlink()
        if symbolic:
            root = str(s.root)
            stored = s.dpath(target) if target.startswith(root + "/") else target
            os.symlink(stored, lhost)
        else:
            thost = s.host(s.dpath(target))
            if not thost.exists():
                raise OpError(f"failed to access '{s.show(target)}': No such file or directory")
            os.link(thost, lhost)
            s.set_owner(ldp, s.owner(s.dpath(target)))
    except OpError as err:
        _err("ln", err)
        return 1
    return 0


def op_rm(s: Session, args: list[str]) -> int:
    flags, _, operands = split_opts(args)
    _check_flags(flags, "frRvd", ("force", "recursive", "verbose", "dir"))
    force = bool(flags & {"f", "force"})
    recursive = bool(flags & {"r", "R", "recursive"})

    def one(arg: str) -> None:
        dp = s.dpath(arg)
        if dp == "/" and recursive:
            raise OpError("it is dangerous to operate recursively on '/'")
        host = s.host(dp, follow=False)
        if not os.path.lexists(host):
            if force:
                return
            raise OpError(f"cannot remove '{s.show(arg)}': No such file or directory")
        if not s.can_write_dir(parent(dp)):
            raise OpError(f"cannot remove '{s.show(arg)}': Permission denied")
        s.forget_owners(dp)
        if host.is_dir() and not host.is_symlink():
            if not recursive and not (flags & {"d", "dir"} and not any(host.iterdir())):
                raise OpError(f"cannot remove '{s.show(arg)}': Is a directory")
            shutil.rmtree(host)
        else:
            host.unlink()

    return _each("rm", [x for a in operands for x in s.expand(a)], one)


def _file_test(s: Session, op: str, arg: str) -> bool:
    dp = s.dpath(arg)
    if op in ("-L", "-h"):
        return s.host(dp, follow=False).is_symlink()
    try:
        host = s.host(dp)
    except OSError:
        return False
    if not host.exists():
        return False
    checks: dict[str, Callable[[], bool]] = {
        "-e": lambda: True,
        "-a": lambda: True,
        "-f": host.is_file,
        "-d": host.is_dir,
        "-s": lambda: host.stat().st_size > 0,
        "-r": lambda: s.can_read(dp),
        "-w": lambda: s.can_write_file(dp),
        "-x": lambda: bool(host.stat().st_mode & 0o111),
    }
    return checks[op]()


FILE_TESTS = ("-e", "-a", "-f", "-d", "-s", "-r", "-w", "-x", "-L", "-h")
INT_OPS = {"-eq": int.__eq__, "-ne": int.__ne__, "-lt": int.__lt__, "-le": int.__le__,
           "-gt": int.__gt__, "-ge": int.__ge__}


def evaluate(s: Session, words: list[str]) -> bool:
    n = len(words)
    if n == 0:
        return False
    if words[0] == "!" and n in (2, 3, 4):
        return not evaluate(s, words[1:])
    if n == 1:
        return words[0] != ""
    if n == 2:
        op, arg = words
        if op in FILE_TESTS:
            return _file_test(s, op, arg)
        if op == "-z":
            return arg == ""
        if op == "-n":
            return arg != ""
        raise Unsupported(f"test operator {op} is not simulated")
    if n == 3:
        a, op, b = words
        if a == "(" and b == ")":
            return evaluate(s, [op])
        if op in ("=", "=="):
            return a == b
        if op == "!=":
            return a != b
        if op in INT_OPS:
            try:
                return bool(INT_OPS[op](int(a), int(b)))
            except ValueError:
                raise OpError(f"integer expression expected: {a} {op} {b}") from None
        raise Unsupported(f"test operator {op} is not simulated")
    raise Unsupported("test with -a/-o or more than 3 operands is not simulated")


def op_test(s: Session, args: list[str], bracket: bool = False) -> int:
    if bracket:
        if not args or args[-1] != "]":
            sys.stderr.write("[: missing `]'\n")
            return 2
        args = args[:-1]
    try:
        return 0 if evaluate(s, args) else 1
    except OpError as err:
        _err("test", err)
        return 2


def op_cat(s: Session, args: list[str]) -> int:
    flags, _, operands = split_opts(args)
    _check_flags(flags, "")
    out = sys.stdout.buffer
    if not operands:
        shutil.copyfileobj(sys.stdin.buffer, out)
        return 0
    rc = 0
    for arg in [x for a in operands for x in s.expand(a)]:
        if arg == "-":
            shutil.copyfileobj(sys.stdin.buffer, out)
            continue
        dp = s.dpath(arg)
        try:
            host = s.host(dp)
            if not host.exists():
                raise OpError(f"{s.show(arg)}: No such file or directory")
            if host.is_dir():
                raise OpError(f"{s.show(arg)}: Is a directory")
            if not s.can_read(dp):
                raise OpError(f"{s.show(arg)}: Permission denied")
            out.write(host.read_bytes())
        except OpError as err:
            _err("cat", err)
            rc = 1
    out.flush()
    return rc


def _ls_line(s: Session, dp: str, name: str) -> str:
    host = s.host(dp, follow=False)
    st_ = host.lstat()
    user, group = (s.owner(dp).split(":") if not host.is_symlink() else ("root", "root"))
    mtime = time.strftime("%b %d %H:%M", time.localtime(st_.st_mtime))
    arrow = f" -> {os.readlink(host)}" if host.is_symlink() else ""
    return (f"{stat.filemode(st_.st_mode)} 1 {user} {group} {st_.st_size:>6} {mtime} "
            f"{name}{arrow}")


def op_ls(s: Session, args: list[str]) -> int:
    flags, _, operands = split_opts(args)
    _check_flags(flags, "laA1dh")
    long_ = "l" in flags
    show_all = bool(flags & {"a", "A"})
    rc = 0
    operands = [x for a in (operands or ["."]) for x in s.expand(a)]
    for arg in operands:
        dp = s.dpath(arg)
        host = s.host(dp, follow=False)
        if not os.path.lexists(host):
            _err("ls", OpError(f"cannot access '{s.show(arg)}': No such file or directory"))
            rc = 2
            continue
        if s.host(dp).is_dir() and "d" not in flags:
            if not s.can_read(dp):
                _err("ls", OpError(f"cannot open directory '{s.show(arg)}': Permission denied"))
                rc = 2
                continue
            if len(operands) > 1:
                print(f"{s.show(arg)}:")
            for name in sorted(os.listdir(s.host(dp))):
                if name.startswith(".") and not show_all:
                    continue
                print(_ls_line(s, dp + "/" + name, name) if long_ else name)
        else:
            print(_ls_line(s, dp, s.show(arg)) if long_ else s.show(arg))
    return rc


def op_install(s: Session, args: list[str]) -> int:
    flags, values, operands = split_opts(args, "mog")
    _check_flags(flags, "dDvcp", ("directory", "verbose"))
    owner_spec = values.get("o", "")
    if values.get("g"):
        owner_spec += ":" + values["g"]
    if owner_spec and not s.as_root:
        _err("install", OpError("cannot change ownership: Operation not permitted"))
        return 1
    try:
        user, group = parse_owner(owner_spec) if owner_spec else (None, None)
    except OpError as err:
        _err("install", err)
        return 1
    created: list[str] = []
    if flags & {"d", "directory"}:
        rc = op_mkdir(s, ["-p", *operands])
        created = [s.dpath(a) for a in operands]
    else:
        if "D" in flags and operands:
            op_mkdir(s, ["-p", parent(s.dpath(operands[-1]))])
        rc = op_cp(s, operands)
        if rc == 0 and operands:
            dest = s.dpath(operands[-1])
            into = s.host(dest).is_dir() and len(operands) > 1 and (
                len(operands) > 2 or s.host(s.dpath(operands[0])).is_file())
            created = ([dest + "/" + PurePosixPath(s.dpath(a)).name for a in operands[:-1]]
                       if into else [dest])
    if rc:
        return rc
    for dp in created:
        host = s.host(dp)
        host.chmod(parse_mode(values.get("m", ""), 0o755, host.is_dir()))
        if user or group:
            old_user, old_group = s.owner(dp).split(":")
            s.set_owner(dp, f"{user or old_user}:{group or old_group}")
    return 0


def _writable_target(s: Session, dp: str) -> bool:
    host = s.host(dp)
    if host.exists():
        return s.can_write_file(dp)
    return s.host(parent(dp)).is_dir() and s.can_write_dir(parent(dp))


def op_tee(s: Session, args: list[str]) -> int:
    flags, _, operands = split_opts(args)
    _check_flags(flags, "a", ("append",))
    data = sys.stdin.buffer.read()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()

    def one(arg: str) -> None:
        dp = s.dpath(arg)
        if not _writable_target(s, dp):
            raise OpError(f"{s.show(arg)}: Permission denied")
        host = s.host(dp)
        existed = host.exists()
        with open(host, "ab" if flags & {"a", "append"} else "wb") as fh:
            fh.write(data)
        if not existed:
            host.chmod(0o666 & ~UMASK)
            s.set_owner(dp, s.actor())

    return _each("tee", operands, one)


def op_touch(s: Session, args: list[str]) -> int:
    flags, _, operands = split_opts(args)
    _check_flags(flags, "c")

    def one(arg: str) -> None:
        dp = s.dpath(arg)
        host = s.host(dp)
        if host.exists():
            if not s.owns(dp) and not s.can_write_file(dp):
                raise OpError(f"cannot touch '{s.show(arg)}': Permission denied")
            os.utime(host)
            return
        if "c" in flags:
            return
        if not _writable_target(s, dp):
            raise OpError(f"cannot touch '{s.show(arg)}': Permission denied")
        host.touch(mode=0o666 & ~UMASK)
        s.set_owner(dp, s.actor())

    return _each("touch", [x for a in operands for x in s.expand(a)], one)


def op_mappath(s: Session, args: list[str]) -> int:
    """For the sandbox's ``cd``: print the host directory for a droplet directory."""
    target = args[0] if args else home_of(s.user)
    dp = s.dpath(target)
    host = s.host(dp)
    if not host.is_dir():
        sys.stderr.write(f"cd: {target}: No such file or directory\n")
        return 1
    print(host)
    return 0


def op_noop(s: Session, args: list[str]) -> int:
    """A command the test allowed through DOSIM_SSH_ALLOW: recorded in the log, no effect."""
    return 0


COMMANDS: dict[str, Callable[[Session, list[str]], int]] = {
    "mkdir": op_mkdir, "mv": op_mv, "cp": op_cp, "chown": op_chown, "chmod": op_chmod,
    "ln": op_ln, "rm": op_rm, "test": op_test, "[": lambda s, a: op_test(s, a, bracket=True),
    "cat": op_cat, "ls": op_ls, "install": op_install, "tee": op_tee, "touch": op_touch,
    "mappath": op_mappath, "noop": op_noop,
    "etcdctl": daemons.op_etcdctl, "systemctl": daemons.op_systemctl, "tar": archive.op_tar,
    "sha256sum": archive.op_sha256sum, "curl": staticpods.op_curl,
    "update_engine_client": boots.op_update_engine_client, "reboot": boots.op_reboot,
    # the current profile's release binaries, called by their path (sandbox.DROPLET_PROGRAMS)
    "etcdctl3": etcd3.op_etcdctl3, "etcdutl": etcd3.op_etcdutl,
}


def _err(cmd: str, err: Exception) -> None:
    sys.stderr.write(f"{cmd}: {err}\n")


def main(argv: list[str]) -> int:
    return run(Session.from_env(), argv)


def run(s: Session, argv: list[str]) -> int:
    """One file command in session s (also called in-process by the ssh stand-in's op server)."""
    if not argv or argv[0] not in COMMANDS:
        sys.stderr.write(f"dosim-ssh: unknown stand-in operation {argv[:1]}\n")
        return 127
    name, args = argv[0], argv[1:]
    try:
        rc = COMMANDS[name](s, args)
    except Unsupported as exc:
        sys.stderr.write(f"{name}: {exc} (dosim: not simulated by the ssh stand-in)\n")
        rc = 2
    except OSError as exc:
        sys.stderr.write(f"{name}: {exc.strerror or exc}\n")
        rc = 1
    if name not in ("mappath",):
        logged = args[1:] if name == "noop" else args
        fs.log(s.root, {"kind": "op", "cmd": args[0] if name == "noop" else name, "args": logged,
                        "user": s.user, "sudo": s.as_root, "cwd": s.cwd, "rc": rc,
                        "session": s.session_id})
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
