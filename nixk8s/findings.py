"""Findings: the problems and warnings of the specs a command read, for tools.

The command writes them in one of three forms (``--output``): text lines on stderr
(:func:`nixk8s.problems.format_problems`, :func:`nixk8s.warnings.format_warnings`),
the JSON document of :func:`findings_json`, or SARIF 2.1.0 (:mod:`nixk8s.sarif`). A
finding names its file, because ``diff`` reads two.

>>> from nixk8s.problems import Problem
>>> print(findings_json(problem_findings("spec.yaml", (Problem("region", "required field is missing"),))).decode())
{
  "problems": [
    {
      "file": "spec.yaml",
      "path": "region",
      "message": "required field is missing",
      "severity": "error"
    }
  ],
  "warnings": []
}
<BLANKLINE>
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import msgspec

from nixk8s.choices import WarningCode
from nixk8s.problems import Problem
from nixk8s.warnings import SpecWarning

Severity = Literal["error", "warning"]


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    """One problem (severity ``error``, no code) or warning of the spec in ``file``."""

    file: str
    path: str
    message: str
    severity: Severity
    code: WarningCode | None = None


Findings = tuple[Finding, ...]


def problem_findings(file: str, problems: Iterable[Problem]) -> Findings:
    return tuple(Finding(file=file, path=p.path, message=p.message, severity="error") for p in problems)


def warning_findings(file: str, warnings: Iterable[SpecWarning]) -> Findings:
    return tuple(
        Finding(file=file, path=w.path, message=w.message, severity="warning", code=w.code) for w in warnings
    )


def findings_data(findings: Iterable[Finding]) -> dict[str, list[dict[str, Any]]]:
    """``{"problems": [...], "warnings": [...]}``: each problem's file, path, message and
    severity; each warning's file, path, message, code and severity."""
    problems: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    for f in findings:
        if f.code is None:
            problems.append({"file": f.file, "path": f.path, "message": f.message, "severity": f.severity})
        else:
            warnings.append(
                {"file": f.file, "path": f.path, "message": f.message, "code": f.code, "severity": f.severity}
            )
    return {"problems": problems, "warnings": warnings}


def findings_json(findings: Iterable[Finding]) -> bytes:
    """The findings as ``--output json`` writes them: two-space indent, a final newline."""
    return msgspec.json.format(msgspec.json.encode(findings_data(findings)), indent=2) + b"\n"
