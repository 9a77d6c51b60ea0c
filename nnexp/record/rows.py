"""Rows of the record's tables as pyarrow Tables (the only pyarrow the recorder calls)."""

from __future__ import annotations

import numpy as np


def steps_table(columns: list[str], rows: np.ndarray):
    """The per-step statistics (``StepStats.take()``): integer step and epoch, float64 rest."""
    import pyarrow as pa

    arrays = [pa.array(rows[:, 0].astype(np.int64)), pa.array(rows[:, 1].astype(np.int64))]
    arrays += [pa.array(rows[:, i]) for i in range(2, len(columns))]
    return pa.Table.from_arrays(arrays, names=columns)


def epochs_table(rows: list[dict]):
    """Epoch metrics: one row per ``{"epoch": e, "loss": ..., ...}``."""
    import pyarrow as pa

    return pa.Table.from_pylist(rows)


def hist_table(arrays: dict[str, np.ndarray]):
    """Histograms (``GradHistograms.take()``): ``step``, ``epoch`` and a fixed-size list
    column per ``counts/<param>`` and ``edges/<param>``."""
    import pyarrow as pa

    columns = {"step": pa.array(arrays["steps"]), "epoch": pa.array(arrays["epochs"])}
    for key, values in arrays.items():
        if key not in ("steps", "epochs"):
            width = values.shape[1]
            columns[key] = pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), width)
    return pa.table(columns)
