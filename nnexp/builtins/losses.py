"""Built-in losses (more come from the catalogue work)."""

from __future__ import annotations

from nnexp.base import Loss
from nnexp.hookspecs import hookimpl


class MSE(Loss):
    """Mean squared error: ``L = mean over every element of (y - ŷ)²`` (as PyTorch's
    ``MSELoss`` and Keras). Reduction: mean over batch and over outputs.
    ``dL/dŷ = 2 (ŷ - y) / (batch * outputs)``."""

    def forward(self, y_pred, y_true, from_logits=False):
        self._diff = y_pred - y_true
        return float((self._diff * self._diff).mean())

    def backward(self):
        return self._diff * (2.0 / self._diff.size)


class HalfSquaredError(Loss):
    """The tutorial's loss: ``L = ½ Σ_outputs (y - ŷ)²`` per sample.
    Reduction: sum over outputs, mean over batch. ``dL/dŷ = (ŷ - y) / batch``."""

    def forward(self, y_pred, y_true, from_logits=False):
        self._diff = y_pred - y_true
        return float(0.5 * (self._diff * self._diff).sum() / len(y_pred))

    def backward(self):
        return self._diff / len(self._diff)


@hookimpl
def register_losses(register):
    register("mse", MSE)
    register("half_squared_error", HalfSquaredError, aliases=("half_sse",))
