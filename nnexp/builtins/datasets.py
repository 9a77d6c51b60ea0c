"""Built-in datasets: small synthetic problems in numpy, and CSV files through pandas.

Every factory is ``factory(seed=0, **options) -> nnexp.Dataset`` and shares the split
options of :func:`nnexp.data.make_splits` (``val_fraction``, ``test_fraction``,
``standardize``, ``one_hot``). ``seed`` draws both the samples and the split, so one seed
fixes the whole dataset.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from nnexp.data import make_splits
from nnexp.datasets_csv import load_csv
from nnexp.errors import ConfigError
from nnexp.explain import SPEC_PARAMS
from nnexp.hookspecs import hookimpl
from nnexp.optim import check_int, check_range


def _count(name: str, n) -> int:
    return check_int(f"dataset {name!r} n", n, 10, "a whole number of samples >= 10")


def _classification(name, X, labels, seed, classes, val_fraction, test_fraction, standardize,
                    one_hot):
    return make_splits(X, labels, name=name, seed=seed, val_fraction=val_fraction,
                       test_fraction=test_fraction, standardize=standardize,
                       one_hot_targets=one_hot, classes=classes, feature_names=["x1", "x2"])


def xor(seed: int = 0, n: int | None = None, noise: float | None = None, standardize: bool = False,
        one_hot: bool = True, val_fraction: float | None = None, test_fraction: float | None = None):
    """XOR. By default the four points of the truth table, which are the whole problem: there
    is no held-out data, so validation and test are the same four (training) points, a run
    says so, and ``noise``/``val_fraction``/``test_fraction`` (which would have no effect) are
    refused. With ``n``: ``n`` points drawn around the four corners with Gaussian ``noise``
    (default 0.1), labelled by their corner, split as usual (fractions default 0.2)."""
    if n is None:
        for key, value in (("noise", noise), ("val_fraction", val_fraction),
                           ("test_fraction", test_fraction)):
            if value is not None:
                raise ConfigError(f"dataset 'xor' {key}", value,
                                  "null: the truth table (dataset.n=null) has no noise and no "
                                  "held-out data; set dataset.n=N for N noisy points, split as usual")
        X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
        ds = make_splits(X, np.array([0, 1, 1, 0]), name="xor", seed=seed, val_fraction=0.0,
                         test_fraction=0.0, standardize=standardize, one_hot_targets=one_hot,
                         classes=["0", "1"], feature_names=["x1", "x2"])
        ds.X_val = ds.X_test = ds.X_train  # the same arrays: a run reports them as training data
        ds.y_val = ds.y_test = ds.y_train
        return ds
    noise = 0.1 if noise is None else noise
    val_fraction = 0.2 if val_fraction is None else val_fraction
    test_fraction = 0.2 if test_fraction is None else test_fraction
    n = _count("xor", n)
    check_range("dataset 'xor' noise", noise, 0)
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 2, size=(n, 2))
    X = corners + rng.normal(0.0, noise, size=(n, 2))
    return _classification("xor", X, corners[:, 0] ^ corners[:, 1], seed, ["0", "1"],
                           val_fraction, test_fraction, standardize, one_hot)


def spirals(seed: int = 0, n: int = 1000, noise: float = 0.03, turns: float = 1.5,
            standardize: bool = True, one_hot: bool = True, val_fraction: float = 0.2,
            test_fraction: float = 0.2):
    """Two interleaved spirals (the classic benchmark of Lang and Witbrock), ``n`` points.

    A point at angle ``θ`` has radius ``r = θ / (2π · turns)`` in ``[0, 1]``; class 1 is class 0
    turned by π. ``noise`` is the standard deviation of Gaussian noise in those radius units
    (the arms are ``1 / (2 · turns)`` apart)."""
    n = _count("spirals", n)
    check_range("dataset 'spirals' noise", noise, 0)
    check_range("dataset 'spirals' turns", turns, 0, low_open=True)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    # sqrt spreads points evenly along the arm rather than bunching them at the centre
    r = np.sqrt(rng.uniform(0.0025, 1.0, size=n))
    theta = r * 2 * np.pi * turns + np.pi * labels
    X = np.column_stack([r * np.cos(theta), r * np.sin(theta)]) + rng.normal(0, noise, (n, 2))
    return _classification("spirals", X, labels, seed, ["0", "1"], val_fraction, test_fraction,
                           standardize, one_hot)


def circles(seed: int = 0, n: int = 1000, noise: float = 0.08, factor: float = 0.5,
            standardize: bool = True, one_hot: bool = True, val_fraction: float = 0.2,
            test_fraction: float = 0.2):
    """Two concentric circles (as scikit-learn's ``make_circles``): class 0 on the unit circle,
    class 1 on a circle of radius ``factor``, with Gaussian ``noise``."""
    n = _count("circles", n)
    check_range("dataset 'circles' noise", noise, 0)
    check_range("dataset 'circles' factor", factor, 0, 1, low_open=True, high_open=True)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    angle = rng.uniform(0, 2 * np.pi, size=n)
    radius = np.where(labels == 1, factor, 1.0)
    X = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    X += rng.normal(0, noise, (n, 2))
    return _classification("circles", X, labels, seed, ["outer", "inner"], val_fraction,
                           test_fraction, standardize, one_hot)


def moons(seed: int = 0, n: int = 1000, noise: float = 0.1, standardize: bool = True,
          one_hot: bool = True, val_fraction: float = 0.2, test_fraction: float = 0.2):
    """Two interleaving half circles (as scikit-learn's ``make_moons``) with Gaussian ``noise``."""
    n = _count("moons", n)
    check_range("dataset 'moons' noise", noise, 0)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    t = rng.uniform(0, np.pi, size=n)
    X = np.where(labels[:, None] == 0,
                 np.column_stack([np.cos(t), np.sin(t)]),
                 np.column_stack([1 - np.cos(t), 0.5 - np.sin(t)]))
    X = X + rng.normal(0, noise, (n, 2))
    return _classification("moons", X, labels, seed, ["upper", "lower"], val_fraction,
                           test_fraction, standardize, one_hot)


def sine(seed: int = 0, n: int = 500, noise: float = 0.1, periods: float = 1.0,
         standardize: bool = True, val_fraction: float = 0.2, test_fraction: float = 0.2):
    """Noisy 1-D regression: ``x ~ U(-π·periods, π·periods)``, ``y = sin(x) + N(0, noise²)``."""
    n = _count("sine", n)
    check_range("dataset 'sine' noise", noise, 0)
    check_range("dataset 'sine' periods", periods, 0, low_open=True)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-np.pi * periods, np.pi * periods, size=n)
    y = np.sin(x) + rng.normal(0, noise, size=n)
    return make_splits(x.reshape(-1, 1), y, name="sine", seed=seed, task="regression",
                       val_fraction=val_fraction, test_fraction=test_fraction,
                       standardize=standardize, feature_names=["x"])


def tutorial(seed: int = 0, n: int = 200, noise: float = 0.0, standardize: bool = False,
             val_fraction: float = 0.2, test_fraction: float = 0.2):
    """The tutorial's 4 -> 3 toy regression: ``x ~ N(0, I₄)`` and targets in [0, 1] given by a
    fixed teacher, the tutorial's own network with SPEC.md's weights
    (``y = σ(W2 R(W1 x + b1) + b2)``), plus optional Gaussian ``noise`` (clipped to [0, 1]).
    A 4 -> 2 ReLU -> 3 sigmoid network can fit it exactly."""
    n = _count("tutorial", n)
    check_range("dataset 'tutorial' noise", noise, 0)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    W1, b1, W2, b2 = (np.array(SPEC_PARAMS[k]) for k in ("dense_0.W", "dense_0.b",
                                                          "dense_1.W", "dense_1.b"))
    z2 = np.maximum(X @ W1.T + b1, 0) @ W2.T + b2
    y = np.clip(1 / (1 + np.exp(-z2)) + rng.normal(0, noise, size=z2.shape), 0, 1)
    return make_splits(X, y, name="tutorial", seed=seed, task="regression",
                       val_fraction=val_fraction, test_fraction=test_fraction,
                       standardize=standardize, feature_names=[f"x{i}" for i in range(1, 5)])


# The conformance kit's examples (nnexp.testing): noisy XOR has proper splits (the truth
# table's validation and test splits are its training points, on purpose), and csv needs a file.
xor.check_options = {"n": 200}  # type: ignore[attr-defined]  # a function attribute


def csv_example() -> dict:
    """Options reading a small two-class CSV (60 rows, ``x1, x2, label``), written once to the
    temporary directory (atomically: parallel test workers may ask at once)."""
    path = Path(tempfile.gettempdir()) / "nnexp-check" / "two_blobs.csv"
    if not path.exists():
        rng = np.random.default_rng(0)
        labels = rng.integers(0, 2, size=60)
        X = rng.normal(size=(60, 2)) + 2.0 * labels[:, None]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        np.savetxt(tmp, np.column_stack([X, labels]), delimiter=",", header="x1,x2,label",
                   comments="", fmt=["%.6f", "%.6f", "%d"])
        os.replace(tmp, path)
    return {"path": str(path), "target": "label"}


load_csv.check_options = csv_example  # type: ignore[attr-defined]  # a function attribute


@hookimpl
def register_datasets(register):
    register("xor", xor)
    register("spirals", spirals, aliases=("two_spirals",))
    register("circles", circles)
    register("moons", moons)
    register("sine", sine)
    register("tutorial", tutorial)
    register("csv", load_csv)
