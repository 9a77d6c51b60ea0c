"""Built-in activations, each matching the PyTorch function of the same name.

Every docstring gives ``f`` and ``f'`` in one line. ``kinks`` lists the inputs where ``f`` is
not differentiable, so the conformance kit (:mod:`nnexp.testing`) samples away from them.
Element-wise activations cache what their backward needs (the mask, the output, or ``z``).
"""

from __future__ import annotations

import math

import numpy as np

from nnexp.base import Activation
from nnexp.errors import ConfigError
from nnexp.hookspecs import hookimpl
from nnexp.optim import check_range

_expit = None


def _sigmoid(z):
    """σ(z) through scipy's ``expit``: one numerically stable ufunc, ~15x faster on small
    batches than a stable ``np.where`` form (~14% of a tutorial-sized train step). Imported on
    first use so that ``import nnexp`` (and ``nnexp --help``) stays fast."""
    global _expit
    if _expit is None:
        from scipy.special import expit as _expit
    return _expit(z)


# W. J. Cody's rational Chebyshev approximations (Math. Comp. 23, 1969), the coefficients of
# netlib's CALERF: erf on |x| <= 0.5, erfc on [0.5, 4] and beyond; ~1e-16 relative in float64.
# numpy has no erf, and math.erf through np.vectorize is ~100x slower.
_ERF_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
          3.20937758913846947e03, 1.85777706184603153e-1)
_ERF_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
          2.84423683343917062e03)
_ERFC_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
           2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
           2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_ERFC_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
           1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
           3.43936767414372164e03, 1.23033935480374942e03)
_ERFC_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
           1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_ERFC_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
           6.05183413124413191e-2, 2.33520497626869185e-3)


def _ratio(t, num, den, lead):
    """Cody's nested evaluation: ``(Σ num t^k) / (Σ den t^k)`` with ``num[lead]`` leading."""
    xnum, xden = num[lead] * t, t
    for a, b in zip(num[:len(den) - 1], den[:len(den) - 1]):
        xnum, xden = (xnum + a) * t, (xden + b) * t
    return (xnum + num[len(den) - 1]) / (xden + den[-1])


def _erfc_large(y):
    """``erfc(y)`` for ``y >= 0.46875`` (values below are clamped, callers mask them out)."""
    mid = np.clip(y, 0.46875, 4.0)
    tail = np.maximum(y, 4.0)
    r_mid = _ratio(mid, _ERFC_C, _ERFC_D, 8)
    inv2 = 1 / (tail * tail)
    r_tail = (0.5641895835477563 - inv2 * _ratio(inv2, _ERFC_P, _ERFC_Q, 5)) / tail
    r = np.where(y <= 4.0, r_mid, r_tail)
    # exp(-y²) split as exp(-ys²)·exp(-(y-ys)(y+ys)) so the rounding of y² does not grow.
    ys = np.trunc(y * 16) / 16
    return np.exp(-ys * ys) * np.exp(-(y - ys) * (y + ys)) * r


def normal_cdf(z):
    """Standard normal CDF ``Φ(z) = ½ erfc(-z/√2)``, element-wise, in ``z``'s dtype."""
    u = z * (1 / math.sqrt(2))
    y = np.abs(u)
    small = 0.5 + 0.5 * u * _ratio(u * u, _ERF_A, _ERF_B, 4)
    half_tail = 0.5 * _erfc_large(y)
    return np.where(y <= 0.46875, small, np.where(u < 0, half_tail, 1 - half_tail))


def normal_pdf(z):
    """Standard normal density ``φ(z) = e^(-z²/2) / √(2π)``."""
    return np.exp(-0.5 * z * z) * (1 / math.sqrt(2 * math.pi))


class _CachesOutput(Activation):
    """For activations whose derivative is cheapest from the output ``a``: ``df = g(a)``."""

    def forward(self, x, training=False):
        self._a = self.f(x)
        return self._a

    def backward(self, grad_out):
        return grad_out * self.df_from_output(self._a)

    def df(self, z):
        return self.df_from_output(self.f(z))


class Identity(Activation):
    """``f(z) = z``; ``f'(z) = 1``."""

    def f(self, z):
        return z

    def df(self, z):
        return np.ones_like(z)

    def forward(self, x, training=False):
        return x

    def backward(self, grad_out):
        return grad_out


class ReLU(Activation):
    """``f(z) = max(z, 0)``; ``f'(z) = 1 if z > 0 else 0`` (0 at z = 0, as torch and the tutorial)."""

    kinks = (0.0,)

    def f(self, z):
        return np.maximum(z, 0)

    def df(self, z):
        return (z > 0).astype(z.dtype)

    def forward(self, x, training=False):
        self._mask = x > 0
        return np.maximum(x, 0)

    def backward(self, grad_out):
        return grad_out * self._mask


class LeakyReLU(Activation):
    """``f(z) = z if z > 0 else α z``; ``f'(z) = 1 if z > 0 else α`` (torch ``LeakyReLU``, α=0.01)."""

    kinks = (0.0,)
    check_options = {"alpha": 0.1}

    def __init__(self, alpha: float = 0.01):
        super().__init__()
        self.alpha = float(alpha)

    def f(self, z):
        return np.where(z > 0, z, z * self.alpha)

    def df(self, z):
        return np.where(z > 0, 1, self.alpha).astype(z.dtype)


