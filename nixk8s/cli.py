"""The ``nixk8s`` command: the only place that does I/O.

Exit codes: 0 success; 1 the spec is invalid (every problem on stderr as
``FILE: PATH: MESSAGE``); 2 usage or I/O error; ``diff`` also 3 (changes applied in
place) and 4 (changes that replace or destroy machines); 70 (EX_SOFTWARE) an internal
error, that is a bug in nixk8s: one line on stderr, and the traceback only when the
environment variable ``NIXK8S_DEBUG`` is set. No input makes the command print a
traceback or exit 1 for anything but an invalid spec.

The spec's format comes from its file name (``.toml``, ``.json``, else YAML) or from
``--spec-format`` (``--format`` for compile and validate), which stdin (``-``) needs
for anything but YAML. argparse (standard library) is enough for these subcommands,
so the command adds no dependency.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import msgspec
from returns.result import Failure, Result

from nixk8s import __version__
from nixk8s.compiler import Compiled, compile_source
from nixk8s.load import SpecFormat, format_of
from nixk8s.problems import Problems, format_problems
from nixk8s.backends.catalog import NAMES as CLOUD_NAMES
from nixk8s.warnings import format_warnings, without

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
EXIT_CHANGES_IN_PLACE, EXIT_REPLACES_MACHINES = 3, 4
EXIT_INTERNAL = 70  # EX_SOFTWARE (sysexits.h): a bug in nixk8s, never a verdict on the spec
DEBUG_VARIABLE = "NIXK8S_DEBUG"
FORMATS: tuple[SpecFormat, ...] = ("yaml", "toml", "json")


class _Usage(Exception):
    """A usage or I/O error: printed, exit 2."""


def _read(path: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as err:
        raise _Usage(f"cannot read {path}: {err.strerror or err}") from err


def _compile_file(args: argparse.Namespace) -> Result[Compiled, Problems]:
    fmt: SpecFormat = args.spec_format or format_of(args.spec)
    return compile_source(_read(args.spec), fmt)


def write_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` so that readers see the old file or the new one, never half."""
    import tempfile  # only compile writes a file

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _report(result: Result[Compiled, Problems], source: str) -> Compiled | None:
    if isinstance(result, Failure):
        problems = result.failure()
        sys.stderr.write(format_problems(problems, source))
        sys.stderr.write(f"{source}: {len(problems)} problem{'s' if len(problems) != 1 else ''}\n")
        return None
    return result.unwrap()


def _refused_for_warnings(compiled: Compiled, args: argparse.Namespace) -> bool:
    """Print the spec's warnings (those not ignored) to stderr; True where ``--strict``
    turns them into a refusal, which the caller treats as an invalid spec."""
    shown = without(compiled.warnings, args.ignore_warning)
    sys.stderr.write(format_warnings(shown, args.spec))
    if shown and args.strict:
        sys.stderr.write(f"{args.spec}: {len(shown)} warning{'s' if len(shown) != 1 else ''}, refused by --strict\n")
        return True
    return False


def _checked(args: argparse.Namespace) -> Compiled | None:
    """The compiled spec, its problems or (under ``--strict``) its warnings printed; None if refused."""
    compiled = _report(_compile_file(args), args.spec)
    if compiled is None or _refused_for_warnings(compiled, args):
        return None
    return compiled


def cmd_compile(args: argparse.Namespace) -> int:
    compiled = _checked(args)
    if compiled is None:
        return EXIT_INVALID
    target = Path(args.output) / "main.tf.json"
    try:
        write_atomically(target, compiled.to_json())
    except OSError as err:
        raise _Usage(f"cannot write {target}: {err.strerror or err}") from err
    print(f"wrote {target}")
    print(next_steps(Path(args.output), [v.name for v in compiled.plan.variables]))
    return EXIT_OK


