"""The example Hetzner spec compiles and the real terraform plans it."""

from __future__ import annotations

from pathlib import Path

from support import SPECS, compile_file, tfcheck, write_module


def test_example_hcloud_spec_passes_terraform_plan(tmp_path: Path) -> None:
    compiled = compile_file(SPECS / "hcloud-k3s.yaml")
    tfcheck(write_module(compiled, tmp_path), "--plan")
