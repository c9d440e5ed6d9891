"""Stage terraform: escaping, expressions, templates, and the deterministic document."""

from __future__ import annotations

import json

import pytest

from nixk8s.terraform import (
    Expr,
    Fragment,
    Output,
    ProviderRequirement,
    Resource,
    Template,
    Variable,
    call,
    document,
    encode_value,
    escape,
    hcl_string,
    ref,
    render,
    to_json,
)

from support import compile_raw, minimal_spec

PROVIDER = ProviderRequirement("hcloud", "hetznercloud/hcloud", ">= 1.45")


# --- escaping -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "escaped"),
    [
        ("${HOME}", "$${HOME}"),
        ("%{if x}", "%%{if x}"),
        ("a ${b} %{c} d", "a $${b} %%{c} d"),
        ("$HOME %d $ { % {", "$HOME %d $ { % {"),
        ("$${already}", "$$${already}"),
        ("", ""),
    ],
)
def test_literal_is_escaped_for_terraform_templates(literal: str, escaped: str) -> None:
    assert escape(literal) == escaped


def test_every_literal_string_in_a_document_value_is_escaped() -> None:
    value = {"a": "${x}", "b": ["%{y}", {"c": "${z}"}], "n": 1, "t": True, "none": None}
    assert encode_value(value) == {"a": "$${x}", "b": ["%%{y}", {"c": "$${z}"}], "n": 1, "t": True, "none": None}


def test_map_keys_are_escaped() -> None:
    assert encode_value({"${k}": "v", "%{k}": {"${inner}": 1}}) == {"$${k}": "v", "%%{k}": {"$${inner}": 1}}


def test_tuples_become_lists() -> None:
    assert encode_value(("${a}", "b")) == ["$${a}", "b"]


def test_shell_variables_in_user_data_survive_terraform() -> None:
    compiled = compile_raw(minimal_spec(user_data_format="shell", bootstrap_secrets={"sops_age_key": "${NOT_A_REF}"}))
    user_data = compiled.document["resource"]["hcloud_server"]["demo_cp_0"]["user_data"]
    assert "$${NOT_A_REF}" in user_data
    assert "${NOT_A_REF}" not in user_data.replace("$${", "")


def test_literal_in_a_resource_body_is_escaped_in_the_output() -> None:
    compiled = compile_raw(minimal_spec(tags={"note": "a"}, fluxcd={"source_url": "https://x/${y}.git"}))
    text = compiled.to_json().decode()
    assert "https://x/$${y}.git" in text
    assert "https://x/${y}.git" not in text


# --- expressions and templates ----------------------------------------------------------------------


def test_expression_is_interpolated() -> None:
    assert render(Expr("var.x")) == "${var.x}"
    assert encode_value(Expr("hcloud_network.n.id")) == "${hcloud_network.n.id}"


def test_template_interpolates_its_expressions_and_escapes_its_literals() -> None:
    template = Template.of("https://${literal}/", ref("hcloud_server", "cp_0", "ipv4_address"), ":6443")
    assert render(template) == "https://$${literal}/${hcloud_server.cp_0.ipv4_address}:6443"


def test_template_merges_adjacent_literals_and_drops_empty_ones() -> None:
    template = Template.of("a", "", "b", Template.of("c", Expr("x")), "d")
    assert template.parts == ("abc", Expr("x"), "d")


def test_literal_template_has_its_text() -> None:
    assert Template.of("a", "b").is_literal
    assert Template.of("a", "b").literal() == "ab"
    assert not Template.of("a", Expr("x")).is_literal


def test_template_length_bound_counts_bytes_and_expression_bounds() -> None:
    assert Template.of("\u00e9", Expr("x", max_len=10)).max_len() == 2 + 10


def test_resource_ref_is_type_name_attribute() -> None:
    resource = Resource("hcloud_network", "demo_network", {})
    assert resource.ref("id").text == "hcloud_network.demo_network.id"


