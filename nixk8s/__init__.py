"""nixk8s: compile a typed ClusterSpec into Terraform JSON for NixOS Kubernetes nodes.

The library is five functions (:mod:`nixk8s.api`; docs/library.md):
``compile``, ``validate``, ``explain``, ``schema`` and ``diff``. Each reads a spec
from bytes, text, a mapping or a ClusterSpec and returns ``Success(value)`` or
``Failure(problems)``, every problem of the spec with its path; none is raised.

>>> import nixk8s
>>> nixk8s.validate(b"name: demo\\nbackend: hcloud\\nregion: nbg1\\n").failure()
(Problem(path='node_pools', message='required field is missing'),)

Importing the package imports none of the compiler: each function is loaded on first
use, so that ``nixk8s --version`` and a tool that only imports nixk8s stay fast.
"""

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["compile", "validate", "explain", "schema", "diff"]

if TYPE_CHECKING:  # the functions' real home; imported on first use below
    from nixk8s.api import compile, diff, explain, schema, validate


def __getattr__(name: str) -> object:
    if name in __all__:
        from nixk8s import api

        function: object = getattr(api, name)
        globals()[name] = function  # looked up once
        return function
    raise AttributeError(f"module 'nixk8s' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
