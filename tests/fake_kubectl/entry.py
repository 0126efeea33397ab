"""Entry point of the kubectl and curl stand-ins: ``entry.py PROFILE TOOL ARGS...``.

The four wrappers (tests/fake_kubectl/{kubectl,curl}, tests/fake_kubectl_current/{kubectl,curl})
are bash, running this file with ``${DOSIM_PYTHON:-python3}`` as the doctl, ssh and scp
stand-ins do: a ``#!/usr/bin/env python3`` line finds whatever python3 is first on PATH (a
pyenv shim costs ~150 ms a call, and the apply scripts call kubectl hundreds of times).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests.standins


def run(profile: str, tool: str, argv: list[str]) -> int:
    if profile == "current":
        import current_cluster as cluster
    else:
        import fake_cluster as cluster  # type: ignore[no-redef]
    code, out, err = (cluster.curl if tool == "curl" else cluster.kubectl)(argv)
    sys.stdout.write(out)
    sys.stderr.write(err)
    return code


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], sys.argv[2], sys.argv[3:]))