def next_steps(directory: Path, variables: Sequence[str]) -> str:
    """One line saying what to run after a compile.

    >>> next_steps(Path("out"), ["k3s_token"])
    'next: cd out && terraform init && terraform apply (set TF_VAR_k3s_token first, or pass -var-file)'
    """
    settings = ", ".join(f"TF_VAR_{name}" for name in variables)
    first = f" (set {settings} first, or pass -var-file)" if variables else ""
    return f"next: cd {directory} && terraform init && terraform apply{first}"


def cmd_validate(args: argparse.Namespace) -> int:
    compiled = _checked(args)
    if compiled is None:
        return EXIT_INVALID
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
    from nixk8s.starter import starter  # only init needs it

    text = starter(args.backend, args.distribution)
    if args.output is None or args.output == "-":
        sys.stdout.write(text)
        return EXIT_OK
    target = Path(args.output)
    # a starter is cheap to regenerate, an edited spec is not: never overwrite one unasked
    if (target.exists() or target.is_symlink()) and not args.force:
        raise _Usage(f"{target} exists; pass --force to overwrite it")
    try:
        write_atomically(target, text.encode())
    except OSError as err:
        raise _Usage(f"cannot write {target}: {err.strerror or err}") from err
    print(f"wrote {target}")
    print(f"next: replace the values marked CHANGE, then nixk8s compile {target} -o out")
    return EXIT_OK


def _init_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "init",
        help="write a commented starter spec for a backend (it compiles as written)",
        description="Write a commented starter ClusterSpec (YAML) for BACKEND, to stdout or to FILE. "
        "It compiles as written; replace the values marked CHANGE before applying.",
    )
    p.add_argument("backend", metavar="BACKEND", choices=CLOUD_NAMES, help=", ".join(CLOUD_NAMES))
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
    if path.lower().endswith(".tf.json"):
        return True
    if not (path == "-" or path.lower().endswith(".json")) or not data.lstrip().startswith(b"{"):
        return False
    try:
        decoded = msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return False
    return isinstance(decoded, dict) and any(k in decoded for k in ("resource", "terraform", "provider"))


def _document(path: str, spec_format: SpecFormat | None) -> dict[str, object] | None:
    """The Terraform document of one diff input (a spec is compiled), or None once its
    problems are printed."""
    from nixk8s.document_diff import document_problems  # only diff needs it

    data = _read(path)
    if not _looks_compiled(path, data):
        compiled = _report(compile_source(data, spec_format or format_of(path)), path)
        return None if compiled is None else compiled.document
    try:
        decoded = msgspec.json.decode(data)
    except msgspec.DecodeError as err:
        sys.stderr.write(f"{path}: not valid JSON: {err}\n")
        return None
    except RecursionError:
        sys.stderr.write(f"{path}: not a Terraform JSON document: it nests too deeply\n")
        return None
    problems = document_problems(decoded)
    if problems:
        sys.stderr.write(format_problems(problems, path))
        return None
    return decoded  # type: ignore[no-any-return]


def cmd_diff(args: argparse.Namespace) -> int:
    from nixk8s.document_diff import diff_documents
    from nixk8s.diff_report import render_json, render_text

    if args.old == "-" and args.new == "-":
        raise _Usage("diff: only one of OLD and NEW can be - (stdin)")
    old, new = _document(args.old, args.spec_format), _document(args.new, args.spec_format)
    if old is None or new is None:
        return EXIT_INVALID
    diff = diff_documents(old, new)
    sys.stdout.write(render_json(diff).decode() if args.format == "json" else render_text(diff))
    sys.stdout.flush()
    return diff.exit_code


def _spec_arguments(p: argparse.ArgumentParser, *format_flags: str) -> None:
    p.add_argument("spec", metavar="SPEC", help="the ClusterSpec file (- for stdin)")
    p.add_argument(
        *format_flags,
        dest="spec_format",
        choices=FORMATS,
        help="the spec's format (default: from the file name, .toml or .json, else yaml; stdin: yaml)",
    )


