"""Registers an activation whose derivative is wrong: ``1 - tanh(z)`` instead of ``1 - tanh²(z)``.

It loads and trains without complaint; only the gradient check (``nnexp check``) can tell.
"""

import numpy as np

from nnexp import Activation, hookimpl


class BadTanh(Activation):
    """``f(z) = tanh(z)``; claims ``f'(z) = 1 - tanh(z)`` (wrong: the square is missing)."""

    def f(self, z):
        return np.tanh(z)

    def df(self, z):
        return 1 - np.tanh(z)


@hookimpl
def register_activations(register):
    register("bad_tanh", BadTanh)
