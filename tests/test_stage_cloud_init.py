"""Stage cloud_init: a node's config wrapped as a shell script or a #cloud-config.

The scripts are run for real with /bin/sh in a temporary root (absolute paths
rewritten), so the file they write, its mode and its node_index are checked as a
machine would see them.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from nixk8s.cloud_init import (
    CONFIG_PATH,
    DELIMITER,
    cloud_config_user_data,
    shell_user_data,
    user_data,
)
from nixk8s.index_probe import IndexProbe
from nixk8s.node_config import agent_config, config_json
from nixk8s.terraform import Expr, Template, render

from support import cloud_init_schema, compile_raw, embedded_json_text, minimal_spec, shellcheck, spec_from

HOSTILE = 'say "hi" \\ it\'s\nline two\r\t${HOME} %{if} $(id) `id` \u00e9 \u2028 \U0001f600 \nPANGEA_CONFIG_EOF\n'
PROBE = IndexProbe(script="NODE_INDEX=7\n", source="a test")


def config_text(**values: Any) -> Template:
    """The config JSON of a one-server cluster whose sops_age_key is ``values['secret']``
    (external credentials: the JSON is all literal)."""
    secret = values.get("secret", "AGE-SECRET-KEY")
    compiled = compile_raw(minimal_spec(credentials="external", bootstrap_secrets={"sops_age_key": secret}))
    return compiled.built.control_plane[0].json


def kindling_extract(script: str) -> str:
    """What kindling's EC2 init reads: the first heredoc opened on a line with << and the
    delimiter, verbatim up to a line that is exactly the delimiter."""
    lines = script.split("\n")
    assert lines[0].startswith("#!")
    start = next(i for i, line in enumerate(lines) if "<<" in line)
    assert DELIMITER in lines[start], "the first heredoc must be the config"
    end = lines.index(DELIMITER, start + 1)
    return "\n".join(lines[start + 1 : end])


def run_in_root(script: str, root: Path) -> subprocess.CompletedProcess[str]:
    """Run a user_data script with /etc and /run moved under ``root``."""
    local = script.replace("/etc/pangea", f"{root}/etc/pangea").replace("/run/nixk8s", f"{root}/run/nixk8s")
    assert "/etc/pangea" not in local.replace(f"{root}/etc/pangea", "")
    root.mkdir(parents=True, exist_ok=True)
    path = root / "user-data.sh"
    path.write_text(local)
    return subprocess.run(["/bin/sh", str(path)], capture_output=True, text=True, timeout=30)


def run_cloud_config(document: str, root: Path) -> subprocess.CompletedProcess[str] | None:
    """Do what cloud-init does with our document: write_files, then each runcmd."""
    doc = yaml.safe_load(document)
    for entry in doc["write_files"]:
        target = root / entry["path"].lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(entry["content"])
        os.chmod(target, int(entry["permissions"], 8))
    result = None
    for command in doc.get("runcmd", []):
        assert command[:2] == ["sh", "-c"]
        result = run_in_root("#!/bin/sh\n" + command[2], root)
        assert result.returncode == 0, result.stderr
    return result


# --- shell ------------------------------------------------------------------------------------------


def test_shell_starts_with_a_shebang_and_strict_mode() -> None:
    script = shell_user_data(config_text()).literal()
    assert script.startswith("#!/bin/sh\nset -eu\n")


def test_shell_heredoc_delimiter_is_exactly_pangea_config_eof() -> None:
    script = shell_user_data(config_text()).literal()
    assert "<<'PANGEA_CONFIG_EOF'\n" in script
    assert "\nPANGEA_CONFIG_EOF\n" in script
    assert DELIMITER == "PANGEA_CONFIG_EOF"


@pytest.mark.parametrize("probe", [None, PROBE])
def test_shell_config_is_the_first_heredoc(probe: IndexProbe | None) -> None:
    text = config_text()
    script = shell_user_data(text, probe).literal()
    assert kindling_extract(script) == text.literal()


def test_shell_heredoc_is_quoted_so_the_shell_expands_nothing(tmp_path: Path) -> None:
    text = config_text(secret=HOSTILE)
    result = run_in_root(shell_user_data(text).literal(), tmp_path)
    assert result.returncode == 0, result.stderr
    written = (tmp_path / CONFIG_PATH.lstrip("/")).read_text()
    assert json.loads(written)["bootstrap_secrets"]["sops_age_key"] == HOSTILE


def test_shell_writes_the_config_file_with_mode_0640(tmp_path: Path) -> None:
    result = run_in_root(shell_user_data(config_text()).literal(), tmp_path)
    assert result.returncode == 0, result.stderr
    target = tmp_path / CONFIG_PATH.lstrip("/")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert not (tmp_path / "etc/pangea/cluster-config.json.tmp").exists()


def test_shell_passes_shellcheck_and_bash_syntax_check() -> None:
    shellcheck(shell_user_data(config_text(secret=HOSTILE)).literal())
    shellcheck(shell_user_data(config_text(), PROBE).literal())


# --- cloud-config ------------------------------------------------------------------------------------


def test_cloud_config_starts_with_its_header_and_is_yaml() -> None:
    document = cloud_config_user_data(config_text()).literal()
    assert document.startswith("#cloud-config\n")
    assert isinstance(yaml.safe_load(document), dict)


def test_cloud_config_writes_the_file_with_mode_0640() -> None:
    (entry,) = yaml.safe_load(cloud_config_user_data(config_text()).literal())["write_files"]
    assert entry["path"] == CONFIG_PATH
    assert entry["permissions"] == "0640"
    assert entry["owner"] == "root:root"


def test_cloud_config_round_trips_a_hostile_value() -> None:
    text = config_text(secret=HOSTILE)
    document = cloud_config_user_data(text).literal()
    (entry,) = yaml.safe_load(document)["write_files"]
    assert json.loads(entry["content"])["bootstrap_secrets"]["sops_age_key"] == HOSTILE


def test_cloud_config_keeps_expressions_for_terraform() -> None:
    text = Template.of('{"join_server":', Expr("jsonencode(var.x)"), ',"shell":"${HOME}"}')
    rendered = render(cloud_config_user_data(text))
    assert '{"join_server":${jsonencode(var.x)},"shell":"$${HOME}"}' in rendered


def test_cloud_config_passes_the_cloud_init_schema() -> None:
    cloud_init_schema(cloud_config_user_data(config_text(secret=HOSTILE)).literal())
    cloud_init_schema(cloud_config_user_data(config_text(), PROBE).literal())


# --- both formats -------------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", ["AGE-SECRET-KEY", HOSTILE, "ends with a backslash \\"])
def test_both_formats_write_byte_identical_json(secret: str) -> None:
    text = config_text(secret=secret)
    shell = embedded_json_text(user_data("shell", text).literal())
    cloud = embedded_json_text(user_data("cloud-config", text).literal())
    assert shell.encode() == cloud.encode()
    assert shell == text.literal() + "\n"


def test_both_formats_write_byte_identical_files_when_run(tmp_path: Path) -> None:
    text = config_text(secret=HOSTILE)
    assert run_in_root(user_data("shell", text).literal(), tmp_path / "shell").returncode == 0
    (tmp_path / "cloud").mkdir()
    run_cloud_config(user_data("cloud-config", text).literal(), tmp_path / "cloud")
    shell = (tmp_path / "shell" / CONFIG_PATH.lstrip("/")).read_bytes()
    cloud = (tmp_path / "cloud" / CONFIG_PATH.lstrip("/")).read_bytes()
    assert shell == cloud


def test_config_json_is_printable_ascii() -> None:
    text = config_text(secret=HOSTILE).literal()
    assert all(0x20 <= ord(c) <= 0x7E for c in text)


# --- index probe ------------------------------------------------------------------------------------------


def agent_json() -> Template:
    """A config without node_index, as template-built nodes get."""
    raw = minimal_spec(node_pools=[minimal_spec()["node_pools"][0], {"name": "w", "instance_types": ["a"], "min_size": 1}],
                       bootstrap_secrets={"k3s_server_token": "t"}, network={})
    spec = spec_from(raw)
    return config_json(agent_config(spec, spec.worker_pools[0][1], None, join="10.0.1.2"))


def test_probe_config_has_no_node_index_before_boot() -> None:
    script = shell_user_data(agent_json(), PROBE).literal()
    assert "node_index" not in kindling_extract(script)


def test_shell_probe_writes_node_index_from_the_snippet(tmp_path: Path) -> None:
    result = run_in_root(shell_user_data(agent_json(), PROBE).literal(), tmp_path)
    assert result.returncode == 0, result.stderr
    target = tmp_path / CONFIG_PATH.lstrip("/")
    config = json.loads(target.read_text())
    assert config["node_index"] == 7
    assert config["role"] == "agent"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert not (tmp_path / "run/nixk8s/cluster-config.partial.json").exists()


def test_cloud_config_probe_writes_node_index_from_the_snippet(tmp_path: Path) -> None:
    document = cloud_config_user_data(agent_json(), PROBE).literal()
    (entry,) = yaml.safe_load(document)["write_files"]
    assert entry["path"] != CONFIG_PATH  # staged: kindling must not see a file without an index
    run_cloud_config(document, tmp_path)
    config = json.loads((tmp_path / CONFIG_PATH.lstrip("/")).read_text())
    assert config["node_index"] == 7


def test_probe_output_is_byte_identical_across_formats(tmp_path: Path) -> None:
    text = agent_json()
    assert run_in_root(user_data("shell", text, PROBE).literal(), tmp_path / "shell").returncode == 0
    (tmp_path / "cloud").mkdir()
    run_cloud_config(user_data("cloud-config", text, PROBE).literal(), tmp_path / "cloud")
    assert (tmp_path / "shell" / CONFIG_PATH.lstrip("/")).read_bytes() == (
        tmp_path / "cloud" / CONFIG_PATH.lstrip("/")
    ).read_bytes()


@pytest.mark.parametrize("snippet", ["NODE_INDEX=\n", "NODE_INDEX=dynamic\n", "NODE_INDEX=-1\n", "true\n"])
def test_probe_without_an_integer_index_fails_and_writes_no_file(tmp_path: Path, snippet: str) -> None:
    script = shell_user_data(agent_json(), IndexProbe(script=snippet, source="t")).literal()
    result = run_in_root(script, tmp_path)
    assert result.returncode != 0
    assert "no node index" in result.stderr
    assert not (tmp_path / CONFIG_PATH.lstrip("/")).exists()
