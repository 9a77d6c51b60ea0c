"""Built-in weight initializers (more come from the catalogue work)."""

from __future__ import annotations

import numpy as np

from nnexp.hookspecs import hookimpl


def zeros():
    """All zeros (the default for biases)."""
    return lambda shape, fan_in, fan_out, rng, dtype: np.zeros(shape, dtype=dtype)


def xavier_uniform(gain: float = 1.0):
    """Glorot/Xavier uniform: ``U(-a, a)``, ``a = gain · sqrt(6 / (fan_in + fan_out))``."""
    def init(shape, fan_in, fan_out, rng, dtype):
        a = gain * np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-a, a, size=shape).astype(dtype)
    return init


@hookimpl
def register_initializers(register):
    register("zeros", zeros)
    register("xavier_uniform", xavier_uniform, aliases=("glorot_uniform",))
