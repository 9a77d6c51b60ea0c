"""nnexp-sklearn: scikit-learn's real datasets for nnexp, as a plugin package.

Datasets: ``digits`` (8x8 handwritten digits), ``iris``, ``wine``, ``breast_cancer`` and the
generators ``sk_moons`` and ``sk_circles`` (named apart from nnexp's numpy ``moons`` and
``circles``). nnexp finds them through the ``nnexp`` entry-point group; scikit-learn is a
dependency of this package only, never of nnexp.
"""

from nnexp_sklearn.datasets import breast_cancer, digits, iris, sk_circles, sk_moons, wine

__all__ = ["breast_cancer", "digits", "iris", "sk_circles", "sk_moons", "wine"]
