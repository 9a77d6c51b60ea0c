"""The sender: one process per nnexp command that sends its runs' records to MLflow.

Training processes never import mlflow (it costs ~1.5 s, more than a small run's training):
they write records (:mod:`nnexp.record`) and hand each one to the sender through a spool
directory. The sender creates the MLflow run, sends the record as it grows (metrics, tags,
files, a heartbeat: :class:`nnexp.tracking.sink.Sink`), and when the record ends it draws the
pictures, exports the tables, sends the rest and sets the status. It starts while the command
composes its config, so its imports overlap the training; a sweep's jobs train while their
predecessors are sent and drawn.

Protocol. The spool is a directory of requests, ``<nanoseconds>-<pid>.json``, written
atomically and handled in name order::

    {"kind": "run", "record": "/abs/nnexp-records/<id>"}   follow this record
    {"kind": "stop"}                                       no more: finish and exit

A record's ``meta.json`` (the trainer's) says what to create: ``uri``, ``experiment``,
``run_name``, ``params``, ``tags``, ``parent_run_id``, ``resume_run_id``, liveness and
``status``. The sender answers in the record's ``mlflow.json`` (:data:`STATE`): ``run_id``,
``experiment_id``, ``status_sent`` (the final status is in the store), ``synced``
(everything is), ``error`` (the store could not take the run: the trainer stops with it).

The sender ignores Ctrl-C (it is in its own session): an interrupted trainer writes its last
record and the sender sends it. SIGTERM makes it hurry (no pictures). It exits once asked to
stop and every followed record has ended — also when its trainer died (the run then ends
KILLED, lost) — so a trainer that exits at once does not lose what it recorded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nnexp.record import Record
from nnexp.record.files import read_json, write_json
from nnexp.record.liveness import alive

STATE = "mlflow.json"
ENDED = ("FINISHED", "FAILED", "KILLED")
SPOOL_ENV = "NNEXP_SENDER_SPOOL"


def state(record: Record) -> dict:
    """What the sender said about ``record`` (empty before it started on it)."""
    return read_json(record.path / STATE, {})


# -- the trainer's side ----------------------------------------------------------------------
class Sender:
    """A handle on the sender process of this command (started on first use)."""

    def __init__(self, spool: Path | None = None):
        self.spool = Path(spool) if spool else Path(tempfile.mkdtemp(prefix="nnexp-sender-"))
        self.proc: subprocess.Popen | None = None

    def start(self) -> Sender:
        if self.proc is None:
            self.spool.mkdir(parents=True, exist_ok=True)
            code = "import sys; from nnexp.tracking.sender import serve; serve(sys.argv[1], int(sys.argv[2]))"
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code, str(self.spool), str(os.getpid())],
                stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    def submit(self, **request) -> None:
        path = self.spool / f"{time.time_ns():020d}-{os.getpid()}.json"
        write_json(path, request)

    def follow(self, record: Record) -> None:
        self.submit(kind="run", record=str(record.path.resolve()))

    def alive(self) -> bool:
        return self.proc is None or self.proc.poll() is None

    def wait(self, record: Record, done, timeout: float | None) -> dict:
        """Wait until ``done(state)`` holds for the sender's state of ``record`` (or it says an
        error), the sender died, or ``timeout`` seconds passed; return that state."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            st = state(record)
            if done(st) or st.get("error") or not self.alive():
                return st
            if deadline is not None and time.monotonic() >= deadline:
                return st
            time.sleep(0.02)

    def stop(self, timeout: float | None = 0.0) -> None:
        """Ask the sender to finish and exit; wait up to ``timeout`` s (None: until it has)."""
        if self.proc is None:
            return
        self.submit(kind="stop")
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass  # it finishes on its own; the trainer need not wait


_shared: Sender | None = None


def shared() -> Sender:
    """This process's sender (one per command; its spool is inherited by worker processes
    through ``NNEXP_SENDER_SPOOL``, so their records reach the same sender)."""
    global _shared
    if _shared is None:
        spool = os.environ.get(SPOOL_ENV)
        if spool and Path(spool).is_dir():
            _shared = Sender(Path(spool))  # a worker: the launching process's sender
            _shared.proc = None
        else:
            _shared = Sender().start()
            os.environ[SPOOL_ENV] = str(_shared.spool)
            import atexit

            atexit.register(_shared.stop, 0)  # it finishes what it follows on its own
    return _shared


