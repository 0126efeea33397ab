from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from generator import lintcache
from tests.applying import LINT_BIN, cache_bytecode, snapshot
from tests.baking import bake, copy_cluster


@pytest.fixture(scope="session", autouse=True)
def cookiecutter_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keep cookiecutter's replay files and clones out of the user's home directory."""
    home = tmp_path_factory.mktemp("cookiecutter-home")
    config = home / "config.yaml"
    config.write_text(f"cookiecutters_dir: {home / 'clones'}\nreplay_dir: {home / 'replay'}\n")
    os.environ["COOKIECUTTER_CONFIG"] = str(config)
    return home


@pytest.fixture(scope="session", autouse=True)
def lint_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One lint cache for the run (generator/lintcache.py), never the user's: shared by
    the pytest-xdist workers (their base temp dirs are siblings; entries are renamed into
    place), so each distinct script is shellchecked once per run."""
    base = tmp_path_factory.getbasetemp()
    path = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "lint-cache"
    os.environ[lintcache.ENV] = str(path)
    return path


@pytest.fixture(scope="session", autouse=True)
def bytecode_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One bytecode cache for the run's stand-ins (tests.applying.cache_bytecode), shared by
    the xdist workers (Python renames each .pyc into place)."""
    base = tmp_path_factory.getbasetemp()
    path = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "pycache"
    cache_bytecode(path)
    return path


@pytest.fixture(scope="session", autouse=True)
def venv_tools_on_path() -> None:
    """shellcheck, yamllint and k8s-do live beside this interpreter, activated or not; the
    shellcheck found on PATH is tests/lintbin's (each distinct check once per run)."""
    venv = Path(sys.executable).parent
    os.environ["SHELLCHECK_REAL"] = str(venv / "shellcheck")
    os.environ["PATH"] = os.pathsep.join([str(LINT_BIN), str(venv), os.environ["PATH"]])


@pytest.fixture(scope="session")
def default_cluster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One bake of the tutorial profile on its defaults (tests.baking: most suites check its
    files), shared read-only by the whole session."""
    return bake(tmp_path_factory.mktemp("default-bake"))


@pytest.fixture(scope="session")
def current_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One bake of the current profile on its defaults, shared by every module that only reads
    it (each used to bake its own). A test that changes it fails here, at the session's end:
    copy it first (copy_cluster)."""
    cluster = bake(tmp_path_factory.mktemp("current-bake"), profile="current")
    before = snapshot(cluster)
    yield cluster
    assert snapshot(cluster) == before, f"a test changed the shared bake {cluster}"


@pytest.fixture
def cluster_copy(default_cluster: Path, tmp_path: Path) -> Path:
    """A writable copy of default_cluster, for tests that change or apply it."""
    return copy_cluster(default_cluster, tmp_path)


@pytest.fixture
def bake_with(tmp_path: Path) -> Callable[..., Path]:
    """Bake with non-default answers: bake_with(worker_count=3, _cluster_domain=...); the
    tutorial profile unless profile= names another (tests.baking.bake)."""
    counter = iter(range(1000))

    def _bake(**answers: Any) -> Path:
        return bake(tmp_path / f"bake-{next(counter)}", **answers)

    return _bake
