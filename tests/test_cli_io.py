"""The command against its environment: endless inputs, failing outputs, signals.

Each behaviour is checked by running the command as a process, since that is what
it is about: what it reads from a device or a pipe, what it does when the redirection
of its output fails, and what a signal leaves behind. Slow stages are made slow
deterministically (a FIFO the test holds open), never by timing luck.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from nixk8s import atomic_write, load
from nixk8s.cli import EXIT_INVALID, EXIT_OK, EXIT_USAGE
from nixk8s.limits import MAX_SPEC_BYTES
from nixk8s.source_io import read_bounded, read_source

from support import SPECS, default_signals

EXAMPLE = SPECS / "hcloud-k3s.yaml"
COMMAND = [sys.executable, "-m", "nixk8s"]
MEMORY_CAP = 1 << 30  # a child that regressed to reading everything fails fast instead of swapping


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run(*args: str, **streams: object) -> subprocess.CompletedProcess[str]:
    """The command's result; its output and error captured unless ``streams`` says otherwise."""
    chosen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **streams}
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [*COMMAND, *args], text=True, timeout=60, preexec_fn=_capped, **chosen
    )


# --- size before work ------------------------------------------------------------------------------------


def test_a_device_that_never_ends_is_refused_after_the_bound(tmp_path: Path) -> None:
    result = run("validate", "/dev/zero")
    assert result.returncode == EXIT_INVALID
    assert result.stderr.splitlines()[0] == (
        f"/dev/zero: the spec is larger than 1 MiB; nixk8s reads at most {MAX_SPEC_BYTES:,} bytes "
        "(a cloud's user_data holds a fraction of that)"
    )


def test_stdin_that_never_ends_is_refused_after_the_bound() -> None:
    with open("/dev/zero", "rb") as endless:
        result = run("validate", "-", stdin=endless)
    assert result.returncode == EXIT_INVALID
    assert "-: the spec is larger than 1 MiB" in result.stderr


def test_a_fifo_is_read_only_up_to_the_bound(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    child = subprocess.Popen(
        [*COMMAND, "validate", str(fifo)], stderr=subprocess.PIPE, text=True, preexec_fn=_capped
    )
    written, fd = 0, open_writer(fifo, child)
    try:
        while written < 64 * MAX_SPEC_BYTES:  # far more than the command may read
            written += os.write(fd, b"a" * 65536)
    except BrokenPipeError:
        pass  # the command stopped reading, as it should
    finally:
        os.close(fd)
    _, err = child.communicate(timeout=60)
    assert child.returncode == EXIT_INVALID
    assert written < 64 * MAX_SPEC_BYTES
    assert "the spec is larger than 1 MiB" in err


def test_read_bounded_reads_one_byte_past_the_bound_at_most() -> None:
    r, w = os.pipe()
    os.write(w, b"x" * 100)
    os.close(w)
    with os.fdopen(r, "rb", buffering=0) as stream:
        assert read_bounded(stream, limit=10) == b"x" * 11
        assert stream.read() == b"x" * 89  # the rest was never read


class _Stop(Exception):
    pass


def _stop(signum: int, frame: object) -> None:
    raise _Stop


def test_a_signal_that_never_interrupts_the_wait_is_acted_on_while_the_source_is_silent() -> None:
    """The race behind a SIGTERM that hung a compile reading a silent FIFO: a signal that
    lands just before a blocking read interrupts nothing. Sent to another thread, it
    interrupts nothing here either, every time; its handler must still run (in this
    thread) while the source stays silent, not once input finally comes."""
    r, w = os.pipe()
    done, late = threading.Event(), threading.Event()

    def signal_then_write_late() -> None:
        try:
            time.sleep(0.5)  # the reader is waiting by now (if not, the handler runs before it waits)
            signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)  # this thread, not the reader's
            if not done.wait(10):  # a wait that blocks until input returns only now
                os.write(w, b"late")
                late.set()
        finally:
            os.close(w)

    previous = signal.signal(signal.SIGUSR1, _stop)
    helper = threading.Thread(target=signal_then_write_late)
    try:
        with os.fdopen(r, "rb", buffering=0) as stream:
            helper.start()
            with pytest.raises(_Stop):
                read_bounded(stream, limit=10)
            assert not late.is_set()
    finally:
        done.set()
        helper.join()
        signal.signal(signal.SIGUSR1, previous)


