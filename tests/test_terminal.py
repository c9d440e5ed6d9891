"""terminal.py: every spec-derived string in human output is visible, one line, and unambiguous."""

from __future__ import annotations

import ast

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from nixk8s.terminal import printable, printable_fields, printable_line

# every code point but lone surrogates' pairs, which a str holds only from a YAML escape
TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF))


@given(TEXT)
def test_printable_writes_only_printable_characters(text: str) -> None:
    assert printable(text).isprintable()
    assert printable_line(text).isprintable()


@given(TEXT)
def test_printable_is_unambiguous_it_reads_back_as_python_escapes(text: str) -> None:
    assert ast.literal_eval('"' + printable(text).replace('"', '\\"') + '"') == text


@given(TEXT.filter(lambda t: t.isprintable()))
def test_printable_line_leaves_printable_text_alone(text: str) -> None:
    assert printable_line(text) is text


def test_a_line_break_cannot_start_a_line() -> None:
    assert "\n" not in printable_line("nbg1\nfake.yaml: valid")


def test_bidi_overrides_and_c1_controls_are_escaped() -> None:
    assert printable_line("a\u202eb\u2066c\x9bd") == "a\\u202eb\\u2066c\\x9bd"


class Inner(msgspec.Struct, frozen=True):
    names: tuple[str, ...]
    extra: dict[str, str]


class Outer(msgspec.Struct, frozen=True):
    title: str
    count: int
    inner: Inner | None


def test_printable_fields_escapes_every_string_keys_included() -> None:
    value = Outer("t\x1b", 3, Inner(("ok", "b\x07"), {"k\n": "v\r"}))
    assert printable_fields(value) == Outer("t\\x1b", 3, Inner(("ok", "b\\x07"), {"k\\n": "v\\r"}))


def test_printable_fields_returns_clean_records_as_they_are() -> None:
    value = Outer("title", 3, Inner(("a", "b"), {"k": "v"}))
    assert printable_fields(value) is value
