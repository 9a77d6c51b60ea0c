"""Misspells a hook name: ``register_activation`` (the hook is ``register_activations``)."""

import numpy as np

from nnexp import Activation, hookimpl


class Double(Activation):
    """``f(z) = 2z``; ``f'(z) = 2``."""

    def f(self, z):
        return 2 * z

    def df(self, z):
        return np.full_like(z, 2.0)


@hookimpl
def register_activation(register):
    register("misspelled_double", Double)
