"""Imports fine, but its hook raises after registering one component (which must not stay)."""

import numpy as np

from nnexp import Activation, hookimpl


class Half(Activation):
    """``f(z) = z / 2``; ``f'(z) = 1/2``."""

    def f(self, z):
        return z / 2

    def df(self, z):
        return np.full_like(z, 0.5)


@hookimpl
def register_activations(register):
    register("raiser_half", Half)
    raise RuntimeError("could not read the plugin's weights file")
