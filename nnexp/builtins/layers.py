"""Built-in layers: dense (more come from the catalogue work)."""

from __future__ import annotations

import numpy as np

from nnexp.base import Layer
from nnexp.errors import ShapeError
from nnexp.hookspecs import hookimpl
from nnexp.optim import check_range


class Dense(Layer):
    """Fully connected: ``z = x Wᵀ + b`` with ``W`` of shape ``(units, n_in)`` (the tutorial's
    orientation, one row per neuron) and ``b`` of shape ``(units,)``.

    Shapes: x ``(batch, n_in)`` -> z ``(batch, units)``.
    Backward: ``dL/dW = δᵀ x``, ``dL/db = Σ_batch δ``, ``dL/dx = δ W`` where δ = dL/dz.
    """

    def __init__(self, units: int, init=None, bias_init="zeros", use_bias: bool = True):
        super().__init__()
        self.units, self.init, self.bias_init, self.use_bias = units, init, bias_init, use_bias

    def build(self, input_shape, ctx):
        if not isinstance(self.units, (int, np.integer)) or isinstance(self.units, bool):
            check_range("dense units", self.units, float("inf"))  # always fails: not an integer
        check_range("dense units", self.units, 1)
        if len(input_shape) != 1:
            raise ShapeError(f"dense expects input of shape (batch, features), got (batch, "
                             f"{', '.join(map(str, input_shape))}); add a flatten layer first.")
        n_in, n_out = input_shape[0], int(self.units)
        self.params = {"W": ctx.init(self.init, (n_out, n_in), n_in, n_out)}
        if self.use_bias:
            self.params["b"] = ctx.init(self.bias_init, (n_out,), n_in, n_out)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        return (n_out,)

    def forward(self, x, training=False):
        self._x = x
        z = x @ self.params["W"].T
        if self.use_bias:
            z += self.params["b"]
        return z

    def backward_params(self, grad_out):
        np.matmul(grad_out.T, self._x, out=self.grads["W"])
        if self.use_bias:
            np.sum(grad_out, axis=0, out=self.grads["b"])

    def backward(self, grad_out):
        self.backward_params(grad_out)
        return grad_out @ self.params["W"]


@hookimpl
def register_layers(register):
    register("dense", Dense, aliases=("linear",))
