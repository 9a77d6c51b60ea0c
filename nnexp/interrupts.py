"""Ctrl-C and SIGTERM during training: stop at the end of the step, as a KILLED run.

A KeyboardInterrupt raised wherever the signal lands can land inside a write to the tracking
store, where MLflow, SQLAlchemy or SQLite may swallow it, or halfway through an optimizer
update, where no checkpoint can be taken. So while a run trains, the first signal is only
noted, and this plugin's ``on_step_end`` / ``on_epoch_end`` (called last, after the record's)
raise it from a known, safe place: the end of the current step. The exception carries
``at_step_end = True``; ``fit`` then ends the run as KILLED and the record takes a checkpoint.
Once training is over, the run's end (its last rows, checkpoint, model, test metrics, the
tracking store's last word) is written in full: a first signal then is held until the run is
recorded, and raised after it (:meth:`StopAtStepEnd.release`); the run stays FINISHED and the
command stops there. Outside a run the first signal is raised at once. A second signal ends the process at
once (exit code 130, or 143 for SIGTERM): whatever was not written by then is what the record
already holds, and the next nnexp command marks the run KILLED.

    with StopAtStepEnd() as stop:
        nnexp.fit(..., callbacks=[tracker, stop])
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Literal

from nnexp.hookspecs import hookimpl


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so training ends its run as KILLED."""


class StopAtStepEnd:
    """Handles SIGINT and SIGTERM (main thread only) within a ``with`` block."""

    #: The innermost active instance, for code that builds the callbacks of a run.
    active: StopAtStepEnd | None = None

    def __init__(self):
        self.pending: KeyboardInterrupt | None = None
        #: What the first signal raised (see :func:`as_received`).
        self.received: KeyboardInterrupt | None = None
        self.signalled = False
        #: Whether a first signal is held (training, or the end of a run being written).
        self.training = False
        #: Whether the held signal is raised at the end of the step (else by release()).
        self.stepping = False
        self._previous: dict = {}
        self._outer: StopAtStepEnd | None = None

    def __enter__(self) -> StopAtStepEnd:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._on_signal)
        self._outer, StopAtStepEnd.active = StopAtStepEnd.active, self
        return self

    def __exit__(self, *exc) -> Literal[False]:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        StopAtStepEnd.active = self._outer
        if self.signalled and self._outer is not None:
            self._outer.signalled = True  # a signal after this one is the second
        if self.pending is not None and exc[0] is None:  # held, and nobody released it
            error, self.pending = self.pending, None
            raise error
        return False

    def _on_signal(self, signum, frame):
        terminated = signum == signal.SIGTERM
        if self.signalled:  # the second signal: end now
            print("\nnnexp: stopped at once; the next nnexp command marks the run KILLED",
                  file=sys.stderr, flush=True)
            os._exit(143 if terminated else 130)
        self.signalled = True
        error = self.received = Terminated() if terminated else KeyboardInterrupt()
        if self.training:
            self.pending = error
            print(f"\nnnexp: stopping after this {'step' if self.stepping else 'run is recorded'} "
                  "(signal again to stop now)", file=sys.stderr, flush=True)
            return
        raise error

    def release(self) -> None:
        """The run is recorded: a held signal is raised now (a FINISHED run stays FINISHED)."""
        self.training = self.stepping = False
        if self.pending is not None:
            error, self.pending = self.pending, None
            raise error

    @hookimpl
    def on_run_start(self, run):
        self.training = self.stepping = True

    @hookimpl(trylast=True)
    def on_step_end(self, run, loss):
        self._raise_pending()

    @hookimpl(trylast=True)
    def on_epoch_end(self, run, epoch, metrics):
        self._raise_pending()

    def _raise_pending(self) -> None:
        if self.pending is not None:
            error, self.pending = self.pending, None
            self.training = self.stepping = False
            error.at_step_end = True  # type: ignore[attr-defined]  # a mark of our own on the exception
            raise error

    @hookimpl
    def on_run_end(self, run, status, error):
        # a FINISHED run's end is written with signals held (its owner calls release());
        # any other end lets the next signal through
        self.stepping = False
        self.training = status == "FINISHED"


def as_received(exc: KeyboardInterrupt) -> KeyboardInterrupt:
    """What the signal raised, when a library caught it and raised a plain KeyboardInterrupt
    of its own instead (Ray's ``ray.get`` does): so SIGTERM stays :class:`Terminated`."""
    stop = StopAtStepEnd.active
    if type(exc) is KeyboardInterrupt and stop is not None and stop.received is not None:
        return stop.received
    return exc
