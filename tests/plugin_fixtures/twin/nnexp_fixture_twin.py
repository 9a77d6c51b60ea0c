"""Registers 'fixture_twin' (nnexp-fixture-duplicate has one too: the bare name is ambiguous)
and 'twin_only', which stays usable by its bare name."""

import numpy as np

from nnexp import Activation, hookimpl


class Twin(Activation):
    """``f(z) = 3 z``; ``f'(z) = 3``."""

    def f(self, z):
        return 3 * z

    def df(self, z):
        return np.full_like(z, 3)


class TwinOnly(Activation):
    """``f(z) = z / 2``; ``f'(z) = 1/2``."""

    def f(self, z):
        return z / 2

    def df(self, z):
        return np.full_like(z, 0.5)


@hookimpl
def register_activations(register):
    register("fixture_twin", Twin)
    register("twin_only", TwinOnly)
