"""RunTracker: one MLflow run per :func:`nnexp.fit`, fed by the run's record.

The tracker lives in the training process and never imports mlflow: it writes the run's
record (a :class:`nnexp.record.Recorder` does) with what the MLflow run must be — name,
params, tags, parent — in the record's ``meta.json``, and hands the record to this command's
sender process (:mod:`nnexp.tracking.sender`), which creates the run and sends the record as
it grows. At the end the tracker waits for the sender: until everything is in the store for a
finished run, until the status is for an interrupted one (the rest follows after the process
has exited).
"""

from __future__ import annotations

import os
import sys
import time
import uuid
import warnings
from pathlib import Path

from nnexp.base import Dataset
from nnexp.errors import DivergenceError
from nnexp.hookspecs import hookimpl
from nnexp.record import Record, Recorder
from nnexp.record.layout import default_root
from nnexp.record.liveness import identity
from nnexp.record.settings import DEFAULT_SETTINGS, make_settings
from nnexp.tracking import sender as sender_mod
from nnexp.tracking import store
from nnexp.tracking.artifacts import component_tags
from nnexp.tracking.params import TAG_MAX, cap

__all__ = ["DEFAULT_SETTINGS", "RunTracker"]

#: Seconds an interrupted run waits for its status to reach the store before exiting anyway
#: (the sender, in its own session, sends the status and the rest on its own; a scheduler
#: that kills it too leaves the status to the next command's reaper).
INTERRUPTED_BUDGET = 1.0
#: Seconds between looks at whether the sender could open the run.
CHECK_EVERY = 1.0
#: The script the user launched (``sys.argv[0]`` of the ``nnexp`` command), for MLflow's
#: source tags: set by the command, inherited by its workers (whose own argv[0] differs).
SOURCE_ENV = "NNEXP_SOURCE_NAME"
#: Settings the sender needs to end a run (the rest is the recorder's).
SENDER_SETTINGS = ("plot", "steps_csv_max_rows", "save_model", "register_model")


