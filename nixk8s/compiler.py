"""compile(spec) → Terraform JSON, or every problem found.

>>> from nixk8s.load import load
>>> spec = load(b'''
... name: demo
... backend: hcloud
... region: nbg1
... node_pools: [{name: system, instance_types: [cx32]}]
... hcloud: {image: nixos-k3s}
... ''').unwrap()
>>> sorted(compile_spec(spec).unwrap().document["resource"])
['hcloud_firewall', 'hcloud_placement_group', 'hcloud_server']
"""

from __future__ import annotations

from typing import Any

import msgspec
from returns.result import Failure, Result

from nixk8s.backends import backend_for
from nixk8s.backends.base import Backend, Built, build
from nixk8s.load import check
from nixk8s.plan import ClusterPlan, plan_cluster
from nixk8s.problems import Problem, Problems
from nixk8s.spec import ClusterSpec
from nixk8s.terraform import document, to_json


class Compiled(msgspec.Struct, frozen=True):
    """A compiled cluster: the Terraform document, and the plan behind it for ``explain``."""

    plan: ClusterPlan
    built: Built[Any]
    document: dict[str, Any]

    def to_json(self) -> bytes:
        return to_json(self.document)


def _compile_checked(spec: ClusterSpec) -> Result[Compiled, Problems]:
    backend: Backend[Any] | None = backend_for(spec.backend)
    if backend is None:
        return Failure((Problem("backend", f"backend {spec.backend} is not available in this version of nixk8s"),))
    plan = plan_cluster(spec, backend.default_format)
    return build(backend, plan).map(
        lambda built: Compiled(plan, built, document([backend.provider_for(plan)], built.fragment))
    )


def compile_spec(spec: ClusterSpec) -> Result[Compiled, Problems]:
    """Check ``spec`` and compile it. Pure: the same spec gives the same document."""
    return check(spec).bind(_compile_checked)


def compile_to_json(spec: ClusterSpec) -> Result[bytes, Problems]:
    """The ``main.tf.json`` bytes of ``spec``."""
    return compile_spec(spec).map(Compiled.to_json)

