"""A made-up fifth cloud, "lab", that lives outside nixk8s: what adding a cloud takes.

tests/test_fifth_cloud.py registers it with ``NIXK8S_CLOUDS=fifth_cloud.options`` and
compiles a spec for it end to end. docs/architecture.md's "Adding a cloud" lists what
these two modules hold.
"""
