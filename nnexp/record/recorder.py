"""The recorder: a lifecycle plugin that writes a run's record to disk as it trains.

    rec = Recorder("runs/my-run", settings={"flush_every_s": 1.0}, checkpoint={"every_seconds": 60})
    nnexp.fit(net, X, y, ..., callbacks=[rec, StopAtStepEnd.active])
    nnexp.fit(net2, X, y, ..., resume=read_state(rec.record.checkpoint_path()))   # continue

Every ``flush_every_s`` seconds the rows gathered in memory leave it: per-step statistics and
epoch metrics become Parquet parts, histograms are binned into theirs, and a sample of rows
goes to the metrics journal a tracking sink sends on. Checkpoints (``checkpoints/last``) are
taken every N epochs and/or T seconds, at an interruption that stopped at a step's end, and
at the end; ``checkpoints/best`` follows a monitored metric. Memory stays flat: nothing grows
with the number of steps (the history keeps its last epochs in memory, the rest on disk).

Its hooks run last (``trylast``), after other plugins' hooks for the same step or epoch, so a
checkpoint sees their state too; :class:`nnexp.interrupts.StopAtStepEnd` must be registered
after it (it is, when it comes later in ``callbacks``).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from nnexp.checkpoint import capture
from nnexp.hookspecs import hookimpl
from nnexp.monitor import Monitor
from nnexp.record import journal as journal_mod
from nnexp.record import rows
from nnexp.record.files import atomic_path, write_state
from nnexp.record.layout import Record
from nnexp.record.settings import checkpoint_settings, make_settings
from nnexp.stats import GradHistograms, StepStats

NAME = "record"
#: Epochs of the history kept in memory (the rest is read back from the record).
KEEP_EPOCHS = 1000
#: Past these, sampled steps/epochs thin out (half as many per doubling of the run): a run of
#: unbounded length (epochs=10**8, stopped by hand) still sends a bounded number of rows.
STEP_HORIZON = 1_000_000
EPOCH_HORIZON = 100_000


class Sampler:
    """Which of the numbers 1, 2, ... are sampled: every ``every``-th up to ``horizon``, then
    twice as sparse for each doubling past it (None: no thinning)."""

    def __init__(self, every: int, horizon: int | None):
        self.every, self.horizon = max(1, int(every)), horizon

    @classmethod
    def spread(cls, total: int, points: int, horizon: int, unit: int = 1) -> Sampler:
        """About ``points`` of ``total`` numbers (multiples of ``unit``), evenly up to
        ``horizon``, thinning out past it."""
        rows = max(1, min(total, horizon) // unit)
        return cls(unit * max(1, math.ceil(rows / points)), horizon)

    def interval(self, n):
        if self.horizon is None:
            return self.every
        import numpy as np

        return self.every * 2 ** np.maximum(0, np.ceil(np.log2(np.maximum(n, 1) / self.horizon))).astype(np.int64)

    def __call__(self, n: int) -> bool:
        return int(n) % int(self.interval(n)) == 0

    def mask(self, ns):
        import numpy as np

        ns = np.asarray(ns, dtype=np.int64)
        return ns % self.interval(ns) == 0


class Recorder:
    """Writes ``record`` (a :class:`Record` or a directory) for one :func:`nnexp.fit` run."""

    def __init__(self, record, settings=None, *, checkpoint=None, config_yaml: str | None = None,
                 monitor: str | None = None, owns_status: bool = True, continues: bool = False):
        self.record = record if isinstance(record, Record) else Record(record)
        #: Whether this run continues the record's MLflow run: without a checkpoint it trains
        #: again from the start, and what the journal already holds is not journaled twice.
        self.continues = continues
        #: Whether the end of training ends the record (meta ``status``); a tracker that has
        #: more to add after fit (test metrics) sets the status itself (``trained`` is fit's).
        self.owns_status = owns_status
        self.settings = make_settings(settings)
        self.ckpt = checkpoint_settings(checkpoint)
        self.config_yaml = config_yaml
        metric = self.ckpt["monitor"] or monitor
        self.best = Monitor(metric, self.ckpt["mode"], where="trainer.checkpoint.monitor") if metric else None
        self.timings = {"flush": 0.0, "checkpoint": 0.0, "checkpoints": 0}
        self.journal: journal_mod.Journal | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    @hookimpl(trylast=True)
    def on_run_start(self, run):
        s, rec = self.settings, self.record
        rec.path.mkdir(parents=True, exist_ok=True)
        saved = ((run.resume_state or {}).get("plugins") or {}).get(NAME)
        self._logged = self._rewind(run) if run.resume_state is not None else self._fresh()
        rec.artifacts.mkdir(parents=True, exist_ok=True)
        if self.config_yaml is not None:
            (rec.artifacts / "config.yaml").write_text(self.config_yaml)
        self.journal = journal_mod.Journal(rec.journal_path)
        self.stats = StepStats.for_run(run, exact_updates=s["stats_every"] > 1)
        self.hist = GradHistograms(run.network, s["histogram_bins"])
        if saved:
            self.stats.load_state(saved["stats"])
            self.hist.last_step = int(saved["hist_last"])
            if self.best is not None and saved.get("best"):
                self.best.load(saved["best"])
        if run.history.offset:
            run.history.forget(0, rec.epochs.read)
        self._plan(run)
        self._epoch_rows: list[dict] = []
        self._best_state = None
        now = time.monotonic()
        self._next_flush, self._next_ckpt = now + s["flush_every_s"], now + (self.ckpt["every_seconds"] or math.inf)
        self._due = min(self._next_flush, self._next_ckpt)
        self._dumped = self._checkpointed = -1
        rec.update_meta(status="RUNNING", steps_per_epoch=run.steps_per_epoch, epochs=run.epochs)

    def _fresh(self) -> dict[str, int]:
        """A new record: parts and journal left from an earlier run in the same folder go
        (the journal stays when the run continues one it was sent to: see ``continues``)."""
        import shutil

        shutil.rmtree(self.record.path / "parts", ignore_errors=True)
        if self.continues and self.record.journal_path.exists():
            return journal_mod.last_steps(self.record.journal_path)
        self.record.journal_path.unlink(missing_ok=True)
        self.record.sink_path.unlink(missing_ok=True)
        return {}

    def _rewind(self, run) -> dict[str, int]:
        """Continue a record from the checkpoint ``run`` was restored from: rows past it are
        dropped (they will be written again, identical); journal lines stay (a sink may have
        sent them), and rows up to what they hold are not journaled twice."""
        rec = self.record
        rec.steps.truncate(run.step)
        rec.hist.truncate(run.step)
        rec.epochs.truncate(len(run.history))
        return journal_mod.last_steps(rec.journal_path)

    def _plan(self, run) -> None:
        """Which steps and epochs are sampled: a function of the config and the step only, so
        a resumed run samples exactly what the uninterrupted one would."""
        s = self.settings
        steps = run.epochs * run.steps_per_epoch
        self.log_steps = (Sampler(s["log_every"], None) if s["log_every"] else
                          Sampler.spread(steps, s["max_points"], STEP_HORIZON, s["stats_every"]))
        self.log_epochs = Sampler.spread(run.epochs, s["max_epoch_points"], EPOCH_HORIZON)
        self.hist_epochs = Sampler.spread(run.epochs, s["max_histograms"], EPOCH_HORIZON)
        self._stats_every, self._hist_every = s["stats_every"], s["histogram_every_steps"]
        self._tensor_steps = s["tensors_at_steps"]

    @hookimpl(trylast=True)
    def on_step_end(self, run, loss):
        step = run.step
        if step % self._stats_every == 0:
            self.stats.record(step, run.epoch, loss)
        if self._hist_every and step % self._hist_every == 0:
            self.hist.record(step, run.epoch)
        if step in self._tensor_steps:
            self._dump(run, f"step_{step:06d}")
        if time.monotonic() >= self._due:
            self._periodic(run)

    @hookimpl(trylast=True)
    def on_epoch_end(self, run, epoch, metrics):
        s = self.settings
        self._epoch_rows.append({"epoch": epoch, **metrics})
        if self.log_epochs(epoch):
            self._journal(journal_mod.EPOCH, epoch, metrics)
        if not self._hist_every and self.hist_epochs(epoch):
            self.hist.record(run.step, epoch)
        if s["tensors_every_epochs"] and epoch % s["tensors_every_epochs"] == 0:
            self._dump(run, f"epoch_{epoch:03d}")
        if self.best is not None and self.best.update(metrics, epoch):
            self._best_state = capture(run, plugins=False)  # a model snapshot, not a place to resume
        if len(run.history.epochs) >= 2 * KEEP_EPOCHS:
            self.flush(run)
            run.history.forget(len(run.history.epochs) - KEEP_EPOCHS, self.record.epochs.read)
        every = self.ckpt["every_epochs"]
        if every and epoch % every == 0:
            self.checkpoint(run)
        elif time.monotonic() >= self._due:
            self._periodic(run)

    @hookimpl(trylast=True)
    def on_checkpoint(self, run, state):
        state[NAME] = {"stats": self.stats.state(), "hist_last": self.hist.last_step,
                       "best": self.best.state() if self.best is not None else None}

    @hookimpl(trylast=True)
    def on_run_end(self, run, status, error):
        if self.journal is None:  # on_run_start never ran (it failed before)
            return
        at_boundary = status == "FINISHED" or getattr(error, "at_step_end", False)
        if status == "FINISHED" and run.step and self._dumped != run.step:
            self._dump(run, f"epoch_{run.epoch:03d}")
        if status != "KILLED":  # the last step's histogram and rows (a KILLED run goes on later)
            if run.step:
                self.hist.record(run.step, run.epoch)
            self.flush(run)
            self._last_rows(run)
        if at_boundary:
            self.checkpoint(run)
            if self.settings["save_model"]:
                with atomic_path(self.record.artifacts / "model.npz") as tmp:
                    run.network.save(tmp)
        else:
            self.flush(run)
        self.record.update_meta(**{"status" if self.owns_status else "trained": status},
                                step=run.step, epoch=run.epoch, stop_reason=run.stop_reason,
                                error=None if error is None else f"{type(error).__name__}: {error}")

    # -- logging by other plugins ------------------------------------------------------------
    @hookimpl(trylast=True)
    def on_log_metrics(self, run, metrics, step):
        self._journal(journal_mod.USER, step, metrics)

    @hookimpl(trylast=True)
    def on_set_tags(self, run, tags):
        self.journal.tags(tags)

    @hookimpl(trylast=True)
    def on_log_artifact(self, run, path, artifact_path):
        import shutil

        target = self.record.artifacts / (artifact_path or "")
        target.mkdir(parents=True, exist_ok=True)
        if Path(path).is_dir():
            shutil.copytree(path, target / Path(path).name, dirs_exist_ok=True)
        else:
            shutil.copy2(path, target / Path(path).name)

    def tags(self, tags: dict) -> None:
        """Tags for the tracking store, through the journal (the caller's, not a hook's)."""
        assert self.journal is not None  # opened by on_run_start
        self.journal.tags(tags)

    # -- writing -----------------------------------------------------------------------------
    def _journal(self, kind: str, step: int, values: dict) -> None:
        """A journal line, unless a run this one resumes already wrote that step."""
        last = self._logged.get(kind)
        if last is None or step > last or (kind == journal_mod.USER and step == last):
            assert self.journal is not None  # opened by on_run_start
            self.journal.metrics(kind, step, dict(values))

    def _periodic(self, run) -> None:
        now = time.monotonic()
        if now >= self._next_ckpt:
            self.checkpoint(run)
        else:
            self.flush(run)

    def flush(self, run=None) -> None:
        """Write what is in memory: step rows, epoch rows, histograms; flush the journal."""
        t0 = time.perf_counter()
        taken = self.stats.take()
        if len(taken):
            self.record.steps.append(rows.steps_table(self.stats.columns, taken))
            self._journal_steps(taken)
        if self._epoch_rows:
            self.record.epochs.append(rows.epochs_table(self._epoch_rows))
            self._epoch_rows = []
        hist = self.hist.take()
        if len(hist["steps"]):
            self.record.hist.append(rows.hist_table(hist))
        assert self.journal is not None  # opened by on_run_start
        self.journal.flush()
        now = time.monotonic()
        self._next_flush = now + self.settings["flush_every_s"]
        self._due = min(self._next_flush, self._next_ckpt)
        self.timings["flush"] += time.perf_counter() - t0

    def _journal_steps(self, taken) -> None:
        names = ["step_loss" if c == "loss" else c for c in self.stats.columns]
        for row in taken[self.log_steps.mask(taken[:, 0])]:
            self._journal(journal_mod.STEP, int(row[0]), _finite(names[2:], row[2:]))
        self._last_taken = taken[-1]

    def _last_rows(self, run) -> None:
        """At the end of a run (not an interruption: it goes on later, and its history must
        then be the uninterrupted run's): the last epoch's metrics and the last step's row,
        when the sampling skipped them, so the store shows where it ended."""
        done = len(run.history)
        if done and not self.log_epochs(done):
            self._journal(journal_mod.EPOCH, done, run.history.last)
        last = getattr(self, "_last_taken", None)
        if last is not None and not self.log_steps(int(last[0])):
            names = ["step_loss" if c == "loss" else c for c in self.stats.columns]
            self._journal(journal_mod.STEP, int(last[0]), _finite(names[2:], last[2:]))

    def checkpoint(self, run) -> Path | None:
        """Write ``checkpoints/last`` (and ``best`` when it changed) now; returns the path."""
        if self._checkpointed == run.step and self.record.checkpoint_path().exists():
            self.flush(run)
            return None
        t0 = time.perf_counter()
        self.flush(run)
        path = write_state(self.record.checkpoint_path("last"), capture(run))
        if self._best_state is not None:
            write_state(self.record.checkpoint_path("best"), self._best_state)
            self._best_state = None
        self._checkpointed = run.step
        self._next_ckpt = time.monotonic() + (self.ckpt["every_seconds"] or math.inf)
        self._due = min(self._next_flush, self._next_ckpt)
        self.timings["checkpoint"] += time.perf_counter() - t0
        self.timings["checkpoints"] += 1
        return path

    def close(self) -> None:
        """Close the journal (after the caller's last :meth:`tags`)."""
        if self.journal is not None:
            self.journal.close()

    def _dump(self, run, name: str) -> None:
        import numpy as np

        folder = self.record.artifacts / "tensors" / name
        for file, arrays in (("grads.npz", run.network.grads), ("params.npz", run.network.params)):
            with atomic_path(folder / file) as tmp:
                np.savez(tmp, **arrays)
        self._dumped = run.step


def _finite(names, values) -> dict[str, float]:
    """Row values by name, NaN left out (a stat that does not apply); ±inf kept for the sink
    to report."""
    return {n: v for n, v in zip(names, values.tolist()) if not math.isnan(v)}
