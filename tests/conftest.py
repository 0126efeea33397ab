from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.baking import bake, copy_cluster


@pytest.fixture(scope="session")
def default_cluster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One bake on the built-in defaults, shared read-only by the whole session."""
    return bake(tmp_path_factory.mktemp("default-bake"))


@pytest.fixture
def cluster_copy(default_cluster: Path, tmp_path: Path) -> Path:
    """A writable copy of the default bake, for tests that change or apply it."""
    return copy_cluster(default_cluster, tmp_path)


@pytest.fixture
def bake_with(tmp_path: Path) -> Callable[..., Path]:
    """Bake with non-default answers: bake_with(worker_count=3, cluster_domain=...)."""
    counter = iter(range(1000))

    def _bake(**answers: Any) -> Path:
        return bake(tmp_path / f"bake-{next(counter)}", **answers)

    return _bake
