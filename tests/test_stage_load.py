"""Stage load: bytes (YAML, TOML, JSON) → ClusterSpec, or every problem with its path."""

from __future__ import annotations

import json

import msgspec
import pytest
from returns.result import Failure, Success

from nixk8s.compiler import compile_source, compile_spec
from nixk8s.json_spec import duplicate_key_problems
from nixk8s.limits import MAX_DEPTH, MAX_SPEC_BYTES, MAX_TEXT, MAX_VALUES
from nixk8s.load import format_of, load, parse
from nixk8s.problems import Problem
from nixk8s.spec import ClusterSpec, K3sOptions, NixOS

from support import minimal_spec, problem_paths, problems_of

YAML_SPEC = """\
name: demo
backend: hcloud
region: nbg1
kubernetes_version: "1.30"
node_pools:
  - name: system
    instance_types: [cx32]
    min_size: 1
    max_size: 1
hcloud:
  image: nixos-snapshot
"""

TOML_SPEC = """\
name = "demo"
backend = "hcloud"
region = "nbg1"
kubernetes_version = "1.30"

[[node_pools]]
name = "system"
instance_types = ["cx32"]
min_size = 1
max_size = 1

[hcloud]
image = "nixos-snapshot"
"""

JSON_SPEC = json.dumps(minimal_spec(kubernetes_version="1.30"))


# --- decoding ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "fmt"), [(YAML_SPEC, "yaml"), (TOML_SPEC, "toml"), (JSON_SPEC, "json")])
def test_each_format_decodes_to_the_same_spec(text: str, fmt: str) -> None:
    reference = load(YAML_SPEC.encode(), "yaml").unwrap()
    spec = load(text.encode(), fmt).unwrap()  # type: ignore[arg-type]
    assert isinstance(spec, ClusterSpec)
    assert spec == reference
    assert spec.kubernetes_version == "1.30"
    assert spec.system_pool.instance_type == "cx32"


def test_format_follows_the_file_extension() -> None:
    assert format_of("c.TOML") == "toml"
    assert format_of("dir/c.json") == "json"
    assert format_of("c.yaml") == "yaml"
    assert format_of("c.yml") == "yaml"
    assert format_of("spec") == "yaml"


def test_load_returns_success_for_a_valid_spec() -> None:
    assert isinstance(load(YAML_SPEC.encode()), Success)


def test_loaded_spec_is_frozen() -> None:
    spec = load(YAML_SPEC.encode()).unwrap()
    with pytest.raises(AttributeError):
        spec.name = "other"  # type: ignore[misc]


def test_defaults_are_filled_in() -> None:
    spec = load(json.dumps(minimal_spec()).encode(), "json").unwrap()
    assert spec.distribution == "k3s"
    assert spec.kubernetes_version == "1.34"
    assert spec.track == "1.34"
    assert spec.profile == "cloud-server"
    assert spec.gitops_operator == "fluxcd"
    assert spec.access.ssh_sources == ("0.0.0.0/0", "::/0")
    assert spec.node_pools[0].disk_size_gb == 20


def test_distribution_track_defaults_to_kubernetes_version() -> None:
    spec = load(json.dumps(minimal_spec(kubernetes_version="1.31")).encode(), "json").unwrap()
    assert spec.track == "1.31"


@pytest.mark.parametrize(
    ("alias", "backend"), [("aws_nixos", "aws"), ("gcp_nixos", "gcp"), ("azure_nixos", "azure"), ("hcloud_k3s", "hcloud")]
)
def test_backend_aliases_are_accepted(alias: str, backend: str) -> None:
    spec = parse(json.dumps(minimal_spec(backend=alias, hcloud=None)).encode(), "json").unwrap()
    assert spec.backend == backend


def test_hcloud_alias_loads_fully() -> None:
    spec = load(json.dumps(minimal_spec(backend="hcloud_k3s")).encode(), "json").unwrap()
    assert spec.backend == "hcloud"


def test_unknown_backend_is_a_problem_with_a_suggestion() -> None:
    (problem,) = problems_of(minimal_spec(backend="hcloudd"))
    assert problem.path == "backend"
    assert 'did you mean "hcloud"' in problem.message


