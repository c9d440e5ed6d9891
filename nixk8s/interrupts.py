"""SIGINT and SIGTERM: the command stops cleanly, in one line, with the conventional status.

Python turns SIGINT into KeyboardInterrupt, which would print a traceback, and
leaves SIGTERM to kill the process where it stands. While the command runs, both
raise :class:`Interrupted` instead, which unwinds like any exception: every ``finally``
and ``except BaseException`` on the way cleans up (an unfinished ``main.tf.json`` is
never visible: :mod:`nixk8s.atomic_write`), then the command prints one line and
exits 128 + the signal's number (130, 143), as a shell reports a process a signal ended.

Only the first signal is acted on: a second Ctrl-C cannot interrupt the cleanup of the
first. A signal the command was started with ignored (``nohup``, a background job)
stays ignored.

Two scopes: :func:`interruptible` for :func:`nixk8s.cli.main` called in a process of
someone else's (a test, a tool), which gets its own handlers back afterwards; and
:func:`process_exit_code` for the process that is the command (the console script,
``python -m nixk8s``), which never gives the signals back to Python's defaults: a
signal that arrives once the command has returned, while the interpreter exits, is
ignored rather than turned into a KeyboardInterrupt traceback.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType, TracebackType

STOPPING_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """The command received SIGINT or SIGTERM. A BaseException, as KeyboardInterrupt is:
    code that handles ``Exception`` must not swallow it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        """128 + the signal's number: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


class _Stopper:
    """The handler: raises :class:`Interrupted` for the first signal, and only while the
    command has not finished; ignores every other."""

    def __init__(self) -> None:
        self.fired = False
        self.finished = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.fired or self.finished:
            return
        self.fired = True
        raise Interrupted(signum)


def _stoppable() -> list[signal.Signals]:
    """The stopping signals not ignored when the command started."""
    return [each for each in STOPPING_SIGNALS if signal.getsignal(each) is not signal.SIG_IGN]


class interruptible:  # noqa: N801 (used as a function: ``with interruptible():``)
    """Within the block, SIGINT and SIGTERM raise :class:`Interrupted`; the handlers
    before it are restored after. Outside the main thread (where Python cannot set a
    handler) it changes nothing.

    A class rather than ``contextlib.contextmanager``: every start of the command pays
    for what this module imports.
    """

    def __enter__(self) -> None:
        self.before = {each: signal.getsignal(each) for each in _stoppable()}
        stopper = _Stopper()
        try:
            for each in self.before:
                signal.signal(each, stopper)
        except ValueError:  # not the main thread: Python handles signals only there
            self.before = {}

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        for each, handler in self.before.items():
            signal.signal(each, handler)


def process_exit_code(command: Callable[[], int], stopped: Callable[[Interrupted], int]) -> int:
    """The exit code of ``command`` run as the whole process: SIGINT and SIGTERM raise
    :class:`Interrupted` until it returns (``stopped`` reports one that reaches here),
    and are ignored from then on, never handed back to Python's defaults."""
    stopper = _Stopper()
    caught = _stoppable()
    try:
        try:
            for each in caught:  # inside the try: a signal now is already one line
                signal.signal(each, stopper)
            return command()
        except Interrupted as stop:
            return stopped(stop)
    finally:
        # from here on, the interpreter's exit: nothing to stop. Ignored, not left to the
        # handler: Python gives a handler of its own back to the system's default as it exits
        stopper.finished = True
        for each in caught:
            signal.signal(each, signal.SIG_IGN)
