"""A create the API refused with 429 (doctl gave up after its own retries) is sent again only
for the droplets that still do not exist, looked up by name: never a second droplet."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.applying import Apply

CREATE = "POST /v2/droplets"


@pytest.fixture
def apply(cluster_copy: Path, tmp_path: Path) -> Apply:
    return Apply.create(cluster_copy, tmp_path / "sim")


def _served_posts(apply: Apply) -> list[str]:
    return [e["path"] for e in apply.account()["api_log"]
            if e["call"] == CREATE and e["status"] == 202]


def test_refused_create_is_sent_again_for_the_missing_names_only(apply: Apply) -> None:
    apply.make("etcd", "controller")
    posts = apply.account()["api_calls"][CREATE]
    # the droplet creates of make worker: posts+1 worker-01, posts+2..posts+7 worker-02 refused
    # on every attempt (doctl gives up), posts+8 worker-03; the reads before them do not count
    out = apply.make("worker", WORKERS="3",
                     DOSIM_RATE_LIMIT_ON_KIND=f"{CREATE}:{posts + 2}-{posts + 7}").stderr
    assert "creating do-cluster-worker-01 do-cluster-worker-02 do-cluster-worker-03 was " \
           "refused by the API's rate limit (not sent again: not a read;" in out
    assert "created do-cluster-worker-01 (id " in out and "created do-cluster-worker-03" in out
    assert sorted(n for n in apply.droplets() if "-worker-" in n) == [
        f"do-cluster-worker-0{i}" for i in (1, 2, 3)]
    assert len(_served_posts(apply)) == 5  # etcd, controller, three workers: none twice


def test_refused_create_without_retries_stops_and_rerun_continues(apply: Apply) -> None:
    """Broken twin: RATE_LIMIT_RETRIES=0 stops with the re-run hint, nothing duplicated."""
    apply.make("etcd", "controller")
    posts = apply.account()["api_calls"][CREATE]
    proc = apply.make("worker", check=False, RATE_LIMIT_RETRIES="0",
                      DOSIM_RATE_LIMIT_ON_KIND=f"{CREATE}:{posts + 1}-{posts + 6}")
    assert proc.returncode != 0
    assert "refused by the API's rate limit" in proc.stderr
    assert "re-run 'make worker' to continue" in proc.stderr
    assert len(_served_posts(apply)) == 2
    apply.make("worker")
    assert len(_served_posts(apply)) == 3
