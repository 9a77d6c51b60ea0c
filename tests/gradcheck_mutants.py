"""Deliberately wrong components, one bug each, for testing that the kit catches them.

Registered like a plugin: ``load_registry(extra_plugins=[("mutants", gradcheck_mutants)])``,
or through a dist-info on PYTHONPATH in the ``nnexp check`` subprocess tests.
"""

import numpy as np

import nnexp
from nnexp.builtins.activations import ReLU
from nnexp.builtins.layers import Dense
from nnexp.builtins.losses import MSE


class BadReLU(ReLU):
    """Backward forgets the mask: dL/dz = g everywhere."""

    def backward(self, grad_out):
        return grad_out


class WrongDf(ReLU):
    """Forward and backward are right, ``df`` is not (what plots would show)."""

    def df(self, z):
        return np.ones_like(z)


class BadDense(Dense):
    """dL/dW twice too large; the input gradient is right."""

    def backward(self, grad_out):
        out = super().backward(grad_out)
        self.grads["W"] *= 2
        return out


class BatchMixer(nnexp.Layer):
    """Subtracts the batch mean but claims to be batch independent (gradients are right)."""

    def forward(self, x, training=False):
        return x - x.mean(axis=0)

    def backward(self, grad_out):
        return grad_out - grad_out.mean(axis=0)


class InPlace(nnexp.Activation):
    """Doubles its input in place."""

    def f(self, z):
        return 2 * z

    def df(self, z):
        return np.full_like(z, 2)

    def forward(self, x, training=False):
        x *= 2
        return x


class Noisy(nnexp.Layer):
    """Adds noise from an unseeded generator, so two runs differ."""

    def forward(self, x, training=False):
        return x + np.random.default_rng().random()

    def backward(self, grad_out):
        return grad_out


class Forgetful(nnexp.Layer):
    """Stores ``scale`` under another name, so ``config()`` loses it."""

    check_options = {"scale": 3.0}

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self._s = scale

    def forward(self, x, training=False):
        return x * self._s

    def backward(self, grad_out):
        return grad_out * self._s


class Upcaster(nnexp.Activation):
    """Returns float64 whatever the input dtype."""

    def f(self, z):
        return np.asarray(z, dtype=np.float64) * 0.5

    def df(self, z):
        return np.full(z.shape, 0.5)


class SumLoss(MSE):
    """Squared error summed over the batch instead of averaged (gradient consistent)."""

    def forward(self, y_pred, y_true, from_logits=False):
        return super().forward(y_pred, y_true) * len(y_pred)

    def backward(self):
        return super().backward() * len(self._diff)


@nnexp.hookimpl
def register_activations(register):
    register("bad_relu", BadReLU)
    register("wrong_df", WrongDf)
    register("in_place", InPlace)
    register("upcaster", Upcaster)


@nnexp.hookimpl
def register_layers(register):
    register("bad_dense", BadDense)
    register("batch_mixer", BatchMixer)
    register("noisy", Noisy)
    register("forgetful", Forgetful)


@nnexp.hookimpl
def register_losses(register):
    register("sum_loss", SumLoss)
