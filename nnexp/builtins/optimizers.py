"""Built-in optimizers and schedules (more come from the catalogue work)."""

from __future__ import annotations

from nnexp.hookspecs import hookimpl
from nnexp.optim import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD``: ``θ ← θ - lr · g``."""

    def update(self, param, grad, state):
        param -= self.lr * self.decayed(param, grad)


@hookimpl
def register_optimizers(register):
    register("sgd", SGD)
