"""The compiled-template cache (generator/jinja_ext.py CompiledTemplates, in the lint cache's
directory): a render after a change to a template, or to an option that changes what it
compiles to, is the changed render; a second bake is the same bake."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader

from generator import lintcache
from generator.jinja_ext import ClusterFacts
from tests.baking import bake


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "lint-cache"
    monkeypatch.setenv(lintcache.ENV, str(directory))
    return directory / "jinja"


def render(templates: Path, **options: bool) -> str:
    env = Environment(loader=FileSystemLoader(templates), extensions=[ClusterFacts],
                      keep_trailing_newline=True, **options)
    return env.get_template("t.txt").render(name="do-cluster")


def test_a_changed_template_renders_changed(cache: Path, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "t.txt").write_text("{{ name }} one\n")
    assert render(templates) == "do-cluster one\n"
    assert len(list(cache.iterdir())) == 1  # compiled once, kept
    assert render(templates) == "do-cluster one\n"
    (templates / "t.txt").write_text("{{ name | upper }} two\n")
    assert render(templates) == "DO-CLUSTER two\n"


def test_a_compile_option_is_part_of_the_key(cache: Path, tmp_path: Path) -> None:
    """trim_blocks changes the compiled code, not the source: a cached compile without it
    must not serve a render with it."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "t.txt").write_text("{% if name %}\n{{ name }}\n{% endif %}\n")
    assert render(templates) == "\ndo-cluster\n\n"
    assert render(templates, trim_blocks=True) == "do-cluster\n"
    assert len(list(cache.iterdir())) == 2


def test_off_keeps_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(lintcache.ENV, lintcache.OFF)
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "t.txt").write_text("{{ name }}\n")
    env = Environment(loader=FileSystemLoader(templates), extensions=[ClusterFacts])
    assert env.bytecode_cache is None


def test_a_cached_bake_is_the_same_bake(cache: Path, tmp_path: Path) -> None:
    first = bake(tmp_path / "first")
    compiled = sorted(p.name for p in cache.iterdir())
    assert compiled  # the template's files, compiled by the first bake
    second = bake(tmp_path / "second")
    assert sorted(p.name for p in cache.iterdir()) == compiled  # all hits, nothing new
    rendered = [p.relative_to(first) for p in first.rglob("*")
                if p.is_file() and p.parts[len(first.parts)] not in ("pki", "docs")]
    match, mismatch, errors = filecmp.cmpfiles(first, second, rendered, shallow=False)
    assert (mismatch, errors) == ([], []) and len(match) == len(rendered) > 50