def test_a_spec_at_the_bound_is_read_whole(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(b"#" * MAX_SPEC_BYTES)
    assert read_source(str(spec), MAX_SPEC_BYTES) == b"#" * MAX_SPEC_BYTES


def test_a_yaml_file_over_the_bound_is_not_parsed_as_toml_for_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("an over-size spec was parsed")

    monkeypatch.setattr(msgspec.toml, "decode", refuse)
    problems = load.load(b"a = 1\n" * (MAX_SPEC_BYTES // 6 + 1), "yaml").failure()
    assert [p.message.split(";")[0] for p in problems] == ["the spec is larger than 1 MiB"]


# --- output that cannot be written -------------------------------------------------------------------------

COMMANDS_THAT_PRINT = {
    "compile": ["compile", str(EXAMPLE), "-o", "{out}"],
    "validate": ["validate", str(EXAMPLE)],
    "validate json": ["validate", str(EXAMPLE), "--output", "json"],
    "validate sarif": ["validate", str(EXAMPLE), "--output", "sarif"],
    "explain": ["explain", str(EXAMPLE)],
    "explain json": ["explain", str(EXAMPLE), "--format", "json"],
    "schema": ["schema"],
    "diff": ["diff", str(EXAMPLE), str(EXAMPLE)],
    "init": ["init", "hcloud"],
    "version": ["--version"],
    "help": ["--help"],
}


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("command", sorted(COMMANDS_THAT_PRINT))
def test_a_full_output_device_is_an_io_error_in_one_line(tmp_path: Path, command: str) -> None:
    argv = [a.format(out=tmp_path / "out") for a in COMMANDS_THAT_PRINT[command]]
    with open("/dev/full", "w") as full:
        result = run(*argv, stdout=full)
    assert result.returncode == EXIT_USAGE
    assert result.stderr.splitlines()[-1] == "nixk8s: cannot write to standard output: No space left on device"
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr


@pytest.mark.parametrize("command", sorted(COMMANDS_THAT_PRINT))
def test_a_closed_pipe_ends_the_command_quietly(tmp_path: Path, command: str) -> None:
    argv = [a.format(out=tmp_path / "out") for a in COMMANDS_THAT_PRINT[command]]
    r, w = os.pipe()
    os.close(r)  # the reader is gone before the command writes a byte (| head, done)
    try:
        result = run(*argv, stdout=w)
    finally:
        os.close(w)
    assert result.returncode == EXIT_USAGE
    assert not [line for line in result.stderr.splitlines() if "warning:" not in line]


def test_an_unwritable_stderr_does_not_hide_the_exit_code(tmp_path: Path) -> None:
    r, w = os.pipe()
    os.close(r)
    try:
        result = run("validate", str(tmp_path / "missing.yaml"), stderr=w, stdout=subprocess.PIPE)
    finally:
        os.close(w)
    assert result.returncode == EXIT_USAGE


# --- signals ---------------------------------------------------------------------------------------------


def open_writer(fifo: Path, child: subprocess.Popen[str], timeout: float = 30) -> int:
    """The FIFO's write end, once the command has opened its read end; never blocking
    the test forever (the child is killed if it never opens it)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as err:
            if err.errno != errno.ENXIO or time.monotonic() > deadline:  # ENXIO: no reader yet
                child.kill()
                raise
            time.sleep(0.01)
    os.set_blocking(fd, True)
    return fd


def compile_waiting_on_a_fifo(
    tmp_path: Path, before: Callable[[], object] = default_signals
) -> tuple[subprocess.Popen[str], Path, int]:
    """A compile whose spec comes from a FIFO that holds half the spec and stays open:
    the command is reading, and stays there until the test acts. ``before`` runs in the
    child before it starts: SIGINT and SIGTERM at their defaults, whatever the test
    runner ignores (one run in the background ignores SIGINT)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "main.tf.json").write_text('{"previous": true}\n')
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    child = subprocess.Popen(
        [*COMMAND, "compile", str(fifo), "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=before,
    )
    fd = open_writer(fifo, child)
    spec = EXAMPLE.read_bytes()
    os.write(fd, spec[: len(spec) // 2])
    return child, out, fd


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_compile_stops_it_in_one_line(tmp_path: Path, signum: int, code: int) -> None:
    child, out, fd = compile_waiting_on_a_fifo(tmp_path)
    try:
        child.send_signal(signum)
        stdout, stderr = child.communicate(timeout=60)
    finally:
        os.close(fd)
    assert child.returncode == code
    assert stderr == f"nixk8s: stopped by {signal.Signals(signum).name}\n"
    assert stdout == ""
    assert [p.name for p in out.iterdir()] == ["main.tf.json"]
    assert (out / "main.tf.json").read_text() == '{"previous": true}\n'


def test_sigkill_during_compile_leaves_the_previous_output_whole(tmp_path: Path) -> None:
    child, out, fd = compile_waiting_on_a_fifo(tmp_path)
    try:
        child.kill()
        child.communicate(timeout=60)
    finally:
        os.close(fd)
    assert child.returncode == -signal.SIGKILL
    assert [p.name for p in out.iterdir()] == ["main.tf.json"]
    assert (out / "main.tf.json").read_text() == '{"previous": true}\n'


def test_a_signal_ignored_at_start_stays_ignored(tmp_path: Path) -> None:
    child, out, fd = compile_waiting_on_a_fifo_ignoring_sigint(tmp_path)
    try:
        child.send_signal(signal.SIGINT)  # nohup-like: the command must not act on it
        os.write(fd, EXAMPLE.read_bytes()[len(EXAMPLE.read_bytes()) // 2 :])
    finally:
        os.close(fd)
    child.communicate(timeout=60)
    assert child.returncode == EXIT_OK
    assert json.loads((out / "main.tf.json").read_text())["resource"]


def compile_waiting_on_a_fifo_ignoring_sigint(tmp_path: Path) -> tuple[subprocess.Popen[str], Path, int]:
    return compile_waiting_on_a_fifo(tmp_path, before=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))


# The write itself is too fast to be caught by a signal on purpose, so the mechanism is
# checked on its own: a child holds the half-written replacement open and says so.
HALF_WRITTEN = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from nixk8s import atomic_write
    from nixk8s.interrupts import Interrupted, interruptible
    if sys.argv[2] == "named":
        atomic_write._unnamed_file = lambda directory: None  # a filesystem without O_TMPFILE
    try:
        with interruptible(), atomic_write.replacing(Path(sys.argv[1])) as handle:
            handle.write(b'{"half": ')
            handle.flush()
            print("writing", flush=True)
            time.sleep(60)
    except Interrupted as stop:
        raise SystemExit(stop.exit_code)
    """
)


def half_written(target: Path, kind: str) -> subprocess.Popen[str]:
    target.write_text('{"previous": true}\n')
    child = subprocess.Popen(
        [sys.executable, "-c", HALF_WRITTEN, str(target), kind], stdout=subprocess.PIPE, text=True,
        preexec_fn=default_signals,
    )
    assert child.stdout is not None and child.stdout.readline() == "writing\n"
    return child


@pytest.mark.skipif(atomic_write._unnamed_file(Path("/tmp")) is None, reason="no O_TMPFILE here")
def test_sigkill_while_writing_leaves_nothing_in_the_directory(tmp_path: Path) -> None:
    child = half_written(tmp_path / "main.tf.json", "unnamed")
    assert [p.name for p in tmp_path.iterdir()] == ["main.tf.json"]  # nothing named while it is written
    child.kill()
    child.wait(timeout=60)
    assert [p.name for p in tmp_path.iterdir()] == ["main.tf.json"]
    assert (tmp_path / "main.tf.json").read_text() == '{"previous": true}\n'


@pytest.mark.parametrize("kind", ["unnamed", "named"])
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_while_writing_removes_the_temporary_file(tmp_path: Path, kind: str, signum: int, code: int) -> None:
    child = half_written(tmp_path / "main.tf.json", kind)
    child.send_signal(signum)
    child.wait(timeout=60)
    assert child.returncode == code
    assert [p.name for p in tmp_path.iterdir()] == ["main.tf.json"]
    assert (tmp_path / "main.tf.json").read_text() == '{"previous": true}\n'


@pytest.mark.parametrize("kind", ["unnamed", "named"])
def test_replacing_writes_the_whole_file_created_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    if kind == "named":
        monkeypatch.setattr(atomic_write, "_unnamed_file", lambda directory: None)
    target = tmp_path / "sub" / "main.tf.json"
    atomic_write.write_atomically(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["main.tf.json"]


# --- control characters in human output ----------------------------------------------------------------

FORGED_REGION = textwrap.dedent(
    """\
    name: demo
    backend: hcloud
    region: "nbg1\\e[2J\\a\\r\\nfake.yaml: valid\\u202e"
    node_pools: [{name: system, instance_types: ["cx32\\e]0;title\\a"], min_size: 1, max_size: 1}]
    hcloud: {image: "nixos\\x85"}
    """
)
# not a cloud's name, so not refused, but printed by explain and in a warning
TRACK = "1.34\x1b]0;pwned\x07\r\nfake.yaml: valid\u202e\u2066"
TRACKED = textwrap.dedent(
    f"""\
    name: demo
    backend: hcloud
    region: nbg1
    distribution_track: {json.dumps(TRACK)}
    node_pools: [{{name: system, instance_types: [cx32], min_size: 1, max_size: 1}}]
    hcloud: {{image: nixos}}
    nixos: {{secrets: {{extra_paths: {{"x\\e[1m": "/run/\\e[2Jx"}}}}}}
    """
)


def visible(text: str) -> bool:
    """Whether every line of ``text`` holds only printable characters."""
    return all(line.isprintable() for line in text.split("\n"))


def test_a_spec_cannot_forge_or_colour_a_problem_line(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(FORGED_REGION)
    result = run("validate", str(spec))
    assert result.returncode == EXIT_INVALID
    assert visible(result.stderr)
    assert all(line.startswith(f"{spec}: ") for line in result.stderr.splitlines())
    assert "region: holds U+001B, a control character, at character 5" in result.stderr


def test_explain_shows_what_the_spec_chose_escaped(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(TRACKED)
    result = run("explain", str(spec))
    assert result.returncode == EXIT_OK, result.stderr
    assert visible(result.stdout) and visible(result.stderr)
    assert "fake.yaml: valid" not in [line.strip() for line in result.stdout.splitlines()]
    assert "track 1.34\\x1b]0;pwned\\x07\\r\\nfake.yaml: valid\\u202e\\u2066)" in result.stdout
    assert "paths x\\x1b[1m=/run/\\x1b[2Jx" in result.stdout


def test_mermaid_escapes_every_string_before_quoting_it() -> None:
    # a valid spec has no control character in what the picture shows (rules.py refuses
    # them there), so the explanation is given some directly
    from nixk8s.compiler import compile_source
    from nixk8s.explanation import explanation
    from nixk8s.mermaid import render_mermaid

    e = explanation(compile_source(EXAMPLE.read_bytes()).unwrap())
    hostile = msgspec.structs.replace(e, cluster=msgspec.structs.replace(e.cluster, region="nbg1\x1b[2J\nend\u202e"))
    picture = render_mermaid(hostile)
    assert visible(picture)
    assert "nbg1\\x1b[2J\\nend\\u202e" in picture
    assert len(picture.splitlines()) == len(render_mermaid(e).splitlines())


def test_explain_json_keeps_what_the_spec_chose_exactly(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(TRACKED)
    result = run("explain", str(spec), "--format", "json")
    assert result.returncode == EXIT_OK, result.stderr
    assert json.loads(result.stdout)["cluster"]["track"] == TRACK


def test_diff_text_shows_a_hand_made_documents_names_escaped(tmp_path: Path) -> None:
    from nixk8s.compiler import compile_source

    document = compile_source(EXAMPLE.read_bytes()).unwrap().document
    old, new = tmp_path / "old.tf.json", tmp_path / "new.tf.json"
    old.write_text(json.dumps(document))
    document["resource"]["hcloud_firewall"]["extra\x1b[2J\nfake.yaml: valid"] = {"name": "x\u202e"}
    new.write_text(json.dumps(document))
    result = run("diff", str(old), str(new))
    assert result.returncode == 3, result.stderr
    assert visible(result.stdout)
    assert "+ hcloud_firewall.extra\\x1b[2J\\nfake.yaml: valid (added)" in result.stdout


# --- duplicate keys in JSON ---------------------------------------------------------------------------------


def test_a_json_spec_with_a_repeated_key_is_refused_at_its_path(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(
        '{"name": "demo", "backend": "hcloud", "region": "nbg1", "hcloud": {"image": "x"}, '
        '"node_pools": [{"name": "system", "instance_types": ["cx32"], "min_size": 1, "min_size": 3}]}'
    )
    result = run("validate", str(spec))
    assert result.returncode == EXIT_INVALID
    assert result.stderr.startswith(f"{spec}: node_pools[0].min_size: duplicate key 'min_size'")


LINKED_THEN_SIGNALLED = textwrap.dedent(
    """
    import os, signal, sys
    from nixk8s import atomic_write
    from nixk8s.cli import _stopped
    from nixk8s.interrupts import process_exit_code
    link = os.link

    def link_then_signal(*args, **kwargs):  # SIGTERM the moment the temporary name exists
        link(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)

    os.link = link_then_signal
    if sys.argv[2] == "named":
        atomic_write._unnamed_file = lambda directory: None
        replace = os.replace

        def replace_after_signal(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGTERM)
            replace(*args, **kwargs)

        os.replace = replace_after_signal
    raise SystemExit(process_exit_code(lambda: atomic_write.write_atomically(sys.argv[1], b"new\\n") or 0, _stopped))
    """
)


@pytest.mark.parametrize("kind", ["unnamed", "named"])
def test_a_signal_once_the_temporary_file_has_a_name_waits_for_the_rename(tmp_path: Path, kind: str) -> None:
    if kind == "unnamed" and atomic_write._unnamed_file(str(tmp_path)) is None:
        pytest.skip("no O_TMPFILE here")
    target = tmp_path / "main.tf.json"
    target.write_text('{"previous": true}\n')
    result = subprocess.run(
        [sys.executable, "-c", LINKED_THEN_SIGNALLED, str(target), kind],
        capture_output=True, text=True, timeout=60, preexec_fn=default_signals,
    )
    assert result.returncode == 143, result.stderr
    assert result.stderr == "nixk8s: stopped by SIGTERM\n"
    assert [p.name for p in tmp_path.iterdir()] == ["main.tf.json"]
    assert target.read_text() == "new\n"  # renamed before the signal was acted on


def test_a_signal_after_the_command_returned_is_ignored() -> None:
    script = (
        "import os, signal\n"
        "from nixk8s.cli import _stopped\n"
        "from nixk8s.interrupts import process_exit_code\n"
        "code = process_exit_code(lambda: 0, _stopped)\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "raise SystemExit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, preexec_fn=default_signals
    )
    assert (result.returncode, result.stderr) == (EXIT_OK, "")
