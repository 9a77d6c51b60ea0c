"""Registers 'relu', which nnexp already has, and a component of its own that stays usable."""

import numpy as np

from nnexp import Activation, hookimpl


class ReLUAgain(Activation):
    """``f(z) = max(z, 0)``; ``f'(z) = 1 if z > 0 else 0``."""

    def f(self, z):
        return np.maximum(z, 0)

    def df(self, z):
        return (z > 0).astype(z.dtype)


class Cube(Activation):
    """``f(z) = z³ / 3``; ``f'(z) = z²``."""

    def f(self, z):
        return z ** 3 / 3

    def df(self, z):
        return z * z


@hookimpl
def register_activations(register):
    register("relu", ReLUAgain)
    register("fixture_cube", Cube)
