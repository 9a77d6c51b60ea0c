"""Registers names others have: 'relu' and 'mse' (nnexp's built-ins) and 'fixture_twin' (also
registered by nnexp-fixture-twin), and 'fixture_cube' of its own. Its relu and mse say on stderr
when they are built, so a test can see which provider a name reached."""

import sys

import numpy as np

from nnexp import Activation, Loss, hookimpl


class ReLUAgain(Activation):
    """``f(z) = max(z, 0)``; ``f'(z) = 1 if z > 0 else 0``."""

    kinks = (0.0,)

    def __init__(self):
        super().__init__()
        print("nnexp-fixture-duplicate: relu built", file=sys.stderr)

    def f(self, z):
        return np.maximum(z, 0)

    def df(self, z):
        return (z > 0).astype(z.dtype)


class MSEAgain(Loss):
    """``L = mean (ŷ - y)²``. Reduction: mean over batch and outputs."""

    def __init__(self):
        print("nnexp-fixture-duplicate: mse built", file=sys.stderr)

    def forward(self, y_pred, y_true, from_logits=False):
        self._diff = y_pred - y_true
        return float((self._diff * self._diff).mean())

    def backward(self):
        return self._diff * (2.0 / self._diff.size)


class Cube(Activation):
    """``f(z) = z³ / 3``; ``f'(z) = z²``."""

    def f(self, z):
        return z ** 3 / 3

    def df(self, z):
        return z * z


class Twin(Activation):
    """``f(z) = 2 z``; ``f'(z) = 2``."""

    def f(self, z):
        return 2 * z

    def df(self, z):
        return np.full_like(z, 2)


@hookimpl
def register_activations(register):
    register("relu", ReLUAgain)
    register("fixture_cube", Cube)
    register("fixture_twin", Twin)


@hookimpl
def register_losses(register):
    register("mse", MSEAgain)
