"""Built-in activations (more come from the catalogue work)."""

from __future__ import annotations

import numpy as np

from nnexp.base import Activation
from nnexp.hookspecs import hookimpl


class Identity(Activation):
    """``f(z) = z``; ``f'(z) = 1``."""

    def f(self, z):
        return z

    def df(self, z):
        return np.ones_like(z)

    def forward(self, x, training=False):
        return x

    def backward(self, grad_out):
        return grad_out


class ReLU(Activation):
    """``f(z) = max(z, 0)``; ``f'(z) = 1 if z > 0 else 0`` (0 at z = 0, as the tutorial)."""

    def f(self, z):
        return np.maximum(z, 0)

    def df(self, z):
        return (z > 0).astype(z.dtype)

    def forward(self, x, training=False):
        self._mask = x > 0
        return np.maximum(x, 0)

    def backward(self, grad_out):
        return grad_out * self._mask


class Sigmoid(Activation):
    """``σ(z) = 1 / (1 + e^-z)``; ``σ'(z) = σ(z)(1 - σ(z))``."""

    def f(self, z):
        # Stable for large |z|: exp of a non-positive number only.
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1 / (1 + e), e / (1 + e))

    def df(self, z):
        s = self.f(z)
        return s * (1 - s)

    def forward(self, x, training=False):
        self._a = self.f(x)
        return self._a

    def backward(self, grad_out):
        a = self._a
        return grad_out * a * (1 - a)


@hookimpl
def register_activations(register):
    register("identity", Identity, aliases=("linear",))
    register("relu", ReLU)
    register("sigmoid", Sigmoid)
