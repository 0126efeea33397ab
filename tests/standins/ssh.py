"""``ssh`` stand-in: ``python -m tests.standins.ssh [options] [user@]IP [command]``.

With a command, runs it (stdin passed through); without one, runs the commands read from
stdin, as ``ssh host <<EOF`` does.  Exit status: the remote shell's, or 255 when ssh itself
fails (unreachable host, host key, authentication).
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import remote, sandbox
from . import state as st

NO_ARG = "46AaCfGgKkMNnqsTtVvXxYy"
WITH_ARG = "BbcDEeFIiJLlmOopQRSWw"


def main(argv: list[str]) -> int:
    try:
        inv = remote.parse("ssh", argv, NO_ARG, WITH_ARG)
        if not inv.operands:
            raise remote.RemoteFailure("usage: ssh [-46AaCfGgKkMNnqsTtVvXxYy] ... destination "
                                       "[command [argument ...]]")
        destination, *command = inv.operands
        user, _host, rec = remote.connect(inv, destination)
    except remote.RemoteFailure as err:
        sys.stderr.write(f"{err}\n")
        return err.status
    except st.ConfigError as err:
        sys.stderr.write(f"dosim ssh: {err}\n")
        return 255
    root = Path(rec["sim"]["root"])
    if command:
        return sandbox.run(root, user, rec["name"], " ".join(command), script_on_stdin=False)
    script = "" if "n" in inv.flags else sys.stdin.read()
    return sandbox.run(root, user, rec["name"], script, script_on_stdin=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
