"""scikit-learn's bundled datasets and generators as nnexp datasets.

Every factory is ``factory(seed=0, **options) -> nnexp.Dataset`` and splits through
:func:`nnexp.data.make_splits` (seeded shuffle into train/validation/test, standardisation
with the training split's statistics, one-hot targets). Options common to all:
``val_fraction=0.2``, ``test_fraction=0.2``, ``standardize=True``, ``one_hot=True``
(``one_hot=False`` gives one 0/1 column for the binary ones, for a sigmoid output).

scikit-learn is imported only when a dataset is built, so installing this plugin does not slow
down nnexp's start-up. ``digits`` reads scikit-learn's bundled CSV directly (~10 ms instead of
the ~1 s ``import sklearn`` costs), falling back to ``sklearn.datasets.load_digits``.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

from nnexp import hookimpl
from nnexp.data import make_splits
from nnexp.optim import check_int, check_range

#: dataset name -> scikit-learn loader, for the bundled tables read through scikit-learn.
LOADERS = {
    "iris": "load_iris",
    "wine": "load_wine",
    "breast_cancer": "load_breast_cancer",
}


def _split(name, X, y, seed, *, val_fraction, test_fraction, standardize, one_hot,
           classes=None, feature_names=None):
    return make_splits(X, y, name=name, seed=seed, val_fraction=val_fraction,
                       test_fraction=test_fraction, standardize=standardize,
                       one_hot_targets=one_hot, classes=classes, feature_names=feature_names)


def _sklearn_data_file(filename: str) -> Path | None:
    """Path of a file in ``sklearn/datasets/data`` found without importing scikit-learn."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / filename
    return path if path.is_file() else None


@functools.cache
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 digit images as ``(1797, 64)`` pixel intensities 0..16 and labels ``(1797,)``."""
    path = _sklearn_data_file("digits.csv.gz")
    if path is None:  # a scikit-learn whose file layout changed: take the public loader
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.data, bunch.target
    table = np.loadtxt(path, delimiter=",")
    return table[:, :-1], table[:, -1].astype(int)


def digits(seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.2,
           standardize: bool = True, one_hot: bool = True):
    """Handwritten digits (UCI optdigits test set, bundled with scikit-learn): 1,797 images of
    8x8 pixels flattened to 64 features (row-major ``pixel_<row>_<col>``, intensity 0..16),
    10 classes ``"0"``..``"9"``."""
    X, y = _digits_arrays()
    names = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    return _split("digits", X, y, seed, val_fraction=val_fraction, test_fraction=test_fraction,
                  standardize=standardize, one_hot=one_hot,
                  classes=[str(d) for d in range(10)], feature_names=names)


def _bundled(name: str, doc: str):
    """A factory for the scikit-learn loader of ``name`` (``LOADERS``)."""

    def factory(seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.2,
                standardize: bool = True, one_hot: bool = True):
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, LOADERS[name])()
        return _split(name, bunch.data, bunch.target, seed, val_fraction=val_fraction,
                      test_fraction=test_fraction, standardize=standardize, one_hot=one_hot,
                      classes=[str(c) for c in bunch.target_names],
                      feature_names=[str(f) for f in bunch.feature_names])

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = doc
    return factory


iris = _bundled("iris", """Fisher's iris: 150 flowers, 4 measurements in cm (sepal and petal
    length and width), 3 classes (setosa, versicolor, virginica), 50 each.""")
wine = _bundled("wine", """UCI wine recognition: 178 wines from three cultivars, 13 chemical
    measurements (alcohol, malic acid, ..., proline), 3 classes (class_0..class_2).""")
breast_cancer = _bundled("breast_cancer", """Wisconsin diagnostic breast cancer: 569 tumours,
    30 features of cell nuclei (mean, error and worst of 10 measurements), 2 classes
    (malignant 212, benign 357); ``one_hot=False`` gives one 0/1 column (1 = benign).""")


def sk_moons(seed: int = 0, n_samples: int = 1000, noise: float = 0.1, val_fraction: float = 0.2,
             test_fraction: float = 0.2, standardize: bool = True, one_hot: bool = True):
    """scikit-learn's ``make_moons``: two interleaving half circles in 2-D, 2 classes, Gaussian
    ``noise`` (standard deviation) added; points drawn with ``random_state=seed``."""
    from sklearn.datasets import make_moons

    X, y = make_moons(_n_samples("sk_moons", n_samples), noise=_noise("sk_moons", noise),
                      random_state=seed)
    return _split("sk_moons", X, y, seed, val_fraction=val_fraction, test_fraction=test_fraction,
                  standardize=standardize, one_hot=one_hot, feature_names=["x0", "x1"])


def sk_circles(seed: int = 0, n_samples: int = 1000, noise: float = 0.05, factor: float = 0.5,
               val_fraction: float = 0.2, test_fraction: float = 0.2, standardize: bool = True,
               one_hot: bool = True):
    """scikit-learn's ``make_circles``: a small circle (class 1, radius ``factor`` in (0, 1))
    inside a large one (class 0) in 2-D, Gaussian ``noise``; drawn with ``random_state=seed``."""
    from sklearn.datasets import make_circles

    check_range("sk_circles factor", factor, 0, 1, low_open=True, high_open=True)
    X, y = make_circles(_n_samples("sk_circles", n_samples), noise=_noise("sk_circles", noise),
                        factor=factor, random_state=seed)
    return _split("sk_circles", X, y, seed, val_fraction=val_fraction,
                  test_fraction=test_fraction, standardize=standardize, one_hot=one_hot,
                  feature_names=["x0", "x1"])


def _n_samples(name: str, n) -> int:
    return check_int(f"{name} n_samples", n, 10, "an integer >= 10")


def _noise(name: str, noise) -> float:
    return float(check_range(f"{name} noise", noise, 0))


@hookimpl
def register_datasets(register):
    register("digits", digits)
    register("iris", iris)
    register("wine", wine)
    register("breast_cancer", breast_cancer)
    register("sk_moons", sk_moons)
    register("sk_circles", sk_circles)
