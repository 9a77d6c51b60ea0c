"""RunTracker: one MLflow run per :func:`nnexp.fit`, fed by the run's record.

The tracker creates (or, to resume, reopens) the MLflow run when training starts, lets a
:class:`nnexp.record.Recorder` write the record as training goes, and a
:class:`nnexp.tracking.sink.Sink` send it to MLflow in the background. It adds what only a
tracker knows: the run's params and tags, failure tags, ``explain.txt``, the pictures.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

from nnexp.base import Dataset
from nnexp.errors import DivergenceError
from nnexp.hookspecs import hookimpl
from nnexp.record import Record, Recorder
from nnexp.record.layout import default_root
from nnexp.record.liveness import identity
from nnexp.record.settings import DEFAULT_SETTINGS, make_settings
from nnexp.tracking import store
from nnexp.tracking.artifacts import component_tags
from nnexp.tracking.params import TAG_MAX, cap, clean_key

__all__ = ["DEFAULT_SETTINGS", "RunTracker"]

#: Seconds an interrupted run's last writes may take before the process exits anyway.
INTERRUPTED_BUDGET = 1.0
#: Seconds a finished run waits for an unanswering store before leaving the rest to `nnexp sync`.
FINISHED_BUDGET = 60.0


class RunTracker:
    """Records one training run in MLflow: pass it as ``nnexp.fit(..., callbacks=[tracker])``.

    The run is created in ``on_run_start`` (so bad input raised by ``fit`` before training
    creates no run). By default it ends with fit (``on_run_end``): FINISHED, FAILED (tags
    ``nnexp.failure`` = divergence/error and ``nnexp.error``) or KILLED. With
    ``end_with_fit=False`` the caller ends it with :meth:`finish` after its own work
    (:meth:`log_final` test metrics, ...). ``resume_run_id`` continues that MLflow run (its
    status goes back to RUNNING) in its record; ``record_root`` is where records live.
    ``run_id`` is set once the run exists; ``record`` once it trains.
    """

    def __init__(self, *, uri: str, experiment_id: str, run_name: str | None = None,
                 params: dict | None = None, tags: dict | None = None, config_yaml: str | None = None,
                 parent_run_id: str | None = None, settings: dict | None = None,
                 checkpoint: dict | None = None, monitor: str | None = None, dataset=None,
                 record_root=None, resume_run_id: str | None = None, end_with_fit: bool = True):
        self.uri, self.experiment_id, self.run_name = uri, str(experiment_id), run_name
        self.params, self.tags = dict(params or {}), dict(tags or {})
        self.config_yaml, self.parent_run_id, self.dataset = config_yaml, parent_run_id, dataset
        self.settings = make_settings(settings)
        self.checkpoint_settings, self.monitor = checkpoint, monitor
        self.record_root = Path(record_root) if record_root else default_root(uri, Path.cwd())
        self.run_id: str | None = resume_run_id
        self.resuming = resume_run_id is not None
        self.end_with_fit = end_with_fit
        self.status: str | None = None
        self.complete: bool | None = None  # whether everything reached the store at the end
        self.recorder: Recorder | None = None
        self.sink = None
        self.timings = {"start": 0.0, "end": 0.0}

    @property
    def record(self) -> Record | None:
        return None if self.recorder is None else self.recorder.record

    # -- lifecycle hooks ---------------------------------------------------------------------
    @hookimpl(trylast=True)
    def on_run_start(self, run):
        from nnexp.tracking.sink import Sink

        t0 = time.perf_counter()
        self._client = store.client(self.uri)
        live = identity()
        self._open_run(run, live)
        record = Record(self.record_root / self.run_id)
        self.recorder = Recorder(record, self.settings, checkpoint=self.checkpoint_settings,
                                 config_yaml=self.config_yaml, monitor=self.monitor)
        self.recorder.on_run_start(run)
        record.update_meta(run_id=self.run_id, run_name=self.run_name, uri=self.uri,
                           experiment_id=self.experiment_id, **live)
        s = self.settings
        self.sink = Sink(record, self.uri, self.run_id, interval=s["flush_every_s"],
                         heartbeat_every=s["heartbeat_every_s"]).start()
        self.timings["start"] = time.perf_counter() - t0

    def _open_run(self, run, live: dict) -> None:
        """Create the MLflow run (tags, params), or reopen the one being resumed."""
        from mlflow.entities import Param, RunTag

        tags = {f"nnexp.{k}": v for k, v in live.items()}
        params = []
        if self.resuming:
            prior = store.retry(self._client.get_run, self.run_id)
            store.retry(self._client.update_run, self.run_id, status="RUNNING")
            for key in ("nnexp.failure", "nnexp.error"):
                _delete_tag(self._client, self.run_id, key)
            tags["nnexp.resumed"] = str(int(prior.data.tags.get("nnexp.resumed", "0")) + 1)
            self.run_name = prior.info.run_name
        else:
            first = {**self.tags, **component_tags(run, self.dataset), **tags}
            if self.parent_run_id:
                first["mlflow.parentRunId"] = self.parent_run_id
            info = store.retry(self._client.create_run, self.experiment_id, run_name=self.run_name,
                               tags={clean_key(k): cap(v, TAG_MAX) for k, v in first.items()}).info
            self.run_id, self.run_name, tags = info.run_id, info.run_name, {}
            params = [Param(clean_key(k), cap(v)) for k, v in self.params.items()]
        tags["nnexp.record"] = str(self.record_root / self.run_id)
        store.retry(self._client.log_batch, self.run_id, params=params[:100],
                    tags=[RunTag(k, cap(v, TAG_MAX)) for k, v in tags.items()])
        for i in range(100, len(params), 100):  # MLflow's limit of params per batch
            store.retry(self._client.log_batch, self.run_id, params=params[i:i + 100])

    @hookimpl(trylast=True)
    def on_step_end(self, run, loss):
        self.recorder.on_step_end(run, loss)

    @hookimpl(trylast=True)
    def on_epoch_end(self, run, epoch, metrics):
        self.recorder.on_epoch_end(run, epoch, metrics)
        s = self.settings
        if s["plot"] and s["plot_every_epochs"] and epoch % s["plot_every_epochs"] == 0 \
                and epoch < run.epochs:  # the last epoch's pictures are the run's own
            self._guarded(lambda: self._pictures(run, f"plots/epoch_{epoch:03d}"))

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
        self._run = run
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
        self.recorder.journal.metrics("f", step, {k: float(v) for k, v in metrics.items()})
        if self.complete is not None:  # ended with fit: send it now
            self.recorder.close()
            self.sink.send(files=False)

    def finish(self, status: str | None = None, timeout: float | None = None) -> bool:
        """End the run with ``status`` (default: fit's): the record's stats exported, pictures
        drawn (a FINISHED run), everything sent, the status set. An interrupted run (KILLED)
        waits at most :data:`INTERRUPTED_BUDGET` seconds. True when all of it reached the
        store; otherwise the record keeps the rest for ``nnexp sync``. Idempotent.

        Interrupted itself (Ctrl-C while drawing or sending), it ends the run KILLED — its
        record is complete, ``nnexp sync`` or ``nnexp resume`` finish the job — and re-raises."""
        if self.sink is None or self.complete is not None:
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
        rec, s = self.recorder, self.settings
        rec.journal.flush()
        rec.record.update_meta(status=status)
        if status == "FINISHED" and s["plot"] and getattr(self, "_run", None) is not None:
            rec.record.export_stats(s["steps_csv_max_rows"])
            self._guarded(lambda: self._pictures(self._run, "plots"))
        if timeout is None:
            timeout = INTERRUPTED_BUDGET if status == "KILLED" else FINISHED_BUDGET
        csv_rows = s["steps_csv_max_rows"] if status != "KILLED" else 0  # no CSV when time is short
        self.sink.before_final = lambda: rec.record.export_stats(csv_rows)
        complete = self.sink.finish(status, timeout)
        rec.close()
        rec.record.update_meta(synced=complete)
        return complete

    def _end_interrupted(self) -> None:
        """Ctrl-C while ending the run: KILLED (not what fit said), the rest left to sync."""
        from mlflow.entities import RunTag

        self.sink.cancel()
        self.status, self.complete = "KILLED", False
        self.recorder.close()
        self.recorder.record.update_meta(status="KILLED", synced=False)
        why = ("interrupted while ending the run (drawing or sending its files); its record is "
               f"complete: `nnexp sync {self.run_id}` sends the rest, `nnexp resume {self.run_id}` "
               "finishes it")
        try:
            store.retry(self._client.log_batch, self.run_id, tags=[
                RunTag("nnexp.failure", "killed"), RunTag("nnexp.error", why)])
            store.retry(self._client.set_terminated, self.run_id, "KILLED")
        except Exception:  # noqa: BLE001 - the store is away: the reaper ends it later
            pass

    def close(self, status: str | None = None) -> None:
        """End the run with ``status``: finish it if it has not ended, else change its final
        status (the caller failed after fit ended it). Always safe to call."""
        if self.sink is None:
            return
        if self.complete is None:
            self.finish(status)
        elif status and status != self.status:
            store.retry(self.sink.client.set_terminated, self.run_id, status)
            self.recorder.record.update_meta(status=status)
            self.status = status

    # -- internals ---------------------------------------------------------------------------
    def _guarded(self, work) -> None:
        """Extra work (pictures, explain) whose failure must never lose the run: a warning."""
        try:
            work()
        except Exception as exc:  # noqa: BLE001
            warnings.warn(f"nnexp tracking: run {self.run_id}: {type(exc).__name__}: {exc}", stacklevel=3)

    def _pictures(self, run, where: str) -> None:
        """The run's pictures into ``plots/`` (from its exported record, as ``nnexp plot run``
        draws them) or, during training, ``plots/epoch_NNN/`` (from the record so far)."""
        from nnexp.plots import draw_run, plot_run

        rec = self.recorder.record
        dataset = self.dataset if isinstance(self.dataset, Dataset) else None
        if where == "plots":
            draw_run(rec.artifacts, rec.artifacts / "plots", network=run.network, dataset=dataset,
                     title=self.run_name)
            return
        self.recorder.flush(run)
        hist = rec.histograms()
        plot_run(run.history.to_frame(), rec.steps.read().reset_index(), rec.artifacts / where,
                 network=run.network, dataset=dataset, grad_hist=hist if len(hist["steps"]) else None)

    def _explain(self, run) -> None:
        """The chain rule of the trained network on the first training sample, factor by
        factor beside finite differences (``explain.txt``; costs one pass per parameter)."""
        from nnexp.explain import explain

        ex = explain(run.network, self.dataset.X_train[0], self.dataset.y_train[0], run.loss)
        (self.recorder.record.artifacts / "explain.txt").write_text(ex.to_text())


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


def _delete_tag(client, run_id: str, key: str) -> None:
    try:
        store.retry(client.delete_tag, run_id, key)
    except Exception:  # noqa: BLE001 - absent: nothing to delete
        pass
