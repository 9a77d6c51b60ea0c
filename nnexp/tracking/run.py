"""RunTracker: one MLflow run per :func:`nnexp.fit`, fed by the lifecycle hooks."""

from __future__ import annotations

import math
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from nnexp.base import Dataset
from nnexp.errors import ConfigError, did_you_mean
from nnexp.hookspecs import hookimpl
from nnexp.optim import check_int
from nnexp.stats import GradHistograms, StepStats
from nnexp.tracking import store
from nnexp.tracking.artifacts import component_tags, dump_tensors
from nnexp.tracking.params import TAG_MAX, cap, clean_key, finite_items

#: Settings (the ``tracking`` config group) and their defaults; see the package docstring.
DEFAULT_SETTINGS = {
    "log_every": 0,
    "max_points": 200,
    "min_points": 50,
    "flush_every_s": 5.0,
    "stats_every": 1,
    "tensors_every_epochs": 0,
    "tensors_at_steps": [],
    "histogram_every_steps": 0,
    "histogram_bins": 32,
    "save_model": True,
    "plot": True,
    "plot_every_epochs": 0,
    "explain_max_params": 5000,
}
#: Keys of the ``tracking`` group that belong to the caller, not to the tracker.
CALLER_KEYS = {"enabled", "uri", "experiment"}
BATCH = 1000  # MLflow's limit of metrics per log_batch
#: Auto ``log_every``: MLflow's SQLite store costs ~70-100 µs per value, so per-step rows are
#: sampled to keep their writes under LOG_BUDGET of the training time.
VALUE_COST_S = 1e-4
LOG_BUDGET = 0.02


def make_settings(settings) -> dict:
    """Defaults overlaid with ``settings``; unknown keys and negative counts are errors."""
    out = dict(DEFAULT_SETTINGS)
    for key, value in dict(settings or {}).items():
        if key in CALLER_KEYS:
            continue
        if key not in DEFAULT_SETTINGS:
            hint = did_you_mean(key, DEFAULT_SETTINGS)
            raise ConfigError(f"tracking.{key}", value, "one of the settings "
                              + ", ".join(DEFAULT_SETTINGS) + (f" (did you mean {hint!r}?)" if hint else ""))
        out[key] = value
    for key in ("log_every", "max_points", "min_points", "stats_every", "tensors_every_epochs",
                "histogram_every_steps", "histogram_bins", "plot_every_epochs", "explain_max_params"):
        low = 1 if key in ("stats_every", "histogram_bins") else 0
        out[key] = check_int(f"tracking.{key}", out[key], low, f"an integer >= {low}")
    if isinstance(out["flush_every_s"], bool) or not isinstance(out["flush_every_s"], (int, float)) \
            or out["flush_every_s"] < 0:
        raise ConfigError("tracking.flush_every_s", out["flush_every_s"], "a number of seconds >= 0")
    out["tensors_at_steps"] = frozenset(int(s) for s in out["tensors_at_steps"] or ())
    return out