# --- problems, all at once, with paths --------------------------------------------------------


def test_all_problems_are_reported_together_with_paths() -> None:
    raw = minimal_spec(
        credentials="external",
        name="Demo_Cluster",
        region=7,
        profile="cilium",
        node_pools=[
            {"name": "system", "instance_types": ["cx32"]},
            {"name": "workers", "instance_types": [], "min_size": -1, "disk_size_gb": 5},
        ],
    )
    paths = problem_paths(raw)
    assert paths == sorted(paths)
    assert set(paths) == {
        "name",
        "region",
        "profile",
        "node_pools[1].instance_types",
        "node_pools[1].min_size",
        "node_pools[1].disk_size_gb",
        # the rules and the cloud's checks still run on the rest (placeholders stand in
        # for the broken name and region): workers join, so they need a token and a network
        "bootstrap_secrets.k3s_server_token",
        "network",
    }


def test_shape_problems_and_rule_problems_are_reported_in_one_run() -> None:
    raw = minimal_spec(bogus=1)
    raw["node_pools"][0].update(min_size=2, max_size=1)
    paths = problem_paths(raw)
    assert "bogus" in paths
    assert "node_pools[0].max_size" in paths


def test_a_rule_problem_that_only_echoes_a_dropped_value_is_left_out() -> None:
    raw = minimal_spec(bootstrap_secrets={"k3s_server_token": "t0ken"}, network={})
    # max_size is invalid; read as its default 3 it would "fall below" min_size 5
    raw["node_pools"][0].update(min_size=5, max_size="three")
    assert problem_paths(raw) == ["node_pools[0].max_size"]


def test_rule_problems_are_reported_together() -> None:
    raw = minimal_spec(gcp={"project": "p"}, persistent_state={}, bootstrap_secrets={"k3s_server_token": "t"}, network={})
    raw["node_pools"][0].update(min_size=2, max_size=1)
    assert problem_paths(raw) == ["gcp", "node_pools[0].max_size", "persistent_state"]


def test_missing_required_fields_are_each_reported() -> None:
    assert problem_paths({"name": "demo"}) == ["backend", "node_pools", "region"]


def test_missing_required_nested_field_has_its_path() -> None:
    raw = minimal_spec(fluxcd={"source_branch": "main"})
    (problem,) = problems_of(raw)
    assert problem == Problem("fluxcd.source_url", "required field is missing")


def test_unknown_top_level_field_suggests_the_close_one() -> None:
    (problem,) = problems_of(minimal_spec(kubernetes_verison="1.30"))
    assert problem.path == "kubernetes_verison"
    assert problem.message == 'unknown field (did you mean "kubernetes_version"?)'


def test_unknown_nested_field_suggests_the_close_one() -> None:
    raw = minimal_spec()
    raw["node_pools"][0]["max_sise"] = 3
    (problem,) = problems_of(raw)
    assert problem.path == "node_pools[0].max_sise"
    assert 'did you mean "max_size"' in problem.message


def test_unknown_field_without_a_close_match_has_no_suggestion() -> None:
    (problem,) = problems_of(minimal_spec(zzzzzz=1))
    assert problem.message == "unknown field"


def test_yaml_number_for_a_version_gets_the_quoting_hint() -> None:
    text = YAML_SPEC.replace('kubernetes_version: "1.30"', "kubernetes_version: 1.30")
    (problem,) = problems_of(text, "yaml")
    assert problem.path == "kubernetes_version"
    assert "write it in quotes" in problem.message
    assert "as a number" in problem.message


def test_yaml_number_for_a_string_field_gets_the_quoting_hint() -> None:
    text = YAML_SPEC.replace("image: nixos-snapshot", "image: 214263510")
    (problem,) = problems_of(text, "yaml")
    assert problem.path == "hcloud.image"
    assert problem.message.startswith("expected a string")
    assert "write it in quotes" in problem.message


def test_yaml_number_in_a_string_list_has_the_item_path() -> None:
    text = YAML_SPEC.replace("instance_types: [cx32]", "instance_types: [cx32, 42]")
    (problem,) = problems_of(text, "yaml")
    assert problem.path == "node_pools[0].instance_types[1]"
    assert "write it in quotes" in problem.message


