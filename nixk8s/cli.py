"""The ``nixk8s`` command: the only place that does I/O.

Exit codes: 0 success; 1 the spec is invalid (every problem on stderr as
``FILE: PATH: MESSAGE``); 2 usage or I/O error; ``diff`` also 3 (changes applied in
place) and 4 (changes that replace or destroy machines); 70 (EX_SOFTWARE) an internal
error, that is a bug in nixk8s: one line on stderr, and the traceback only when the
environment variable ``NIXK8S_DEBUG`` is set. No input makes the command print a
traceback or exit 1 for anything but an invalid spec.

The spec's format comes from its file name (``.toml``, ``.json``, else YAML) or from
``--spec-format`` on every command that reads a spec, which stdin (``-``) needs for
anything but YAML. ``--output text|json|sarif`` (validate, compile, diff) chooses how
the findings (problems and warnings) are written: text lines on stderr, or one JSON or
SARIF 2.1.0 document on stdout (:mod:`nixk8s.findings`, :mod:`nixk8s.sarif`).

Parsing the arguments imports nothing of the compiler (:mod:`nixk8s.choices` holds
what the parser offers), so ``--version`` and a usage error cost Python's start and
argparse; each command imports what it needs. argparse (standard library) is enough
for these subcommands, so the command adds no dependency.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from nixk8s import __version__
from nixk8s.choices import OUTPUT_FORMATS, SPEC_FORMATS, WARNING_CODES, SpecFormat, format_of
from nixk8s.interrupts import Interrupted, interruptible, process_exit_code
from nixk8s.output_streams import OutputError, guarded_output, stderr_line

if TYPE_CHECKING:
    from returns.result import Result

    from nixk8s.compiler import Compiled
    from nixk8s.document_diff.tfdoc import TfDocument
    from nixk8s.findings import Finding
    from nixk8s.problems import Problems

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
EXIT_CHANGES_IN_PLACE, EXIT_REPLACES_MACHINES = 3, 4
EXIT_INTERNAL = 70  # EX_SOFTWARE (sysexits.h): a bug in nixk8s, never a verdict on the spec
DEBUG_VARIABLE = "NIXK8S_DEBUG"


class _Usage(Exception):
    """A usage or I/O error: printed, exit 2."""


def _read(path: str, limit: int | None = None) -> bytes:
    """At most ``limit + 1`` bytes of ``path`` (a spec's bound unless given): past the
    bound, no more is read, nor parsed (:mod:`nixk8s.source_io`)."""
    from nixk8s.limits import MAX_SPEC_BYTES
    from nixk8s.source_io import read_source

    try:
        return read_source(path, MAX_SPEC_BYTES if limit is None else limit)
    except OSError as err:
        raise _Usage(f"cannot read {path}: {err.strerror or err}") from err


class _Input(NamedTuple):
    """A file the command read: its name as given, its bytes, the format they are read in."""

    name: str
    data: bytes
    format: SpecFormat


def _spec_input(path: str, spec_format: SpecFormat | None, limit: int | None = None) -> _Input:
    return _Input(path, _read(path, limit), spec_format or format_of(path))


def _compiled(source: _Input) -> Result[Compiled, Problems]:
    from nixk8s.compiler import compile_source

    return compile_source(source.data, source.format)


def write_atomically(target: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``target`` so that readers see the old file or the new one, never
    half, whatever kills the command (:mod:`nixk8s.atomic_write`)."""
    from nixk8s.atomic_write import write_atomically as write  # only compile and init write a file

    write(target, data)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _write_text_findings(findings: Sequence[Finding], refused_by_strict: bool) -> None:
    """The findings as ``FILE: PATH: MESSAGE`` lines on stderr, each file's count after its problems."""
    from nixk8s.problems import Problem, format_problems
    from nixk8s.warnings import SpecWarning, format_warnings

    files = list(dict.fromkeys(f.file for f in findings))
    for file in files:
        problems = [Problem(f.path, f.message) for f in findings if f.file == file and f.code is None]
        warnings = [SpecWarning(f.code, f.path, f.message) for f in findings if f.file == file and f.code is not None]
        sys.stderr.write(format_problems(problems, file) + format_warnings(warnings, file))
        if problems:
            sys.stderr.write(f"{file}: {_plural(len(problems), 'problem')}\n")
        if warnings and refused_by_strict:
            sys.stderr.write(f"{file}: {_plural(len(warnings), 'warning')}, refused by --strict\n")


def _write_findings(
    args: argparse.Namespace, sources: Sequence[_Input], findings: Sequence[Finding], *, refused_by_strict: bool = False
) -> None:
    """The findings in the form ``--output`` asks for: text on stderr, JSON or SARIF on stdout."""
    if args.output == "json":
        from nixk8s.findings import findings_json

        sys.stdout.buffer.write(findings_json(findings))
    elif args.output == "sarif":
        from nixk8s.sarif import sarif_log

        sys.stdout.buffer.write(sarif_log(findings, {s.name: (s.data, s.format) for s in sources}))
    else:
        _write_text_findings(findings, refused_by_strict)
    sys.stdout.flush()


def _checked(args: argparse.Namespace) -> Compiled | None:
    """The compiled spec, with its findings written; None if it is refused: for its
    problems, or (under ``--strict``) for the warnings it was not told to ignore."""
    from returns.result import Failure

    from nixk8s.findings import problem_findings, warning_findings
    from nixk8s.warnings import without

    source = _spec_input(args.spec, args.spec_format)
    result = _compiled(source)
    if isinstance(result, Failure):
        _write_findings(args, [source], problem_findings(source.name, result.failure()))
        return None
    compiled = result.unwrap()
    shown = without(compiled.warnings, args.ignore_warning)
    refused = bool(shown) and args.strict
    _write_findings(args, [source], warning_findings(source.name, shown), refused_by_strict=refused)
    return None if refused else compiled


def _say(line: str, args: argparse.Namespace) -> None:
    """A line for the person at the terminal: stdout, or stderr where stdout carries a document."""
    (sys.stdout if args.output == "text" else sys.stderr).write(line + "\n")


def cmd_compile(args: argparse.Namespace) -> int:
    compiled = _checked(args)
    if compiled is None:
        return EXIT_INVALID
    target = os.path.join(args.directory, "main.tf.json")
    try:
        write_atomically(target, compiled.to_json())
    except OSError as err:
        raise _Usage(f"cannot write {target}: {err.strerror or err}") from err
    _say(f"wrote {target}", args)
    kubeconfig = compiled.plan.credentials is not None
    _say(next_steps(args.directory, [v.name for v in compiled.plan.variables], kubeconfig=kubeconfig), args)
    return EXIT_OK


def next_steps(directory: str, variables: Sequence[str], *, kubeconfig: bool = False) -> str:
    """One line saying what to run after a compile: only the variables the spec still
    needs (generated credentials need none), and where the kubeconfig comes from.

    >>> next_steps("out", ["k3s_token"])
    'next: cd out && terraform init && terraform apply (set TF_VAR_k3s_token first, or pass -var-file)'
    >>> next_steps("out", [], kubeconfig=True)
    'next: cd out && terraform init && terraform apply && terraform output -raw kubeconfig > kubeconfig'
    """
    settings = ", ".join(f"TF_VAR_{name}" for name in variables)
    first = f" (set {settings} first, or pass -var-file)" if variables else ""
    then = " && terraform output -raw kubeconfig > kubeconfig" if kubeconfig else ""
    return f"next: cd {directory} && terraform init && terraform apply{then}{first}"


def cmd_validate(args: argparse.Namespace) -> int:
    compiled = _checked(args)
    if compiled is None:
        return EXIT_INVALID
    if args.output == "text":
        print(f"{args.spec}: valid")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from nixk8s.json_schema import schema_json  # only schema needs it

    sys.stdout.write(schema_json().decode())
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    from nixk8s.explanation import explanation, to_json  # only explain needs these

    compiled = _checked(args)
    if compiled is None:
        return EXIT_INVALID
    data = explanation(compiled)
    if args.format == "json":
        sys.stdout.write(to_json(data).decode())
    elif args.format == "mermaid":
        from nixk8s.mermaid import render_mermaid

        sys.stdout.write(render_mermaid(data))
    else:
        from nixk8s.explain_text import render_text

        sys.stdout.write(render_text(data))
    return EXIT_OK


def cmd_init(args: argparse.Namespace) -> int:
    from nixk8s.backends.catalog import NAMES
    from nixk8s.starter import starter  # only init needs it

    if args.backend not in NAMES:
        raise _Usage(f"init: no cloud is called {args.backend!r}; the clouds are {', '.join(NAMES)}")
    text = starter(args.backend, args.distribution)
    if args.output is None or args.output == "-":
        sys.stdout.write(text)
        return EXIT_OK
    target = args.output
    # a starter is cheap to regenerate, an edited spec is not: never overwrite one unasked
    if os.path.lexists(target) and not args.force:
        raise _Usage(f"{target} exists; pass --force to overwrite it")
    try:
        write_atomically(target, text.encode())
    except OSError as err:
        raise _Usage(f"cannot write {target}: {err.strerror or err}") from err
    print(f"wrote {target}")
    print(f"next: replace the values marked CHANGE, then nixk8s compile {target} -o out")
    return EXIT_OK


def _init_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = sub.add_parser(
        "init",
        help="write a commented starter spec for a backend (it compiles as written)",
        description="Write a commented starter ClusterSpec (YAML) for BACKEND, to stdout or to FILE. "
        "It compiles as written; replace the values marked CHANGE before applying.",
    )
    # the catalog's names are checked when init runs: parsing stays clear of the catalog (it
    # imports every cloud's options), so that --version and usage errors stay fast
    p.add_argument("backend", metavar="BACKEND", help="the cloud: a backend name of the spec (nixk8s schema lists them)")
    p.add_argument(
        "--kubernetes",
        "--distribution",
        dest="distribution",
        choices=("k3s", "kubernetes"),
        default="k3s",
        help="k3s (default) or kubernetes (kubeadm)",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write FILE (atomically) instead of stdout")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.set_defaults(run=cmd_init)


def _looks_compiled(path: str, data: bytes) -> bool:
    """Whether an input is a compiled ``main.tf.json`` rather than a spec: by its name,
    or (for other JSON) by its top-level blocks, which no ClusterSpec has."""
    import msgspec

    if path.lower().endswith(".tf.json"):
        return True
    if not (path == "-" or path.lower().endswith(".json")) or not data.lstrip().startswith(b"{"):
        return False
    try:
        decoded = msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return False
    return isinstance(decoded, dict) and any(k in decoded for k in ("resource", "terraform", "provider"))


class _Side(NamedTuple):
    """One diff input: what was read, its Terraform document (None where it is invalid),
    and its problems."""

    source: _Input
    document: TfDocument | None
    problems: Problems


def _side(path: str, spec_format: SpecFormat | None) -> _Side:
    """One diff input read: a spec is compiled, a compiled document decoded, and either
    document read for the diff (:func:`~nixk8s.document_diff.tfdoc.read_document`)."""
    import msgspec
    from returns.result import Failure

    from nixk8s.problems import Problem

    from nixk8s.limits import MAX_DOCUMENT_BYTES

    # only JSON can be a compiled document, which may be larger than a spec
    compiled_document = path == "-" or path.lower().endswith(".json")
    source = _spec_input(path, spec_format, MAX_DOCUMENT_BYTES if compiled_document else None)
    if len(source.data) > MAX_DOCUMENT_BYTES:
        return _Side(source, None, (Problem("", f"larger than {MAX_DOCUMENT_BYTES >> 20} MiB; nixk8s diff reads at most that"),))
    if not _looks_compiled(path, source.data):
        result = _compiled(source)
        if isinstance(result, Failure):
            return _Side(source, None, result.failure())
        return _read_side(source, result.unwrap().document)
    try:
        decoded = msgspec.json.decode(source.data)
    except msgspec.DecodeError as err:
        return _Side(source, None, (Problem("", f"not valid JSON: {err}"),))
    except RecursionError:
        return _Side(source, None, (Problem("", "not a Terraform JSON document: it nests too deeply"),))
    return _read_side(source, decoded)


def _read_side(source: _Input, decoded: object) -> _Side:
    from returns.result import Failure

    from nixk8s.document_diff.tfdoc import read_document

    read = read_document(decoded)
    if isinstance(read, Failure):
        return _Side(source, None, read.failure())
    return _Side(source, read.unwrap(), ())


def cmd_diff(args: argparse.Namespace) -> int:
    from nixk8s.diff_report import render_json, render_text
    from nixk8s.document_diff import compare
    from nixk8s.findings import findings_data, problem_findings

    if args.old == "-" and args.new == "-":
        raise _Usage("diff: only one of OLD and NEW can be - (stdin)")
    sides = [_side(args.old, args.spec_format), _side(args.new, args.spec_format)]
    findings = [f for side in sides for f in problem_findings(side.source.name, side.problems)]
    old, new = sides[0].document, sides[1].document
    if old is None or new is None:
        if args.output == "json":  # the report's shape, with the problems that stopped it
            import msgspec

            report = {"exit_code": EXIT_INVALID, **findings_data(findings)}
            sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n")
        else:
            _write_findings(args, [side.source for side in sides], findings)
        return EXIT_INVALID
    diff = compare(old, new)
    if args.output == "json":
        import msgspec

        report = {**msgspec.json.decode(render_json(diff)), **findings_data(())}
        sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n")
    elif args.output == "sarif":  # stdout is the log; the report stays readable in the job's log
        _write_findings(args, [side.source for side in sides], ())
        sys.stderr.write(render_text(diff))
    else:
        sys.stdout.write(render_text(diff))
    sys.stdout.flush()
    return diff.exit_code


class _DeprecatedAlias(argparse.Action):
    """An old spelling that still works, with a note on stderr naming the new one."""

    def __init__(self, *args: Any, instead: str, **kwargs: Any) -> None:
        self.instead = instead
        super().__init__(*args, **kwargs)

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option_string: str | None = None
    ) -> None:
        sys.stderr.write(f"nixk8s: {parser.prog.split()[-1]} {option_string} is deprecated: use {self.instead}\n")
        setattr(namespace, self.dest, values)


def _spec_format_argument(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--spec-format", dest="spec_format", choices=SPEC_FORMATS, help=help)


def _spec_arguments(p: argparse.ArgumentParser, *, deprecated_format: bool = False) -> None:
    p.add_argument("spec", metavar="SPEC", help="the ClusterSpec file (- for stdin)")
    _spec_format_argument(p, "the spec's format (default: from the file name, .toml or .json, else yaml; stdin: yaml)")
    if deprecated_format:  # --format named the spec's format here before --spec-format did everywhere
        p.add_argument(
            "--format", dest="spec_format", choices=SPEC_FORMATS, action=_DeprecatedAlias, instead="--spec-format",
            help=argparse.SUPPRESS,
        )


def _output_argument(p: argparse.ArgumentParser, directory_hint: str = "") -> None:
    def output_format(value: str) -> str:
        if value in OUTPUT_FORMATS:
            return value
        raise argparse.ArgumentTypeError(f"{value!r} is not one of text, json, sarif{directory_hint}")

    p.add_argument(
        "--output",
        type=output_format,
        default="text",
        metavar="{text,json,sarif}",
        help="how to write the findings (problems and warnings): text lines on stderr (default), or one JSON "
        "or SARIF 2.1.0 document on stdout (for CI code scanning)",
    )


def _warning_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--strict", action="store_true", help="treat warnings as errors: exit 1 (and write nothing) if any is printed"
    )
    p.add_argument(
        "--ignore-warning",
        metavar="CODE",
        action="append",
        choices=WARNING_CODES,  # a typo would silence nothing, silently: a usage error names the codes
        default=[],
        help="do not print (or, with --strict, count) warnings with this code; repeatable (docs/warnings.md)",
    )


def _terminal_width() -> int:
    """The terminal's columns as ``shutil.get_terminal_size`` finds them, without importing
    shutil (and the compression modules it imports) on every start."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 80
    except (AttributeError, ValueError, OSError):
        return 80


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, its width from :func:`_terminal_width` (argparse builds one per argument)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, width if width is not None else _terminal_width() - 2)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser (and its subcommands' parsers) with :class:`_HelpFormatter`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)


def parser() -> argparse.ArgumentParser:
    top = _Parser(
        prog="nixk8s",
        description="Compile a ClusterSpec (YAML, TOML or JSON) into Terraform JSON for NixOS Kubernetes nodes.",
        epilog="exit codes: 0 success, 1 invalid spec, 2 usage or I/O error, 3/4 diff found changes "
        f"(4: they replace machines), 70 internal error (set {DEBUG_VARIABLE}=1 for its traceback)",
    )
    top.add_argument("--version", action="version", version=f"nixk8s {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("compile", help="write DIR/main.tf.json (atomically)")
    _spec_arguments(p, deprecated_format=True)
    p.add_argument(
        "-o", "--output-dir", dest="directory", metavar="DIR", default="out", help="output directory (default: ./out)"
    )
    _output_argument(p, "; the output directory is -o DIR")
    _warning_arguments(p)
    p.set_defaults(run=cmd_compile)
    p = sub.add_parser("validate", help="check only; print every problem with its path")
    _spec_arguments(p, deprecated_format=True)
    _output_argument(p)
    _warning_arguments(p)
    p.set_defaults(run=cmd_validate)
    p = sub.add_parser("schema", help="print the JSON Schema of the ClusterSpec")
    p.set_defaults(run=cmd_schema)
    p = sub.add_parser("explain", help="nodes, roles, addresses, open ports, which secrets go where")
    _spec_arguments(p)
    # DESIGN §6 keeps ``explain --format`` for what explain prints; its findings are text on stderr
    p.add_argument(
        "--format",
        choices=("text", "json", "mermaid"),
        default="text",
        help="text (default), JSON for tools (keys sorted), or a mermaid flowchart (renders on GitHub)",
    )
    _warning_arguments(p)
    p.set_defaults(run=cmd_explain, output="text")
    p = sub.add_parser(
        "diff",
        help="what changes between two specs (or compiled main.tf.json), and which changes replace machines",
        description="Compare two specs or compiled main.tf.json files (one of each works too). "
        "Exit 0 no changes, 3 changes applied in place, 4 changes that replace or destroy machines, "
        "1 an invalid input, 2 a usage or I/O error.",
    )
    p.add_argument("old", metavar="OLD", help="the deployed spec or main.tf.json (- for stdin)")
    p.add_argument("new", metavar="NEW", help="the proposed spec or main.tf.json (- for stdin)")
    _spec_format_argument(p, "the format of both specs (default: from each file name, .toml or .json, else yaml; stdin: yaml)")
    p.add_argument(
        "--output",
        choices=OUTPUT_FORMATS,
        default="text",
        help="text (default): the report on stdout, problems on stderr; json: the report and the problems as "
        "one JSON document; sarif: the inputs' problems as SARIF 2.1.0 on stdout, the report on stderr",
    )
    p.add_argument(  # --format was the report's before --output
        "--format", dest="output", choices=("text", "json"), action=_DeprecatedAlias, instead="--output",
        help=argparse.SUPPRESS,
    )
    p.set_defaults(run=cmd_diff)
    _init_parser(sub)
    return top


def _internal_error(err: BaseException) -> int:
    """One line for a bug in nixk8s (and the traceback when NIXK8S_DEBUG is set)."""
    if os.environ.get(DEBUG_VARIABLE):
        import traceback  # only a bug pays for it

        stderr_line("".join(traceback.format_exception(err)))
    detail = (str(err).splitlines() or [""])[0][:200]
    stderr_line(
        f"nixk8s: internal error ({type(err).__name__}{': ' + detail if detail else ''}); "
        f"this is a bug in nixk8s, not in the spec; set {DEBUG_VARIABLE}=1 for the traceback\n"
    )
    return EXIT_INTERNAL


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace | int:
    """The parsed arguments, or the exit code once argparse has printed help, the version or a usage error."""
    try:
        return parser().parse_args(argv)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """The command in the caller's process: its signal handlers and garbage collector are
    its own again once the command has returned (:func:`run` is the command's process)."""
    with interruptible():
        return _collected(argv)


def run() -> int:
    """``nixk8s`` as a process (the console script, ``python -m nixk8s``): :func:`main`,
    and SIGINT or SIGTERM are one line and 130 or 143 whenever they come, also while the
    command returns; once it has, the interpreter's exit ignores them (interrupts.py)."""
    return process_exit_code(lambda: _collected(None), _stopped)


def _collected(argv: Sequence[str] | None) -> int:
    # A compile allocates many small objects and frees them all at exit; the cycle
    # collector would only walk them (a quarter of the time at 10,000 nodes), and the
    # input's bounds bound the memory. The library leaves the collector to its caller.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with guarded_output():
            return _run(argv)
    finally:
        if collecting:
            gc.enable()


def _stopped(stop: Interrupted) -> int:
    stderr_line(f"nixk8s: stopped by {stop}\n")
    return stop.exit_code


def _run(argv: Sequence[str] | None) -> int:
    """The command's exit code; every way it can end is one line at most (interrupts.py,
    output_streams.py)."""
    try:
        args = _arguments(argv)
        code = args if isinstance(args, int) else int(args.run(args))
        sys.stdout.flush()  # inside: a redirection that fails (> /dev/full) fails here
        return code
    except _Usage as err:
        stderr_line(f"nixk8s: {err}\n")
        return EXIT_USAGE
    except OutputError as err:
        if not err.reader_left:  # | head has read what it wanted: nothing to say
            stderr_line(f"nixk8s: {err}\n")
        return EXIT_USAGE
    except Interrupted as stop:
        return _stopped(stop)
    except Exception as err:  # noqa: BLE001 (anything else is a bug: its own exit code, one line)
        return _internal_error(err)


if __name__ == "__main__":
    raise SystemExit(run())
