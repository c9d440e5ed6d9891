"""nixk8s: compile a typed ClusterSpec into Terraform JSON for NixOS Kubernetes nodes.

The public API is small: :func:`nixk8s.load.load` (bytes → ``Result[ClusterSpec,
Problems]``) and :func:`nixk8s.compiler.compile_spec` (``ClusterSpec →
Result[Compiled, Problems]``); ``Compiled.to_json()`` gives ``main.tf.json``.
"""

__version__ = "0.1.0"