def test_duplicate_yaml_keys_are_rejected() -> None:
    text = YAML_SPEC + "region: fsn1\n"
    (problem,) = problems_of(text, "yaml")
    assert "duplicate key 'region'" in problem.message


def test_duplicate_nested_yaml_keys_are_rejected() -> None:
    text = YAML_SPEC.replace("    min_size: 1\n", "    min_size: 1\n    min_size: 2\n")
    (problem,) = problems_of(text, "yaml")
    assert "duplicate key 'min_size'" in problem.message


def test_duplicate_json_keys_are_rejected_with_their_path() -> None:
    text = '{"name": "demo", "backend": "hcloud", "region": "nbg1", "region": "fsn1", "hcloud": {"image": "x"}, ' \
           '"node_pools": [{"name": "system", "instance_types": ["cx32"], "max_size": 1, "max_size": 3}]}'
    problems = problems_of(text, "json")
    assert [(p.path, p.message.split(":")[0]) for p in problems] == [
        ("node_pools[0].max_size", "duplicate key 'max_size'"),
        ("region", "duplicate key 'region'"),
    ]


def test_duplicate_json_keys_are_found_under_any_key() -> None:
    text = '{"tags": {"a b": {"\\u001b": 1, "\\u001b": 2}}}'
    (problem,) = problems_of(text, "json")
    assert problem.path == 'tags["a b"]["\\u001b"]'


def test_equal_keys_in_different_json_objects_are_fine() -> None:
    raw = minimal_spec()
    raw["node_pools"].append({"name": "workers", "instance_types": ["cx32"]})
    assert duplicate_key_problems(json.dumps(raw)) == ()


def test_out_of_range_value_names_the_limit() -> None:
    raw = minimal_spec()
    raw["node_pools"][0]["disk_size_gb"] = 5
    (problem,) = problems_of(raw)
    assert problem.path == "node_pools[0].disk_size_gb"
    assert "10" in problem.message


def test_bad_cluster_name_explains_the_pattern() -> None:
    (problem,) = problems_of(minimal_spec(name="Demo"))
    assert problem.path == "name"
    assert "lowercase" in problem.message


def test_bad_taint_effect_suggests_the_close_one() -> None:
    raw = minimal_spec()
    raw["node_pools"][0]["taints"] = [{"key": "gpu", "effect": "NoSchedul"}]
    (problem,) = problems_of(raw)
    assert problem.path == "node_pools[0].taints[0].effect"
    assert 'did you mean "NoSchedule"' in problem.message


def test_secret_reference_with_an_unknown_field_is_a_problem() -> None:
    raw = minimal_spec(bootstrap_secrets={"k3s_server_token": {"vra": "tok"}})
    assert problems_of(raw) == (
        Problem("bootstrap_secrets.k3s_server_token.var", "required field is missing"),
        Problem("bootstrap_secrets.k3s_server_token.vra", 'unknown field (did you mean "var"?)'),
    )


def test_path_of_a_key_with_dots_is_quoted() -> None:
    raw = minimal_spec(tags={"a.b/c": 1})
    (problem,) = problems_of(raw)
    assert problem.path == 'tags["a.b/c"]'


# --- bad input is a Problem, never an exception -----------------------------------------------


@pytest.mark.parametrize("data", [b"", b"   \n\t\n"])
def test_empty_file_is_a_problem(data: bytes) -> None:
    result = load(data)
    assert isinstance(result, Failure)
    assert result.failure() == (Problem("", "the spec is empty"),)