class ELU(Activation):
    """``f(z) = z if z > 0 else α (e^z - 1)``; ``f'(z) = 1 if z > 0 else α e^z`` (torch ``ELU``, α=1)."""

    kinks = (0.0,)
    check_options = {"alpha": 0.7}

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = float(alpha)

    def f(self, z):
        return np.where(z > 0, z, self.alpha * np.expm1(np.minimum(z, 0)))

    def df(self, z):
        return np.where(z > 0, 1, self.alpha * np.exp(np.minimum(z, 0))).astype(z.dtype)


class SELU(ELU):
    """``f(z) = λ ELU_α(z)``; ``f'(z) = λ if z > 0 else λ α e^z`` with torch's
    α = 1.6732632423543772, λ = 1.0507009873554805 (self-normalising constants)."""

    LAMBDA = 1.0507009873554804934193349852946
    check_options: dict = {}

    def __init__(self):
        super().__init__(1.6732632423543772848170429916717)

    def config(self):
        return {}

    def f(self, z):
        return super().f(z) * self.LAMBDA

    def df(self, z):
        return super().df(z) * self.LAMBDA


class Sigmoid(_CachesOutput):
    """``σ(z) = 1 / (1 + e^-z)``; ``σ'(z) = σ(z)(1 - σ(z))``."""

    def f(self, z):
        return _sigmoid(z)

    def df_from_output(self, a):
        return a * (1 - a)


class Tanh(_CachesOutput):
    """``f(z) = tanh(z)``; ``f'(z) = 1 - tanh(z)²``."""

    def f(self, z):
        return np.tanh(z)

    def df_from_output(self, a):
        return 1 - a * a


class Softplus(Activation):
    """``f(z) = log(1 + e^(βz)) / β``, and ``z`` where ``βz > threshold``;
    ``f'(z) = σ(βz)`` (1 past the threshold). As torch ``Softplus(beta=1, threshold=20)``."""

    check_options = {"beta": 1.5}

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta = check_range("softplus beta", beta, 0, low_open=True)
        self.threshold = check_range("softplus threshold", threshold, 0, low_open=True)

    @property
    def kinks(self):
        # torch switches to the identity there: f jumps by ~e^-threshold / β.
        return (self.threshold / self.beta,)

    def f(self, z):
        bz = z * self.beta
        soft = (np.maximum(bz, 0) + np.log1p(np.exp(-np.abs(bz)))) / self.beta
        return np.where(bz > self.threshold, z, soft)

    def df(self, z):
        bz = z * self.beta
        return np.where(bz > self.threshold, 1, _sigmoid(bz)).astype(z.dtype)


class Softsign(Activation):
    """``f(z) = z / (1 + |z|)``; ``f'(z) = 1 / (1 + |z|)²``."""

    def f(self, z):
        return z / (1 + np.abs(z))

    def df(self, z):
        d = 1 + np.abs(z)
        return 1 / (d * d)


class GELU(Activation):
    """``f(z) = z Φ(z)``; ``f'(z) = Φ(z) + z φ(z)`` with Φ, φ the standard normal CDF and PDF
    (torch ``GELU()``, exact; Φ from a vectorised erfc accurate to ~1e-15 in float64).
    ``approximate="tanh"``: ``Φ(z) ≈ ½(1 + tanh(√(2/π)(z + 0.044715 z³)))`` as torch."""

    APPROXIMATIONS = ("none", "tanh")
    check_options = {"approximate": "none"}

    def __init__(self, approximate: str = "none"):
        if approximate not in self.APPROXIMATIONS:
            raise ConfigError("gelu approximate", approximate, " or ".join(map(repr, self.APPROXIMATIONS)))
        super().__init__()
        self.approximate = approximate

    def f(self, z):
        if self.approximate == "tanh":
            return 0.5 * z * (1 + self._tanh_inner(z))
        return z * normal_cdf(z)

    def df(self, z):
        if self.approximate == "tanh":
            t = self._tanh_inner(z)
            k = math.sqrt(2 / math.pi)
            return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * k * (1 + 3 * 0.044715 * z * z)
        return normal_cdf(z) + z * normal_pdf(z)

    @staticmethod
    def _tanh_inner(z):
        return np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z * z * z))


class SiLU(Activation):
    """``f(z) = z σ(z)``; ``f'(z) = σ(z)(1 + z(1 - σ(z)))`` (torch ``SiLU``; alias swish)."""

    def f(self, z):
        return z * _sigmoid(z)

    def df(self, z):
        s = _sigmoid(z)
        return s * (1 + z * (1 - s))


class HardSigmoid(Activation):
    """``f(z) = relu6(z + 3) / 6 = clip(z/6 + ½, 0, 1)``; ``f'(z) = 1/6 on (-3, 3), else 0``
    (torch ``Hardsigmoid``)."""

    kinks = (-3.0, 3.0)

    def f(self, z):
        return np.clip(z / 6 + 0.5, 0, 1)

    def df(self, z):
        return ((z > -3) & (z < 3)).astype(z.dtype) / 6


