"""Findings as a SARIF 2.1.0 log (``--output sarif``), so that CI code scanning (GitHub's,
among others) shows each problem and warning on its line of the spec.

One run, tool ``nixk8s``. Its rules are ``invalid-spec`` (every problem: a spec with
one does not compile) and one rule per warning code (docs/warnings.md), all listed
whichever occur, each with its help page. Each finding is a result at its file and,
for YAML and JSON specs, the line and column where its path is written
(:mod:`nixk8s.spec_lines`); its logical location is the spec path. A spec read from
stdin (``-``) has no file to point at: its results carry the spec path only.

>>> from nixk8s.findings import Finding
>>> log = msgspec.json.decode(sarif_log(
...     [Finding(file="spec.yaml", path="region", message="required field is missing", severity="error")],
...     {"spec.yaml": (b"name: demo\\n", "yaml")}))
>>> result = log["runs"][0]["results"][0]
>>> result["ruleId"], result["level"], result["locations"][0]["physicalLocation"]["region"]
('invalid-spec', 'error', {'startLine': 1, 'startColumn': 1})
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

import msgspec

from nixk8s import __version__
from nixk8s.choices import WARNING_CODES, SpecFormat
from nixk8s.findings import Finding
from nixk8s.spec_lines import Region, regions
from nixk8s.warnings import SUMMARIES

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
PROJECT = "https://github.com/nixk8s/nixk8s"
INVALID_SPEC = "invalid-spec"
STDIN = "-"


def rules() -> list[dict[str, Any]]:
    """Every rule: ``invalid-spec``, then each warning code in docs/warnings.md's order."""
    invalid = {
        "id": INVALID_SPEC,
        "shortDescription": {"text": "The spec is invalid: it does not compile"},
        "helpUri": f"{PROJECT}#the-command",
        "defaultConfiguration": {"level": "error"},
    }
    return [invalid] + [
        {
            "id": code,
            "shortDescription": {"text": SUMMARIES[code]},
            "helpUri": f"{PROJECT}/blob/main/docs/warnings.md#{code}",
            "defaultConfiguration": {"level": "warning"},
        }
        for code in WARNING_CODES
    ]


def artifact_uri(file: str) -> str:
    """The file as a URI reference: relative (to where the command ran, a repository's
    root in CI) as given, absolute as ``file://``.

    >>> artifact_uri("specs/my cluster.yaml"), artifact_uri("/srv/c.yaml")
    ('specs/my%20cluster.yaml', 'file:///srv/c.yaml')
    """
    posix = file.replace(os.sep, "/")
    return "file://" + quote(posix) if posix.startswith("/") else quote(posix)


def _location(finding: Finding, region: Region | None) -> dict[str, Any]:
    location: dict[str, Any] = {}
    if finding.file != STDIN:
        physical: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(finding.file)}}
        if region is not None:
            physical["region"] = {"startLine": region.line, "startColumn": region.column}
        location["physicalLocation"] = physical
    if finding.path:
        location["logicalLocations"] = [{"fullyQualifiedName": finding.path, "kind": "member"}]
    return location


def _result(finding: Finding, region: Region | None, index: Mapping[str, int]) -> dict[str, Any]:
    rule = finding.code or INVALID_SPEC
    text = f"{finding.path}: {finding.message}" if finding.path else finding.message
    location = _location(finding, region)
    return {
        "ruleId": rule,
        "ruleIndex": index[rule],
        "level": finding.severity,
        "message": {"text": text},
        **({"locations": [location]} if location else {}),
    }


def sarif_log(findings: Iterable[Finding], sources: Mapping[str, tuple[bytes, SpecFormat]]) -> bytes:
    """The SARIF log of ``findings``; ``sources`` holds each file's bytes and format, read
    for the findings' lines."""
    found = list(findings)
    where: dict[tuple[str, str], Region] = {}
    for file, (data, fmt) in sources.items():
        paths = {f.path for f in found if f.file == file}
        if file != STDIN and paths:
            where.update(((file, path), region) for path, region in regions(data, fmt, paths).items())
    listed = rules()
    index = {rule["id"]: i for i, rule in enumerate(listed)}
    log = {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "nixk8s",
                        "version": __version__,
                        "informationUri": PROJECT,
                        "rules": listed,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": [_result(f, where.get((f.file, f.path)), index) for f in found],
            }
        ],
    }
    return msgspec.json.format(msgspec.json.encode(log), indent=2) + b"\n"
