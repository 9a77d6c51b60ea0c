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
    {"kind": "sweep", "key": "/abs/sweep/dir", "meta": {...}}   create a sweep's parent run
    {"kind": "sweep_end", "key": ..., "status": ..., "jobs": [...], "metric": ...}
                                                           summarise and end it, once its
                                                           jobs' runs have ended
    {"kind": "sweep_abandon", "key": ..., "reason": ...}   its jobs could not be launched
    {"kind": "stop"}                                       no more: finish and exit

A record's ``meta.json`` (the trainer's) says what to create: ``uri``, ``experiment``,
``run_name``, ``params``, ``tags``, ``parent_run_id``, ``resume_run_id``, liveness and
``status`` (``parent_key``: the sweep whose parent run it belongs to). A sweep's parent is
answered in ``<key>/nnexp_parent.json`` (``run_id``, ``experiment_id`` or ``error``) and its
end in ``<key>/nnexp_summary.json`` (``text``, ``run_ids`` by job). The sender answers a run
in the record's ``mlflow.json`` (:data:`STATE`): ``run_id``,
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
from typing import TYPE_CHECKING

from nnexp.record import Record
from nnexp.record.files import read_json, write_json
from nnexp.record.liveness import alive, identity

if TYPE_CHECKING:
    from concurrent.futures import Future

    from nnexp.tracking.painter import Painter
    from nnexp.tracking.sink import Sink

STATE = "mlflow.json"
PARENT, SUMMARY = "nnexp_parent.json", "nnexp_summary.json"
ENDED = ("FINISHED", "FAILED", "KILLED")
SPOOL_ENV = "NNEXP_SENDER_SPOOL"
#: A file the sender logs its requests and decisions to (for debugging; unset: no log).
LOG_ENV = "NNEXP_SENDER_LOG"


def _log(text: str) -> None:
    path = os.environ.get(LOG_ENV)
    if path:
        with open(path, "a") as fh:
            fh.write(f"{time.time():.3f} {os.getpid()} {text}\n")


def state(record: Record) -> dict:
    """What the sender said about ``record`` (empty before it started on it)."""
    return read_json(record.path / STATE, {})


def run_id_of(record, timeout: float = 60.0) -> str | None:
    """The MLflow run id of ``record`` (a path), waiting up to ``timeout`` seconds for the
    sender to create the run (a sweep's job hands its run over before that)."""
    record = Record(record)
    deadline = time.monotonic() + timeout
    while True:
        st = state(record)
        if st.get("run_id") or st.get("error") or time.monotonic() >= deadline:
            return st.get("run_id")
        time.sleep(0.05)


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
        from nnexp.interrupts import StopAtStepEnd

        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            st = state(record)
            if done(st) or st.get("error") or not self.alive():
                return st
            if StopAtStepEnd.active is not None and StopAtStepEnd.active.pending is not None:
                return st  # the user asked to stop: the sender goes on without us
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
#: Seconds a sender whose owner has gone keeps retrying a store that does not answer before
#: it leaves what is left to ``nnexp sync`` (the record keeps all of it).
GIVE_UP = 300.0
#: Seconds between tries of a store that does not answer.
RETRY_EVERY = 2.0
#: Unexpected failures in a row after which a run is left to ``nnexp sync``.
MAX_FAILURES = 5


