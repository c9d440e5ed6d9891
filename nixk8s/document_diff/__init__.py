"""``nixk8s diff``: what changes between two Terraform documents, and what replaces machines.

(Named so that ``nixk8s.diff`` stays the library's function, :func:`nixk8s.api.diff`.)
Three parts, each a module:

- :mod:`~nixk8s.document_diff.tfdoc` reads a document: what its arguments and locals
  refer to (in the template language of :mod:`~nixk8s.document_diff.templates`), and a
  machine's user_data as the machine sees it (:mod:`~nixk8s.document_diff.user_data`);
  it refuses, with a path, a document that passes a bound (nesting, templates in
  templates, chains of locals, references followed);
- :mod:`~nixk8s.document_diff.classify` pairs the resources of two documents and
  classifies every changed argument into the frozen records of
  :mod:`~nixk8s.document_diff.records`;
- :mod:`~nixk8s.document_diff.replacement` is the replacement engine: which changes
  replace a resource, per each provider's table (written in
  :mod:`~nixk8s.document_diff.rules`, kept with its cloud), and what follows through
  references;
- :mod:`~nixk8s.document_diff.hazards` says what the changes do to the cluster: etcd's
  quorum, a new cluster from server 0, config that running machines never see.

:mod:`nixk8s.diff_report` words a Diff, as text for people and JSON for tools.
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
    Hazard,
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
    "Hazard",
    "MachineEffect",
    "ResourceChange",
    "TfDocument",
    "compare",
    "diff_documents",
    "document_problems",
    "read_document",
]
