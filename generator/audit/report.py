"""Findings and the two renderings of an audit: a human report grouped by file, and JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, order=True)
class Finding:
    file: str  # relative to the cluster dir
    line: int  # 1-based; 1 for findings about a whole file
    severity: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.rule}: {self.message}"


@dataclass
class Report:
    cluster: str
    findings: list[Finding] = field(default_factory=list)

    def extend(self, findings: Iterable[Finding]) -> None:
        self.findings.extend(findings)

    @property
    def errors(self) -> int:
        return sum(f.severity == ERROR for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.severity == WARNING for f in self.findings)

    def sorted(self) -> list[Finding]:
        # The same problem can be reached twice (e.g. a manifest and its embedded copy
        # through two rules); report it once.
        return sorted(set(self.findings))

    def text(self) -> str:
        lines: list[str] = []
        current = None
        for finding in self.sorted():
            if finding.file != current:
                if current is not None:
                    lines.append("")
                lines.append(f"{finding.file}:")
                current = finding.file
            lines.append(f"  {finding}")
        files = len({f.file for f in self.findings})
        if lines:
            lines.append("")
        lines.append(
            f"audit {self.cluster}: {self.errors} error(s), {self.warnings} warning(s)"
            + (f" in {files} file(s)" if files else "")
        )
        return "\n".join(lines)

    def json(self) -> str:
        return json.dumps(
            {
                "cluster": self.cluster,
                "errors": self.errors,
                "warnings": self.warnings,
                "findings": [asdict(f) for f in self.sorted()],
            },
            indent=2,
        )
