"""The kubectl stand-ins' shared core: a command line parsed against a version's vocabulary, the
cluster's state file, the kubeconfig. What one kubectl version accepts and prints lives in its
vocabulary module (vocab_v1_1.py: the tutorial's 1.1.2; vocab_current.py: the current
profile's 1.3x); what its cluster does lives beside it (fake_cluster.py; current_*.py).

Where new things go:
- a new verb or flag: declare it in the version's vocabulary (vocab_*.py ``COMMANDS``; cite the
  kubectl source it comes from), then handle it in that version's cluster module
  (``current_cluster.kubectl`` dispatches; a verb with its own logic gets its own module, as
  cordon/uncordon/drain have nodeops.py). The parser below refuses whatever the vocabulary
  does not declare, with that version's words.
- shared helpers (output formats: output.py; reaching the apiserver: apiserver.py; in-cluster
  DNS: dns.py) serve both versions; keep version differences as vocabulary data.

Nothing here opens a socket. The "cluster" is a JSON file (``FAKE_KUBECTL_STATE``, default
``<kubeconfig dir>/state/fake-kubectl.json``).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.standins import yamlfast


class KubectlError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------- vocabulary and parsing


@dataclass(frozen=True)
class Flag:
    """One pflag flag: ``--name`` (and ``-s``) holding a value, a list of values or a bool."""

    name: str
    short: str = ""
    takes: str = "value"  # "value" | "list" | "bool"

    @property
    def key(self) -> str:
        return self.name.replace("-", "_")


@dataclass(frozen=True)
class Vocabulary:
    """What one kubectl version accepts: its commands (``"rollout restart"`` is a command path)
    with their flags, the flags every command inherits, and the words of its errors."""

    version: str
    global_flags: tuple[Flag, ...]
    commands: dict[str, tuple[Flag, ...]]
    # what the real kubectl has and the stand-in does not model: refused as "not simulated"
    unsimulated: dict[str, tuple[str, ...]]  # command -> its other long flags
    unsimulated_commands: tuple[str, ...]
    # output formats the real kubectl accepts for ``-o`` (the rest is its "bad output" error)
    outputs: tuple[str, ...]
    usage_error: str  # "{message}" and "{command}" filled in
    unknown_command: str  # "{command}"
    bad_bool: str  # "{value}", "{name}"
    bad_output: str  # "{output}"
    # option values before any flag is read (the namespace: "default")
    defaults: dict[str, Any] = field(default_factory=dict)

    def flags(self, command: str) -> tuple[Flag, ...]:
        return self.global_flags + self.commands.get(command, ())

    def check_output(self, output: str, simulated: tuple[str, ...]) -> None:
        """Refuse ``-o OUTPUT`` as this version does, or as not simulated when real but unread."""
        name = output.partition("=")[0]
        if name not in self.outputs:
            raise KubectlError(self.bad_output.format(output=output))
        if name not in simulated:
            raise KubectlError(f'error: fake kubectl: -o {name} is not simulated here '
                               f"({', '.join(simulated)})")


@dataclass
class Command:
    path: str  # "get", "create secret generic", "rollout restart"
    args: list[str]
    opts: dict[str, Any]
    argv: list[str]


def _command_path(words: list[str], vocab: Vocabulary) -> str:
    """The longest declared command the leading positional words name."""
    for n in range(len(words), 0, -1):
        if " ".join(words[:n]) in vocab.commands:
            return " ".join(words[:n])
    return ""


def _positionals(argv: list[str], vocab: Vocabulary) -> list[str]:
    """Words that are not flags or flag values (cobra strips flags to find the command)."""
    valued = {f"--{f.name}" for fs in vocab.commands.values() for f in fs if f.takes != "bool"}
    valued |= {f"--{f.name}" for f in vocab.global_flags if f.takes != "bool"}
    shorts = {f"-{f.short}" for fs in (*vocab.commands.values(), vocab.global_flags)
              for f in fs if f.short and f.takes != "bool"}
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            break
        if arg in valued or arg in shorts:
            i += 1
        elif not arg.startswith("-") or arg == "-":
            out.append(arg)
    return out


def parse(argv: list[str], vocab: Vocabulary) -> Command:
    """pflag's parsing of ``argv`` for the command it names, refusing in the version's words."""
    words = _positionals(argv, vocab)
    path = _command_path(words, vocab)
    if not path and words and words[0] in vocab.unsimulated_commands:
        raise KubectlError(f"error: fake kubectl: kubectl {' '.join(words[:2])} is not "
                           "simulated")
    if not path:
        raise KubectlError(vocab.unknown_command.format(command=words[0] if words else ""))
    flags = vocab.flags(path)
    longs = {f.name: f for f in flags}
    shorts = {f.short: f for f in flags if f.short}
    opts: dict[str, Any] = {f.key: [] if f.takes == "list" else False if f.takes == "bool"
                            else vocab.defaults.get(f.key, "") for f in flags}
    opts.update({k: v for k, v in vocab.defaults.items() if k not in opts})

    def usage(message: str) -> KubectlError:
        return KubectlError(vocab.usage_error.format(message=message, command=path))

    def put(flag: Flag, value: str | None, shown: str) -> None:
        if flag.takes == "bool":
            if value is not None and value.lower() not in ("true", "false", "1", "0", "t", "f"):
                raise usage(vocab.bad_bool.format(value=value, name=flag.name))
            opts[flag.key] = value is None or value.lower() in ("true", "1", "t")
        elif value is None:
            raise usage(f"flag needs an argument: {shown}")
        elif flag.takes == "list":
            opts[flag.key].append(value)
        else:
            opts[flag.key] = value

    args: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            args += ["--", *argv[i:]]
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if name in vocab.unsimulated.get(path, ()):
                raise KubectlError(f"error: fake kubectl: --{name} of kubectl {path} is not "
                                   "simulated")
            if name not in longs:
                raise usage(f"unknown flag: --{name}")
            flag = longs[name]
            if not eq and flag.takes != "bool" and i < len(argv):
                value, eq, i = argv[i], "=", i + 1
            put(flag, value if eq else None, f"--{name}")
        elif arg.startswith("-") and arg != "-":
            letter, rest = arg[1], arg[2:]
            if letter not in shorts:
                raise usage(f"unknown shorthand flag: '{letter}' in {arg}")
            flag = shorts[letter]
            value: str | None = rest[1:] if rest.startswith("=") else rest or None
            if value is None and flag.takes != "bool" and i < len(argv):
                value, i = argv[i], i + 1
            put(flag, value, f"'{letter}' in {arg}")
        else:
            args.append(arg)
    return Command(path, args[len(path.split()):], opts, argv)


# ---------------------------------------------------------------- state


def state_path(kubeconfig: Path | None) -> Path:
    raw = os.environ.get("FAKE_KUBECTL_STATE", "")
    if raw:
        return Path(raw)
    if kubeconfig is None:
        raise KubectlError("error: fake kubectl: set FAKE_KUBECTL_STATE or pass --kubeconfig")
    return kubeconfig.parent / "state" / "fake-kubectl.json"


@contextmanager
def cluster_state(path: Path, write: bool = True) -> Iterator[dict[str, Any]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(path.read_text()) if path.exists() else {}
        data.setdefault("objects", {})
        data.setdefault("calls", [])
        yield data
        if write:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
            os.replace(tmp, path)


def key(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}"


def need_kubeconfig(cmd: Command) -> Path:
    if not cmd.opts["kubeconfig"]:
        raise KubectlError("error: fake kubectl: pass --kubeconfig (the scripts never use "
                           "~/.kube/config)")
    return Path(cmd.opts["kubeconfig"])


def load_kubeconfig(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise KubectlError(f'error: stat {path}: no such file or directory')
    try:
        cfg = yamlfast.load(path.read_text())
    except yamlfast.Error as exc:
        raise KubectlError(f"error: error loading config file \"{path}\": {exc}") from None
    if not isinstance(cfg, dict) or cfg.get("kind") != "Config":
        raise KubectlError(f'error: error loading config file "{path}": not a kubeconfig')
    ctx_name = cfg.get("current-context")
    contexts = {c["name"]: c["context"] for c in cfg.get("contexts") or []}
    if ctx_name not in contexts:
        raise KubectlError(f'error: current-context "{ctx_name}" does not exist in {path}')
    ctx = contexts[ctx_name]
    clusters = {c["name"]: c["cluster"] for c in cfg.get("clusters") or []}
    users = {u["name"]: u["user"] for u in cfg.get("users") or []}
    if ctx.get("cluster") not in clusters or ctx.get("user") not in users:
        raise KubectlError(f"error: context {ctx_name} names a missing cluster or user")
    cluster, user = clusters[ctx["cluster"]], users[ctx["user"]]
    for owner, name in ((cluster, "certificate-authority"), (user, "client-certificate"),
                        (user, "client-key")):
        ref = owner.get(name)
        if not ref:
            raise KubectlError(f"error: kubeconfig {path}: {name} is not set")
        file = Path(ref) if Path(ref).is_absolute() else path.parent / ref
        if not file.is_file():
            raise KubectlError(f"error: unable to read {name} {file}: no such file or directory")
    return {"server": cluster.get("server", ""), "dir": path.parent}


def exec_argv(args: list[str]) -> tuple[str, list[str]]:
    """``exec POD -- COMMAND...``: the pod and the command (the form both versions take)."""
    if "--" not in args:
        raise KubectlError("error: exec [POD] [COMMAND] is not supported anymore. "
                           "Use exec [POD] -- [COMMAND] instead")
    split = args.index("--")
    if split != 1 or split == len(args) - 1:
        raise KubectlError("error: fake kubectl: exec POD -- nslookup NAME")
    return args[0], args[split + 1:]


def lines(items: list[str]) -> str:
    return "".join(f"{line}\n" for line in items)
