"""Losses: log-cosh (robust regression) and focal loss (imbalanced classification)."""

from __future__ import annotations

import math

import numpy as np

from nnexp import Loss, hookimpl
from nnexp.optim import check_range

LOG2 = math.log(2.0)


class LogCosh(Loss):
    """Log-cosh: ``L = mean over every element of log(cosh(ŷ - y))``.

    Reduction: mean over batch and over outputs (as ``mse``). Like ``d²/2`` for small errors and
    ``|d| - log 2`` for large ones, so outliers pull less than with MSE.
    ``dL/dŷ = tanh(ŷ - y) / (batch · outputs)``.
    """

    def forward(self, y_pred, y_true, from_logits=False):
        d = y_pred - y_true
        self._d = d
        a = np.abs(d)
        # log cosh d = |d| + log(1 + e^(-2|d|)) - log 2: no overflow of cosh for large |d|.
        return float(np.mean(a + np.log1p(np.exp(-2 * a)) - LOG2))

    def backward(self):
        return np.tanh(self._d) / self._d.size


class Focal(Loss):
    """Multi-class focal loss (Lin et al., 2017) on softmax probabilities ``p``:
    ``L = -(1/batch) Σ_batch Σ_k y_k (1 - p_k)^γ log p_k``.

    Reduction: sum over classes, mean over batch. ``γ = 0`` is cross-entropy; larger ``γ``
    down-weights samples the network already gets right. With respect to the probabilities,
    ``dL/dp_k = y_k (γ (1 - p_k)^(γ-1) log p_k - (1 - p_k)^γ / p_k) / batch``; from logits
    (fused with a softmax output layer) the chain rule through softmax gives
    ``dL/dz_j = p_j (g_j - Σ_k g_k p_k)`` with ``g = dL/dp``.
    ``y_pred`` without ``from_logits`` must be probabilities (rows of a softmax output);
    they are clipped to ``[1e-12, 1]`` before the log.
    """

    fuses_with = "softmax"
    check_options = {"gamma": 2.0}
    check_targets = "onehot"  # for nnexp.testing: focal loss is for one-hot class targets

    def __init__(self, gamma: float = 2.0):
        self.gamma = float(check_range("focal gamma", gamma, 0))

    def forward(self, y_pred, y_true, from_logits=False):
        if from_logits:
            shifted = y_pred - y_pred.max(axis=1, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            p = np.exp(log_p)
        else:
            p = np.clip(y_pred, 1e-12, 1.0)
            log_p = np.log(p)
        self._p, self._log_p, self._y, self._logits = p, log_p, y_true, from_logits
        return float(-np.sum(y_true * (1 - p) ** self.gamma * log_p) / len(p))

    def backward(self):
        p, log_p, y, g = self._p, self._log_p, self._y, self.gamma
        q = 1 - p
        # Where p == 1 the term is multiplied by log p = 0: skip q^(γ-1) there (0 to a
        # negative power for γ < 1). γ = 0 (cross-entropy) has no such term at all.
        slope = g * np.power(q, g - 1, where=q > 0, out=np.zeros_like(q)) if g else 0.0
        grad_p = y * (slope * log_p - q ** g / p) / len(p)
        if not self._logits:
            return grad_p
        return p * (grad_p - np.sum(grad_p * p, axis=1, keepdims=True))


@hookimpl
def register_losses(register):
    register("log_cosh", LogCosh)
    register("focal", Focal, aliases=("focal_loss",))
