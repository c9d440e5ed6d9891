"""main.tf.json's bytes, assembled from what the pipeline built.

The pipeline (:func:`nixk8s.backends.pipeline.build`) hands over one fragment (the
foundation, the servers, template-built pools, what stamped pools have once, the
outputs) and its stamped pools (:class:`~nixk8s.stamp.StampedPool`). The fragment
is encoded as the document; each stamped pool's one machine is written once, as the
document writes a resource body, and each of its machines is that text with the
machine's values filled in, spliced in beside the other resources of its type
(:func:`nixk8s.terraform.to_json`). No other module writes the document.
"""

from __future__ import annotations

from collections.abc import Iterable

from nixk8s.render import WorkerPool
from nixk8s.stamp import StampedPool, stamper
from nixk8s.terraform import Fragment, ProviderRequirement, document, formatted_body, to_json


def machine_resources(pool: StampedPool) -> dict[str, list[tuple[str, bytes]]]:
    """Every machine's copy of the pool's resources, as ``{TYPE: [(NAME, body)]}`` with
    each body written as the document writes it in place."""
    prepared = [(r.type, stamper(r.name, pool.slots), stamper(formatted_body(r.body), pool.slots)) for r in pool.resources]
    out: dict[str, list[tuple[str, bytes]]] = {kind: [] for kind, _, _ in prepared}
    for machine in pool.machines:
        text = machine.text().values()
        data = tuple(value.encode() for value in text)
        for kind, name, body in prepared:
            out[kind].append((name(text), body(data)))
    return out


def main_tf_json(
    providers: Iterable[ProviderRequirement], fragment: Fragment, pools: Iterable[WorkerPool | StampedPool]
) -> bytes:
    """The document's bytes: ``fragment``, and the machines of every stamped pool."""
    written: dict[str, list[tuple[str, bytes]]] = {}
    for pool in pools:
        if isinstance(pool, StampedPool):
            for kind, bodies in machine_resources(pool).items():
                written.setdefault(kind, []).extend(bodies)
    return to_json(document(providers, fragment), written)
