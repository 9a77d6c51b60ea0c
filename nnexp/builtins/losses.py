"""Built-in losses, each matching PyTorch's (or Keras's) definition and reduction.

Shapes: ``y_pred`` and ``y_true`` are ``(batch, outputs)``; ``forward`` returns a float and
``backward()`` returns dL/dy_pred of ``y_pred``'s shape, already carrying the reduction's
``1/batch`` (or ``1/(batch·outputs)``) factor. Every reduction is a mean over the batch.

``kinks`` lists values of ``y_pred - y_true`` where a loss is not differentiable and
``check_targets`` says which targets the conformance kit (:mod:`nnexp.testing`) draws.
"""

from __future__ import annotations

import numpy as np

from nnexp.base import Loss
from nnexp.builtins.activations import _sigmoid
from nnexp.hookspecs import hookimpl
from nnexp.optim import check_range


def _clip_eps(dtype) -> float:
    """Probability clip for log(p): 1e-12, or the dtype's epsilon where 1 - 1e-12 rounds to 1."""
    return max(1e-12, float(np.finfo(dtype).eps))


def _softmax_and_log(z):
    """Row-wise ``softmax(z)`` and ``log softmax(z) = z - max - log Σ e^(z - max)`` from one
    exp: never overflows."""
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    total = e.sum(axis=1, keepdims=True)
    return e / total, shifted - np.log(total)


class MSE(Loss):
    """Mean squared error ``L = mean over every element of (ŷ - y)²`` (torch ``MSELoss``, Keras).
    Reduction: mean over batch and outputs. ``dL/dŷ = 2 (ŷ - y) / (batch · outputs)``."""

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


class MAE(Loss):
    """Mean absolute error ``L = mean |ŷ - y|`` (torch ``L1Loss``). Reduction: mean over batch
    and outputs. ``dL/dŷ = sign(ŷ - y) / (batch · outputs)`` (0 where ŷ = y, as torch)."""

    kinks = (0.0,)

    def forward(self, y_pred, y_true, from_logits=False):
        self._diff = y_pred - y_true
        return float(np.abs(self._diff).mean())

    def backward(self):
        return np.sign(self._diff) * (1.0 / self._diff.size)


