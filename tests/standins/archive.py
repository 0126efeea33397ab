"""``tar`` on the droplets: only what `make backup` sends, ``tar -C DIR -czf - PATH...`` (a
gzip'd archive of PATH under DIR on stdout, binary: it runs as its own process, not through
the op server). Reading needs the permissions the droplet's kernel would check."""

from __future__ import annotations

import io
import sys
import tarfile
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .rops import Session


def op_tar(s: Session, args: list[str]) -> int:
    if len(args) < 5 or args[0] != "-C" or args[2] != "-czf" or args[3] != "-":
        sys.stderr.write(f"tar {' '.join(args)}: not simulated (dosim: tar -C DIR -czf - "
                         "PATH...)\n")
        return 2
    base = s.dpath(args[1])
    if not s.host(base).is_dir():
        sys.stderr.write(f"tar: {args[1]}: Cannot open: No such file or directory\n")
        return 2
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in args[4:]:
            dp = s.dpath(base + "/" + name)
            path = s.host(dp)
            if not path.exists():
                sys.stderr.write(f"tar: {name}: Cannot stat: No such file or directory\n")
                return 2
            for item in [path, *sorted(path.rglob("*"))]:
                rel = item.relative_to(s.host(base))
                if not s.can_read(s.dpath(base + "/" + str(rel))):
                    sys.stderr.write(f"tar: {rel}: Cannot open: Permission denied\n")
                    return 2
            archive.add(path, arcname=name)
    sys.stdout.flush()
    sys.stdout.buffer.write(buffer.getvalue())
    sys.stdout.buffer.flush()
    return 0
