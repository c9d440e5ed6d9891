"""The fuzz target: no input makes the public API raise, and every failure is Problems.

``load``, ``parse`` and ``compile_spec`` promise a Result for any input: a Success,
or a Failure of :class:`~nixk8s.problems.Problem` values with a string path and
message; and text that escapes to one of nixk8s' placeholders reaches every node as
written. Hypothesis drives the generators of :mod:`fuzz_inputs` (raw bytes, mutated
example specs, junk trees, ClusterSpecs built in code with hostile fields); a few
thousand inputs a run. ``nixk8s diff`` has the same promise for two Terraform
documents: a diff, or a refusal of Problems (``fuzz_inputs.diff_input``, hand-made and
mutated documents, hostile to its reader). ``benchmarks/fuzz.py`` runs the same
generators a hundred thousand times, and the fixed inputs past each bound
(``fuzz_inputs.NASTY`` and ``NASTY_DOCUMENTS``; the reproducers among them are tests in
test_stage_load, test_cli and test_diff), with time and memory figures. The families of
issue 21 (streams read as stdin and FIFOs are, control characters in every string of a
spec, signals sent to a compile at random moments) each have a check that returns what
an input broke, asserted empty here.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from returns.result import Failure, Result, Success

from nixk8s.compiler import compile_spec
from nixk8s.load import load, parse
from nixk8s.problems import Problem

import fuzz_inputs

FORMATS = st.sampled_from(["yaml", "toml", "json"])


def fuzz(examples: int) -> settings:
    """The fuzz target's own number of examples, whatever the profile: a few thousand in all."""
    return settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))


def assert_is_a_result(result: Any) -> None:
    """A Success, or a Failure of Problems with string paths and messages."""
    assert isinstance(result, (Success, Failure)), result
    if isinstance(result, Failure):
        problems = result.failure()
        assert isinstance(problems, tuple) and problems
        for problem in problems:
            assert isinstance(problem, Problem)
            assert isinstance(problem.path, str) and isinstance(problem.message, str)
            assert problem.message


def assert_handled(data: bytes, fmt: str) -> None:
    """load, and compile_spec of whatever loads: each returns a Result."""
    loaded: Result[Any, Any] = load(data, fmt)  # type: ignore[arg-type]
    assert_is_a_result(loaded)
    if isinstance(loaded, Success):
        compiled = compile_spec(loaded.unwrap())
        assert_is_a_result(compiled)
        if isinstance(compiled, Success):
            assert compiled.unwrap().to_json().endswith(b"\n")


@fuzz(1500)
@given(data=st.binary(max_size=600), fmt=FORMATS)
def test_raw_bytes_never_raise(data: bytes, fmt: str) -> None:
    assert_is_a_result(parse(data, fmt))  # type: ignore[arg-type]
    assert_handled(data, fmt)


@fuzz(800)
@given(rng=st.randoms(use_true_random=False))
def test_mutated_example_specs_never_raise(rng: random.Random) -> None:
    assert_handled(*fuzz_inputs.mutated_document(rng))


@fuzz(600)
@given(rng=st.randoms(use_true_random=False))
def test_junk_trees_never_raise(rng: random.Random) -> None:
    data, fmt = fuzz_inputs.junk_document(rng)
    assert_is_a_result(parse(data, fmt))  # type: ignore[arg-type]
    assert_handled(data, fmt)


@fuzz(300)
@given(rng=st.randoms(use_true_random=False))
def test_specs_built_in_code_with_hostile_fields_never_raise(rng: random.Random) -> None:
    result = compile_spec(fuzz_inputs.hostile_spec(rng))
    assert_is_a_result(result)


@fuzz(200)
@given(rng=st.randoms(use_true_random=False))
def test_text_that_escapes_to_a_placeholder_reaches_every_node_as_written(rng: random.Random) -> None:
    # forgery_outcome raises where a node's config lost the text or is not JSON at all
    assert fuzz_inputs.forgery_outcome(fuzz_inputs.forged_placeholder(rng)) in ("compiled", "problems")


@fuzz(100)
@given(rng=st.randoms(use_true_random=False))
def test_hostile_terraform_documents_are_compared_or_refused_by_diff(rng: random.Random) -> None:
    outcome = fuzz_inputs.run_diff(fuzz_inputs.diff_input(rng))
    assert outcome in ("not json", "refused", "exit 0", "exit 3", "exit 4")


# --- issue 21: streams, control characters, signals (fuzz_inputs' checks, asserted empty) ---------------


@fuzz(40)
@given(rng=st.randoms(use_true_random=False))
def test_a_stream_is_read_at_most_one_byte_past_the_bound(rng: random.Random) -> None:
    _, broken = fuzz_inputs.stream_violations(fuzz_inputs.stream_input(rng))
    assert broken == []


@fuzz(200)
@given(rng=st.randoms(use_true_random=False))
def test_control_characters_in_a_spec_never_reach_the_terminal(rng: random.Random) -> None:
    _, broken = fuzz_inputs.human_output_violations(*fuzz_inputs.control_document(rng))
    assert broken == []


@fuzz(6)
@given(rng=st.randoms(use_true_random=False))
def test_a_signal_at_any_moment_leaves_main_tf_json_whole(rng: random.Random) -> None:
    trial = fuzz_inputs.signal_trial(rng)
    _, broken = fuzz_inputs.signal_violations(trial)
    assert broken == [], trial