class Follower:
    """One record, from creating its MLflow run to sending its end."""

    def __init__(self, record: Record, hurry, outages: dict, painter: Painter):
        self.record, self.hurry, self.outages, self.painter = record, hurry, outages, painter
        self.meta = record.meta()
        self.sink: Sink | None = None
        self.done = False
        self.next_try = 0.0
        self.status_sent = False  # the end's first steps are done (journal, status, tables)
        self.drawing: list[Future] = []  # the pictures being drawn
        self.failures = 0  # unexpected failures in a row

    @property
    def outage(self):
        from nnexp.tracking.sink import Outage

        uri = self.meta["uri"]
        return self.outages.setdefault(uri, Outage(uri))

    def step(self, owner_gone: bool) -> None:
        """Send what is due. A failure that is not the store being away (a bug, a full disk)
        is said and tried again; after :data:`MAX_FAILURES` in a row the record is left to
        ``nnexp sync`` — the sender goes on with the others (it never dies of one run)."""
        if time.monotonic() < self.next_try:
            return
        try:
            self._step(owner_gone)
            self.failures = 0
        except Exception as exc:  # noqa: BLE001 - said; this run waits, the others go on
            import traceback

            self.failures += 1
            where = traceback.extract_tb(exc.__traceback__)[-1]
            gives_up = self.failures >= MAX_FAILURES
            print(f"nnexp: sender: run {state(self.record).get('run_id') or self.record.path.name}: "
                  f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno}; "
                  + ("left to `nnexp sync`)" if gives_up else "trying again)"), file=sys.stderr, flush=True)
            _log("".join(traceback.format_exception(exc)))
            self.next_try = time.monotonic() + RETRY_EVERY
            if gives_up:
                write_json(self.record.path / STATE, {**state(self.record), "sender_error": str(exc)})
                self.done = True

    def _step(self, owner_gone: bool) -> None:
        from nnexp.tracking.sink import Sink

        ok = True
        if self.sink is None:
            run_id = self._open()
            if run_id is None:
                return
            self.sink = Sink(self.record, self.meta["uri"], run_id, outage=self.outage,
                             heartbeat_every=self.meta.get("heartbeat_every_s", 10.0))
            _warm_up_models(self.meta)
        sink = self.sink
        meta = self.record.meta()
        ended = meta.get("status") in ENDED
        lost = not ended and alive(meta) is False
        if ended or lost:
            ok = self._finish(meta, lost)
        else:
            ok = sink.attempt(lambda: sink.send(files=True))
        if not ok:
            self._wait_for_store(owner_gone)

    def _wait_for_store(self, owner_gone: bool) -> None:
        """The store did not answer: try again in a while, or, its owner gone and the store
        away too long, leave the rest to ``nnexp sync``."""
        self.next_try = time.monotonic() + RETRY_EVERY
        away = time.monotonic() - (self.outage.since or time.monotonic())
        if owner_gone and away > GIVE_UP:
            _log(f"gave up {self.record.path}: the store is away")
            self.done = True

    def _open(self) -> str | None:
        """Create (or reopen) the run; a store that cannot take it is said in the state. A
        record whose run this sender already opened (final metrics after its end) reuses it;
        one whose run was created but not yet described (the store stopped answering in
        between) gets its params now, in that same run."""
        from nnexp.tracking import runs, store

        known = state(self.record)
        if known.get("run_id") and not known.get("opening"):
            return known["run_id"]
        meta = dict(self.meta)
        if meta.get("parent_key"):  # a sweep's job: under the parent this sender made
            parent = read_json(Path(meta["parent_key"]) / PARENT)
            if parent is None:
                return None  # not made yet: next time
            if parent.get("error"):
                write_json(self.record.path / STATE, {"error": parent["error"]})
                self.done = True
                return None
            meta.update(parent_run_id=parent["run_id"], experiment_id=parent["experiment_id"])

        def created(run_id: str, experiment_id: str, opening: bool = True) -> None:
            write_json(self.record.path / STATE, {"run_id": run_id, "experiment_id": experiment_id,
                                                  "sender": identity(), "opening": opening})

        try:
            if known.get("run_id"):
                run_id, experiment_id = known["run_id"], known["experiment_id"]
                runs.describe_run(meta, run_id)
            else:
                run_id, experiment_id = runs.open_run(meta, created)
        except Exception as exc:  # noqa: BLE001 - waited out, or told to the trainer
            if store.unreachable(exc):
                self.outage.failed(exc, str(self.record.path))
                self.next_try = time.monotonic() + RETRY_EVERY
                return None
            write_json(self.record.path / STATE, {**state(self.record), **store_failure(meta["uri"], exc)})
            self.done = True
            return None
        self.outage.answered()
        created(run_id, experiment_id, opening=False)
        return run_id

    def _finish(self, meta: dict, lost: bool) -> bool:
        """End the run, in steps the sender's loop comes back to: the journal and the status;
        the tables, and the pictures handed to the painter; once they are drawn (or the
        sender hurries), the model and the files. False: the store did not answer."""
        from nnexp.tracking import runs

        sink = self.sink
        assert sink is not None  # opened by step, the only caller
        status = "KILLED" if lost else meta["status"]
        meta = {**meta, "status": status}
        if not self.status_sent:
            rnd = meta.get("round", 0)
            sink.after_status = lambda: write_json(
                self.record.path / STATE, {**state(self.record), "status_sent": status, "status_round": rnd})
            if not sink.attempt(lambda: sink.end_status(status)):
                return False
            self.status_sent = True
            self._last_files(meta)
        if self.drawing and not self.hurry() and not all(f.done() for f in self.drawing):
            return True  # drawn meanwhile; the other runs go on
        self._drawn()
        sink.before_final = None if self.hurry() else (lambda: runs.final_model(self.record, meta, sink.run_id))
        if not sink.attempt(sink.end_files):
            return False
        if lost and not sink.attempt(lambda: runs.tag_lost(
                sink.client, sink.run_id, "its process ended without ending the run")):
            return False
        self.record.update_meta(status=status, synced=True)
        write_json(self.record.path / STATE, {**state(self.record), "synced": True, "round": meta.get("round", 0)})
        self.done = True
        return True

    def _last_files(self, meta: dict) -> None:
        """Export the record's tables and start drawing its pictures (a finished run's, unless
        the sender hurries)."""
        from nnexp.tracking import runs

        try:
            runs.export_tables(self.record, meta)
        except Exception as exc:  # noqa: BLE001 - what it would add is missing, the rest goes on
            runs.say(f"run {self.sink.run_id if self.sink else ''}: exporting its tables failed: "
                     f"{type(exc).__name__}: {exc}")
        if meta["status"] != "FINISHED" or self.hurry() or not runs.draws_pictures(self.record, meta, True):
            return
        if _sweep_job(meta):
            try:
                self.drawing = self.painter.draw(self.record, meta.get("run_name"))
                return
            except Exception as exc:  # noqa: BLE001 - no workers (spawning failed): drawn here
                runs.say(f"picture workers unavailable ({type(exc).__name__}: {exc}); drawing here")
        from nnexp.tracking.painter import draw_record

        try:  # a single run: drawn here, at once (starting workers would cost it more)
            draw_record(self.record.path, meta.get("run_name"))
        except Exception as exc:  # noqa: BLE001 - the run's other files go on
            runs.say(f"run {self.sink.run_id if self.sink else ''}: pictures not drawn: {type(exc).__name__}: {exc}")

    def _drawn(self) -> None:
        """Say what stopped a picture (the others are sent); forget the drawing."""
        from nnexp.tracking.runs import say

        for future in self.drawing:
            if future.done() and not future.cancelled() and future.exception() is not None:
                exc = future.exception()
                say(f"run {self.sink.run_id if self.sink else ''}: pictures not drawn: "
                    f"{type(exc).__name__}: {exc}")
        self.drawing = []