def test_binary_bytes_are_a_problem() -> None:
    result = load(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    assert isinstance(result, Failure)
    (problem,) = result.failure()
    assert "UTF-8" in problem.message


def test_yaml_list_is_a_problem() -> None:
    (problem,) = problems_of("- name: demo\n- backend: hcloud\n", "yaml")
    assert problem == Problem("", "the spec must be a mapping of fields, not a list")


@pytest.mark.parametrize("text", ["42\n", "just a string\n", "null\n"])
def test_yaml_scalar_document_is_a_problem(text: str) -> None:
    (problem,) = problems_of(text, "yaml")
    assert problem.path == ""
    assert "must be a mapping" in problem.message


@pytest.mark.parametrize(
    ("text", "fmt"),
    [("name: [unclosed\n", "yaml"), ('{"name": "demo",', "json"), ("name = \n", "toml"), ("\tname: x\n", "yaml")],
)
def test_syntax_errors_are_a_problem(text: str, fmt: str) -> None:
    (problem,) = problems_of(text, fmt)
    assert problem.path == ""
    assert problem.message.startswith(f"not valid {fmt.upper()}")


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("node_pools", "system", "expected a list, got a string"),
        ("node_pools", [42], "expected a mapping, got an integer"),
        ("tags", ["a"], "expected a mapping, got a list"),
        ("network", "10.0.0.0/16", "expected a mapping or null, got a string"),
        ("vpn", [], "expected a mapping or null, got a list"),
        ("access", {"ssh_sources": "0.0.0.0/0"}, "expected a list, got a string"),
        ("bootstrap_secrets", {"nix_github_token": ["x"]}, "expected a string or a mapping, got a list"),
        ("hcloud", {"image": "nixos", "replace_on_user_data_change": "yes"}, "expected true or false, got a string"),
    ],
)
def test_wrong_types_are_problems(field: str, value: object, expected: str) -> None:
    problems = problems_of(minimal_spec(**{field: value}))
    assert len(problems) == 1
    assert problems[0].path.startswith(field)
    assert problems[0].message == expected


def test_non_string_mapping_key_is_a_problem() -> None:
    (problem,) = problems_of("name: demo\n1: x\nbackend: hcloud\nregion: nbg1\n"
                             "node_pools: [{name: system, instance_types: [cx32]}]\nhcloud: {image: x}\n", "yaml")
    assert problem.message == "field names must be strings"


def test_unsafe_yaml_tags_are_a_problem() -> None:
    (problem,) = problems_of("!!python/object/apply:os.system ['true']\n", "yaml")
    assert problem.message.startswith("not valid YAML")


@pytest.mark.parametrize("backend", ["{a: b}", "[hcloud]"])
def test_backend_of_the_wrong_type_is_a_problem(backend: str) -> None:
    (problem,) = problems_of(YAML_SPEC.replace("backend: hcloud", f"backend: {backend}"), "yaml")
    assert problem.path == "backend"


@pytest.mark.parametrize("text", ["tags: {? [a, b] : c}\n", "? [a, b]\n: c\n"])
def test_yaml_list_as_a_mapping_key_is_a_problem(text: str) -> None:
    (problem,) = problems_of(YAML_SPEC + text, "yaml")
    assert problem.path == ""
    assert "mapping key must be a scalar" in problem.message


def test_yaml_merge_keys_are_supported() -> None:
    text = YAML_SPEC.replace(
        "  - name: system\n",
        "  - <<: {name: other, disk_size_gb: 40}\n    name: system\n",
    )
    spec = load(text.encode()).unwrap()
    assert spec.node_pools[0].name == "system"
    assert spec.node_pools[0].disk_size_gb == 40


def test_yaml_date_where_a_string_is_expected_gets_the_quoting_hint() -> None:
    (problem,) = problems_of(YAML_SPEC.replace("region: nbg1", "region: 2024-01-01"), "yaml")
    assert problem == Problem("region", "expected a string: write it in quotes (YAML reads 2024-01-01 as a date)")


def test_a_list_where_a_choice_is_expected_names_the_choices() -> None:
    (problem,) = problems_of(YAML_SPEC.replace("region: nbg1", "region: nbg1\ndistribution: [k3s]"), "yaml")
    assert problem == Problem("distribution", "expected one of k3s, kubernetes, got a list")


