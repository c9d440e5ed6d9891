"""The library, as ``import nixk8s`` exports it: :func:`compile`, :func:`validate`,
:func:`explain`, :func:`schema` and :func:`diff`.

Every function that reads a spec takes a *source*:

- ``bytes``: a spec file's contents, in ``format`` (None: YAML);
- ``str``: the same, as text;
- a ``Mapping``: the spec as plain data, as a caller writes a dict (``format`` is not used);
- a :class:`~nixk8s.spec.ClusterSpec` built in code (``format`` is not used).

A spec's problems are never raised: each function returns ``Success(value)`` or
``Failure(problems)``, a tuple of :class:`~nixk8s.problems.Problem` holding every
problem found, each with its path in the spec. What is the caller's mistake rather
than the spec's is raised: a ``format`` other than ``"yaml"``, ``"toml"``, ``"json"``
or None is a ValueError naming them, a source of another type a TypeError.

>>> compile({"name": "demo", "backend": "hcloud", "region": "nbg1"}).failure()
(Problem(path='node_pools', message='required field is missing'),)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from returns.result import Failure, Result, Success

from nixk8s.choices import SpecFormat, spec_format
from nixk8s.compiler import Compiled, compile_data, compile_source, compile_spec
from nixk8s.problems import Problems
from nixk8s.spec import ClusterSpec
from nixk8s.warnings import Warnings

if TYPE_CHECKING:
    from nixk8s.diff_report import DiffReport, InputProblem
    from nixk8s.explanation import Explanation

Source = bytes | str | Mapping[str, Any] | ClusterSpec
"""A spec: its file's bytes, its text, its plain data, or a ClusterSpec built in code."""


def compile(source: Source, format: SpecFormat | None = None) -> Result[Compiled, Problems]:  # noqa: A001
    """The spec compiled: ``Compiled.to_json()`` is ``main.tf.json``, ``Compiled.warnings``
    what is valid but risky; or every problem of the spec.

    Type problems, the cross-field rules and the chosen cloud's own checks are reported
    together. Pure: the same spec always gives the same bytes.
    """
    fmt = spec_format(format)
    if isinstance(source, ClusterSpec):
        return compile_spec(source)
    if isinstance(source, (bytes, bytearray)):
        return compile_source(bytes(source), fmt or "yaml")
    if isinstance(source, str):
        # a lone surrogate cannot be UTF-8: kept, so that decoding reports it as a problem
        return compile_source(source.encode("utf-8", "surrogatepass"), fmt or "yaml")
    if isinstance(source, Mapping):
        return compile_data(dict(source))
    raise TypeError(
        f"a spec source is bytes, str, a mapping or a ClusterSpec, not {type(source).__name__}"
    )


def validate(source: Source, format: SpecFormat | None = None) -> Result[Warnings, Problems]:
    """The spec's warnings (an empty tuple for a clean spec) if it compiles, else every problem.

    It checks what :func:`compile` checks, the chosen cloud's checks included.
    """
    return compile(source, format).map(lambda compiled: compiled.warnings)


def explain(source: Source, format: SpecFormat | None = None) -> Result[Explanation, Problems]:
    """What the spec builds, as data (the :class:`~nixk8s.explanation.Explanation` that
    ``nixk8s explain`` renders as text, JSON or mermaid), or every problem."""
    from nixk8s.explanation import explanation  # only explain needs it

    return compile(source, format).map(explanation)


def schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of the ClusterSpec, as ``nixk8s schema`` prints it."""
    from nixk8s.json_schema import cluster_spec_schema  # only schema needs it

    return cluster_spec_schema()


def diff(old: Source, new: Source, format: SpecFormat | None = None) -> Result[DiffReport, tuple[InputProblem, ...]]:
    """What changes from ``old`` (deployed) to ``new`` (proposed), and whether it replaces
    machines; or the problems of either spec, each naming its side (``old`` or ``new``).

    ``format`` applies to both sources.
    """
    from nixk8s.diff_report import DiffReport, InputProblem, Side
    from nixk8s.document_diff import diff_documents

    before, after = compile(old, format), compile(new, format)
    if isinstance(before, Success) and isinstance(after, Success):
        compiled_old, compiled_new = before.unwrap(), after.unwrap()
        return Success(DiffReport(diff_documents(compiled_old.document, compiled_new.document), compiled_old, compiled_new))
    sides: tuple[tuple[Side, Result[Compiled, Problems]], ...] = (("old", before), ("new", after))
    return Failure(
        tuple(
            InputProblem(p.path, p.message, side)
            for side, result in sides
            if isinstance(result, Failure)
            for p in result.failure()
        )
    )
