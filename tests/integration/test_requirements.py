"""The integration tests' own gate: a missing program skips them, except under CI=true where
it fails the run; either way the message names the Debian package to install."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration import support
from tests.integration.support import require_program


def test_missing_program_skips_outside_ci(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install etcd-server"):
        require_program("etcd", "etcd-server")


def test_missing_program_fails_under_ci(monkeypatch: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install kubernetes-client"):
        require_program("kubectl", "kubernetes-client")


def test_stand_ins_are_not_the_real_program(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    """A fake kubectl among the stand-ins (tests/ of the checkout) never counts as kubectl."""
    fake = tmp_path / "standins"
    fake.mkdir()
    (fake / "kubectl").write_text("#!/bin/sh\n")
    (fake / "kubectl").chmod(0o755)
    monkeypatch.setattr(support, "STANDINS", tmp_path)
    monkeypatch.setenv("PATH", str(fake))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="kubernetes-client"):
        support.require_program("kubectl", "kubernetes-client")