def test_a_scalar_document_is_named_for_a_person() -> None:
    (problem,) = problems_of("42", "yaml")
    assert problem == Problem("", "the spec must be a mapping of fields, not an integer")


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("a: !!bool x\n", "'x' is not a valid !!bool"),
        ("a: !!int ''\n", "'' is not a valid !!int"),
        ("a: !!int x\n", "'x' is not a valid !!int"),
        ("a: !!float ''\n", "'' is not a valid !!float"),
        ("a: !!timestamp x\n", "'x' is not a valid !!timestamp"),
        ("a: !!timestamp 2001-02-30\n", "'2001-02-30' is not a valid !!timestamp"),
        ("a: !!map [1]\n", "!!map on a list: expected a mapping"),
        ("a: !!map x\n", "!!map on a scalar: expected a mapping"),
    ],
)
def test_an_explicit_yaml_tag_on_a_value_it_cannot_read_is_a_problem(text: str, complaint: str) -> None:
    (problem,) = problems_of(text, "yaml")
    assert problem.path == ""
    assert problem.message.startswith("not valid YAML")
    assert complaint in problem.message


def test_a_yaml_set_is_a_problem_since_it_has_no_order() -> None:
    (problem,) = problems_of(YAML_SPEC + "tags: !!set {a, b}\n", "yaml")
    assert "!!set is not supported: write a list" in problem.message


# --- hostile input: bounded work, checked before the work ---------------------------------------

def nested(depth: int, leaf: str = "1") -> str:
    """A flow mapping ``{a: {a: ... leaf}}`` ``depth`` levels deep (valid YAML and, quoted, JSON-like)."""
    return "{a: " * depth + leaf + "}" * depth


def with_manifest(body: str) -> str:
    return YAML_SPEC + f"nixos: {{k3s: {{manifests: {{m: {body}}}}}}}\n"


def test_a_document_over_the_size_limit_is_refused_before_it_is_decoded() -> None:
    (problem,) = problems_of(YAML_SPEC + "#" * MAX_SPEC_BYTES, "yaml")
    assert problem.path == ""
    assert f"nixk8s reads at most {MAX_SPEC_BYTES:,}" in problem.message


@pytest.mark.parametrize(
    ("text", "fmt"),
    [("[" * 5000, "yaml"), ("[" * 100_000, "json"), ("a = " + "[" * 5000, "toml"), ("a = " + "{b = " * 5000, "toml")],
    ids=["yaml", "json", "toml-arrays", "toml-inline-tables"],
)
def test_deep_nesting_is_a_problem_not_a_recursion_error(text: str, fmt: str) -> None:
    (problem,) = problems_of(text, fmt)
    assert problem.path == ""
    assert "nest" in problem.message


def test_a_toml_dotted_key_longer_than_the_depth_limit_is_a_problem() -> None:
    (problem,) = problems_of(".".join(["a"] * 20_000) + " = 1\n", "toml")
    assert problem.message.startswith(f"nested more than {MAX_DEPTH} levels deep (a dotted key)")


def test_toml_tables_and_dotted_keys_that_nest_too_deep_together_are_a_problem() -> None:
    header = "[" + ".".join(["a"] * 40) + "]\n"
    (problem,) = problems_of(header + ".".join(["b"] * 40) + " = 1\n", "toml")
    assert problem.message.startswith(f"nested more than {MAX_DEPTH} levels deep")
    assert problem.path.startswith("a.a.a")


def test_nesting_deep_inside_manifests_is_a_problem_not_a_recursion_error() -> None:
    (problem,) = problems_of(with_manifest(nested(500)), "yaml")
    assert problem.message.startswith(f"nested more than {MAX_DEPTH} levels deep (line 12")


def test_manifests_nested_twenty_levels_deep_compile() -> None:
    spec = load(with_manifest(nested(20, "deep")).encode()).unwrap()
    assert isinstance(compile_spec(spec), Success)


@pytest.mark.parametrize(("text", "fmt"), [('{"name": "' + "[{" * 200 + '"}', "json"),
                                           ('name = "' + "[{" * 200 + '" # [[[[\n', "toml")])
def test_brackets_inside_strings_and_comments_do_not_count_as_nesting(text: str, fmt: str) -> None:
    assert not any("nest" in p.message for p in problems_of(text, fmt))