class RunTracker:
    """Records one training run in MLflow: pass it as ``nnexp.fit(..., callbacks=[tracker])``.

    The run is created in ``on_run_start`` (so bad input raised by ``fit`` before training
    creates no run) and always ended in ``on_run_end`` with fit's status: FINISHED, FAILED
    (tags ``nnexp.failure`` = divergence/error and ``nnexp.error``) or KILLED. After ``fit``
    returns, :meth:`log_final` adds test metrics to the ended run; :meth:`close` changes the
    final status (``close("FAILED")`` when the caller fails after fit) and is always safe to call.
    ``run_id`` is set once the run exists.
    """

    def __init__(self, *, uri: str, experiment_id: str, run_name: str | None = None,
                 params: dict | None = None, tags: dict | None = None, config_yaml: str | None = None,
                 parent_run_id: str | None = None, settings: dict | None = None, dataset=None):
        self.uri, self.experiment_id, self.run_name = uri, str(experiment_id), run_name
        self.params, self.tags = dict(params or {}), dict(tags or {})
        self.config_yaml, self.parent_run_id, self.dataset = config_yaml, parent_run_id, dataset
        self.settings = make_settings(settings)
        self.run_id: str | None = None
        self.status: str | None = None
        self.timings = {"start": 0.0, "flush": 0.0, "end": 0.0}
        self._client = None
        self._logged_rows = 0
        self._last_logged_step = 0
        self._pending: list = []
        self._skipped: set[str] = set()

    # -- lifecycle hooks ---------------------------------------------------------------------
    @hookimpl
    def on_run_start(self, run):
        t0 = time.perf_counter()
        self._client = store.client(self.uri)
        tags = {**self.tags, **component_tags(run, self.dataset)}
        if self.parent_run_id:
            tags["mlflow.parentRunId"] = self.parent_run_id
        info = store.retry(self._client.create_run, self.experiment_id, run_name=self.run_name,
                           tags={clean_key(k): cap(v, TAG_MAX) for k, v in tags.items()}).info
        self.run_id, self.run_name = info.run_id, info.run_name
        self._log_params()
        self._start_buffers(run)
        self.timings["start"] = time.perf_counter() - t0

    def _start_buffers(self, run) -> None:
        s = self.settings
        # rows apart: lr·g is one step's update, not the change since the previous row
        self.stats = StepStats.for_run(run, exact_updates=s["stats_every"] > 1)
        self.hist = GradHistograms(run.network, s["histogram_bins"])
        self.every = s["log_every"] or None  # auto: chosen at the first flush (_auto_every)
        self._train_started, self._last_flush = time.perf_counter(), time.perf_counter()
        self.staging = Path(tempfile.mkdtemp(prefix="nnexp-run-"))
        self._dumped_step = 0

    @hookimpl
    def on_step_end(self, run, loss):
        s = self.settings
        step = run.step
        if step % s["stats_every"] == 0:
            self.stats.record(step, run.epoch, loss)
        if s["histogram_every_steps"] and step % s["histogram_every_steps"] == 0:
            self.hist.record(step, run.epoch)
        if step in s["tensors_at_steps"]:
            self._dump(run, f"step_{step:06d}")

    @hookimpl
    def on_epoch_end(self, run, epoch, metrics):
        s = self.settings
        if not s["histogram_every_steps"]:
            self.hist.record(run.step, epoch)
        every = s["tensors_every_epochs"]
        if every and epoch % every == 0:
            self._dump(run, f"epoch_{epoch:03d}")
        if s["plot"] and s["plot_every_epochs"] and epoch % s["plot_every_epochs"] == 0 \
                and epoch < run.epochs:  # the last epoch's pictures are the run's own
            self._guarded(lambda: self._plot_progress(run, epoch))
        self._pending.append((dict(metrics), epoch, int(time.time() * 1000)))  # Metrics at flush
        if time.perf_counter() - self._last_flush >= s["flush_every_s"]:
            self._flush(run)

    @hookimpl
    def on_run_end(self, run, status, error):
        t0 = time.perf_counter()
        self.status = status
        try:
            for finish in (lambda: self._flush(run, final=True), lambda: self._failure_tags(status, error),
                           lambda: self._write_artifacts(run)):
                self._guarded(finish)
        finally:
            shutil.rmtree(getattr(self, "staging", ""), ignore_errors=True)
            self._terminate(status)
            self.timings["end"] = time.perf_counter() - t0

    def _guarded(self, finish) -> None:
        """Run one finishing step; a failure is warned about and the next step still runs
        (it must never mask fit's own outcome, nor leave the run RUNNING)."""
        if self.run_id is None:
            return
        try:
            finish()
        except Exception as exc:  # noqa: BLE001
            warnings.warn(f"nnexp tracking: could not finish logging run {self.run_id}: "
                          f"{type(exc).__name__}: {exc}", stacklevel=3)

    # -- after fit ---------------------------------------------------------------------------
    def log_final(self, metrics: dict, step: int | None = None) -> None:
        """Log final (test) metrics to the run, also after it ended; non-finite ones are tagged."""
        if self.run_id is None:
            return
        from mlflow.entities import Metric

        good, skipped = finite_items(metrics)
        now = int(time.time() * 1000)
        batch = [Metric(k, v, now, int(step or 0)) for k, v in good.items()]
        self._note_skipped(skipped)
        store.retry(self._client.log_batch, self.run_id, metrics=batch)

    def close(self, status: str | None = None) -> None:
        """End the run with ``status`` (default: the status fit reported). Idempotent."""
        if self.run_id is not None and status and status != self.status:
            self._terminate(status)

    # -- internals ---------------------------------------------------------------------------
    def _log_params(self) -> None:
        from mlflow.entities import Param

        items = [Param(clean_key(k), cap(v)) for k, v in self.params.items()]
        for i in range(0, len(items), 100):  # MLflow's limit of params per batch
            store.retry(self._client.log_batch, self.run_id, params=items[i:i + 100])

    def _epoch_metrics(self) -> list:
        """The epoch metrics waiting since the last flush, as MLflow Metric objects."""
        from mlflow.entities import Metric

        out = []
        for metrics, epoch, stamp in self._pending:
            good, skipped = finite_items(metrics)
            self._note_skipped(skipped)
            out += [Metric(k, v, stamp, int(epoch)) for k, v in good.items()]
        self._pending = []
        return out

    def _flush(self, run, final: bool = False) -> None:
        """One synchronous write: pending epoch metrics and sampled step rows since the last."""
        t0 = time.perf_counter()
        if self.every is None:
            self.every = self._auto_every(run, t0)
        batch = self._epoch_metrics() + self._step_metrics(int(time.time() * 1000), final)
        for i in range(0, len(batch), BATCH):
            store.retry(self._client.log_batch, self.run_id, metrics=batch[i:i + BATCH])
        self._last_flush = time.perf_counter()
        self.timings["flush"] += self._last_flush - t0

    def _auto_every(self, run, now: float) -> int:
        """Steps between logged rows (a multiple of ``stats_every``, as rows are filtered by
        step): at most ``max_points`` rows; row writes (at VALUE_COST_S per value) within
        LOG_BUDGET of the measured time per step, but never fewer than ``min_points`` rows,
        so even a run of fast steps has curves to compare in the UI."""
        s = self.settings
        steps = max(1, run.step)
        step_time = max(1e-7, (now - self._train_started - self.timings["flush"]) / steps)
        row_cost = (self.stats.width - 2) * VALUE_COST_S
        total = max(1, run.epochs * run.steps_per_epoch // s["stats_every"])
        by_points = math.ceil(total / max(1, s["max_points"]))
        by_budget = math.ceil(row_cost / (LOG_BUDGET * step_time * s["stats_every"]))
        at_least = math.ceil(total / max(1, s["min_points"]))
        return max(1, by_points, min(by_budget, at_least)) * s["stats_every"]

    def _step_metrics(self, now: int, final: bool) -> list:
        """Every ``self.every``-th recorded row (and the last one at the end) as Metric objects."""
        from mlflow.entities import Metric

        rows = self.stats.rows_since(self._logged_rows)
        self._logged_rows = self.stats.n
        rows = rows[rows[:, 0] % self.every == 0]
        if len(rows):
            self._last_logged_step = rows[-1, 0]
        if final and self.stats.n:  # the last row always, unless it was just sampled
            last = self.stats.rows_since(self.stats.n - 1)
            if last[0, 0] != self._last_logged_step:
                rows = np.concatenate([rows, last])
        names = ["step_loss" if c == "loss" else c for c in self.stats.columns]
        out, bad = [], set()
        for row in rows:
            step = int(row[0])
            for key, value in zip(names[2:], row[2:].tolist()):
                if math.isfinite(value):
                    out.append(Metric(key, value, now, step))
                elif not math.isnan(value):
                    bad.add(key)
        self._note_skipped(bad)
        return out

    def _note_skipped(self, keys) -> None:
        new = set(keys) - self._skipped
        if new and self.run_id:
            self._skipped |= new
            store.retry(self._client.set_tag, self.run_id, "nnexp.nonfinite_metrics",
                        cap(", ".join(sorted(self._skipped)), TAG_MAX))

    def _failure_tags(self, status: str, error) -> None:
        if status == "FINISHED":
            return
        from nnexp.errors import DivergenceError

        reason = ("killed" if status == "KILLED" else
                  "divergence" if isinstance(error, DivergenceError) else "error")
        tags = {"nnexp.failure": reason}
        if error is not None:
            tags["nnexp.error"] = cap(f"{type(error).__name__}: {error}", TAG_MAX)
        for key, value in tags.items():
            store.retry(self._client.set_tag, self.run_id, key, value)

    def _dump(self, run, name: str) -> None:
        dump_tensors(run.network, self.staging / "tensors" / name)
        self._dumped_step = run.step

    def _write_artifacts(self, run) -> None:
        s, out = self.settings, self.staging
        if run.step and self._dumped_step != run.step:  # the final state, unless just dumped
            done = self.status == "FINISHED"
            self._dump(run, f"epoch_{run.epoch:03d}" if done else f"step_{run.step:06d}")
        (out / "stats").mkdir(exist_ok=True)
        self.stats.write_csv(out / "stats" / "steps.csv")
        if run.step:  # the last step's histogram (record skips a step it already holds)
            self.hist.record(run.step, run.epoch)
        self.hist.save(out / "stats" / "grad_hist.npz")
        if self.config_yaml:
            (out / "config.yaml").write_text(self.config_yaml)
        if s["save_model"]:
            run.network.save(out / "model.npz")
        if s["plot"] and len(run.history):
            self._plot(run, out)
        if 0 < run.network.n_params <= s["explain_max_params"] and isinstance(self.dataset, Dataset):
            self._explain(run, out)
        store.retry(self._client.log_artifacts, self.run_id, str(out))

    def _plot(self, run, out: Path) -> None:
        from nnexp.plots import plot_run

        try:
            plot_run(run.history, out / "stats" / "steps.csv", out / "plots", network=run.network,
                     dataset=self.dataset if isinstance(self.dataset, Dataset) else None,
                     grad_hist=out / "stats" / "grad_hist.npz")
        except Exception as exc:  # noqa: BLE001 - a broken picture must not lose the run
            warnings.warn(f"nnexp tracking: plotting failed: {exc}", stacklevel=2)

    def _plot_progress(self, run, epoch: int) -> None:
        """The run's pictures so far, as ``plots/epoch_NNN/`` (``plot_every_epochs``)."""
        out = self.staging / "progress"
        (out / "stats").mkdir(parents=True, exist_ok=True)
        self.stats.write_csv(out / "stats" / "steps.csv")
        self.hist.save(out / "stats" / "grad_hist.npz")
        self._plot(run, out)
        store.retry(self._client.log_artifacts, self.run_id, str(out / "plots"), f"plots/epoch_{epoch:03d}")
        shutil.rmtree(out)

    def _explain(self, run, out: Path) -> None:
        """The chain rule of the trained network on the first training sample, factor by
        factor beside finite differences (``explain.txt``; costs one pass per parameter)."""
        from nnexp.explain import explain

        try:
            ex = explain(run.network, self.dataset.X_train[0], self.dataset.y_train[0], run.loss)
            (out / "explain.txt").write_text(ex.to_text())
        except Exception as exc:  # noqa: BLE001 - an explanation must not lose the run
            warnings.warn(f"nnexp tracking: explain failed: {exc}", stacklevel=2)

    def _terminate(self, status: str) -> None:
        if self.run_id is None:
            return
        store.retry(self._client.set_terminated, self.run_id, status)
        self.status = status
