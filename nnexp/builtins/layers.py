"""Built-in layers: dense, activation, dropout, batchnorm, layernorm.

Shapes: ``x`` is ``(batch, features)``. Hyperparameters are checked in ``build`` so a bad
value is reported with the layer's name and position (``dropout_0 (layer 2): ...``).
``check_options`` holds the options the conformance kit (:mod:`nnexp.testing`) builds with.
"""

from __future__ import annotations

import numpy as np

from nnexp.base import Layer
from nnexp.errors import ShapeError
from nnexp.hookspecs import hookimpl
from nnexp.optim import check_int, check_range


def _features(layer: str, input_shape) -> int:
    """The feature count of a ``(batch, features)`` input, or a ShapeError naming ``layer``."""
    if len(input_shape) != 1:
        raise ShapeError(f"{layer} expects input of shape (batch, features), got (batch, "
                         f"{', '.join(map(str, input_shape))}); add a flatten layer first.")
    return int(input_shape[0])


class Dense(Layer):
    """Fully connected: ``z = x Wᵀ + b`` with ``W`` of shape ``(units, n_in)`` (the tutorial's
    orientation, one row per neuron) and ``b`` of shape ``(units,)``.

    Shapes: x ``(batch, n_in)`` -> z ``(batch, units)``.
    Backward: ``dL/dW = δᵀ x``, ``dL/db = Σ_batch δ``, ``dL/dx = δ W`` where δ = dL/dz.
    """

    check_options = {"units": 3}

    def __init__(self, units: int, init=None, bias_init="zeros", use_bias: bool = True):
        super().__init__()
        self.units, self.init, self.bias_init, self.use_bias = units, init, bias_init, use_bias
        self._ones = np.ones(0)

    def build(self, input_shape, ctx):
        n_out = check_int("dense units", self.units, 1, "a positive integer (neurons in the layer)")
        n_in = _features("dense", input_shape)
        # Fortran order (shape and values unchanged): Wᵀ is then C-contiguous, so x Wᵀ runs as
        # a plain GEMM rather than a transposed one (~12% faster for a 784-input layer).
        self.params = {"W": np.asfortranarray(ctx.init(self.init, (n_out, n_in), n_in, n_out))}
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
            # Σ_batch δ as a GEMV with ones: ~3x faster than np.sum(axis=0).
            ones = self._ones
            if len(ones) != len(grad_out) or ones.dtype != grad_out.dtype:
                ones = self._ones = np.ones(len(grad_out), dtype=grad_out.dtype)
            np.matmul(ones, grad_out, out=self.grads["b"])

    def backward(self, grad_out):
        self.backward_params(grad_out)
        return grad_out @ self.params["W"]


class ActivationLayer(Layer):
    """A registered activation used as a layer: ``{type: activation, activation: relu}``
    (or ``activation: {type: leaky_relu, alpha: 0.1}``). Shapes and gradients are the
    activation's; the name is resolved once, at build time."""

    check_options = {"activation": "tanh"}

    def __init__(self, activation="relu"):
        super().__init__()
        self.activation = activation
        self.fn = None

    def build(self, input_shape, ctx):
        registry = ctx.registry
        if registry is None:
            from nnexp.plugins import get_registry

            registry = get_registry()
        self.fn = registry.create("activation", self.activation)
        return self.fn.build(input_shape, ctx)

    @property
    def kinks(self):
        return getattr(self.fn, "kinks", ())

    def forward(self, x, training=False):
        return self.fn.forward(x, training)

    def backward(self, grad_out):
        return self.fn.backward(grad_out)


class Dropout(Layer):
    """Inverted dropout (torch ``Dropout``): in training ``y = x ⊙ m / (1 - rate)`` with
    ``m ~ Bernoulli(1 - rate)`` drawn from ``ctx.dropout_rng`` only; ``dL/dx = g ⊙ m / (1 - rate)``.
    In evaluation ``y = x``. ``rate`` in [0, 1)."""

    stochastic = True
    check_options = {"rate": 0.3}

    def __init__(self, rate: float = 0.5):
        super().__init__()
        self.rate = rate
        self._mask = None

    def build(self, input_shape, ctx):
        check_range("dropout rate", self.rate, 0, 1, high_open=True)
        self._rng = ctx.dropout_rng
        self._scale = 1.0 / (1.0 - float(self.rate))
        return tuple(input_shape)

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self._mask = None
            return x
        keep = self._rng.random(x.shape, dtype=x.dtype) >= self.rate
        self._mask = keep * x.dtype.type(self._scale)
        return x * self._mask

    def backward(self, grad_out):
        return grad_out if self._mask is None else grad_out * self._mask


def _normalized_backward(dxhat, xhat, inv_std, axis: int):
    """dL/dx of ``xhat = (x - mean) / sqrt(var + eps)`` with mean and (biased) var over ``axis``:
    ``inv_std · (dxhat - mean(dxhat) - xhat · mean(dxhat ⊙ xhat))``."""
    return inv_std * (dxhat - dxhat.mean(axis=axis, keepdims=True)
                      - xhat * (dxhat * xhat).mean(axis=axis, keepdims=True))


