"""The lab provider's replacement table: which argument changes replace a lab machine."""

from __future__ import annotations

from nixk8s.document_diff.rules import Disruption, ProviderRules, ResourceRule

TABLE = ProviderRules(
    provider="lab",
    source="example/lab",
    version="1.0.0",
    repository="example/terraform-provider-lab",
    rules={
        "lab_machine": ResourceRule(
            source="internal/machine/resource.go",
            role="machine",
            replacing=("name", "user_data"),
            disruptive=(Disruption("size", "⚠ the lab powers the machine off to resize it"),),
        ),
    },
)
