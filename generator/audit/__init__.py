"""Offline audit of a generated cluster repo: every artifact checked before it is applied.

`audit(path)` returns a Report; `python -m generator audit DIR` prints it.
"""

from generator.audit.run import audit

__all__ = ["audit"]
