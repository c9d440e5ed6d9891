"""The boot-time index probe (one shared stage): a machine's private IPv4 address,
fetched from its own cloud's metadata service, as a 32-bit node_index."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support import fake_curl_env, metadata_service, require_tool, shellcheck

from nixk8s.backends.aws.nodes import IMDS
from nixk8s.backends.hcloud.autoscaler import HETZNER_METADATA
from nixk8s.backends.azure.nodes import IMDS as AZURE
from nixk8s.backends.gcp.nodes import METADATA_SERVER as GCE
from nixk8s.index_probe import MetadataFetch, metadata_index_probe


FETCHES = {"hcloud": HETZNER_METADATA, "aws": IMDS, "gcp": GCE, "azure": AZURE}


def run_probe(tmp_path: Path, fetch: MetadataFetch, ipv4: str) -> subprocess.CompletedProcess[str]:
    sh = require_tool("sh", "dash")
    script = "set -eu\n" + metadata_index_probe(fetch).script + 'echo "${NODE_INDEX}"\n'
    env = fake_curl_env(tmp_path, metadata_service(fetch, ipv4))
    return subprocess.run([sh, "-c", script], capture_output=True, text=True, env=env)


@pytest.mark.parametrize("cloud", FETCHES)
def test_probe_turns_the_private_ipv4_address_into_an_integer(tmp_path: Path, cloud: str) -> None:
    result = run_probe(tmp_path, FETCHES[cloud], "10.20.1.5")
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == (10 << 24) + (20 << 16) + (1 << 8) + 5


@pytest.mark.parametrize("cloud", FETCHES)
def test_probe_fits_kindlings_unsigned_32_bit_index(tmp_path: Path, cloud: str) -> None:
    result = run_probe(tmp_path, FETCHES[cloud], "255.255.255.254")
    assert int(result.stdout) == 2**32 - 2


@pytest.mark.parametrize("cloud", FETCHES)
@pytest.mark.parametrize("ipv4", ["", "10.0.1", "10.0.1.2.3", "10.0.01.2", "10.0.x.2", "fe80::1"])
def test_probe_refuses_a_malformed_answer(tmp_path: Path, cloud: str, ipv4: str) -> None:
    result = run_probe(tmp_path, FETCHES[cloud], ipv4)
    assert result.returncode != 0
    assert result.stdout == ""
    assert "nixk8s: unexpected" in result.stderr


def test_probe_fails_when_the_metadata_service_does_not_answer(tmp_path: Path) -> None:
    wrong_header = MetadataFetch(service="GCE", url=GCE.url, header="Metadata-Flavor: Nope", answer="ip")
    sh = require_tool("sh", "dash")
    env = fake_curl_env(tmp_path, metadata_service(GCE, "10.0.0.5"))
    script = "set -eu\n" + metadata_index_probe(wrong_header).script + 'echo "${NODE_INDEX}"\n'
    result = subprocess.run([sh, "-c", script], capture_output=True, text=True, env=env)
    assert result.returncode != 0 and result.stdout == ""


def test_aws_probe_asks_imdsv2_for_a_session_token_first(tmp_path: Path) -> None:
    run_probe(tmp_path, IMDS, "10.0.0.5")
    log = (tmp_path / "requests.log").read_text().splitlines()
    assert '"method": "PUT"' in log[0] and "api/token" in log[0]
    assert "X-aws-ec2-metadata-token: a-session-token" in log[1]


@pytest.mark.parametrize("cloud", FETCHES)
def test_probe_passes_shellcheck(cloud: str) -> None:
    shellcheck("#!/bin/sh\nset -eu\n" + metadata_index_probe(FETCHES[cloud]).script + 'echo "${NODE_INDEX}"\n')


def test_a_url_with_shell_characters_is_quoted() -> None:
    assert "'http://169.254.169.254/metadata/" in metadata_index_probe(AZURE).script


def test_the_probe_names_the_service_it_reads() -> None:
    assert "GCE metadata server" in metadata_index_probe(GCE).source


def test_a_fetch_that_must_bypass_proxies_tells_curl_so() -> None:
    # Azure IMDS refuses requests that come through a proxy from the environment
    assert "--noproxy '*'" in metadata_index_probe(AZURE).script
    assert "--noproxy" not in metadata_index_probe(IMDS).script