def _warning_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--strict", action="store_true", help="treat warnings as errors: exit 1 (and write nothing) if any is printed"
    )
    p.add_argument(
        "--ignore-warning",
        metavar="CODE",
        action="append",
        default=[],
        help="do not print (or, with --strict, count) warnings with this code; repeatable (docs/warnings.md)",
    )


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="nixk8s",
        description="Compile a ClusterSpec (YAML, TOML or JSON) into Terraform JSON for NixOS Kubernetes nodes.",
        epilog="exit codes: 0 success, 1 invalid spec, 2 usage or I/O error, 3/4 diff found changes "
        f"(4: they replace machines), 70 internal error (set {DEBUG_VARIABLE}=1 for its traceback)",
    )
    top.add_argument("--version", action="version", version=f"nixk8s {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("compile", help="write DIR/main.tf.json (atomically)")
    _spec_arguments(p, "--format", "--spec-format")
    p.add_argument("-o", "--output", metavar="DIR", default="out", help="output directory (default: ./out)")
    _warning_arguments(p)
    p.set_defaults(run=cmd_compile)
    p = sub.add_parser("validate", help="check only; print every problem with its path")
    _spec_arguments(p, "--format", "--spec-format")
    _warning_arguments(p)
    p.set_defaults(run=cmd_validate)
    p = sub.add_parser("schema", help="print the JSON Schema of the ClusterSpec")
    p.set_defaults(run=cmd_schema)
    p = sub.add_parser("explain", help="nodes, roles, addresses, open ports, which secrets go where")
    # DESIGN §6 keeps ``explain --format`` for the output; the spec's is --spec-format
    _spec_arguments(p, "--spec-format")
    p.add_argument(
        "--format",
        choices=("text", "json", "mermaid"),
        default="text",
        help="text (default), JSON for tools (keys sorted), or a mermaid flowchart (renders on GitHub)",
    )
    _warning_arguments(p)
    p.set_defaults(run=cmd_explain)
    p = sub.add_parser(
        "diff",
        help="what changes between two specs (or compiled main.tf.json), and which changes replace machines",
        description="Compare two specs or compiled main.tf.json files (one of each works too). "
        "Exit 0 no changes, 3 changes applied in place, 4 changes that replace or destroy machines, "
        "1 an invalid input, 2 a usage or I/O error.",
    )
    p.add_argument("old", metavar="OLD", help="the deployed spec or main.tf.json (- for stdin)")
    p.add_argument("new", metavar="NEW", help="the proposed spec or main.tf.json (- for stdin)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or JSON for tools")
    p.add_argument(
        "--spec-format", choices=FORMATS, help="the format of a spec given as - (stdin); default: from the file name"
    )
    p.set_defaults(run=cmd_diff)
    _init_parser(sub)
    return top


def _internal_error(err: BaseException) -> int:
    """One line for a bug in nixk8s (and the traceback when NIXK8S_DEBUG is set)."""
    if os.environ.get(DEBUG_VARIABLE):
        traceback.print_exception(err)
    detail = (str(err).splitlines() or [""])[0][:200]
    sys.stderr.write(
        f"nixk8s: internal error ({type(err).__name__}{': ' + detail if detail else ''}); "
        f"this is a bug in nixk8s, not in the spec; set {DEBUG_VARIABLE}=1 for the traceback\n"
    )
    return EXIT_INTERNAL


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exit_:  # argparse has printed the usage error
        return EXIT_USAGE if exit_.code else EXIT_OK
    # A compile allocates many small objects and frees them all at exit; the cycle
    # collector would only walk them (a quarter of the time at 10,000 nodes), and the
    # input's bounds bound the memory. The library leaves the collector to its caller.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return int(args.run(args))
    except _Usage as err:
        sys.stderr.write(f"nixk8s: {err}\n")
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK
    except Exception as err:  # noqa: BLE001 (anything else is a bug: its own exit code, one line)
        return _internal_error(err)
    finally:
        if collecting:
            gc.enable()


if __name__ == "__main__":
    raise SystemExit(main())