class SweepFollower:
    """A sweep's parent run: made at once (or as soon as the store answers), kept alive
    (heartbeat) and ended once its jobs' runs have ended."""

    def __init__(self, key: str, meta: dict, outages: dict):
        from nnexp.tracking.sink import Outage

        self.key, self.meta = Path(key), meta
        self.outage = outages.setdefault(meta["uri"], Outage(meta["uri"]))
        self.end: dict | None = None
        self.done = False
        self.parent: dict | None = None
        self.next_try = self._beat = 0.0

    def step(self, followers: dict) -> None:
        """Make the parent, beat, or end it — whatever is due; a store that does not answer
        is waited out (the jobs wait for their parent meanwhile)."""
        from nnexp.tracking import store

        if time.monotonic() < self.next_try:
            return
        try:
            asked = self._step(followers)
        except Exception as exc:  # noqa: BLE001 - waited out, or said and tried again
            self.next_try = time.monotonic() + RETRY_EVERY
            if store.unreachable(exc):
                self.outage.failed(exc, str(self.key))
            else:
                print(f"nnexp: sweep {self.key.name}: {type(exc).__name__}: {exc} (trying again)",
                      file=sys.stderr, flush=True)
            return
        if asked:  # a step with nothing due asked the store nothing
            self.outage.answered()

    def _step(self, followers: dict) -> bool:
        """Do what is due; whether that asked the store anything."""
        from nnexp.tracking import runs, store

        asked = False
        if self.parent is None:
            run_id, experiment_id = runs.open_parent(self.meta)
            self.parent = {"run_id": run_id, "experiment_id": experiment_id}
            write_json(self.key / PARENT, self.parent)
            asked = True
        if time.monotonic() - self._beat >= self.meta.get("heartbeat_every_s", 10.0):
            self._beat = time.monotonic()
            client = store.client(self.meta["uri"])
            store.retry(client.set_tag, self.parent["run_id"], "nnexp.heartbeat", str(int(time.time())))
            asked = True
        if self.end is not None and not any(f.meta.get("parent_key") == str(self.key)
                                            for f in followers.values()):
            self._finish()
            asked = True
        return asked

    def _finish(self) -> None:
        from nnexp.tracking.sweep import abandon_sweep, close_lost_runs, end_sweep

        assert self.end is not None and self.parent is not None  # the sweep has ended, its run exists
        end, uri, parent = self.end, self.meta["uri"], self.parent["run_id"]
        if end["kind"] == "sweep_abandon":
            abandon_sweep(uri, parent, end["reason"])
            self.done = True
            return
        jobs = end["jobs"]
        for job in jobs:  # each job's run, from its record (a job hands its run over and goes on)
            if job.get("record") and not job.get("run_id"):
                job["run_id"] = state(Record(job["record"])).get("run_id")
        close_lost_runs(uri, self.parent["experiment_id"], parent, jobs)
        best_model = _best_model(jobs, end.get("metric"))
        text = end_sweep(uri, parent, jobs, end["status"], end.get("metric"), best_model=best_model)
        write_json(self.key / SUMMARY, {"text": text, "parent_run_id": parent,
                                        "run_ids": {str(j["job"]): j.get("run_id") for j in jobs}})
        self.done = True


