"""Activations: mish and snake (smooth, periodic) and PReLU (a learnable negative slope).

All are element-wise :class:`nnexp.Activation` subclasses. ``f`` and ``df`` define the maths
(the conformance kit checks ``df`` against finite differences of ``f``); ``forward``/``backward``
cache what the derivative needs so a training step computes each transcendental function once.

PReLU has a parameter, so it also builds like a layer (``build`` creates ``params["alpha"]``,
``backward`` fills ``grads["alpha"]``). It is registered as an *activation* all the same:
users pick it where they pick activations (``model.activation=prelu``, the MLP shorthand's
``activation=``), and nnexp treats an activation as a layer, so its parameter is trained, saved
and gradient-checked like any other.
"""

from __future__ import annotations

import numpy as np

from nnexp import Activation, hookimpl
from nnexp.optim import check_range


def softplus(z: np.ndarray) -> np.ndarray:
    """``log(1 + e^z)`` without overflow: ``max(z, 0) + log1p(e^-|z|)``."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + e^-z)`` without overflow (exp of a non-positive number only)."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


class Mish(Activation):
    """Mish (Misra, 2019): ``f(z) = z · tanh(softplus(z))``;
    ``f'(z) = tanh(sp) + z · (1 - tanh(sp)²) · σ(z)`` with ``sp = softplus(z)``, since
    ``d softplus/dz = σ(z)``. Smooth, non-monotonic, unbounded above, bounded below (≈ -0.31).
    """

    def f(self, z):
        return z * np.tanh(softplus(z))

    def df(self, z):
        return self._df(z, np.tanh(softplus(z)))

    @staticmethod
    def _df(z, t):
        return t + z * (1 - t * t) * sigmoid(z)

    def forward(self, x, training=False):
        self._z, self._t = x, np.tanh(softplus(x))
        return x * self._t

    def backward(self, grad_out):
        return grad_out * self._df(self._z, self._t)


class Snake(Activation):
    """Snake (Ziyin, Hartwig & Ueda, 2020), for periodic signals:
    ``f(z) = z + sin²(a z) / a``; ``f'(z) = 1 + 2 sin(a z) cos(a z) = 1 + sin(2 a z)``.

    ``frequency`` (``a`` > 0) sets the period ``π / a`` of the wiggle around the identity;
    small ``a`` behaves like ``z + a z²``, large ``a`` like the identity.
    """

    check_options = {"frequency": 2.0}

    def __init__(self, frequency: float = 1.0):
        super().__init__()
        self.frequency = float(check_range("snake frequency", frequency, 0, low_open=True))

    def f(self, z):
        s = np.sin(self.frequency * z)
        return z + s * s / self.frequency

    def df(self, z):
        return 1 + np.sin(2 * self.frequency * z)


class PReLU(Activation):
    """Parametric ReLU (He et al., 2015): ``f(z) = z if z > 0 else α z`` with a learnable slope
    ``α`` per feature (the last axis), or one ``α`` for all features with ``shared=True``
    (torch's default); ``α`` starts at ``init``.

    ``f'(z) = 1 if z > 0 else α`` (α's side at ``z = 0``, as ReLU's 0), and
    ``dL/dα = Σ g · min(z, 0)`` over the batch (and over features when shared).
    Shapes: z ``(batch, ..., features)`` -> same; ``α`` is ``(features,)`` or ``(1,)``.
    """

    kinks = (0.0,)

    def __init__(self, init: float = 0.25, shared: bool = False):
        super().__init__()
        self.init, self.shared = float(init), bool(shared)

    def build(self, input_shape, ctx):
        n = 1 if self.shared else int(input_shape[-1])
        self.params = {"alpha": np.full((n,), self.init, dtype=ctx.dtype)}
        self.grads = {"alpha": np.zeros_like(self.params["alpha"])}
        return tuple(input_shape)

    def f(self, z):
        return np.where(z > 0, z, z * self.params["alpha"])

    def df(self, z):
        return np.where(z > 0, 1, self.params["alpha"]).astype(z.dtype)

    def forward(self, x, training=False):
        self._z, self._pos = x, x > 0
        return np.where(self._pos, x, x * self.params["alpha"])

    def backward(self, grad_out):
        batch_axes = tuple(range(grad_out.ndim - 1))
        d_alpha = np.sum(grad_out * np.where(self._pos, 0, self._z), axis=batch_axes)
        self.grads["alpha"][...] = d_alpha.sum(keepdims=True) if self.shared else d_alpha
        return np.where(self._pos, grad_out, grad_out * self.params["alpha"])


@hookimpl
def register_activations(register):
    register("mish", Mish)
    register("snake", Snake)
    register("prelu", PReLU)
