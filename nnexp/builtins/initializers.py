"""Built-in weight initializers, with torch.nn.init's formulas and gains.

Each factory returns ``init(shape, fan_in, fan_out, rng, dtype)``, drawing only from ``rng``.
The layer gives the fans: a dense ``W`` of shape ``(n_out, n_in)`` has ``fan_in = n_in`` and
``fan_out = n_out``. Normal draws are not truncated (as torch, unlike Keras).

Default: dense layers use ``xavier_uniform`` whatever the activation (Keras's default too).
It was kept over "he for relu" on purpose: one predictable default that does not change when
an activation is swapped, and for the shallow MLPs nnexp targets Glorot scaling trains relu
nets fine. Deep relu stacks should ask for ``init="he_uniform"`` (``Network(..., init=...)``).
"""

from __future__ import annotations

import math

import numpy as np

from nnexp.errors import ConfigError, UnknownComponentError
from nnexp.hookspecs import hookimpl
from nnexp.optim import check_range

#: torch.nn.init.calculate_gain, for the nonlinearities it knows (``a`` is leaky_relu's slope).
GAINS = {
    "linear": lambda a: 1.0,
    "identity": lambda a: 1.0,
    "sigmoid": lambda a: 1.0,
    "tanh": lambda a: 5.0 / 3,
    "relu": lambda a: math.sqrt(2.0),
    "leaky_relu": lambda a: math.sqrt(2.0 / (1 + a * a)),
    "selu": lambda a: 3.0 / 4,
}
MODES = ("fan_in", "fan_out")


def calculate_gain(nonlinearity: str, a: float = 0.01) -> float:
    """The recommended gain for ``nonlinearity`` (torch.nn.init.calculate_gain)."""
    if nonlinearity not in GAINS:
        raise UnknownComponentError("initializer nonlinearity", nonlinearity, GAINS, hint="")
    return GAINS[nonlinearity](a)


def _uniform(bound: float):
    return lambda shape, rng, dtype: rng.uniform(-bound, bound, size=shape).astype(dtype)


def _normal(std: float, mean: float = 0.0):
    return lambda shape, rng, dtype: rng.normal(mean, std, size=shape).astype(dtype)


def _scaled(scale, draw):
    """An init whose scale depends on the fans: ``draw(scale(fan_in, fan_out))``."""
    def init(shape, fan_in, fan_out, rng, dtype):
        return draw(scale(fan_in, fan_out))(shape, rng, dtype)
    return init


def _fixed(draw):
    """An init that ignores the fans."""
    return lambda shape, fan_in, fan_out, rng, dtype: draw(shape, rng, dtype)


def _documented(variance, mean=None):
    """Attach the documented spread of an initializer's draws (``check_variance``,
    ``check_mean``, each ``(fan_in, fan_out, **options) -> float``) for the conformance kit."""
    def mark(factory):
        factory.check_variance = variance
        if mean is not None:
            factory.check_mean = mean
        return factory
    return mark


def _fan(fan_in: int, fan_out: int, mode: str) -> int:
    return fan_in if mode == "fan_in" else fan_out


@_documented(lambda fan_in, fan_out: 0.0)
def zeros():
    """All zeros (the default for biases)."""
    return constant(0.0)


@_documented(lambda fan_in, fan_out: 0.0, mean=lambda fan_in, fan_out: 1.0)
def ones():
    """All ones."""
    return constant(1.0)


@_documented(lambda fan_in, fan_out, value=0.0: 0.0, mean=lambda fan_in, fan_out, value=0.0: value)
def constant(value: float = 0.0):
    """Every element equal to ``value``."""
    check_range("constant initializer value", value)
    return _fixed(lambda shape, rng, dtype: np.full(shape, value, dtype=dtype))


@_documented(lambda fan_in, fan_out, std=0.05, mean=0.0: std * std,
             mean=lambda fan_in, fan_out, std=0.05, mean=0.0: mean)
