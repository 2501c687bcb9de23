"""SIGINT and SIGTERM during `nma run`: stop cleanly, keep the previous outputs, say so, exit 130 / 143.

PyMC catches KeyboardInterrupt while sampling and returns the draws so far, so raising alone is not enough:
the signal is also remembered, and `check()` (after sampling, and before outputs are swapped into place)
turns a swallowed interrupt back into one.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from contextlib import contextmanager

#: Test hook: NMA_TEST_PAUSE=<stage> makes the run announce and sleep at that stage ("write": temp folder
#: half-written), so tests can send a signal at a known point.
PAUSE_ENV = "NMA_TEST_PAUSE"

_SIGNALS = {signal.SIGINT, signal.SIGTERM}
_received: list[int] = []


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal; nothing was written."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _handler(signum, frame):
    _received.append(signum)
    raise Interrupted(signum)


@contextmanager
def guard():
    """Turn SIGINT and SIGTERM into Interrupted for the duration (main thread only; children inherit it,
    and PyMC's chain processes treat it as the KeyboardInterrupt it is)."""
    _received.clear()
    previous = {s: signal.signal(s, _handler) for s in _SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def received() -> int | None:
    return _received[0] if _received else None


def check() -> None:
    """Raise Interrupted if a signal arrived (even if something caught the first exception) or is held back."""
    pending = sorted(signal.sigpending() & _SIGNALS)
    if _received or pending:
        raise Interrupted((_received or pending)[0])


@contextmanager
def deferred():
    """Hold SIGINT and SIGTERM back while the outputs are swapped (two renames), so they happen as a pair."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        yield
    finally:
        while (info := signal.sigtimedwait(_SIGNALS, 0)) is not None:   # arrived while held: recorded, not raised
            _received.append(info.si_signo)
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def pause(stage: str) -> None:
    """The NMA_TEST_PAUSE hook (does nothing unless the variable names this stage)."""
    if os.environ.get(PAUSE_ENV) == stage:
        print(f"paused at {stage} (pid {os.getpid()})", file=sys.stderr, flush=True)
        time.sleep(60)