def test_a_spec_built_in_code_nested_too_deep_is_a_problem_not_a_recursion_error() -> None:
    manifest: dict[str, object] = {"leaf": 1}
    for _ in range(500):
        manifest = {"a": manifest}
    spec = load(YAML_SPEC.encode()).unwrap()
    deep = msgspec.structs.replace(spec, nixos=NixOS(k3s=K3sOptions(manifests={"m": manifest})))
    (problem,) = compile_spec(deep).failure()
    assert problem.path.startswith("nixos.k3s.manifests.m.a.a")
    assert problem.message.startswith(f"nested more than {MAX_DEPTH} levels deep")


def alias_bomb(levels: int) -> str:
    """Nine aliases per anchor, ``levels`` deep, in ``nixos.k3s.manifests`` (a few hundred bytes)."""
    lines = ["        l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"        l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return YAML_SPEC + "nixos:\n  k3s:\n    manifests:\n      m:\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [7, 9])
def test_a_yaml_alias_bomb_is_refused_before_it_is_expanded(levels: int) -> None:
    (problem,) = problems_of(alias_bomb(levels), "yaml")
    assert problem.path == ""
    assert problem.message.startswith(f"more than {MAX_VALUES:,} values (mappings, lists and scalars) once its aliases are expanded")


def test_a_yaml_merge_key_bomb_is_refused_before_it_is_expanded() -> None:
    lines = ["m0: &m0 {k: v}"]
    lines += [f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 9)}], k{i}: v}}" for i in range(1, 10)]
    (problem,) = problems_of("\n".join(lines) + "\n", "yaml")
    assert "once its aliases are expanded" in problem.message


def test_aliases_of_a_long_string_count_its_text_each_time() -> None:
    text = f"a: &a {'x' * 400_000}\nb: [*a, *a, *a]\n"
    (problem,) = problems_of(text, "yaml")
    assert problem.message.startswith(f"more than {MAX_TEXT:,} characters of text once its aliases are expanded")


@pytest.mark.parametrize("text", ["a: &a [*a]\n", "a: &a {b: [1, *a]}\n"])
def test_a_yaml_alias_inside_the_node_it_names_is_a_problem(text: str) -> None:
    (problem,) = problems_of(text, "yaml")
    assert "an alias refers to a node that contains it" in problem.message


def test_a_few_aliases_load_as_usual() -> None:
    text = YAML_SPEC + "tags: &t {team: a}\nx-unused: *t\n"
    (problem,) = problems_of(text, "yaml")
    assert problem.path == "x-unused"


@pytest.mark.parametrize(
    ("text", "fmt"),
    [("[" + ",".join(["1"] * (MAX_VALUES + 1)) + "]", "json"),
     ("a = [" + ",".join(["1"] * (MAX_VALUES + 1)) + "]", "toml"),
     ("[" + ",".join(["1"] * (MAX_VALUES + 1)) + "]", "yaml")],
    ids=["json", "toml", "yaml"],
)
def test_more_values_than_the_limit_is_a_problem(text: str, fmt: str) -> None:
    (problem,) = problems_of(text, fmt)
    assert problem.message.startswith(f"more than {MAX_VALUES:,} values")


# --- hostile input: values JSON cannot carry ------------------------------------------------------


@pytest.mark.parametrize("text", ['tags: {"\\ud800": v}\n', 'tags: {a: "\\ud800"}\n', 'nixos: {k3s: {manifests: {m: "\\udc00"}}}\n'])
def test_a_lone_surrogate_from_a_yaml_escape_is_a_problem(text: str) -> None:
    (problem,) = problems_of(YAML_SPEC + text, "yaml")
    assert problem.path == ""
    assert problem.message.startswith("not valid YAML")


def spec_with(**fields: object) -> ClusterSpec:
    return msgspec.structs.replace(load(YAML_SPEC.encode()).unwrap(), **fields)


def test_a_lone_surrogate_in_a_key_of_a_spec_built_in_code_is_a_problem_at_its_path() -> None:
    (problem,) = compile_spec(spec_with(tags={"\ud800": "v"})).failure()
    assert problem == Problem('tags["\\ud800"]', "the key contains a lone UTF-16 surrogate (\\ud800), which UTF-8 cannot encode")


