"""SIGINT and SIGTERM: the command stops cleanly, in one line, with the conventional status.

Python turns SIGINT into KeyboardInterrupt, which would print a traceback, and
leaves SIGTERM to kill the process where it stands. While the command runs, both
raise :class:`Interrupted` instead, which unwinds like any exception: every ``finally``
and ``except BaseException`` on the way cleans up (an unfinished ``main.tf.json`` is
never visible: :mod:`nixk8s.atomic_write`), then the command prints one line and
exits 128 + the signal's number (130, 143), as a shell reports a process a signal ended.

The first signal is the only one acted on: the handler ignores both signals from
then on, so that a second Ctrl-C cannot interrupt the cleanup of the first.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

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


def _stop(signum: int, frame: FrameType | None) -> None:
    for each in STOPPING_SIGNALS:
        if signal.getsignal(each) is _stop:
            signal.signal(each, signal.SIG_IGN)
    raise Interrupted(signum)


@contextmanager
def interruptible() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`Interrupted`; the handlers
    before it are restored after. Outside the main thread (where Python cannot set a
    handler) it changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # a signal the command was started with ignored (``nohup``, a background job)
    # stays ignored
    before = {each: signal.getsignal(each) for each in STOPPING_SIGNALS}
    before = {each: handler for each, handler in before.items() if handler is not signal.SIG_IGN}
    for each in before:
        signal.signal(each, _stop)
    try:
        yield
    finally:
        for each, handler in before.items():
            signal.signal(each, handler)