class _Normalization(Layer):
    """Shared parts of batchnorm and layernorm: ``y = x̂ ⊙ gamma + beta``, gamma/beta ``(features,)``."""

    eps: float  # set by the subclass

    def _build_affine(self, name, input_shape, ctx, affine=True) -> int:
        check_range(f"{name} eps", self.eps, 0, low_open=True)
        n = _features(name, input_shape)
        if affine:
            self.params = {"gamma": np.ones(n, ctx.dtype), "beta": np.zeros(n, ctx.dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        return n

    def _affine(self, xhat):
        self._xhat = xhat
        if not self.params:
            return xhat
        return xhat * self.params["gamma"] + self.params["beta"]

    def _affine_backward(self, grad_out):
        """Fill dL/dgamma = Σ_batch g ⊙ x̂ and dL/dbeta = Σ_batch g; return dL/dx̂ = g ⊙ gamma."""
        if not self.params:
            return grad_out
        np.sum(grad_out * self._xhat, axis=0, out=self.grads["gamma"])
        np.sum(grad_out, axis=0, out=self.grads["beta"])
        return grad_out * self.params["gamma"]


class BatchNorm(_Normalization):
    """Batch normalization (torch ``BatchNorm1d``): ``y = (x - μ) / sqrt(σ² + eps) ⊙ gamma + beta``.

    Training: μ, σ² are the batch's mean and biased variance per feature, and the running
    statistics (``buffers``, not parameters) move by ``r ← (1 - momentum) r + momentum · stat``
    (unbiased variance, as torch); needs at least 2 samples per batch.
    Evaluation: the running statistics are used and ``dL/dx = g ⊙ gamma / sqrt(r_var + eps)``.
    Training backward: ``dL/dx = inv_std (dx̂ - mean(dx̂) - x̂ mean(dx̂ ⊙ x̂))`` over the batch.
    """

    batch_independent = False

    def __init__(self, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.buffers: dict[str, np.ndarray] = {}

    def build(self, input_shape, ctx):
        check_range("batchnorm momentum", self.momentum, 0, 1)
        n = self._build_affine("batchnorm", input_shape, ctx)
        self.buffers = {"running_mean": np.zeros(n, ctx.dtype), "running_var": np.ones(n, ctx.dtype)}
        self._name = ctx.layer_name or "batchnorm"
        return (n,)

    def forward(self, x, training=False):
        self._training = training
        if training:
            mean, var = self._batch_stats(x)
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
        self._inv_std = 1 / np.sqrt(var + self.eps)
        return self._affine((x - mean) * self._inv_std)

    def _batch_stats(self, x):
        n = len(x)
        if n < 2:
            raise ShapeError(f"{self._name}: batch normalization in training needs at least 2 "
                             f"samples per batch, got {n}; use a batch_size that leaves no batch of 1.")
        mean, var = x.mean(axis=0), x.var(axis=0)
        m = self.momentum
        for key, stat in (("running_mean", mean), ("running_var", var * (n / (n - 1)))):
            buf = self.buffers[key]
            buf *= 1 - m
            buf += m * stat
        return mean, var

    def backward(self, grad_out):
        dxhat = self._affine_backward(grad_out)
        if not self._training:
            return dxhat * self._inv_std
        return _normalized_backward(dxhat, self._xhat, self._inv_std, axis=0)


class LayerNorm(_Normalization):
    """Layer normalization (torch ``LayerNorm(features)``): each sample normalised over its
    features, ``y = (x - μ_row) / sqrt(σ²_row + eps) ⊙ gamma + beta`` (biased variance), the
    same in training and evaluation. ``dL/dx = inv_std (dx̂ - mean(dx̂) - x̂ mean(dx̂ ⊙ x̂))``
    over the features. ``elementwise_affine=False`` drops gamma and beta."""

    def __init__(self, eps: float = 1e-5, elementwise_affine: bool = True):
        super().__init__()
        self.eps, self.elementwise_affine = eps, elementwise_affine

    def build(self, input_shape, ctx):
        n = self._build_affine("layernorm", input_shape, ctx, bool(self.elementwise_affine))
        return (n,)

    def forward(self, x, training=False):
        mean = x.mean(axis=1, keepdims=True)
        var = x.var(axis=1, keepdims=True)
        self._inv_std = 1 / np.sqrt(var + self.eps)
        return self._affine((x - mean) * self._inv_std)

    def backward(self, grad_out):
        dxhat = self._affine_backward(grad_out)
        return _normalized_backward(dxhat, self._xhat, self._inv_std, axis=1)


@hookimpl
def register_layers(register):
    register("dense", Dense)  # "linear" stays the identity activation's alias (Keras), never a layer
    register("activation", ActivationLayer)
    register("dropout", Dropout)
    register("batchnorm", BatchNorm, aliases=("batch_norm",))
    register("layernorm", LayerNorm, aliases=("layer_norm",))