def normal(std: float = 0.05, mean: float = 0.0):
    """``N(mean, std²)``; defaults as Keras's RandomNormal."""
    check_range("normal initializer std", std, 0)
    check_range("normal initializer mean", mean)
    return _fixed(_normal(std, mean))


@_documented(lambda fan_in, fan_out, a=0.05: a * a / 3)
def uniform(a: float = 0.05):
    """``U(-a, a)``; default as Keras's RandomUniform."""
    check_range("uniform initializer a", a, 0)
    return _fixed(_uniform(a))


@_documented(lambda fan_in, fan_out, gain=1.0: gain * gain * 2 / (fan_in + fan_out))
def xavier_uniform(gain: float = 1.0):
    """Glorot/Xavier uniform: ``U(-b, b)``, ``b = gain · sqrt(6 / (fan_in + fan_out))``."""
    check_range("xavier_uniform gain", gain, 0)
    return _scaled(lambda fi, fo: gain * math.sqrt(6.0 / (fi + fo)), _uniform)


@_documented(lambda fan_in, fan_out, gain=1.0: gain * gain * 2 / (fan_in + fan_out))
def xavier_normal(gain: float = 1.0):
    """Glorot/Xavier normal: ``N(0, std²)``, ``std = gain · sqrt(2 / (fan_in + fan_out))``."""
    check_range("xavier_normal gain", gain, 0)
    return _scaled(lambda fi, fo: gain * math.sqrt(2.0 / (fi + fo)), _normal)


def _kaiming_std(name: str, a: float, mode: str, nonlinearity: str):
    check_range(f"{name} a", a)
    if mode not in MODES:
        raise ConfigError(f"{name} mode", mode, " or ".join(MODES))
    gain = calculate_gain(nonlinearity, a)
    return lambda fi, fo: gain / math.sqrt(_fan(fi, fo, mode))


def _he_variance(fan_in, fan_out, a=0.0, mode="fan_in", nonlinearity="relu"):
    return calculate_gain(nonlinearity, a) ** 2 / _fan(fan_in, fan_out, mode)


@_documented(_he_variance)
def he_uniform(a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "relu"):
    """He/Kaiming uniform: ``U(-b, b)``, ``b = gain · sqrt(3 / fan)`` with fan = fan_in (or
    fan_out by ``mode``) and gain = ``calculate_gain(nonlinearity, a)`` (sqrt(2) for relu)."""
    std = _kaiming_std("he_uniform", a, mode, nonlinearity)
    return _scaled(lambda fi, fo: math.sqrt(3.0) * std(fi, fo), _uniform)


@_documented(_he_variance)
def he_normal(a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "relu"):
    """He/Kaiming normal: ``N(0, std²)``, ``std = gain / sqrt(fan)`` (see :func:`he_uniform`)."""
    return _scaled(_kaiming_std("he_normal", a, mode, nonlinearity), _normal)


@_documented(lambda fan_in, fan_out: 1 / fan_in)
def lecun_uniform():
    """LeCun uniform: ``U(-b, b)``, ``b = sqrt(3 / fan_in)`` (unit variance for selu nets)."""
    return _scaled(lambda fi, fo: math.sqrt(3.0 / fi), _uniform)


@_documented(lambda fan_in, fan_out: 1 / fan_in)
def lecun_normal():
    """LeCun normal: ``N(0, 1 / fan_in)``."""
    return _scaled(lambda fi, fo: 1.0 / math.sqrt(fi), _normal)


@hookimpl
def register_initializers(register):
    register("zeros", zeros)
    register("ones", ones)
    register("constant", constant)
    register("normal", normal)
    register("uniform", uniform)
    register("xavier_uniform", xavier_uniform, aliases=("glorot_uniform",))
    register("xavier_normal", xavier_normal, aliases=("glorot_normal",))
    register("he_uniform", he_uniform, aliases=("kaiming_uniform",))
    register("he_normal", he_normal, aliases=("kaiming_normal",))
    register("lecun_uniform", lecun_uniform)
    register("lecun_normal", lecun_normal, aliases=("lecun",))
