"""The closed vocabularies of the command line, importable before anything heavy.

Spec formats, warning codes and the findings' output formats. Parsing the command's
arguments (and so ``nixk8s --version`` and every usage error) imports this module and
nothing of the compiler: no msgspec, returns or PyYAML. (The backends are not here:
the catalog of clouds, :mod:`nixk8s.backends.catalog`, is open to clouds outside
nixk8s.)

The compiler's records use these same types (:attr:`nixk8s.warnings.SpecWarning.code`),
so that mypy holds every code a warning rule emits to :data:`WarningCode`, and
``--ignore-warning`` can refuse a code that no rule has (a typo would otherwise
silence nothing, silently).

>>> spec_format("toml"), spec_format(None)
('toml', None)
>>> spec_format("yml")
Traceback (most recent call last):
...
ValueError: unknown spec format 'yml': the formats are 'yaml', 'toml' and 'json' (or None: YAML for text)
"""

from typing import Literal, get_args

SpecFormat = Literal["yaml", "toml", "json"]
SPEC_FORMATS: tuple[SpecFormat, ...] = get_args(SpecFormat)

WarningCode = Literal[
    "ssh-open-to-world",
    "api-open-to-world",
    "literal-secret",
    "ignored-by-node-agent",
    "join-token-path-unread",
    "unused-setting",
    "legacy-bootstrap-needed",
    "single-server",
    "even-servers",
    "no-api-load-balancer",
    "size-owned-by-autoscaler",
]
WARNING_CODES: tuple[WarningCode, ...] = get_args(WarningCode)

OutputFormat = Literal["text", "json", "sarif"]
"""How the command writes its findings (problems and warnings)."""
OUTPUT_FORMATS: tuple[OutputFormat, ...] = get_args(OutputFormat)


def format_of(filename: str) -> SpecFormat:
    """The format a file name implies; YAML unless it ends in .toml or .json.

    >>> format_of("cluster.TOML"), format_of("-")
    ('toml', 'yaml')
    """
    lower = filename.lower()
    if lower.endswith(".toml"):
        return "toml"
    if lower.endswith(".json"):
        return "json"
    return "yaml"


def spec_format(value: object) -> SpecFormat | None:
    """``value`` as a spec format (None stays None), or a ValueError naming the formats.

    The library's ``format`` argument goes through here: a typo such as ``"yml"`` or
    ``"xml"`` must not be read silently as YAML.
    """
    if value is None:
        return None
    for known in SPEC_FORMATS:
        if value == known:
            return known
    raise ValueError(
        f"unknown spec format {value!r}: the formats are 'yaml', 'toml' and 'json' (or None: YAML for text)"
    )
