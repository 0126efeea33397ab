"""doctl's own authentication: the access token of the context a command runs in.

Source: digitalocean/doctl commands/doit.go and commands/auth.go. The context is ``--context``,
else ``DIGITALOCEAN_CONTEXT`` (viper's env prefix), else the config file's ``context``, else
``default``. The default context's token is ``--access-token``, else
``DIGITALOCEAN_ACCESS_TOKEN``, else the file's ``access-token``; a named context's token is only
ever the file's ``auth-contexts.<name>`` ("--access-token and DIGITALOCEAN_ACCESS_TOKEN only
ever feed the default context"). The file is ``--config``, else
``$XDG_CONFIG_HOME/doctl/config.yaml`` (``~/.config/doctl/config.yaml``), as ``doctl auth init``
writes it. ``doctl auth list`` prints ``default`` and every named context, sorted, the current
one marked `` (current)`` (displayAuthContexts); it needs no token and calls no API.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from . import yamlfast
from .cli import Cmd, Parsed

DEFAULT = "default"


def config_path(parsed: Parsed) -> Path:
    given = parsed.get("config")
    if given:
        return Path(str(given))
    home = os.environ.get("XDG_CONFIG_HOME") or str(Path(os.environ.get("HOME", "/")) / ".config")
    return Path(home) / "doctl" / "config.yaml"


def _config(parsed: Parsed) -> dict[str, Any]:
    path = config_path(parsed)
    if not path.is_file():
        return {}
    data = yamlfast.load(path.read_text()) or {}
    return data if isinstance(data, dict) else {}


def context(parsed: Parsed) -> str:
    return str(parsed.get("context") or os.environ.get("DIGITALOCEAN_CONTEXT")
               or _config(parsed).get("context") or DEFAULT)


def token(parsed: Parsed) -> str:
    config, name = _config(parsed), context(parsed)
    if name != DEFAULT:
        return str((config.get("auth-contexts") or {}).get(name) or "")
    return str(parsed.get("access-token") or os.environ.get("DIGITALOCEAN_ACCESS_TOKEN")
               or config.get("access-token") or "")


def run_auth_list(parsed: Parsed) -> int:
    current = context(parsed)
    names = sorted({DEFAULT, *(_config(parsed).get("auth-contexts") or {})})
    sys.stdout.write("".join(f"{n} (current)\n" if n == current else f"{n}\n" for n in names))
    return 0


def add_commands(root: Cmd) -> None:
    auth = root.add(Cmd("auth", "Display commands for authenticating doctl with an account"))
    auth.add(Cmd("list", "List available authentication contexts", aliases=("ls",),
                 run=run_auth_list))
