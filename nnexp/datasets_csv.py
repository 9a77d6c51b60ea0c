"""The ``csv`` dataset: a CSV file read with pandas, checked before any run is created.

Every problem with the file (missing, unreadable, a target column that does not exist,
non-numeric features, missing values) is one :class:`nnexp.DataError` naming the file, the
column and what is expected. pandas is imported only when a CSV is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nnexp.base import Dataset
from nnexp.data import make_splits
from nnexp.errors import ConfigError, DataError, did_you_mean

TASKS = ("classification", "regression")


def load_csv(seed: int = 0, path: str | None = None, target: str | Sequence[str] | None = None,
             task: str = "classification", features: Sequence[str] | None = None,
             standardize: bool = True, one_hot: bool = True, sep: str = ",",
             val_fraction: float = 0.2, test_fraction: float = 0.2) -> Dataset:
    """Load ``path`` with ``target`` column(s) as ``y`` and the other (or the ``features``)
    columns as ``X``. Classification takes one target column of any labels (sorted, as
    ``classes``); regression takes one or more numeric target columns."""
    if task not in TASKS:
        raise ConfigError("dataset 'csv' task", task, " or ".join(map(repr, TASKS)))
    if not path:
        raise ConfigError("dataset 'csv' path", path, "the path of a CSV file (dataset.path=...)")
    file = Path(path).expanduser()
    frame = _read(file, sep)  # a missing or unreadable file is the first thing to say
    targets = _as_list(target)
    if not targets:
        raise ConfigError("dataset 'csv' target", target, "the name of the target column(s) "
                          f"(dataset.target=...), one of: {', '.join(map(str, frame.columns))}")
    if task == "classification" and len(targets) > 1:
        raise ConfigError("dataset 'csv' target", target, "one column for classification")
    features = _as_list(features) or [c for c in frame.columns if c not in targets]
    if leaked := [c for c in features if c in targets]:
        raise ConfigError("dataset 'csv' features", features,
                          f"columns other than the target {', '.join(map(repr, leaked))}")
    for col in [*targets, *features]:
        _check_column(file, frame, col, role="target" if col in targets else "feature")
    if not features:
        raise DataError(f"{file}: no feature columns left besides the target {targets}.")
    for col in features:
        _check_numeric(file, frame[col], "feature")
    labels, classes = _targets(file, frame, targets, task)
    return make_splits(frame[features].to_numpy(np.float64), labels, name=file.stem, seed=seed,
                       task=task, val_fraction=val_fraction, test_fraction=test_fraction,
                       standardize=standardize, one_hot_targets=one_hot, classes=classes,
                       feature_names=[str(c) for c in features])


def _targets(file: Path, frame, targets: list[str], task: str):
    """(y, class names): integer labels for classification, numbers for regression."""
    if task == "classification":
        return _encode_labels(file, frame[targets[0]])
    for col in targets:
        _check_numeric(file, frame[col], "target")
    return frame[targets].to_numpy(np.float64), None


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _read(file: Path, sep: str):
    import pandas as pd

    if not file.is_file():
        raise DataError(f"CSV file {str(file)!r} does not exist (resolved to {file.resolve()}); "
                        "expected the path of a readable CSV file with a header row.")
    try:
        frame = pd.read_csv(file, sep=sep)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"CSV file {str(file)!r} could not be read: {exc}. Expected a CSV file "
                        f"with a header row and {sep!r} between columns.") from None
    if frame.empty:
        raise DataError(f"CSV file {str(file)!r} has a header but no data rows.")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _check_column(file: Path, frame, col: str, role: str) -> None:
    if col in frame.columns:
        return
    columns = list(frame.columns)
    msg = (f"CSV file {str(file)!r} has no {role} column {col!r}. "
           f"Columns: {', '.join(map(repr, columns))}.")
    guess = did_you_mean(col, columns)
    if guess:
        msg += f" Did you mean {guess!r}?"
    raise DataError(msg)


def _line(mask) -> int:
    """The file line (header is line 1) of the first row where ``mask`` holds."""
    return int(np.argmax(np.asarray(mask))) + 2


def _check_numeric(file: Path, column, role: str) -> None:
    import pandas as pd

    numeric = pd.to_numeric(column, errors="coerce")
    bad = numeric.isna() & column.notna()
    if bad.any():
        line = _line(bad)
        raise DataError(f"CSV file {str(file)!r}: {role} column {column.name!r} is not numeric "
                        f"(line {line} has {column[bad].iloc[0]!r}); expected numbers. Encode "
                        f"it as numbers, or leave it out with dataset.features=[...].")
    _check_missing(file, column, role)
    infinite = ~np.isfinite(numeric.to_numpy(np.float64))
    if infinite.any():
        line = _line(infinite)
        raise DataError(f"CSV file {str(file)!r}: {role} column {column.name!r} has an infinite "
                        f"value at line {line}; expected finite numbers.")


def _check_missing(file: Path, column, role: str) -> None:
    missing = column.isna()
    if missing.any():
        raise DataError(f"CSV file {str(file)!r}: {role} column {column.name!r} has "
                        f"{int(missing.sum())} missing value(s) (NaN), the first at line "
                        f"{_line(missing)}; expected a value in every row. Drop or "
                        "impute those rows first.")


def _encode_labels(file: Path, column) -> tuple[np.ndarray, list[str]]:
    """Class labels of any type -> integer codes in sorted label order, and the label names."""
    _check_missing(file, column, "target")
    values, codes = np.unique(column.to_numpy(), return_inverse=True)
    if len(values) < 2:
        raise DataError(f"CSV file {str(file)!r}: target column {column.name!r} has only one "
                        f"class ({values[0]!r}); classification needs at least two.")
    return codes.ravel(), [str(v) for v in values]
