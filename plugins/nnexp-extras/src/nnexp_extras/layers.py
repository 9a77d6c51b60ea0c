"""Layers with parameters: maxout and a residual dense block."""

from __future__ import annotations

import numpy as np

from nnexp import Layer, ShapeError, hookimpl
from nnexp.optim import check_int


def _features(kind: str, input_shape) -> int:
    """The feature count of a ``(batch, features)`` input, or a ShapeError saying what fits."""
    if len(input_shape) != 1:
        shape = ", ".join(map(str, input_shape))
        raise ShapeError(f"{kind} expects input of shape (batch, features), got (batch, {shape}); "
                         "add a flatten layer first.")
    return int(input_shape[0])


def _count(where: str, value) -> int:
    """A positive integer option, or a ConfigError."""
    return check_int(where, value, 1, "a positive integer")


class Maxout(Layer):
    """Maxout (Goodfellow et al., 2013): ``units`` outputs, each the max of ``pieces`` affine maps,
    ``y_u = max_k (x W_kᵀ + b_k)_u``.

    Params: ``W`` ``(pieces, units, n_in)`` (each piece in the tutorial's ``(n_out, n_in)``
    orientation), ``b`` ``(pieces, units)``. Shapes: x ``(batch, n_in)`` -> ``(batch, units)``.
    Backward: the gradient flows only through the winning piece ``k*``:
    ``dL/dW_k* += gᵀ x``, ``dL/db_k* += Σ_batch g``, ``dL/dx = Σ_u g_u W_k*,u``.
    """

    check_options = {"units": 3, "pieces": 3}

    def __init__(self, units: int, pieces: int = 2, init=None, bias_init="zeros"):
        super().__init__()
        self.units, self.pieces, self.init, self.bias_init = units, pieces, init, bias_init

    def build(self, input_shape, ctx):
        n_in = _features("maxout", input_shape)
        units, pieces = _count("maxout units", self.units), _count("maxout pieces", self.pieces)
        self.params = {"W": ctx.init(self.init, (pieces, units, n_in), n_in, units),
                       "b": ctx.init(self.bias_init, (pieces, units), n_in, units)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        return (units,)

    def forward(self, x, training=False):
        W, b = self.params["W"], self.params["b"]
        k, u, n = W.shape
        z = (x @ W.reshape(k * u, n).T).reshape(len(x), k, u) + b
        self._x, self._win = x, z.argmax(axis=1)[:, None, :]  # (batch, 1, units)
        return np.take_along_axis(z, self._win, axis=1)[:, 0, :]

    def backward(self, grad_out):
        W = self.params["W"]
        k, u, n = W.shape
        delta = np.zeros((len(grad_out), k, u), dtype=grad_out.dtype)
        np.put_along_axis(delta, self._win, grad_out[:, None, :], axis=1)
        flat = delta.reshape(len(grad_out), k * u)
        self.grads["W"][...] = (flat.T @ self._x).reshape(k, u, n)
        self.grads["b"][...] = delta.sum(axis=0)
        return flat @ W.reshape(k * u, n)


class ResidualDense(Layer):
    """Residual dense block (He et al., 2016, fully connected):
    ``y = x + W2 φ(W1 x + b1) + b2`` with ``W1`` ``(hidden, n)``, ``W2`` ``(n, hidden)``.

    ``φ`` is any registered activation (``activation="relu"``, or a spec with options).
    Shapes: x ``(batch, n)`` -> ``(batch, n)`` (the skip connection keeps the width).
    Backward, with ``h = x W1ᵀ + b1``, ``a = φ(h)``, ``g = dL/dy``:
    ``dL/dW2 = gᵀ a``, ``dL/db2 = Σ g``, ``δ = (g W2) ⊙ φ'(h)``, ``dL/dW1 = δᵀ x``,
    ``dL/db1 = Σ δ``, ``dL/dx = g + δ W1``.
    """

    check_options = {"hidden": 4, "activation": "tanh"}

    def __init__(self, hidden: int | None = None, activation="relu", init=None):
        super().__init__()
        self.hidden, self.activation, self.init = hidden, activation, init

    def build(self, input_shape, ctx):
        n = _features("residual_dense", input_shape)
        hidden = n if self.hidden is None else _count("residual_dense hidden", self.hidden)
        registry = ctx.registry
        if registry is None:
            from nnexp import get_registry

            registry = get_registry()
        self._act = registry.create("activation", self.activation)
        self._act.build((hidden,), ctx)
        self.params = {"W1": ctx.init(self.init, (hidden, n), n, hidden),
                       "b1": np.zeros((hidden,), dtype=ctx.dtype),
                       "W2": ctx.init(self.init, (n, hidden), hidden, n),
                       "b2": np.zeros((n,), dtype=ctx.dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        return (n,)

    def forward(self, x, training=False):
        p = self.params
        self._x = x
        self._a = self._act.forward(x @ p["W1"].T + p["b1"], training)
        return x + self._a @ p["W2"].T + p["b2"]

    def backward(self, grad_out):
        p, g = self.params, self.grads
        np.matmul(grad_out.T, self._a, out=g["W2"])
        np.sum(grad_out, axis=0, out=g["b2"])
        delta = self._act.backward(grad_out @ p["W2"])
        np.matmul(delta.T, self._x, out=g["W1"])
        np.sum(delta, axis=0, out=g["b1"])
        return grad_out + delta @ p["W1"]


@hookimpl
def register_layers(register):
    register("maxout", Maxout)
    register("residual_dense", ResidualDense, aliases=("resdense",))