def test_call_quotes_literal_arguments() -> None:
    assert call("jsonencode", 'a "b"').text == 'jsonencode("a \\"b\\"")'
    assert call("base64encode", Expr("local.x")).text == "base64encode(local.x)"


# --- hcl_string --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("line\nbreak\r\ttab", '"line\\nbreak\\r\\ttab"'),
        ("${x} %{y}", '"$${x} %%{y}"'),
    ],
)
def test_hcl_string_quotes_and_escapes_a_literal(text: str, expected: str) -> None:
    assert hcl_string(text) == expected


def test_hcl_string_of_an_expression_is_the_bare_expression() -> None:
    assert hcl_string(Expr("var.x")) == "var.x"


def test_hcl_string_of_a_template_interpolates() -> None:
    assert hcl_string(Template.of('"', Expr("var.x"), '"')) == '"\\"${var.x}\\""'


# --- the document --------------------------------------------------------------------------------------------


def small_fragment() -> Fragment:
    network = Resource("hcloud_network", "n", {"name": "n", "ip_range": "10.0.0.0/16", "labels": {"z": "1", "a": "2"}})
    return Fragment(
        resources=(network, Resource("hcloud_firewall", "f", {"name": "f"})),
        variables=(Variable("tok", "a token", sensitive=True, validations=(("length(var.tok) > 0", "not empty"),)),),
        outputs=(Output("id", network.ref("id"), "the network"),),
    )


def test_document_has_the_terraform_sections() -> None:
    doc = document([PROVIDER], small_fragment())
    assert doc["terraform"]["required_providers"]["hcloud"] == {"source": "hetznercloud/hcloud", "version": ">= 1.45"}
    assert doc["provider"] == {"hcloud": {}}
    assert set(doc["resource"]) == {"hcloud_network", "hcloud_firewall"}
    assert doc["output"]["id"] == {"value": "${hcloud_network.n.id}", "description": "the network"}


def test_sensitive_variable_block() -> None:
    variable = document([PROVIDER], small_fragment())["variable"]["tok"]
    assert variable == {
        "type": "string",
        "description": "a token",
        "sensitive": True,
        "validation": [{"condition": "${length(var.tok) > 0}", "error_message": "not empty"}],
    }


def test_duplicate_resource_address_is_a_compiler_error() -> None:
    fragment = Fragment(resources=(Resource("t", "a", {}), Resource("t", "a", {})))
    with pytest.raises(ValueError, match="duplicate resource t.a"):
        document([PROVIDER], fragment)


def test_json_keys_are_sorted_at_every_level() -> None:
    text = to_json(document([PROVIDER], small_fragment())).decode()
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert text.index('"a": "2"') < text.index('"z": "1"')
    assert text.index('"output"') < text.index('"provider"') < text.index('"resource"') < text.index('"terraform"')


def test_json_uses_two_space_indent_and_a_trailing_newline() -> None:
    text = to_json({"b": {"c": [1]}, "a": 1}).decode()
    assert text == '{\n  "a": 1,\n  "b": {\n    "c": [\n      1\n    ]\n  }\n}\n'


def test_output_is_deterministic() -> None:
    raw = minimal_spec(tags={"z": "1", "a": "2", "m": "3"})
    assert compile_raw(raw).to_json() == compile_raw(json.loads(json.dumps(raw))).to_json()


def test_output_does_not_depend_on_mapping_order_in_the_spec() -> None:
    a = minimal_spec(tags={"z": "1", "a": "2"}, bootstrap_secrets={"nix_github_token": "g", "sops_age_key": "s"})
    b = minimal_spec(tags={"a": "2", "z": "1"}, bootstrap_secrets={"sops_age_key": "s", "nix_github_token": "g"})
    assert compile_raw(a).to_json() == compile_raw(b).to_json()


def test_compiled_json_parses_back_to_the_document() -> None:
    compiled = compile_raw(minimal_spec())
    assert json.loads(compiled.to_json()) == json.loads(json.dumps(compiled.document))
