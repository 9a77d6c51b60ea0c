"""One run's record on local disk: where each part lives, and reading it back.

::

    <record>/
      meta.json                  who and where: run id, store, host, pid, status (written atomically)
      journal.jsonl              metrics and tags for the tracking store, appended (nnexp.record.journal)
      sink.json                  how far a sink (MLflow) got: journal offset, files sent
      parts/steps/L*-*.parquet   the per-step statistics table, in parts (nnexp.record.table)
      parts/epochs/L*-*.parquet  every epoch's metrics
      parts/hist/L*-*.parquet    gradient histograms
      artifacts/                 the run's files, laid out as its MLflow artifacts:
        config.yaml  model.npz  explain.txt  tensors/...  plots/...
        checkpoints/last/checkpoint.npz  checkpoints/best/checkpoint.npz
        stats/steps.parquet  stats/steps.csv  stats/epochs.parquet  stats/grad_hist.npz  (exported)

Everything a reader needs is complete on disk at any time; ``artifacts/stats/*`` are exports of
the parts, made when the run ends (or by ``nnexp sync``), never needed to read the record.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnexp.record.files import read_json, write_json
from nnexp.record.table import PartTable

ROOT_NAME = "nnexp-records"


class Record:
    """The record directory of one run (it need not exist yet)."""

    def __init__(self, path):
        self.path = Path(path)
        parts = self.path / "parts"
        self.steps = PartTable(parts / "steps", "step")
        self.epochs = PartTable(parts / "epochs", "epoch")
        self.hist = PartTable(parts / "hist", "step")
        self.artifacts = self.path / "artifacts"
        self.journal_path = self.path / "journal.jsonl"
        self.sink_path = self.path / "sink.json"

    def __repr__(self):
        return f"Record({str(self.path)!r})"

    def exists(self) -> bool:
        return (self.path / "meta.json").is_file()

    def checkpoint_path(self, which: str = "last") -> Path:
        return self.artifacts / "checkpoints" / which / "checkpoint.npz"

    # -- meta ----------------------------------------------------------------------------
    def meta(self) -> dict:
        return read_json(self.path / "meta.json", {})

    def update_meta(self, **values) -> dict:
        meta = {**self.meta(), **values}
        write_json(self.path / "meta.json", meta)
        return meta

    # -- the data, for pictures drawn by another process -----------------------------------
    def keep_dataset(self, dataset) -> None:
        """Keep ``dataset`` (an :class:`nnexp.Dataset`) in the record, for its decision
        boundary drawn later and elsewhere (the sender, ``nnexp plot run``)."""
        from dataclasses import asdict

        from nnexp.record.files import write_state

        write_state(self.path / "dataset.npz", asdict(dataset))

    def dataset(self):
        """The dataset kept by :meth:`keep_dataset`, or None."""
        from nnexp.base import Dataset
        from nnexp.record.files import read_state

        path = self.path / "dataset.npz"
        return Dataset(**read_state(path)) if path.is_file() else None

    # -- reading -------------------------------------------------------------------------
    def histograms(self) -> dict[str, np.ndarray]:
        """The gradient histograms in the ``grad_hist.npz`` layout (see GradHistograms)."""
        frame = self.hist.read()
        out = {"steps": frame.index.to_numpy(np.int64),
               "epochs": frame["epoch"].to_numpy(np.int64) if "epoch" in frame else np.zeros(0, np.int64)}
        for column in frame.columns:
            if column != "epoch":
                out[column] = np.stack(frame[column].to_numpy()) if len(frame) else np.zeros((0, 0))
        return out

    # -- export --------------------------------------------------------------------------
    def export_stats(self, csv_max_rows: int = 100_000) -> list[Path]:
        """Write ``artifacts/stats/``: the steps and epochs tables as one Parquet file each
        (streamed, whatever their size), ``steps.csv`` when at most ``csv_max_rows`` rows,
        and ``grad_hist.npz``. Returns the files written."""
        out = self.artifacts / "stats"
        out.mkdir(parents=True, exist_ok=True)
        written = []
        rows = self.steps.export(out / "steps.parquet")
        written.append(out / "steps.parquet")
        if 0 < rows <= csv_max_rows:
            _write_csv(self.steps.read(), out / "steps.csv")
            written.append(out / "steps.csv")
        self.epochs.export(out / "epochs.parquet")
        written.append(out / "epochs.parquet")
        if self.hist.parts():
            from nnexp.record.files import atomic_path

            with atomic_path(out / "grad_hist.npz") as tmp:
                # ignore: numpy's stub lets **kwds fill allow_pickle
                np.savez(tmp, **self.histograms())  # type: ignore[arg-type]
            written.append(out / "grad_hist.npz")
        return written


def _write_csv(frame, path: Path) -> None:
    """The steps table as CSV: integer step and epoch, 9 significant digits."""
    from nnexp.record.files import atomic_path

    with atomic_path(path) as tmp:
        frame.reset_index().to_csv(tmp, index=False, float_format="%.9g")


def default_root(uri: str | None, launch_dir) -> Path:
    """``nnexp-records/`` beside a SQLite store, else in the launch directory."""
    if uri and uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///"):]).parent / ROOT_NAME
    return Path(launch_dir) / ROOT_NAME
