"""Optimizers and learning-rate schedules: Lion, and torch's polynomial decay."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nnexp import ConfigError, Optimizer, Schedule, hookimpl
from nnexp.optim import check_int, check_range


class Lion(Optimizer):
    """Lion (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms"), as the
    authors' and lucidrains' ``lion-pytorch`` implementations:
    ``c = β1 m + (1-β1) g``; ``θ ← θ (1 - lr λ) - lr sign(c)``; ``m ← β2 m + (1-β2) g``.

    Every step moves each weight by exactly ``lr`` (plus the decay), so Lion wants a 3-10x
    smaller lr than Adam and a 3-10x larger weight decay. The decay is decoupled (AdamW's).
    Defaults: ``lr=1e-4``, ``betas=(0.9, 0.99)``, ``weight_decay=0``.
    """

    decoupled = True
    check_options = {"lr": 0.01}  # for nnexp.testing: a step the quadratic check can see

    def __init__(self, lr: float = 1e-4, betas: Sequence[float] = (0.9, 0.99),
                 weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        if isinstance(betas, (str, bytes)) or not isinstance(betas, Sequence) or len(betas) != 2:
            raise ConfigError("lion betas", betas, "two numbers [beta1, beta2], each in [0, 1)")
        self.betas = tuple(float(check_range(f"lion betas[{i}]", b, 0, 1, high_open=True))
                           for i, b in enumerate(betas))

    def update(self, param, grad, state):
        b1, b2 = self.betas
        m = state.get("m")
        if m is None:
            m = state["m"] = np.zeros_like(param)
        step = state.get("step")
        if step is None:
            step = state["step"] = np.empty_like(param)
        np.multiply(m, b1, out=step)
        step += (1 - b1) * grad
        np.sign(step, out=step)
        if self.weight_decay:
            param *= 1 - self.lr * self.weight_decay
        param -= self.lr * step
        m *= b2
        m += (1 - b2) * grad

    def config(self):
        return {**super().config(), "betas": list(self.betas)}

    @staticmethod
    def check_reference(theta, grad, state, t, lr, betas, weight_decay):
        """The paper's Algorithm 2, line by line (for nnexp.testing's quadratic check)."""
        m = state.get("m", np.zeros_like(theta))
        c = betas[0] * m + (1 - betas[0]) * grad
        state["m"] = betas[1] * m + (1 - betas[1]) * grad
        return theta * (1 - lr * weight_decay) - lr * np.sign(c)


class Polynomial(Schedule):
    """torch's ``PolynomialLR``: ``lr = base_lr · (1 - min(epoch, T) / T)^power``, ``T`` =
    ``total_epochs`` (default: the run's epochs). ``power=1`` is a linear decay to 0 at ``T``."""

    check_points = {(0, 10): 1.0, (5, 10): 0.5, (10, 10): 0.0}  # (epoch, epochs) -> lr / base

    def __init__(self, power: float = 1.0, total_epochs: int | None = None):
        self.power = float(check_range("polynomial power", power, 0, low_open=True))
        self.total_epochs = None if total_epochs is None else check_int(
            "polynomial total_epochs", total_epochs, 1, "a whole number of epochs >= 1")

    def lr_at(self, epoch, base_lr, epochs):
        total = self.total_epochs or epochs
        return base_lr * (1 - min(epoch, total) / total) ** self.power


@hookimpl
def register_optimizers(register):
    register("lion", Lion)


@hookimpl
def register_schedules(register):
    register("polynomial", Polynomial, aliases=("poly",))