class Huber(Loss):
    """Huber loss (torch ``HuberLoss``): with ``r = ŷ - y``, ``ℓ = ½ r²`` where ``|r| < δ``,
    else ``δ (|r| - ½ δ)``. Reduction: mean over batch and outputs.
    ``dL/dŷ = clip(r, -δ, δ) / (batch · outputs)``."""

    check_options = {"delta": 0.5}

    def __init__(self, delta: float = 1.0):
        self.delta = check_range("huber delta", delta, 0, low_open=True)

    def forward(self, y_pred, y_true, from_logits=False):
        r = self._diff = y_pred - y_true
        a = np.abs(r)
        d = self.delta
        return float(np.where(a < d, 0.5 * r * r, d * (a - 0.5 * d)).mean())

    def backward(self):
        return np.clip(self._diff, -self.delta, self.delta) * (1.0 / self._diff.size)


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy ``ℓ = -[y log p + (1 - y) log(1 - p)]`` (torch ``BCELoss``;
    from logits ``z``, ``p = σ(z)``, as ``BCEWithLogitsLoss``). Reduction: mean over batch and
    outputs. ``y`` in [0, 1].

    From logits (fused with a sigmoid output): ``ℓ = max(z, 0) - z y + log(1 + e^-|z|)``,
    ``dL/dz = (σ(z) - y) / (batch · outputs)``: finite for any ``z``.
    On probabilities: ``p`` is clipped to ``[ε, 1 - ε]`` (ε = 1e-12, or float32's epsilon)
    and ``dL/dp = (p - y) / (p (1 - p)) / (batch · outputs)`` inside the clip, 0 outside.
    """

    fuses_with = "sigmoid"
    check_targets = "binary"

    def forward(self, y_pred, y_true, from_logits=False):
        self._y, self._logits = y_true, from_logits
        if from_logits:
            z = y_pred
            self._p = _sigmoid(z)
            return float((np.maximum(z, 0) - z * y_true + np.log1p(np.exp(-np.abs(z)))).mean())
        eps = _clip_eps(y_pred.dtype)
        self._p, self._inside = np.clip(y_pred, eps, 1 - eps), (y_pred > eps) & (y_pred < 1 - eps)
        p = self._p
        return float(-(y_true * np.log(p) + (1 - y_true) * np.log1p(-p)).mean())

    def backward(self):
        p, y = self._p, self._y
        if self._logits:
            return (p - y) * (1.0 / p.size)
        return (p - y) / (p * (1 - p)) * self._inside * (1.0 / p.size)


class CrossEntropy(Loss):
    """Categorical cross-entropy ``ℓ = -Σ_classes y log p`` (torch ``CrossEntropyLoss`` with
    one-hot or probability targets; rows of ``y`` sum to 1). Reduction: sum over classes,
    mean over batch.

    From logits (fused with a softmax output): ``log p = log_softmax(z)`` with the row max
    subtracted, ``dL/dz = (softmax(z) - y) / batch``: finite for logits of any size.
    On probabilities (no fusion): ``p`` is clipped to ``[ε, 1]`` (ε = 1e-12, or float32's
    epsilon) and ``dL/dp = -y / p / batch`` inside the clip, 0 outside. ``p`` is not renormalised.
    """

    fuses_with = "softmax"
    check_targets = "onehot"

    def forward(self, y_pred, y_true, from_logits=False):
        self._y, self._logits = y_true, from_logits
        if from_logits:
            self._p, logp = _softmax_and_log(y_pred)
            return float(-(y_true * logp).sum() / len(y_pred))
        eps = _clip_eps(y_pred.dtype)
        self._p, self._inside = np.maximum(y_pred, eps), y_pred > eps
        return float(-(y_true * np.log(self._p)).sum() / len(y_pred))

    def backward(self):
        p, y = self._p, self._y
        if self._logits:
            return (p - y) * (1.0 / len(p))
        return -y / p * self._inside * (1.0 / len(p))


class Hinge(Loss):
    """Hinge loss ``ℓ = max(0, 1 - t ŷ)`` (Keras ``Hinge``), ``t = 2y - 1`` when every target is
    0 or 1, else ``t = y`` (targets ±1). Reduction: mean over batch and outputs.
    ``dL/dŷ = -t [t ŷ < 1] / (batch · outputs)`` (0 at the hinge itself)."""

    kinks = (-1.0, 0.0)  # ŷ - y at the hinge: 0 for targets 1 or ±1, -1 for target 0
    check_targets = "binary"

    def forward(self, y_pred, y_true, from_logits=False):
        binary = np.all((y_true == 0) | (y_true == 1))
        self._t = t = 2 * y_true - 1 if binary else y_true
        margin = 1 - t * y_pred
        self._active = margin > 0
        return float(np.maximum(margin, 0).mean())

    def backward(self):
        return -self._t * self._active * (1.0 / self._t.size)


class SmoothL1(Loss):
    """Smooth L1 loss (torch ``SmoothL1Loss``): with ``r = ŷ - y``, ``ℓ = ½ r² / β`` where
    ``|r| < β``, else ``|r| - ½ β``; ``β = 0`` is the L1 loss. Reduction: mean over batch and
    outputs. ``dL/dŷ = (r / β where |r| < β, else sign(r)) / (batch · outputs)``. (``huber`` is
    ``β ·`` this loss.)"""

    check_options = {"beta": 0.5}

    def __init__(self, beta: float = 1.0):
        self.beta = float(check_range("smooth_l1 beta", beta, 0))

    @property
    def kinks(self):
        return (0.0,) if self.beta == 0 else ()

    def forward(self, y_pred, y_true, from_logits=False):
        r = self._diff = y_pred - y_true
        a, b = np.abs(r), self.beta
        if b == 0:
            return float(a.mean())
        return float(np.where(a < b, 0.5 * r * r / b, a - 0.5 * b).mean())

    def backward(self):
        r, b = self._diff, self.beta
        inner = np.sign(r) if b == 0 else np.where(np.abs(r) < b, r / b, np.sign(r))
        return inner * (1.0 / r.size)


class KLDiv(Loss):
    """Kullback-Leibler divergence ``KL(y ‖ p) = Σ_classes y (log y - log p)`` of the target
    distribution ``y`` from the predicted one, with ``log p = ŷ`` given as log-probabilities
    (torch ``KLDivLoss(reduction="batchmean")``: the input is a ``log_softmax`` output; terms
    with ``y = 0`` count 0). Reduction: sum over classes, mean over batch.
    ``dL/dŷ = -y / batch``.

    From logits (fused with a log_softmax output): ``log p = log_softmax(z)`` and
    ``dL/dz = (softmax(z) Σ_classes y - y) / batch``.
    """

    fuses_with = "log_softmax"
    check_targets = "probabilities"

    def forward(self, y_pred, y_true, from_logits=False):
        self._y, self._logits = y_true, from_logits
        if from_logits:
            self._p, log_p = _softmax_and_log(y_pred)
        else:
            log_p = y_pred
        plogp = _xlogy(y_true)
        return float((plogp - y_true * log_p).sum() / len(y_pred))

    def backward(self):
        y = self._y
        if self._logits:
            return (self._p * y.sum(axis=1, keepdims=True) - y) * (1.0 / len(y))
        return y * (-1.0 / len(y))


def _xlogy(y):
    """``y log y`` with ``0 log 0 = 0`` (scipy's ``xlogy``)."""
    from scipy.special import xlogy

    return xlogy(y, y)


@hookimpl
def register_losses(register):
    register("mse", MSE)
    register("half_squared_error", HalfSquaredError, aliases=("half_sse",))
    register("mae", MAE, aliases=("l1",))
    register("huber", Huber)
    register("binary_cross_entropy", BinaryCrossEntropy, aliases=("bce",))
    register("cross_entropy", CrossEntropy, aliases=("categorical_cross_entropy",))
    register("hinge", Hinge)
    register("smooth_l1", SmoothL1)
    register("kl_div", KLDiv, aliases=("kl_divergence",))
