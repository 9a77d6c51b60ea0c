"""Reading a run's record from a folder laid out like its MLflow artifacts.

The folder may hold (every file optional; a missing one just means fewer pictures):

- ``config.yaml``: the composed config (its ``dataset`` section rebuilds the dataset);
- ``model.npz``: the trained network (:meth:`nnexp.Network.save`);
- ``stats/steps.parquet`` (or ``stats/steps.csv``): the per-step table of :mod:`nnexp.stats`;
- ``stats/epochs.parquet``: the per-epoch metrics, ``History.to_frame()`` (index ``epoch``);
- ``stats/grad_hist.npz``: the gradient histograms of :class:`nnexp.stats.GradHistograms`.

Only the columns a picture draws are read from the per-step table, so a run of a million
steps costs a few column reads, not the whole table.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnexp.plots.components import registry_or_default

STEPS_FILES = ("stats/steps.parquet", "stats/steps.csv")
EPOCHS_FILE = "stats/epochs.parquet"
GRAD_HIST_FILE = "stats/grad_hist.npz"
#: Top-level artifacts a run's pictures are drawn from (what a downloader fetches).
ARTIFACTS = ("config.yaml", "model.npz", "stats")
#: Per-step columns the pictures draw: the epoch and each parameter's gradient norm.
STEP_COLUMNS = ("epoch", "grad_norm/")


@dataclass
class RunRecord:
    """What a run's pictures are drawn from; a None part means its pictures are skipped.

    ``epochs``: DataFrame indexed by epoch (``loss``, ``accuracy``, ``val_loss``, …);
    ``steps``: DataFrame indexed by step with ``epoch`` and ``grad_norm/<param>`` columns;
    ``grad_hist``: the arrays of ``grad_hist.npz``; ``network``/``dataset``: for the
    decision boundary."""

    epochs: Any = None
    steps: Any = None
    grad_hist: dict | None = None
    network: Any = None
    dataset: Any = None


def read_record(folder, network=None, dataset=None, registry=None) -> RunRecord:
    """The record in ``folder``. ``network``/``dataset`` given are used as they are; else the
    network comes from ``model.npz`` and, when it takes 2 features (the only case a picture
    needs data), the dataset is rebuilt from ``config.yaml``. A part that cannot be read is
    warned about and left None."""
    folder = Path(folder)
    record = RunRecord(epochs=_guarded("training curves", read_epochs, folder),
                       steps=_guarded("per-step table", read_steps, folder),
                       grad_hist=_guarded("gradient histograms", read_grad_hist, folder))
    record.network = network if network is not None else \
        _guarded("network", load_network, folder, registry)
    if dataset is None and record.network is not None and record.network.input_shape == (2,):
        dataset = _guarded("dataset", rebuild_dataset, folder, registry)
    record.dataset = dataset
    return record


def write_record(folder, *, history=None, steps=None, grad_hist=None, network=None,
                 config=None) -> Path:
    """Write in-memory parts as the folder :func:`read_record` reads (for tests, docs and
    benchmarks; a tracked run's record is written by the tracker). ``history``: a
    :class:`nnexp.History`; ``steps``: a :class:`nnexp.stats.StepStats` (or its table as a
    DataFrame); ``grad_hist``: a :class:`nnexp.stats.GradHistograms`; ``network``: saved as
    ``model.npz``; ``config``: the composed config (mapping or OmegaConf), as YAML."""
    import pandas as pd
    from omegaconf import OmegaConf

    folder = Path(folder)
    (folder / "stats").mkdir(parents=True, exist_ok=True)
    if config is not None:
        (folder / "config.yaml").write_text(OmegaConf.to_yaml(config, resolve=True))
    if network is not None:
        network.save(folder / "model.npz")
    if history is not None:
        history.to_frame().to_parquet(folder / EPOCHS_FILE)
    if steps is not None:
        if not isinstance(steps, pd.DataFrame):
            columns, values = steps.table()
            steps = pd.DataFrame(values, columns=columns)
        steps.to_parquet(folder / STEPS_FILES[0], index=False)
    if grad_hist is not None:
        grad_hist.save(folder / GRAD_HIST_FILE)
    return folder


def _guarded(what: str, read, *args):
    try:
        return read(*args)
    except Exception as exc:  # noqa: BLE001 - one unreadable file must not cost the others
        warnings.warn(f"nnexp plots: could not read the run's {what}: {type(exc).__name__}: {exc}",
                      stacklevel=3)
        return None


def read_epochs(folder: Path):
    """``stats/epochs.parquet`` as a DataFrame indexed by epoch, or None when absent."""
    import pandas as pd

    path = Path(folder) / EPOCHS_FILE
    if not path.exists():
        return None
    frame = pd.read_parquet(path)
    if "epoch" in frame.columns:
        frame = frame.set_index("epoch")
    return frame


def read_steps(folder: Path, wanted=STEP_COLUMNS):
    """The run's per-step table (parquet preferred over CSV) as :func:`read_table` reads
    it, or None when there is none."""
    folder = Path(folder)
    path = next((folder / f for f in STEPS_FILES if (folder / f).exists()), None)
    return None if path is None else read_table(path, wanted)


def read_table(path, wanted=STEP_COLUMNS):
    """A per-step table file (``.parquet`` or ``.csv``) indexed by ``step``, with only the
    columns named in ``wanted`` or starting with one of its prefixes (those ending in ``/``)."""
    import pandas as pd

    path = Path(path)
    columns = [c for c in _column_names(path) if c == "step" or _wanted(c, wanted)]
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path, columns=columns)
    else:
        frame = pd.read_csv(path, usecols=columns)
    return frame.set_index("step") if "step" in frame.columns else frame


def _wanted(column: str, wanted) -> bool:
    return any(column == w or (w.endswith("/") and column.startswith(w)) for w in wanted)


def _column_names(path: Path) -> list[str]:
    """A table's column names from its schema (parquet) or header line (CSV), no data read."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    with open(path, encoding="utf-8") as f:
        return f.readline().strip().split(",")


def read_grad_hist(folder: Path) -> dict | None:
    """The arrays of ``stats/grad_hist.npz`` (no pickle), or None when absent or empty."""
    path = Path(folder) / GRAD_HIST_FILE
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return arrays if len(arrays.get("steps", ())) else None


def load_network(folder: Path, registry=None):
    """The network of ``model.npz``, or None when absent."""
    from nnexp.network import Network

    path = Path(folder) / "model.npz"
    return Network.load(path, registry=registry_or_default(registry)) if path.exists() else None


def rebuild_dataset(folder: Path, registry=None):
    """The dataset of ``config.yaml``'s ``dataset`` section (its seed included, so the same
    splits), built through the registry; None when there is no config."""
    from omegaconf import OmegaConf

    path = Path(folder) / "config.yaml"
    if not path.exists():
        return None
    config = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    spec = config.get("dataset") if isinstance(config, dict) else None
    return registry_or_default(registry).create("dataset", spec) if spec else None