def _best_model(jobs: list[dict], metric: str | None) -> str | None:
    """Log the sweep's best job's network as its run's MLflow model (its jobs log none, to
    keep a small sweep fast) and return the model's URI; None when there is none."""
    from nnexp.tracking.runs import log_run_model, say
    from nnexp.tracking.sweep import best_run_id

    run_id = best_run_id(jobs, metric)
    job = next((j for j in jobs if run_id and j.get("run_id") == run_id and j.get("record")), None)
    if job is None or run_id is None:
        return None
    record = Record(job["record"])
    meta = record.meta()
    if not meta.get("settings", {}).get("save_model", True):
        return None
    try:
        return f"runs:/{run_id}/model" if log_run_model(record, meta, run_id) else None
    except Exception as exc:  # noqa: BLE001 - the sweep's summary goes on without it
        say(f"sweep: the best job's model could not be logged: {type(exc).__name__}: {exc}")
        return None


def serve(spool, owner: int) -> None:
    """The sender's loop: take requests, step every followed record, exit when done."""
    spool = Path(spool)
    from nnexp.record.liveness import host, start_time

    owner_id = {"host": host(), "pid": str(owner), "pid_start": start_time(owner)}
    hurry = {"on": False}
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # logging a model draws one
    from nnexp.tracking.painter import Painter

    painter = Painter()
    _warm_up()
    signal.signal(signal.SIGTERM, lambda *_: hurry.update(on=True))
    followers: dict[str, Follower] = {}
    sweeps: dict[str, SweepFollower] = {}
    outages: dict = {}  # one notice per store that stops answering
    stopping = False
    while True:
        for path in sorted(p for p in spool.glob("*.json") if not p.name.startswith(".")):
            request = json.loads(path.read_text())  # complete: written aside, then renamed
            path.unlink()
            kind = request["kind"]
            _log(f"request {kind} {request.get('record') or request.get('key') or ''}")
            if kind == "run":
                follower = Follower(Record(request["record"]), lambda: hurry["on"], outages, painter)
                followers[request["record"]] = follower
                if _sweep_job(follower.meta) and follower.meta.get("settings", {}).get("plot", True):
                    painter.warm()  # its workers import matplotlib while the first job trains
            elif kind == "sweep":
                sweeps[request["key"]] = SweepFollower(request["key"], request["meta"], outages)
            elif kind in ("sweep_end", "sweep_abandon") and request["key"] in sweeps:
                sweeps[request["key"]].end = request
            elif kind == "stop":
                stopping = True
        owner_gone = not _owner_alive(owner_id)
        for key, follower in list(followers.items()):
            follower.step(owner_gone)
            if follower.done:
                _log(f"done {key} {state(follower.record)}")
                del followers[key]
        for key, sweep in list(sweeps.items()):
            if owner_gone and sweep.end is None and not sweep.done:  # its launcher died
                sweep.end = {"kind": "sweep_end", "status": "KILLED", "jobs": []}
            if not sweep.done:
                sweep.step(followers)
            if sweep.done:
                del sweeps[key]
        if not followers and not sweeps and (stopping or owner_gone):
            break
        time.sleep(0.05 if followers or sweeps else 0.02)
    painter.close()
    import shutil

    shutil.rmtree(spool, ignore_errors=True)