def test_a_lone_surrogate_in_a_manifest_of_a_spec_built_in_code_is_a_problem_at_its_path() -> None:
    spec = spec_with(nixos=NixOS(k3s=K3sOptions(manifests={"m": {"data": ["ok", "\udc00"]}})))
    (problem,) = compile_spec(spec).failure()
    assert problem == Problem("nixos.k3s.manifests.m.data[1]", "contains a lone UTF-16 surrogate (\\udc00), which UTF-8 cannot encode")


def test_a_number_too_large_to_print_is_a_problem_not_a_value_error() -> None:
    (problem,) = problems_of(YAML_SPEC.replace("name: demo", "name: 0x" + "f" * 4000), "yaml")
    assert problem == Problem("name", "a 16000-bit number is too large: numbers fit in 64 bits")


def test_a_number_beyond_64_bits_in_a_manifest_is_a_problem() -> None:
    (problem,) = problems_of(with_manifest("{replicas: 0x1ffffffffffffffff}"), "yaml")
    assert problem == Problem("nixos.k3s.manifests.m.replicas", "a 65-bit number is too large: numbers fit in 64 bits")


@pytest.mark.parametrize(
    ("body", "path", "kind"),
    [("{1: a, b: c}", 'nixos.k3s.manifests.m["1"]', "an integer"),
     ("{null: 1}", "nixos.k3s.manifests.m.null", "null"),
     ("{spec: [{true: x}]}", "nixos.k3s.manifests.m.spec[0].true", "true or false")],
)
def test_a_non_string_key_in_a_manifest_is_a_problem_at_its_path(body: str, path: str, kind: str) -> None:
    (problem,) = problems_of(with_manifest(body), "yaml")
    assert problem == Problem(path, f"keys must be strings, got {kind}: write it in quotes")


def test_a_non_string_key_in_a_free_form_map_is_a_problem_at_its_path() -> None:
    (problem,) = problems_of(YAML_SPEC + "nixos: {k3s: {kernel: {sysctl: {1: x}}}}\n", "yaml")
    assert problem == Problem('nixos.k3s.kernel.sysctl["1"]', "keys must be strings, got an integer: write it in quotes")


def test_a_long_value_is_cut_short_in_its_message() -> None:
    (problem,) = problems_of(YAML_SPEC + f"profile: {'x' * 100_000}\n", "yaml")
    assert problem.path == "profile"
    assert len(problem.message) < 400


def test_a_spec_built_in_code_with_a_mapping_where_a_record_belongs_is_checked_as_the_record() -> None:
    # msgspec.structs.replace does not validate: the rules must see the decoded record
    spec = spec_with(vpn={"links": [{"name": "wg0"}]})
    problems = compile_spec(spec).failure()
    assert "vpn.links[0].address" in [p.path for p in problems]


def test_a_long_word_without_dots_is_no_dotted_key() -> None:
    # the dotted-key scan starts only at word starts: scanning from every character of
    # a 300,000-character word would take minutes
    assert problems_of(b"a: &a " + b"x" * 300_000 + b"\n", "toml")[0].message.startswith("not valid TOML")


FOUR_MISTAKES = """\
name: Demo_1
backend: hclod
region: nbg1
node_pools:
  - {name: system, instance_types: [cx32], min_size: 3, max_size: 1}
network: {vpc_cidr: 10.0.0.0/33}
access: {ssh_sources: [not-a-cidr]}
hcloud: {image: nixos}
bootstrap_secrets: {k3s_server_token: t}
"""


def test_a_mistyped_backend_still_reports_every_cloud_neutral_problem() -> None:
    paths = [p.path for p in compile_source(FOUR_MISTAKES.encode(), "yaml").failure()]
    assert paths == ["access.ssh_sources[0]", "backend", "name", "network.vpc_cidr", "node_pools[0].max_size"]


def test_a_mistyped_backend_runs_no_clouds_own_checks() -> None:
    spec = FOUR_MISTAKES.replace("hcloud: {image: nixos}\n", "").replace("region: nbg1", "region: nowhere")
    paths = [p.path for p in compile_source(spec.encode(), "yaml").failure()]
    assert "region" not in paths and "backend" in paths
