"""Conformance checks for datasets: splits and their sizes, dtypes, determinism by seed, no
sample in two splits, task and classes consistent with the targets.

``factory(seed=0, **options)`` returns an :class:`nnexp.Dataset`. The factory may declare
``check_options`` (a dict, or a function returning one): the options of a small example, for
datasets that are large, slow or need a file.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from nnexp.base import Dataset
from nnexp.testing import examples as ex
from nnexp.testing.checks import CheckFailure, require, require_same

#: Fractions the size check asks for when the factory takes them.
FRACTIONS: dict[str, Any] = {"val_fraction": 0.25, "test_fraction": 0.15}


def _build(component, seed: int = 0, **overrides) -> Dataset:
    data = ex.make(component, seed=seed, **overrides)
    require(isinstance(data, Dataset), f"the factory returned {type(data).__name__}, not nnexp.Dataset")
    return data


def _splits(data: Dataset) -> dict[str, tuple]:
    """The splits that exist, as ``name -> (X, y)``."""
    parts = {"train": (data.X_train, data.y_train), "val": (data.X_val, data.y_val),
             "test": (data.X_test, data.y_test)}
    return {k: (X, y) for k, (X, y) in parts.items() if X is not None or y is not None}


def splits(component, registry):
    """Splits are 2-D ``X (n, features)`` and ``y (n, outputs)`` with matching rows and widths
    (validation and test may be None), training is not empty, ``feature_names`` is empty or one
    per feature; with ``val_fraction``/``test_fraction`` options the sizes follow them."""
    data = _build(component)
    width = None
    for name, (X, y) in _splits(data).items():
        require(isinstance(X, np.ndarray) and isinstance(y, np.ndarray) and X.ndim == 2 and y.ndim == 2,
                f"{name}: X and y must be 2-D arrays (n, features) and (n, outputs), got "
                f"{getattr(X, 'shape', type(X).__name__)} and {getattr(y, 'shape', type(y).__name__)}")
        require(len(X) == len(y), f"{name}: X has {len(X)} rows, y has {len(y)}")
        width = width or (X.shape[1], y.shape[1])
        require((X.shape[1], y.shape[1]) == width, f"{name}: {X.shape[1]} features and {y.shape[1]} "
                                                   f"outputs; train has {width[0]} and {width[1]}")
    require(len(data.X_train) > 0, "the training split is empty")
    names = list(data.feature_names or [])
    require(not names or len(names) == data.n_features,
            f"{len(names)} feature_names for {data.n_features} features")
    if all(ex.declares(component.factory, k) for k in FRACTIONS):
        _split_sizes(component)


def _split_sizes(component) -> None:
    sized = _build(component, **FRACTIONS)
    sizes = {k: len(X) for k, (X, _) in _splits(sized).items()}
    total = sum(sizes.values())
    for key, name in (("val_fraction", "val"), ("test_fraction", "test")):
        want = FRACTIONS[key] * total
        require(abs(sizes.get(name, 0) - want) <= 1, f"with {key}={FRACTIONS[key]} the {name} split "
                                                     f"has {sizes.get(name, 0)} of {total} samples, expected ~{want:.0f}")


def dtypes(component, registry):
    """``X`` and ``y`` of every split are finite floating-point arrays (float32 or float64)."""
    for name, (X, y) in _splits(_build(component)).items():
        for what, arr in (("X", X), ("y", y)):
            require(arr.dtype in (np.float32, np.float64), f"{name} {what} is {arr.dtype}, expected float32/64")
            require(np.isfinite(arr).all(), f"{name} {what} holds NaN or inf")


def determinism(component, registry):
    """The same seed gives bitwise the same splits; another seed gives other ones (the seed
    reaches the shuffle: runs with different seeds see different splits)."""
    first, again, other = _build(component, seed=3), _build(component, seed=3), _build(component, seed=4)
    for (name, (X, y)), (_, (X2, y2)) in zip(_splits(first).items(), _splits(again).items()):
        require_same(f"{name} X built twice from seed 3", X2, X, exact=True)
        require_same(f"{name} y built twice from seed 3", y2, y, exact=True)
    require(not np.array_equal(first.X_train, other.X_train), "seeds 3 and 4 give the same training "
                                                              "split: the seed is not used")


def disjoint_splits(component, registry):
    """No sample is in two splits: rows of validation or test data found in training (or test
    rows in validation) count as leaked unless the dataset's own repeated rows explain them."""
    parts = {k: X for k, (X, _) in _splits(_build(component)).items()}
    counts = {k: Counter(r.tobytes() for r in np.ascontiguousarray(X)) for k, X in parts.items()}
    train = counts["train"]
    repeated = sum(n * (n - 1) // 2 for n in train.values())  # pairs of equal rows within train
    for name, other in (("val", "train"), ("test", "train"), ("test", "val")):
        if name not in counts or other not in counts:
            continue
        shared = sum(n * counts[other][row] for row, n in counts[name].items())
        # random splitting puts a pair of equal rows across two splits about as often as the
        # pairs within training predict: 2 |name| / |train| of them each
        expected = repeated * 2 * len(parts[name]) / len(parts["train"])
        if shared > 3 * expected + 2:
            raise CheckFailure(f"{shared} pair(s) of equal rows across the {name} and {other} splits "
                               f"(about {expected:.1f} expected from the rows repeated within training): "
                               "samples leak between splits")


def targets(component, registry):
    """``task`` is ``"classification"`` or ``"regression"`` and the targets agree: classification
    targets are 0/1 — one-hot rows with one column per class, or one 0/1 column for two classes
    — with at least two classes in training; regression has no ``classes``."""
    data = _build(component)
    require(data.task in ("classification", "regression"), f"task {data.task!r}: expected "
                                                           "'classification' or 'regression'")
    if data.task == "regression":
        require(not data.classes, f"a regression dataset with classes {data.classes}")
        return
    n_classes = len(data.classes)
    for name, (_, y) in _splits(data).items():
        require(np.isin(y, (0.0, 1.0)).all(), f"{name}: classification targets must be 0/1")
        if y.shape[1] > 1:
            require(y.shape[1] == n_classes, f"{name}: {y.shape[1]} target columns for {n_classes} classes")
            require((y.sum(axis=1) == 1).all(), f"{name}: one-hot rows must hold exactly one 1")
        else:
            require(n_classes == 2, f"{name}: one 0/1 target column needs 2 classes, got {n_classes}")
    y = data.y_train
    present = len(np.unique(y.argmax(axis=1) if y.shape[1] > 1 else y))
    require(present >= 2, f"only {present} class(es) in the training split")
