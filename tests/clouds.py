"""The clouds as the tests see them: one row each, read by every test that runs the
same behaviour on every cloud (tests/test_backends.py) and by each cloud's own tests.

>>> CLOUDS["gcp"].spec()["gcp"]["project"]
'my-project'
>>> [p["min_size"] for p in CLOUDS["aws"].spec(servers=3)["node_pools"]]
[3, 2]
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from strategies import AZURE_ADMIN_KEY, AZURE_IMAGES
from support import SPECS

AMI = "ami-0123456789abcdef0"
GCP_IMAGE = "projects/my-project/global/images/nixos-k3s"


@dataclasses.dataclass(frozen=True)
class CloudCase:
    """What a small valid spec for one cloud holds, and where its examples are."""

    name: str
    region: str
    server_type: str
    worker_type: str
    block: dict[str, Any]
    network: dict[str, Any]
    examples: tuple[str, ...]
    """example specs in specs/ that must exist"""

    def spec(self, *, servers: int = 1, **overrides: Any) -> dict[str, Any]:
        """A small valid spec as raw data: ``servers`` servers and a pool of two workers;
        each override replaces a field, None removes it."""
        spec: dict[str, Any] = {
            "name": "demo",
            "backend": self.name,
            "region": self.region,
            "node_pools": [
                {"name": "system", "instance_types": [self.server_type], "min_size": servers, "max_size": servers},
                {"name": "workers", "instance_types": [self.worker_type], "min_size": 2, "max_size": 5},
            ],
            "network": dict(self.network),
            "bootstrap_secrets": {"k3s_server_token": "a-token"},
            self.name: dict(self.block),
        }
        spec.update(overrides)
        return {k: v for k, v in spec.items() if v is not None}

    def example_specs(self) -> list[Path]:
        """Every example in specs/ for this cloud."""
        return sorted(p for p in SPECS.iterdir() if p.name.startswith(f"{self.name}-"))


CLOUDS: dict[str, CloudCase] = {
    c.name: c
    for c in (
        CloudCase(
            name="hcloud",
            region="nbg1",
            server_type="cx32",
            worker_type="cx42",
            block={"image": "nixos-snapshot"},
            network={"vpc_cidr": "10.0.0.0/16"},
            examples=("hcloud-k3s.yaml", "hcloud-kubernetes.toml", "hcloud-k3s-private.yaml"),
        ),
        CloudCase(
            name="aws",
            region="eu-central-1",
            server_type="m6i.large",
            worker_type="m6i.large",
            block={"ami_id": AMI},
            network={"vpc_cidr": "10.0.0.0/16"},
            examples=("aws-k3s-ha.yaml", "aws-kubernetes.yaml", "aws-k3s-private.yaml"),
        ),
        CloudCase(
            name="gcp",
            region="europe-west1",
            server_type="e2-standard-2",
            worker_type="e2-standard-4",
            block={"project": "my-project", "image": GCP_IMAGE},
            network={"vpc_cidr": "10.8.0.0/16", "subnet_cidr": "10.8.1.0/24"},
            examples=("gcp-k3s.yaml", "gcp-kubernetes.yaml", "gcp-kubernetes-ha.yaml", "gcp-k3s-private.yaml"),
        ),
        CloudCase(
            name="azure",
            region="westeurope",
            server_type="Standard_D2s_v5",
            worker_type="Standard_D4s_v5",
            block={"admin_ssh_public_key": AZURE_ADMIN_KEY, "image_id": AZURE_IMAGES[0]},
            network={"vpc_cidr": "10.0.0.0/16", "subnet_cidr": "10.0.1.0/24"},
            examples=("azure-k3s.yaml", "azure-kubernetes.yaml", "azure-k3s-private.yaml"),
        ),
    )
}


def aws_spec(**overrides: Any) -> dict[str, Any]:
    """A small valid aws spec: one server, one worker pool (see :meth:`CloudCase.spec`)."""
    return CLOUDS["aws"].spec(**overrides)


def azure_spec(**overrides: Any) -> dict[str, Any]:
    """A small valid azure spec: one server, one worker pool (see :meth:`CloudCase.spec`)."""
    return CLOUDS["azure"].spec(**overrides)


def gcp_spec(**overrides: Any) -> dict[str, Any]:
    """A small valid gcp spec: three servers, one worker pool (see :meth:`CloudCase.spec`)."""
    return CLOUDS["gcp"].spec(servers=3, **overrides)
