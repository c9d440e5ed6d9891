"""compile(spec) → Terraform JSON, or every problem found.

The backend is looked up once, here: its own checks run on the plan beside the
cloud-neutral ones, then the shared pipeline builds the document.

>>> from nixk8s.load import load
>>> spec = load(b'''
... name: demo
... backend: hcloud
... region: nbg1
... node_pools: [{name: system, instance_types: [cx32]}]
... hcloud: {image: nixos-k3s}
... ''').unwrap()
>>> sorted(compile_spec(spec).unwrap().document["resource"])[:3]
['hcloud_firewall', 'hcloud_placement_group', 'hcloud_server']
"""

from __future__ import annotations

from typing import Any

import msgspec
from returns.result import Failure, Result

from nixk8s.assemble import main_tf_json
from nixk8s.backends.registry import backend_for
from nixk8s.backends.base import Backend
from nixk8s.backends.pipeline import Built, backend_problems, build, plan_for
from nixk8s.load import (
    Examined,
    SpecFormat,
    beside,
    check,
    decode_data,
    decode_source,
    examine,
    format_hint,
    neutral_problems,
)
from nixk8s.plan import ClusterPlan
from nixk8s.problems import Problem, Problems, sorted_problems
from nixk8s.spec import ClusterSpec
from nixk8s.terraform import ProviderRequirement
from nixk8s.warnings import Warnings, spec_warnings


class Compiled(msgspec.Struct, frozen=True):
    """A compiled cluster: ``main.tf.json``, the plan behind it for ``explain``, and the
    warnings about the spec (:mod:`nixk8s.warnings`), returned here and never printed."""

    plan: ClusterPlan
    built: Built[Any]
    json: bytes
    warnings: Warnings = ()

    def to_json(self) -> bytes:
        return self.json

    @property
    def document(self) -> dict[str, Any]:
        """The Terraform document as plain data (decoded from :attr:`json` on each call)."""
        return msgspec.json.decode(self.json)  # type: ignore[no-any-return]


def _providers(backend: Backend[Any], plan: ClusterPlan) -> list[ProviderRequirement]:
    """The cloud's provider, and tls and random where Terraform makes credentials."""
    made = plan.credentials
    return [backend.provider_for(plan), *(made.providers if made is not None else ())]


def _backend(spec: ClusterSpec) -> Backend[Any] | Problem:
    backend = backend_for(spec.backend)
    if backend is None:
        return Problem("backend", f"backend {spec.backend} is not available in this version of nixk8s")
    return backend


def _compile(spec: ClusterSpec, earlier: Problems = (), damaged: tuple[str, ...] = ()) -> Result[Compiled, Problems]:
    """Plan ``spec`` for its backend, check it there, and build it.

    ``earlier`` are the problems already found (reported beside the backend's);
    ``damaged`` the places whose broken values were dropped from ``spec``.
    """
    backend = _backend(spec)
    if isinstance(backend, Problem):
        return Failure(sorted_problems([*earlier, backend]))
    plan = plan_for(backend, spec)
    problems = sorted_problems([*earlier, *beside(backend_problems(backend, plan), damaged)])
    if problems:
        return Failure(problems)
    return build(backend, plan).map(
        lambda built: Compiled(
            plan,
            built,
            main_tf_json(_providers(backend, plan), built.fragment, built.workers),
            spec_warnings(plan, backend),
        )
    )


def compile_spec(spec: ClusterSpec) -> Result[Compiled, Problems]:
    """Check ``spec`` (built in code or loaded) and compile it. Pure: the same spec gives the same document."""
    return check(spec).bind(_compile)


def _compile_examined(examined: Examined) -> Result[Compiled, Problems]:
    if examined.spec is None:
        return Failure(examined.problems)
    if "backend" in examined.damaged:  # a stand-in's checks would speak of a cloud the spec did not choose
        return Failure(neutral_problems(examined))
    return _compile(examined.spec, neutral_problems(examined), examined.damaged)


def compile_source(data: bytes, fmt: SpecFormat = "yaml") -> Result[Compiled, Problems]:
    """Spec bytes to a compiled cluster in one pass, or every problem at once.

    Type problems, the cross-field rules and the chosen cloud's own checks are
    reported together: the rules and the cloud's checks run on what is left of a
    spec once its broken values are dropped. The spec is checked once.
    """
    return decode_source(data, fmt).map(examine).bind(_compile_examined).lash(format_hint(data, fmt))


def compile_data(raw: Any) -> Result[Compiled, Problems]:
    """A spec given as plain data (a mapping as a caller writes it, before any typing)
    to a compiled cluster, or every problem at once, as :func:`compile_source` reports them."""
    return decode_data(raw).map(examine).bind(_compile_examined)


def compile_to_json(spec: ClusterSpec) -> Result[bytes, Problems]:
    """The ``main.tf.json`` bytes of ``spec``."""
    return compile_spec(spec).map(Compiled.to_json)
