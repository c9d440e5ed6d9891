"""Generated credentials (``credentials: generated``): which argument changes make
Terraform replace the tls and random resources (data).

No cloud owns these providers, so their tables live beside the engine rather than in a
cloud's package. Read from ``hashicorp/terraform-provider-tls`` (4.1.0) and
``hashicorp/terraform-provider-random`` (3.7.2), ``internal/provider/resource_*.go``: every
argument is ``RequiresReplace()`` but ``early_renewal_hours``, a plan-time setting. A
replaced authority cascades, through the references, into every server's user_data.
"""

from __future__ import annotations

from nixk8s.document_diff.rules import ProviderRules, ResourceRule

_TLS = "internal/provider/"
_RANDOM = "internal/provider/"
_NEW_AUTHORITY = (
    "a new key or certificate: every server's user_data that holds it changes, and a running cluster "
    "keeps the old one (its nodes never rewrite existing files)"
)
_NEW_JOIN_CREDENTIAL = "a new join credential: nodes that join afterwards get it, the running cluster keeps the old one"

TLS = ProviderRules(
    provider="tls",
    source="hashicorp/tls",
    version="4.1.0",
    repository="hashicorp/terraform-provider-tls",
    rules={
        "tls_private_key": ResourceRule(
            source=_TLS + "resource_private_key.go", replacing=("*",), replaced_note=_NEW_AUTHORITY
        ),
        "tls_self_signed_cert": ResourceRule(
            source=_TLS + "resource_self_signed_cert.go",
            replacing=("*",),
            updatable=("early_renewal_hours",),
            replaced_note=_NEW_AUTHORITY,
        ),
        "tls_cert_request": ResourceRule(source=_TLS + "resource_cert_request.go", replacing=("*",)),
        "tls_locally_signed_cert": ResourceRule(
            source=_TLS + "resource_locally_signed_cert.go",
            replacing=("*",),
            updatable=("early_renewal_hours",),
            replaced_note="a new admin certificate: the kubeconfig output changes, no node does",
        ),
    },
)

RANDOM = ProviderRules(
    provider="random",
    source="hashicorp/random",
    version="3.7.2",
    repository="hashicorp/terraform-provider-random",
    rules={
        "random_password": ResourceRule(
            source=_RANDOM + "resource_password.go", replacing=("*",), replaced_note=_NEW_JOIN_CREDENTIAL
        ),
        "random_string": ResourceRule(
            source=_RANDOM + "resource_string.go", replacing=("*",), replaced_note=_NEW_JOIN_CREDENTIAL
        ),
    },
)

#: the tables of the providers nixk8s uses outside any cloud
TABLES = (TLS, RANDOM)