class RunTracker:
    """Records one training run in MLflow: pass it as ``nnexp.fit(..., callbacks=[tracker])``.

    The run is created when training starts (so bad input refused by ``fit`` creates no run).
    By default it ends with fit (``on_run_end``): FINISHED, FAILED (tags ``nnexp.failure`` =
    divergence/error and ``nnexp.error``) or KILLED. With ``end_with_fit=False`` the caller
    ends it with :meth:`finish` after its own work (:meth:`log_final` test metrics, ...).
    ``resume_run_id`` continues that MLflow run (its status goes back to RUNNING) in its
    record; ``record_root`` is where records live (default: ``nnexp-records/`` beside a
    SQLite store, else in the working directory). ``run_id`` is set once the run has ended
    (the sender creates it), ``record`` once it trains.
    """

    def __init__(self, *, uri: str, experiment_id: str | None = None, experiment: str | None = None,
                 run_name: str | None = None, params: dict | None = None, tags: dict | None = None,
                 config_yaml: str | None = None, parent_run_id: str | None = None,
                 settings: dict | None = None, checkpoint: dict | None = None,
                 monitor: str | None = None, dataset=None, record_root=None,
                 resume_run_id: str | None = None, end_with_fit: bool = True,
                 parent_key: str | None = None, wait: bool = True, record_path=None,
                 dataset_spec: dict | None = None, launch_dir=None):
        self.uri, self.run_name = uri, run_name
        self.experiment_id, self.experiment = experiment_id, experiment
        self.params, self.tags = dict(params or {}), dict(tags or {})
        self.config_yaml, self.parent_run_id, self.dataset = config_yaml, parent_run_id, dataset
        #: The dataset's config (``{"type": "spirals", ...}``): its MLflow source.
        self.dataset_spec = dataset_spec
        self.launch_dir = Path(launch_dir) if launch_dir else Path.cwd()
        self.settings = make_settings(settings)
        self.checkpoint_settings, self.monitor = checkpoint, monitor
        self.record_root = Path(record_root) if record_root else default_root(uri, Path.cwd())
        self.resume_run_id = resume_run_id
        self._run_id: str | None = resume_run_id
        #: The record to write (a resumed run's own); default: a new one under record_root.
        self.record_path = Path(record_path) if record_path else None
        #: A sweep's parent the sender creates (its sweep directory), instead of parent_run_id.
        self.parent_key = parent_key
        #: Whether finish waits for the sender (a sweep's job hands its run over and goes on;
        #: the sweep waits for all of them at its end).
        self.wait = wait
        self.end_with_fit = end_with_fit
        self.status: str | None = None
        self.complete: bool | None = None  # whether everything reached the store at the end
        self.status_sent = False  # whether the final status did
        self.recorder: Recorder | None = None
        self.sender: sender_mod.Sender | None = None
        self._round = 0
        self._next_check = 0.0
        self.timings = {"start": 0.0, "end": 0.0}

    @property
    def record(self) -> Record | None:
        return None if self.recorder is None else self.recorder.record

    @property
    def run_id(self) -> str | None:
        """The MLflow run's id, once the sender has created it."""
        if self._run_id is None and self.recorder is not None:
            self._run_id = sender_mod.state(self.recorder.record).get("run_id")
        return self._run_id

    # -- lifecycle hooks ---------------------------------------------------------------------
    @hookimpl(trylast=True)
    def on_run_start(self, run):
        t0 = time.perf_counter()
        record = Record(self.record_path or self.record_root / uuid.uuid4().hex)
        self.recorder = Recorder(record, self.settings, checkpoint=self.checkpoint_settings,
                                 config_yaml=self.config_yaml, monitor=self.monitor,
                                 owns_status=False, continues=self.resume_run_id is not None)
        self.recorder.on_run_start(run)
        (record.path / sender_mod.STATE).unlink(missing_ok=True)  # a new session of the record
        if isinstance(self.dataset, Dataset):  # its pictures, its MLflow inputs, its model's example
            record.keep_dataset(self.dataset)
        record.update_meta(**self._meta(run, record))
        self.sender = sender_mod.shared()
        self.sender.follow(record)
        self._next_check = time.monotonic() + CHECK_EVERY
        self.timings["start"] = time.perf_counter() - t0

    def _meta(self, run, record: Record) -> dict:
        """What the sender needs to create (or reopen) the MLflow run, and to end it."""
        resuming = self.resume_run_id is not None
        return {
            "uri": self.uri, "experiment": self.experiment, "experiment_id": self.experiment_id,
            "run_name": self.run_name, "record": str(record.path.resolve()),
            "params": {} if resuming else self.params,
            "tags": {} if resuming else {**self.tags, **component_tags(run, self.dataset)},
            "parent_run_id": self.parent_run_id, "parent_key": self.parent_key,
            "resume_run_id": self.resume_run_id,
            "context": source_context(self.launch_dir), "dataset_spec": self.dataset_spec,
            "settings": {k: self.settings[k] for k in SENDER_SETTINGS},
            "heartbeat_every_s": self.settings["heartbeat_every_s"], "round": 0, **identity()}

    @hookimpl(trylast=True)
    def on_step_end(self, run, loss):
        self.recorder.on_step_end(run, loss)

    @hookimpl(trylast=True)
    def on_epoch_end(self, run, epoch, metrics):
        self.recorder.on_epoch_end(run, epoch, metrics)
        s = self.settings
        if s["plot"] and s["plot_every_epochs"] and epoch % s["plot_every_epochs"] == 0 \
                and epoch < run.epochs:  # the last epoch's pictures are the run's own
            self._guarded(lambda: self._progress_pictures(run, f"plots/epoch_{epoch:03d}"))
        if time.monotonic() >= self._next_check:
            self._check_sender()

    def _check_sender(self) -> None:
        """The sender could not open the run (the store cannot take it): stop with its reason."""
        self._next_check = time.monotonic() + CHECK_EVERY
        assert self.recorder is not None  # set by on_run_start
        st = sender_mod.state(self.recorder.record)
        if st.get("error"):
            raise store.TrackingError(st["error"], st.get("exit_code"))

    @hookimpl(trylast=True)
    def on_checkpoint(self, run, state):
        self.recorder.on_checkpoint(run, state)

    @hookimpl(trylast=True)
    def on_log_metrics(self, run, metrics, step):
        self.recorder.on_log_metrics(run, metrics, step)

    @hookimpl(trylast=True)
    def on_set_tags(self, run, tags):
        self.recorder.on_set_tags(run, tags)

    @hookimpl(trylast=True)
    def on_log_artifact(self, run, path, artifact_path):
        self.recorder.on_log_artifact(run, path, artifact_path)

    @hookimpl(trylast=True)
    def on_run_end(self, run, status, error):
        if self.recorder is None or self.recorder.journal is None:
            return
        self.status = status
        self.recorder.on_run_end(run, status, error)
        tags = _end_tags(status, error, run.stop_reason)
        if tags:
            self.recorder.tags(tags)
        if status == "FINISHED" and 0 < run.network.n_params <= self.settings["explain_max_params"] \
                and isinstance(self.dataset, Dataset):
            self._guarded(lambda: self._explain(run))
        if self.end_with_fit:
            self.finish(status)

    # -- after fit ---------------------------------------------------------------------------
    def log_final(self, metrics: dict, step: int = 0) -> None:
        """Final (test) metrics, sent with the rest (at once, if the run has already ended);
        non-finite ones are tagged, not logged."""
        if self.recorder is None:
            return
        assert self.recorder.journal is not None  # opened by on_run_start
        self.recorder.journal.metrics("f", step, {k: float(v) for k, v in metrics.items()})
        if self.complete is not None:  # ended with fit: send it now
            self.complete = None
            self.finish(self.status)

    def finish(self, status: str | None = None, timeout: float | None = None) -> bool:
        """End the run with ``status`` (default: fit's) and wait for the sender: until all of it
        is in the store (the tables exported, the pictures of a FINISHED run drawn), or for an
        interrupted run (KILLED) until its status is, at most :data:`INTERRUPTED_BUDGET`
        seconds. True when all of it reached the store; otherwise it is on its way, or in the
        record for ``nnexp sync``. Idempotent.

        Interrupted itself (Ctrl-C while waiting), it ends the run KILLED — its record is
        complete: ``nnexp resume`` finishes the job — and re-raises."""
        if self.recorder is None or self.complete is not None:
            return bool(self.complete)
        status = status or self.status or "FAILED"
        self.status = status
        t0 = time.perf_counter()
        try:
            self.complete = self._finish(status, timeout)
        except KeyboardInterrupt:
            self._end_interrupted()
            raise
        finally:
            self.timings["end"] = time.perf_counter() - t0
        return self.complete

    def _finish(self, status: str, timeout: float | None) -> bool:
        assert self.recorder is not None and self.sender is not None  # set by on_run_start
        record = self.recorder.record
        self.recorder.close()
        self._round += 1
        record.update_meta(status=status, round=self._round)
        if self._round > 1:
            self.sender.follow(record)  # final metrics after the end: send them too
        if not self.wait:
            return False
        killed = status == "KILLED"
        key = "status_round" if killed else "round"
        budget = timeout if timeout is not None else (
            INTERRUPTED_BUDGET if killed else self.settings["finish_wait_s"])
        st = self.sender.wait(record, lambda st: st.get(key) == self._round, budget)
        self._run_id = st.get("run_id") or self._run_id
        self.experiment_id = st.get("experiment_id") or self.experiment_id
        self.status_sent = st.get("status_round") == self._round
        if st.get("error"):
            raise store.TrackingError(st["error"], st.get("exit_code"))
        return bool(st.get("synced")) and st.get("round") == self._round

    def _end_interrupted(self) -> None:
        """Ctrl-C while waiting for the end: KILLED, the sender sends what it can."""
        self.status, self.complete = "KILLED", False
        assert self.recorder is not None  # set by on_run_start
        self.recorder.tags({"nnexp.failure": "killed", "nnexp.error": (
            "interrupted while ending the run (drawing or sending its files); its record is "
            "complete: `nnexp sync` sends the rest, `nnexp resume` finishes it")})
        self.recorder.close()
        self.recorder.record.update_meta(status="KILLED")

    def close(self, status: str | None = None) -> None:
        """End the run with ``status``: finish it if it has not ended, else change its final
        status (the caller failed after fit ended it). Always safe to call."""
        if self.recorder is None:
            return
        if self.complete is None:
            self.finish(status)
        elif status and status != self.status:
            self.complete = None
            self.finish(status)

    # -- internals ---------------------------------------------------------------------------
    def _guarded(self, work) -> None:
        """Extra work (pictures, explain) whose failure must never lose the run: a warning."""
        try:
            work()
        except Exception as exc:  # noqa: BLE001
            warnings.warn(f"nnexp tracking: run {self.run_name}: {type(exc).__name__}: {exc}", stacklevel=3)

    def _progress_pictures(self, run, where: str) -> None:
        """The run's pictures so far, during training (``plot_every_epochs``)."""
        from nnexp.plots import plot_run

        assert self.recorder is not None  # set by on_run_start
        rec = self.recorder.record
        self.recorder.flush(run)
        hist = rec.histograms()
        dataset = self.dataset if isinstance(self.dataset, Dataset) else None
        plot_run(run.history.to_frame(), rec.steps.read().reset_index(), rec.artifacts / where,
                 network=run.network, dataset=dataset, grad_hist=hist if len(hist["steps"]) else None)

    def _explain(self, run) -> None:
        """The chain rule of the trained network on the first training sample, factor by
        factor beside finite differences (``explain.txt``; costs one pass per parameter)."""
        from nnexp.explain import explain

        ex = explain(run.network, self.dataset.X_train[0], self.dataset.y_train[0], run.loss)
        assert self.recorder is not None  # set by on_run_start
        (self.recorder.record.artifacts / "explain.txt").write_text(ex.to_text())


def source_context(launch_dir) -> dict[str, str]:
    """What MLflow's context resolvers (run in the sender: :func:`nnexp.tracking.runs.context_tags`)
    need from the process the user launched: its script and launch directory."""
    return {"source_name": os.environ.get(SOURCE_ENV) or (sys.argv[0] if sys.argv else ""),
            "launch_dir": str(Path(launch_dir).resolve())}


def _end_tags(status: str, error, stop_reason: str | None) -> dict:
    tags = {}
    if stop_reason:
        tags["nnexp.stop_reason"] = stop_reason
    if status != "FINISHED":
        tags["nnexp.failure"] = ("killed" if status == "KILLED" else
                                 "divergence" if isinstance(error, DivergenceError) else "error")
        if error is not None:
            tags["nnexp.error"] = cap(f"{type(error).__name__}: {error}", TAG_MAX)
    return tags