def stop_shared() -> None:
    """Tell this process's sender that no more runs come (it finishes what it follows)."""
    if _shared is not None and _shared.proc is not None:
        _shared.stop(0)


def reset_shared() -> None:
    """Forget this process's sender (tests)."""
    global _shared
    _shared = None
    os.environ.pop(SPOOL_ENV, None)


# -- the sender process ----------------------------------------------------------------------
class Follower:
    """One record, from creating its MLflow run to sending its end."""

    def __init__(self, record: Record, hurry):
        self.record, self.hurry = record, hurry
        self.meta = record.meta()
        self.sink = None
        self.done = False

    def step(self) -> None:
        from nnexp.tracking.sink import Sink

        if self.sink is None:
            run_id = self._open()
            if run_id is None:
                return
            self.sink = Sink(self.record, self.meta["uri"], run_id, interval=0,
                             heartbeat_every=self.meta.get("heartbeat_every_s", 10.0))
        meta = self.record.meta()
        ended = meta.get("status") in ENDED
        lost = not ended and alive(meta) is False
        if ended or lost:
            self._finish(meta, lost)
        else:
            self.sink._attempt(lambda: self.sink.send(files=True))

    def _open(self) -> str | None:
        """Create (or reopen) the run; a store that cannot take it is said in the state. A
        record whose run this sender already opened (final metrics after its end) reuses it."""
        from nnexp.tracking import runs

        if state(self.record).get("run_id"):
            return state(self.record)["run_id"]
        try:
            run_id, experiment_id = runs.open_run(self.meta)
        except Exception as exc:  # noqa: BLE001 - told to the trainer, which stops with it
            from nnexp.tracking.store import describe

            write_json(self.record.path / STATE, {"error": describe(exc, self.meta["uri"])})
            self.done = True
            return None
        write_json(self.record.path / STATE, {"run_id": run_id, "experiment_id": experiment_id})
        return run_id

    def _finish(self, meta: dict, lost: bool) -> None:
        from nnexp.tracking.runs import end_run

        status = "KILLED" if lost else meta["status"]
        why = "its process ended without ending the run" if lost else None
        rnd = meta.get("round", 0)
        self.sink.after_status = lambda: write_json(
            self.record.path / STATE, {**state(self.record), "status_sent": status, "status_round": rnd})
        ok = self.sink._attempt(lambda: end_run(
            self.sink, self.record, status, lost_why=why,
            pictures=status == "FINISHED" and not self.hurry()))
        if ok:
            write_json(self.record.path / STATE, {**state(self.record), "synced": True, "round": rnd})
            self.done = True


def serve(spool, owner: int) -> None:
    """The sender's loop: take requests, step every followed record, exit when done."""
    spool = Path(spool)
    from nnexp.record.liveness import host, start_time

    owner = {"host": host(), "pid": str(owner), "pid_start": start_time(owner)}
    hurry = {"on": False}
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _warm_up()
    signal.signal(signal.SIGTERM, lambda *_: hurry.update(on=True))
    followers: dict[str, Follower] = {}
    stopping = False
    while True:
        for path in sorted(spool.glob("*.json")):
            request = json.loads(path.read_text())
            path.unlink()
            if request["kind"] == "run":
                followers[request["record"]] = Follower(Record(request["record"]), lambda: hurry["on"])
            elif request["kind"] == "stop":
                stopping = True
        for key, follower in list(followers.items()):
            follower.step()
            if follower.done:
                del followers[key]
        owner_gone = not _owner_alive(owner)
        if not followers and (stopping or owner_gone):
            break
        time.sleep(0.05 if followers else 0.02)
    import shutil

    shutil.rmtree(spool, ignore_errors=True)


def _warm_up() -> None:
    """Import what sending needs now, while the trainer composes its config and trains."""
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    from mlflow.tracking import MlflowClient  # noqa: F401

    import nnexp.tracking.runs  # noqa: F401


def _owner_alive(owner: dict) -> bool:
    """Whether the process that started the sender still runs (a zombie does not)."""
    return alive(owner) is not False

