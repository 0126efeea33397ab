"""A small cobra/pflag look-alike: command tree with aliases, typed flags, cobra's errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class UsageError(Exception):
    """A cobra-level error: doctl's main exits 255 on these."""

    def __init__(self, message: str, cmd: Cmd, *, unknown_command: bool = False) -> None:
        super().__init__(message)
        self.cmd = cmd
        self.unknown_command = unknown_command


class HelpRequested(Exception):
    def __init__(self, cmd: Cmd) -> None:
        super().__init__(cmd.path())
        self.cmd = cmd


class Flag:
    # (The stand-ins' records are plain classes: dataclasses imports inspect, ~8 ms a start.)
    def __init__(self, name: str, short: str = "", kind: str = "string", required: bool = False,
                 help: str = "") -> None:
        self.name = name
        self.short = short
        self.kind = kind  # string | bool | int | slice
        self.required = required
        self.help = help

    def default(self) -> Any:
        return {"string": "", "bool": False, "int": 0, "slice": []}[self.kind]


class Cmd:
    def __init__(self, name: str, short: str = "", aliases: tuple[str, ...] = (),
                 flags: list[Flag] | None = None, run: Callable[..., int] | None = None,
                 use: str = "") -> None:
        self.name = name
        self.short = short
        self.aliases = aliases
        self.flags = flags if flags is not None else []
        self.run = run
        self.use = use
        self.parent: Cmd | None = None
        self.children: list[Cmd] = []

    def add(self, child: Cmd) -> Cmd:
        child.parent = self
        self.children.append(child)
        return child

    def child(self, word: str) -> Cmd | None:
        for c in self.children:
            if word == c.name or word in c.aliases:
                return c
        return None

    def path(self) -> str:
        return f"{self.parent.path()} {self.name}" if self.parent else self.name

    def ns(self) -> str:
        """doctl's config namespace: ``<parent>.<name>`` (commands/doit.go cmdNS)."""
        return f"{self.parent.name}.{self.name}" if self.parent else self.name

    def root(self) -> Cmd:
        return self.parent.root() if self.parent else self

    def all_flags(self) -> list[Flag]:
        return self.flags + self.root().flags if self.parent else self.flags


class Parsed:
    def __init__(self, cmd: Cmd, args: list[str], values: dict[str, Any],
                 given: set[str]) -> None:
        self.cmd = cmd
        self.args = args
        self.values = values
        self.given = given

    def get(self, name: str) -> Any:
        return self.values[name]


def _lookup(cmd: Cmd, *, long: str = "", short: str = "") -> Flag | None:
    for f in cmd.all_flags():
        if (long and f.name == long) or (short and f.short == short):
            return f
    return None


def _convert(flag: Flag, raw: str, shown: str) -> Any:
    if flag.kind == "bool":
        low = raw.lower()
        if low in ("1", "t", "true"):
            return True
        if low in ("0", "f", "false"):
            return False
        raise ValueError(f'invalid argument "{raw}" for "{shown}" flag: '
                         f'strconv.ParseBool: parsing "{raw}": invalid syntax')
    if flag.kind == "int":
        try:
            return int(raw, 0)
        except ValueError:
            raise ValueError(f'invalid argument "{raw}" for "{shown}" flag: '
                             f'strconv.ParseInt: parsing "{raw}": invalid syntax') from None
    if flag.kind == "slice":
        return [item for item in raw.strip("[]").split(",") if item != ""]
    return raw


def parse(root: Cmd, argv: list[str]) -> Parsed:
    cmd = root
    values: dict[str, Any] = {}
    given: set[str] = set()
    args: list[str] = []
    i = 0

    def store(flag: Flag, raw: str, shown: str) -> None:
        try:
            value = _convert(flag, raw, shown)
        except ValueError as exc:
            raise UsageError(str(exc), cmd) from None
        if flag.kind == "slice" and flag.name in given:
            values[flag.name] = values[flag.name] + value
        else:
            values[flag.name] = value
        given.add(flag.name)

    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            args.extend(argv[i:])
            break
        if arg.startswith("--"):
            name, eq, raw = arg[2:].partition("=")
            if name == "help":
                raise HelpRequested(cmd)
            flag = _lookup(cmd, long=name)
            if flag is None:
                raise UsageError(f"unknown flag: --{name}", cmd)
            if eq:
                store(flag, raw, f"--{name}")
            elif flag.kind == "bool":
                store(flag, "true", f"--{name}")
            elif i < len(argv):
                store(flag, argv[i], f"--{name}")
                i += 1
            else:
                raise UsageError(f"flag needs an argument: --{name}", cmd)
            continue
        if arg.startswith("-") and len(arg) > 1:
            shorts = arg[1:]
            while shorts:
                letter, shorts = shorts[0], shorts[1:]
                if letter == "h":
                    raise HelpRequested(cmd)
                flag = _lookup(cmd, short=letter)
                if flag is None:
                    raise UsageError(f"unknown shorthand flag: '{letter}' in -{arg[1:]}", cmd)
                if shorts.startswith("="):
                    store(flag, shorts[1:], f"-{letter}")
                    shorts = ""
                elif flag.kind == "bool":
                    store(flag, "true", f"-{letter}")
                elif shorts:
                    store(flag, shorts, f"-{letter}")
                    shorts = ""
                elif i < len(argv):
                    store(flag, argv[i], f"-{letter}")
                    i += 1
                else:
                    raise UsageError(f"flag needs an argument: '{letter}' in -{letter}", cmd)
            continue
        if cmd.children and not args:
            sub = cmd.child(arg)
            if sub is None:
                raise UsageError(f'unknown command "{arg}" for "{cmd.path()}"', cmd,
                                 unknown_command=True)
            cmd = sub
            continue
        args.append(arg)

    if cmd.children:
        raise HelpRequested(cmd)
    missing = sorted(f.name for f in cmd.flags if f.required and f.name not in given)
    if missing:
        joined = '", "'.join(missing)
        raise UsageError(f'required flag(s) "{joined}" not set', cmd)
    for f in cmd.all_flags():
        values.setdefault(f.name, f.default())
    return Parsed(cmd, args, values, given)


def usage(cmd: Cmd) -> str:
    lines = ["Usage:", f"  {cmd.path()}{' ' + cmd.use if cmd.use else ''} [flags]"]
    if cmd.aliases:
        lines += ["", "Aliases:", "  " + ", ".join((cmd.name, *cmd.aliases))]
    if cmd.children:
        lines += ["", "Available Commands:"]
        lines += [f"  {c.name:<12} {c.short}" for c in cmd.children]
    if cmd.flags:
        lines += ["", "Flags:"]
        for f in cmd.flags:
            short = f"-{f.short}, " if f.short else "    "
            req = " (required)" if f.required else ""
            lines.append(f"  {short}--{f.name} {f.kind}  {f.help}{req}")
    lines += ["", f'Use "{cmd.path()} [command] --help" for more information about a command.']
    return "\n".join(lines) + "\n"