def _warm_up() -> None:
    """Import what sending needs now, while the trainer composes its config and trains."""
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    from mlflow.tracking import MlflowClient  # noqa: F401

    import nnexp.tracking.runs  # noqa: F401


_models_warm: list = []


def _warm_up_models(meta: dict) -> None:
    """Prepare MLflow's model saving once the first run that will log a model is open, while
    it trains, so its end does not wait for it (sweep jobs log none: no cost). Imports in
    this thread: imports racing in two threads can meet half-made modules."""
    from nnexp.tracking.runs import wants_model

    if _models_warm or not wants_model(meta):
        return
    _models_warm.append(True)
    try:
        import mlflow.models  # noqa: F401
        import mlflow.pyfunc  # noqa: F401
    except Exception:  # noqa: BLE001 - logging the model will say what is wrong
        pass


def _sweep_job(meta: dict) -> bool:
    """Whether a record is a job of a sweep this sender serves: its pictures are drawn by the
    picture workers, started as the first job trains, while the sender goes on with the other
    jobs. A single
    run's pictures are drawn by the sender itself: starting two workers (each importing
    matplotlib and pandas) made a single run's end ~4 s slower on a busy 2-core machine than
    drawing at once. A job on Ray or SLURM has a sender of its own (it names its parent by
    run id, not by ``parent_key``): one run, drawn like a single run's."""
    return bool(meta.get("parent_key"))


def _owner_alive(owner: dict) -> bool:
    """Whether the process that started the sender still runs (a zombie does not)."""
    return alive(owner) is not False


def store_failure(uri: str, exc: BaseException) -> dict:
    """A record's state saying why the store cannot take its run: the message and exit code
    of :mod:`nnexp.failures` (3, the environment's fault, for an error it does not know)."""
    from nnexp.failures import ENVIRONMENT, explain

    failure = explain(exc)
    said = failure.message if failure else f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return {"error": f"tracking.uri {uri}: {said}",
            "exit_code": failure.code if failure else ENVIRONMENT}
