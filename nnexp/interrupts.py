"""Ctrl-C and SIGTERM during training: stop at the end of the epoch, as a KILLED run.

A KeyboardInterrupt raised wherever the signal lands can land inside a write to the tracking
store, where MLflow, SQLAlchemy or SQLite may swallow it: the run then stays RUNNING and
training goes on. So while a run trains, the first signal is only noted, and this plugin's
``on_epoch_end`` (called after the tracker's) raises it from a known, safe place. ``fit`` then
ends the run as KILLED and the tracker writes everything it holds. Outside training, or at a
second signal, the interrupt is raised at once.

    with StopAtEpochEnd() as stop:
        nnexp.fit(..., callbacks=[tracker, stop])
"""

from __future__ import annotations

import signal
import sys
import threading

from nnexp.hookspecs import hookimpl


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so training ends its run as KILLED."""


class StopAtEpochEnd:
    """Handles SIGINT and SIGTERM (main thread only) within a ``with`` block."""

    #: The innermost active instance, for code that builds the callbacks of a run.
    active: StopAtEpochEnd | None = None

    def __init__(self):
        self.pending: KeyboardInterrupt | None = None
        self.training = False
        self._previous: dict = {}
        self._outer: StopAtEpochEnd | None = None

    def __enter__(self) -> StopAtEpochEnd:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._on_signal)
        self._outer, StopAtEpochEnd.active = StopAtEpochEnd.active, self
        return self

    def __exit__(self, *exc) -> bool:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        StopAtEpochEnd.active = self._outer
        return False

    def _on_signal(self, signum, frame):
        error = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        if self.training and self.pending is None:
            self.pending = error
            print("\nnnexp: stopping at the end of this epoch (signal again to stop now)",
                  file=sys.stderr, flush=True)
            return
        raise error

    @hookimpl
    def on_run_start(self, run):
        self.training = True

    @hookimpl(trylast=True)
    def on_epoch_end(self, run, epoch, metrics):
        if self.pending is not None:
            error, self.pending = self.pending, None
            self.training = False
            raise error

    @hookimpl
    def on_run_end(self, run, status, error):
        self.training = False
