"""Optimizer and Schedule base classes: the optimizer owns every parameter update."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnexp.base import default_config
from nnexp.errors import ConfigError


def check_range(where: str, value, low=None, high=None, *, low_open=False, high_open=False,
                allow_inf: bool = False):
    """Raise :class:`ConfigError` unless ``low (<|<=) value (<|<=) high``; return the value.
    NaN is always refused, and so is an infinity unless ``allow_inf``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    ok = v == v and (allow_inf or abs(v) != float("inf"))
    if ok and low is not None:
        ok = v > low if low_open else v >= low
    if ok and high is not None:
        ok = v < high if high_open else v <= high
    if not ok:
        lo = "" if low is None else f"{low} {'<' if low_open else '<='} "
        hi = "" if high is None else f" {'<' if high_open else '<='} {high}"
        finite = "finite " if abs(v) == float("inf") else ""
        raise ConfigError(where, value, f"a {finite}number with {lo}value{hi}" if lo or hi
                          else f"a {finite}number")
    return value


def check_int(where: str, value, low: int = 1, expected: str | None = None) -> int:
    """``value`` as an int ``>= low`` (bools and floats refused), or a :class:`ConfigError`
    naming ``where`` and what is ``expected`` (default: "a whole number >= low")."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(where, value, expected or f"a whole number >= {low}")
    return int(value)


#: Seeds numpy's generators take: any whole number >= 0 (SeedSequence); kept below 2**64 so
#: a seed fits every integer type a plugin or a store may hold it in.
SEED_RANGE = (0, 2**64 - 1)


def check_seed(where: str, seed) -> int:
    """``seed`` as an int numpy's random generators take, or a :class:`ConfigError` with the range."""
    low, high = SEED_RANGE
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not low <= seed <= high:
        raise ConfigError(where, seed, f"a whole number with {low} <= value <= 2**64-1 "
                                       "(numpy's random generators take non-negative seeds)")
    return int(seed)


class Optimizer:
    """Updates parameters in place from their gradients.

    Subclasses define :meth:`update`. ``lr`` is read at every step so schedules can set it;
    ``weight_decay`` is the L2 penalty torch.optim adds to the gradient (``g + wd * p``)
    unless the subclass documents decoupled decay.
    """

    def __init__(self, lr: float = 0.01, weight_decay: float = 0.0):
        self.lr = check_range(f"{type(self).__name__.lower()} lr", lr, 0, low_open=True)
        #: The learning rate asked for; schedules scale from it (``lr`` is the current one).
        self.initial_lr = self.lr
        self.weight_decay = check_range("weight_decay", weight_decay, 0)
        self.t = 0
        self.state: dict[str, dict[str, Any]] = {}
        self._refs: list = []

    def bind(self, network) -> Optimizer:
        """Attach to a network's parameters; state is kept per parameter name.

        Binding starts afresh: empty state and step count 0 (Adam's bias correction needs both)."""
        self._refs = network.param_refs()
        self.state = {name: {} for name, _, _ in self._refs}
        self.t = 0
        return self

    def step(self) -> None:
        """Apply one update to every bound parameter from its current gradient."""
        self.t += 1
        state = self.state
        for name, layer, key in self._refs:
            self.update(layer.params[key], layer.grads[key], state[name])

    def update(self, param: np.ndarray, grad: np.ndarray, state: dict) -> None:
        raise NotImplementedError

    def decayed(self, param: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """``grad + weight_decay * param`` (torch's L2 form), without copying when wd is 0."""
        return grad + self.weight_decay * param if self.weight_decay else grad

    def config(self) -> dict[str, Any]:
        return default_config(self)

    def __repr__(self):
        opts = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({opts})"


class Schedule:
    """A learning-rate schedule: ``lr_at(epoch, base_lr, epochs)``, epoch counting from 0."""

    def lr_at(self, epoch: int, base_lr: float, epochs: int) -> float:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        return default_config(self)
