"""Dataset helpers shared by dataset plugins: seeded splits, standardisation, one-hot."""

from __future__ import annotations

import numpy as np

from nnexp.base import Dataset
from nnexp.errors import ConfigError, DataError
from nnexp.optim import check_range


def one_hot(labels: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """Integer labels ``(n,)`` -> one-hot ``(n, n_classes)`` float64."""
    labels = np.asarray(labels).astype(int).ravel()
    n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
    out = np.zeros((len(labels), n_classes))
    out[np.arange(len(labels)), labels] = 1.0
    return out


def make_splits(X, y, *, name: str, seed: int = 0, task: str = "classification",
                val_fraction: float = 0.2, test_fraction: float = 0.2, standardize: bool = True,
                one_hot_targets: bool = True, classes=None, feature_names=None) -> Dataset:
    """Shuffle with ``seed`` and split into train/validation/test.

    ``y`` for classification is integer class labels ``(n,)``; with ``one_hot_targets`` they
    become one-hot ``(n, n_classes)`` (two classes stay one 0/1 column only when
    ``one_hot_targets`` is False). Standardisation uses the training split's mean and
    standard deviation only, so no information leaks from validation or test.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    y = np.asarray(y)
    if len(X) != len(y):
        raise DataError(f"dataset {name!r}: X has {len(X)} rows but y has {len(y)}.")
    check_range(f"dataset {name!r} val_fraction", val_fraction, 0, 1, high_open=True)
    check_range(f"dataset {name!r} test_fraction", test_fraction, 0, 1, high_open=True)
    if val_fraction + test_fraction >= 1:
        raise ConfigError(f"dataset {name!r} val_fraction + test_fraction",
                          val_fraction + test_fraction, "less than 1")
    if task == "classification":
        labels = y.astype(int).ravel()
        n_classes = int(labels.max()) + 1
        y = one_hot(labels, n_classes) if one_hot_targets else labels.reshape(-1, 1).astype(np.float64)
        classes = list(classes) if classes is not None else [str(c) for c in range(n_classes)]
    elif task == "regression":
        y = y.astype(np.float64).reshape(len(y), -1)
        classes = []
    else:
        raise ConfigError(f"dataset {name!r} task", task, "'classification' or 'regression'")
    order = np.random.default_rng(seed).permutation(len(X))
    n_test = int(round(test_fraction * len(X)))
    n_val = int(round(val_fraction * len(X)))
    test, val, train = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    if len(train) == 0:
        raise DataError(f"dataset {name!r}: no samples left for training.")
    if standardize:
        mean, std = X[train].mean(axis=0), X[train].std(axis=0)
        X = (X - mean) / np.where(std > 0, std, 1.0)

    def part(idx) -> tuple[np.ndarray | None, np.ndarray | None]:
        return (X[idx], y[idx]) if len(idx) else (None, None)

    return Dataset(name, X[train], y[train], *part(val), *part(test), task=task,
                   classes=classes, feature_names=list(feature_names or []))
