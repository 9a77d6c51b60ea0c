"""A run's pictures, drawn from its record by a pool of worker processes beside the sender.

Drawing a run's pictures (matplotlib: ~1-2 s of CPU for four pictures) is the longest part of
ending a small run. The sender (:mod:`nnexp.tracking.sender`) hands a finished run's pictures
to this pool and goes on sending the other runs; it uploads them once they are drawn. The
pictures of one run are split into groups drawn at once by different workers, so on a
machine with a free core a run's end waits for about half of them; those of the next run
queue behind.

The workers are spawned, not forked (the sender holds database connections and threads),
import matplotlib while the first run trains (:meth:`Painter.warm`), ignore Ctrl-C as the
sender does, and exit when the sender is gone (a watchdog thread: a worker of a killed
sender does not linger). Nothing here imports mlflow.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from nnexp.record import Record

#: Pictures drawn by one worker, balanced by their measured cost (benchmarks/RESULTS_plots.md:
#: the histograms take about as long as the curves and the decision boundary together). Every
#: name of :data:`nnexp.plots.run.PICTURES` is in one group (not imported here: it imports
#: matplotlib, which the sender itself never needs).
GROUPS = (("grad_hist.png", "grad_norms.png"), ("curves.png", "decision_boundary.png"))
#: Workers at most (each holds matplotlib: ~100 MB); fewer on a machine with fewer cores.
MAX_WORKERS = 2


def draw_record(path, title: str | None = None, only=None) -> list[Path]:
    """The pictures of the record at ``path`` into its ``artifacts/plots/``, as ``nnexp plot
    run`` draws them (the decision boundary over the dataset kept in the record); ``only``:
    the file names to draw (default all). Returns the paths written."""
    from nnexp.plots import draw_run

    record = Record(path)
    dataset = record.dataset()
    boundary = dataset is not None and dataset.n_features == 2 and dataset.task == "classification"
    return draw_run(record.artifacts, record.artifacts / "plots", dataset=dataset if boundary else None,
                    title=title, only=only)


#: Niceness added to the workers: the pictures fill the cores the training leaves free.
NICE = 5


def _worker_start(parent: int) -> None:
    """In each worker: yield the CPU to training (:data:`NICE`), import what drawing needs,
    and exit once the sender is gone."""
    os.nice(NICE)
    import nnexp.plots.histograms  # noqa: F401
    import nnexp.plots.run  # noqa: F401

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="nnexp-painter-watchdog").start()


def _ready() -> bool:
    return True


class Painter:
    """The sender's pool of picture workers, started on first use."""

    def __init__(self, workers: int | None = None):
        self.workers = workers or max(1, min(MAX_WORKERS, os.cpu_count() or 1))
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            import multiprocessing

            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_worker_start, initargs=(os.getpid(),))
        return self._pool

    def warm(self) -> None:
        """Start the workers now (they import matplotlib while a run trains)."""
        if self._pool is None:
            for _ in range(self.workers):
                self._submit(_ready)

    def draw(self, record: Record, title: str | None = None) -> list[Future]:
        """Draw ``record``'s pictures: one future per group of pictures, each giving the
        paths it wrote (or raising what stopped it)."""
        groups = GROUPS if self.workers > 1 else (sum(GROUPS, ()),)
        return [self._submit(draw_record, str(record.path), title, group) for group in groups]

    def _submit(self, fn, *args) -> Future:
        try:
            return self._executor().submit(fn, *args)
        except BrokenProcessPool:  # a worker died (out of memory?): a new pool for what follows
            self.close()
            return self._executor().submit(fn, *args)

    def close(self, wait: bool = False) -> None:
        """Stop the workers (``wait``: after what they draw; else at once, dropping the queue)."""
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=not wait)
            self._pool = None
