"""A pool of worker processes that survives its workers: a dead worker costs only its call.

joblib's loky (and ``concurrent.futures``) treat one dead worker as a broken pool: every
pending call fails with ``TerminatedWorkerError`` and the other workers are killed with
their calls, so which call died cannot be told. Here each worker has its own pipe and runs
one call at a time; the supervisor knows which call each worker holds, so a worker that dies
(SIGKILL, the OOM killer, a segfault) fails exactly that call, with its exit signal, and a
fresh worker takes its place for the calls still queued.

Workers are started with ``spawn`` and keep their imports between calls. ``setup`` (sent once
per worker), each call's arguments and its value travel by cloudpickle (Hydra's config store
holds dataclasses made at run time, which plain pickle cannot name).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Any

import cloudpickle

#: Seconds the busy workers get to end their runs after an interrupt before they are killed.
STOP_GRACE_S = 30.0


@dataclass
class Outcome:
    """One call's end: ``value`` when it returned, else ``problem`` says what happened."""

    index: int
    value: Any = None
    problem: str | None = None


def exit_reason(exitcode: int | None) -> str:
    """``-9`` -> "its process was killed by SIGKILL (out of memory?)"; ``3`` -> "... code 3"."""
    if exitcode is None or exitcode >= 0:
        return f"its process exited with code {exitcode}"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        name = f"signal {-exitcode}"
    hint = " (out of memory, or killed)" if exitcode == -signal.SIGKILL else ""
    return f"its process was killed by {name}{hint}"


def _serve(conn, payload: bytes) -> None:
    """A worker: for each ``(index, args)`` received, send back ``(index, fn(*args, *setup),
    problem)``; None or a closed pipe ends it. Its own process group: a Ctrl-C at the
    terminal reaches only the supervisor, which passes on one signal (see :meth:`stop`)."""
    os.setpgrp()
    fn, setup = cloudpickle.loads(payload)
    while True:
        try:
            message = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if message is None:
            return
        index, args = message
        try:
            _send(conn, (index, fn(*args, *setup), None))
        except KeyboardInterrupt:
            _send(conn, (index, None, "interrupted"))
            return
        except Exception:  # noqa: BLE001 - reported as this call's problem; the worker serves on
            _send(conn, (index, None, traceback.format_exc()))


def _send(conn, obj) -> None:
    """Send by cloudpickle; ``conn.recv()`` loads it (cloudpickle writes standard pickles)."""
    conn.send_bytes(cloudpickle.dumps(obj))


@dataclass
class _Worker:
    process: Any
    conn: Any
    index: int | None = None  # the call it runs


@dataclass
class WorkerPool:
    """``n`` workers calling ``fn(*args, *setup)``; :meth:`run` hands each call's
    :class:`Outcome` to ``report`` as it ends (in completion order)."""

    fn: Callable
    setup: tuple
    n: int
    _workers: list[_Worker] = field(default_factory=list)

    def run(self, calls: list[tuple], report: Callable[[Outcome], None]) -> None:
        """Run every call. On Ctrl-C or SIGTERM (a KeyboardInterrupt here), the busy workers
        get the same signal, their outcomes are reported, and the interrupt is re-raised."""
        queue = list(enumerate(calls))[::-1]
        try:
            while queue or self._busy():
                self._dispatch(queue)
                for outcome in self._collect():
                    report(outcome)
        except KeyboardInterrupt as exc:
            sig = signal.SIGINT if type(exc) is KeyboardInterrupt else signal.SIGTERM
            for outcome in self.stop(sig):
                report(outcome)
            raise
        finally:
            self.shutdown()

    def _busy(self) -> list[_Worker]:
        return [w for w in self._workers if w.index is not None]

    def _dispatch(self, queue: list) -> None:
        self._workers = [w for w in self._workers if w.index is not None or w.process.is_alive()]
        while queue and len(self._workers) < self.n:
            self._workers.append(self._start())
        for worker in self._workers:
            if worker.index is None and queue:
                worker.index, args = queue.pop()
                _send(worker.conn, (worker.index, args))

    def _start(self) -> _Worker:
        ctx = multiprocessing.get_context("spawn")
        mine, theirs = ctx.Pipe()
        payload = cloudpickle.dumps((self.fn, self.setup))
        process = ctx.Process(target=_serve, args=(theirs, payload), daemon=True)
        process.start()
        theirs.close()
        return _Worker(process, mine)

    def _collect(self) -> list[Outcome]:
        busy = self._busy()
        ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
        return [self._outcome(w) for w in busy if w.conn in ready or w.process.sentinel in ready]

    def _outcome(self, worker: _Worker) -> Outcome:
        """What the worker sent for its call, or, if it died first, how it died (it is then
        dropped: the next dispatch starts a fresh one)."""
        index, worker.index = worker.index, None
        assert index is not None  # a busy worker has a call
        try:
            if worker.conn.poll():
                sent, value, problem = worker.conn.recv()
                if problem != "interrupted":
                    return Outcome(sent, value, problem)
        except (EOFError, OSError):
            pass
        worker.process.join(5.0)  # it is ending (or dead): let it go
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        self._workers.remove(worker)
        if worker.process.exitcode == 0 or worker.process.is_alive():
            return Outcome(index, problem="interrupted")
        return Outcome(index, problem=exit_reason(worker.process.exitcode))

    def stop(self, sig: int) -> list[Outcome]:
        """Send ``sig`` to the busy workers (their runs end as KILLED at the end of a step) and
        collect their outcomes within :data:`STOP_GRACE_S`; the rest are then killed."""
        busy = self._busy()
        for worker in busy:
            if worker.process.is_alive():
                os.kill(worker.process.pid, sig)
        deadline = time.monotonic() + STOP_GRACE_S
        for worker in busy:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
        return [self._outcome(w) for w in busy]

    def shutdown(self) -> None:
        """Every worker is told to end; any still alive after a second is killed."""
        for worker in self._workers:
            try:
                worker.conn.send(None)
            except (OSError, ValueError):
                pass
        for worker in self._workers:
            worker.process.join(1.0)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
        self._workers = []
