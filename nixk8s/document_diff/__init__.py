"""``nixk8s diff``: what changes between two Terraform documents, and what replaces machines.

Three parts and a report, each a module:

- :mod:`~nixk8s.document_diff.tfdoc` reads a document: its templates, references and locals,
  and a machine's user_data as the machine sees it; it refuses, with a path, a
  document that passes a bound (nesting, templates in templates, chains of locals,
  references followed);
- :mod:`~nixk8s.document_diff.classify` pairs the resources of two documents and classifies
  every changed argument into the frozen records of :mod:`~nixk8s.document_diff.records`;
- :mod:`~nixk8s.document_diff.replacement` is the replacement engine: which changes replace a
  resource, per each provider's table (written in :mod:`~nixk8s.document_diff.rules`, kept
  with its cloud), and what follows through references;
- :mod:`~nixk8s.diff_report` words a Diff, as text for people and JSON for tools.
"""

from nixk8s.document_diff.classify import compare, diff_documents
from nixk8s.document_diff.records import (
    EXIT_IN_PLACE,
    EXIT_NO_CHANGES,
    EXIT_REPLACES_MACHINES,
    AttributeChange,
    ConfigChange,
    Diff,
    DocumentChange,
    MachineEffect,
    ResourceChange,
)
from nixk8s.document_diff.tfdoc import TfDocument, document_problems, read_document

__all__ = [
    "EXIT_IN_PLACE",
    "EXIT_NO_CHANGES",
    "EXIT_REPLACES_MACHINES",
    "AttributeChange",
    "ConfigChange",
    "Diff",
    "DocumentChange",
    "MachineEffect",
    "ResourceChange",
    "TfDocument",
    "compare",
    "diff_documents",
    "document_problems",
    "read_document",
]