class HardTanh(Activation):
    """``f(z) = clip(z, min_val, max_val)``; ``f'(z) = 1 on (min_val, max_val), else 0`` (0 at the
    edges, as torch ``Hardtanh``; defaults -1, 1)."""

    check_options = {"min_val": -1.5, "max_val": 0.5}

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0):
        super().__init__()
        self.min_val = float(check_range("hardtanh min_val", min_val))
        self.max_val = float(check_range("hardtanh max_val", max_val))
        if not self.min_val < self.max_val:
            raise ConfigError("hardtanh max_val", max_val, f"a number > min_val ({min_val})")

    @property
    def kinks(self):
        return (self.min_val, self.max_val)

    def f(self, z):
        return np.clip(z, self.min_val, self.max_val)

    def df(self, z):
        return ((z > self.min_val) & (z < self.max_val)).astype(z.dtype)


class HardSwish(Activation):
    """``f(z) = z · relu6(z + 3) / 6``: 0 for z ≤ -3, z for z ≥ 3, ``z(z + 3)/6`` between;
    ``f'(z) = 0 for z ≤ -3, 1 for z ≥ 3, else (2z + 3)/6`` (torch ``Hardswish``, MobileNetV3)."""

    kinks = (-3.0, 3.0)

    def f(self, z):
        return z * np.clip(z + 3, 0, 6) / 6

    def df(self, z):
        return np.where(z <= -3, 0, np.where(z >= 3, 1, z / 3 + 0.5)).astype(z.dtype)


class CELU(Activation):
    """``f(z) = max(0, z) + min(0, α (e^(z/α) - 1))``; ``f'(z) = 1 if z > 0 else e^(z/α)``
    (torch ``CELU``, α = 1; continuously differentiable for any α > 0)."""

    check_options = {"alpha": 0.7}

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = float(check_range("celu alpha", alpha, 0, low_open=True))

    def f(self, z):
        return np.where(z > 0, z, self.alpha * np.expm1(np.minimum(z, 0) / self.alpha))

    def df(self, z):
        return np.where(z > 0, 1, np.exp(np.minimum(z, 0) / self.alpha)).astype(z.dtype)


def _log_softmax(z):
    """Row-wise ``z - max - log Σ e^(z - max)`` over the last axis: never overflows."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class LogSoftmax(Activation):
    """Row-wise ``f(z)_i = z_i - log Σ_j e^(z_j)`` over the last axis (torch ``LogSoftmax(dim=-1)``,
    computed with the row max subtracted); Jacobian ``∂f_i/∂z_j = δ_ij - s_j`` with ``s`` the
    softmax, so ``dL/dz = g - s Σ_j g_j``.

    Not element-wise: ``df(z)`` returns the Jacobian's diagonal ``1 - s``. With ``kl_div`` the
    Trainer skips it and the loss works from logits.
    """

    elementwise = False

    def f(self, z):
        return _log_softmax(z)

    def df(self, z):
        return 1 - np.exp(_log_softmax(z))

    def forward(self, x, training=False):
        out = _log_softmax(x)
        self._s = np.exp(out)
        return out

    def backward(self, grad_out):
        return grad_out - self._s * grad_out.sum(axis=-1, keepdims=True)


class Softmax(Activation):
    """Row-wise ``s_i = e^(z_i) / Σ_j e^(z_j)`` over the last axis (computed with the row max
    subtracted); Jacobian ``∂s_i/∂z_j = s_i(δ_ij - s_j)``, so ``dL/dz = s ⊙ (g - Σ_j g_j s_j)``.

    Not element-wise: ``df(z)`` returns the Jacobian's diagonal ``s(1 - s)`` (what plots show).
    With cross-entropy the Trainer skips it and the loss works from logits.
    """

    elementwise = False

    def f(self, z):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        e /= e.sum(axis=-1, keepdims=True)
        return e

    def df(self, z):
        s = self.f(z)
        return s * (1 - s)

    def forward(self, x, training=False):
        self._s = self.f(x)
        return self._s

    def backward(self, grad_out):
        s = self._s
        return s * (grad_out - (grad_out * s).sum(axis=-1, keepdims=True))


@hookimpl
def register_activations(register):
    register("identity", Identity, aliases=("linear",))
    register("relu", ReLU)
    register("leaky_relu", LeakyReLU)
    register("elu", ELU)
    register("selu", SELU)
    register("sigmoid", Sigmoid)
    register("tanh", Tanh)
    register("softplus", Softplus)
    register("softsign", Softsign)
    register("gelu", GELU)
    register("silu", SiLU, aliases=("swish",))
    register("hard_sigmoid", HardSigmoid)
    register("hardtanh", HardTanh, aliases=("hard_tanh",))
    register("hardswish", HardSwish, aliases=("hard_swish",))
    register("celu", CELU)
    register("softmax", Softmax)
    register("log_softmax", LogSoftmax)
