"""Built-in optimizers and learning-rate schedules.

Every update rule is torch.optim's documented algorithm (and its implementation's order of
operations), so a trajectory can be compared with PyTorch step by step. ``g`` is the gradient,
``t`` the step count from 1, ``λ`` the weight decay. Updates run every step, so they work in
place on per-parameter state buffers (``out=``) instead of allocating temporaries.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from nnexp.errors import ConfigError
from nnexp.hookspecs import hookimpl
from nnexp.optim import Optimizer, Schedule, check_int, check_range


def _buffer(state: dict, key: str, like: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """The state array ``key``, created once with ``like``'s shape, dtype and memory order."""
    buf = state.get(key)
    if buf is None:
        buf = state[key] = np.full_like(like, fill)
    return buf


#: BLAS axpy by dtype char, filled on first use (scipy's import costs ~0.15 s, once).
_AXPY: dict[str, Callable | None] = {}


def _load_axpy() -> dict[str, Callable | None]:
    try:
        from scipy.linalg.blas import daxpy, saxpy
    except ImportError:  # pragma: no cover - scipy comes with nnexp's dependencies
        _AXPY["loaded"] = None
    else:
        _AXPY.update(f=saxpy, d=daxpy, loaded=None)
    return _AXPY


def add_scaled(y: np.ndarray, a: float, x: np.ndarray) -> np.ndarray:
    """``y ← y + a · x`` in place; returns ``y``.

    One BLAS axpy pass when both arrays share dtype and memory order: 3-5x faster than
    numpy's two passes through a temporary, the step's largest cost outside the GEMMs.
    scipy's OpenBLAS is loaded at the first call; it follows ``OPENBLAS_NUM_THREADS``, and a
    ``threadpoolctl`` limit covers it only if entered after that load (see benchmarks/)."""
    axpy = (_AXPY or _load_axpy()).get(y.dtype.char) if x.dtype == y.dtype else None
    if axpy is not None:
        fy, fx = y.flags, x.flags
        if fy.c_contiguous and fx.c_contiguous or fy.f_contiguous and fx.f_contiguous:
            flat = y.ravel("K")  # a view in memory order, as x.ravel("K") is
            if axpy(x.ravel("K"), flat, a=a) is flat:
                return y
    y += a * x
    return y


def _l2(opt: Optimizer, param, grad, state) -> np.ndarray:
    """``g + λ θ`` (torch's L2 form) in a state buffer; ``grad`` itself when λ = 0.

    The layer's ``grads`` stay untouched: hooks read them after the step."""
    if not opt.weight_decay:
        return grad
    g = _buffer(state, "g", grad)
    np.copyto(g, grad)
    return add_scaled(g, opt.weight_decay, param)


def _ema(avg: np.ndarray, x: np.ndarray, decay: float) -> None:
    """``avg ← decay · avg + (1 - decay) · x`` in place."""
    avg *= decay
    add_scaled(avg, 1.0 - decay, x)


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, as ``torch.optim.SGD``.

    ``g ← g + λθ``; with momentum μ: ``b ← g`` at t = 1, else ``b ← μ b + (1 - τ) g``;
    then ``g ← g + μ b`` (nesterov) or ``g ← b``; ``θ ← θ - lr · g``.
    Default lr 0.01 (Keras's; torch's is 1e-3).
    """

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.momentum = check_range("sgd momentum", momentum, 0)
        self.dampening = check_range("sgd dampening", dampening)
        self.nesterov = bool(nesterov)
        if self.nesterov and (momentum <= 0 or dampening != 0):
            raise ConfigError("sgd nesterov", nesterov,
                              f"nesterov=False, or momentum > 0 and dampening = 0 "
                              f"(got momentum={momentum}, dampening={dampening})")

    def step(self):
        if self.momentum or self.weight_decay:
            return super().step()
        self.t += 1  # plain SGD keeps no state: one axpy per parameter, nothing else
        lr = -self.lr
        for _, layer, key in self._refs:
            add_scaled(layer.params[key], lr, layer.grads[key])

    def update(self, param, grad, state):
        g = _l2(self, param, grad, state)
        if self.momentum:
            g = self._momentum(g, state)
        add_scaled(param, -self.lr, g)

    def _momentum(self, g, state):
        buf = state.get("momentum")
        if buf is None:
            buf = state["momentum"] = g.copy(order="K")
        else:
            buf *= self.momentum
            add_scaled(buf, 1.0 - self.dampening, g)
        if not self.nesterov:
            return buf
        out = _buffer(state, "nesterov", g)
        np.copyto(out, g)
        return add_scaled(out, self.momentum, buf)


class Adam(Optimizer):
    """Adam (Kingma & Ba), as ``torch.optim.Adam``; weight decay is L2 (``g ← g + λθ``).

    ``m ← β1 m + (1-β1) g``; ``v ← β2 v + (1-β2) g²``; with amsgrad ``v̄ ← max(v̄, v)``
    (else ``v̄ = v``); ``θ ← θ - lr/(1-β1^t) · m / (sqrt(v̄)/sqrt(1-β2^t) + ε)``.
    """

    decoupled = False

    def __init__(self, lr: float = 0.001, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False):
        super().__init__(lr, weight_decay)
        name = type(self).__name__.lower()
        if isinstance(betas, (str, bytes)) or not isinstance(betas, Sequence) or len(betas) != 2:
            raise ConfigError(f"{name} betas", betas, "two numbers [beta1, beta2], each in [0, 1)")
        self.betas = tuple(float(check_range(f"{name} betas[{i}]", b, 0, 1, high_open=True))
                           for i, b in enumerate(betas))
        self.eps = check_range(f"{name} eps", eps, 0)
        self.amsgrad = bool(amsgrad)

    def update(self, param, grad, state):
        b1, b2 = self.betas
        if self.decoupled:
            param *= 1.0 - self.lr * self.weight_decay
            g = grad
        else:
            g = _l2(self, param, grad, state)
        m, v, tmp = (_buffer(state, k, param) for k in ("m", "v", "tmp"))
        _ema(m, g, b1)
        _ema(v, np.multiply(g, g, out=tmp), b2)
        if self.amsgrad:
            v_max = _buffer(state, "v_max", param)
            v = np.maximum(v_max, v, out=v_max)
        np.sqrt(v, out=tmp)
        tmp *= 1.0 / math.sqrt(1.0 - b2 ** self.t)
        tmp += self.eps
        np.divide(m, tmp, out=tmp)
        add_scaled(param, -self.lr / (1.0 - b1 ** self.t), tmp)

    def config(self):
        return {**super().config(), "betas": list(self.betas)}


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter), as ``torch.optim.AdamW``: Adam with decoupled weight decay,
    ``θ ← θ (1 - lr λ)`` before the Adam step (the gradient is not changed). Default λ = 0.01."""

    decoupled = True

    def __init__(self, lr: float = 0.001, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01, amsgrad: bool = False):
        super().__init__(lr, betas, eps, weight_decay, amsgrad)


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``: ``g ← g + λθ``; ``v ← α v + (1-α) g²``;
    centered: ``ḡ ← α ḡ + (1-α) g``, ``ṽ = v - ḡ²`` (else ``ṽ = v``); ``d = sqrt(ṽ) + ε``;
    with momentum μ: ``b ← μ b + g/d``, ``θ ← θ - lr b``; else ``θ ← θ - lr g/d``."""

    def __init__(self, lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8,
                 momentum: float = 0.0, centered: bool = False, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.alpha = check_range("rmsprop alpha", alpha, 0)
        self.eps = check_range("rmsprop eps", eps, 0)
        self.momentum = check_range("rmsprop momentum", momentum, 0)
        self.centered = bool(centered)

    def update(self, param, grad, state):
        g = _l2(self, param, grad, state)
        v, tmp = _buffer(state, "v", param), _buffer(state, "tmp", param)
        _ema(v, np.multiply(g, g, out=tmp), self.alpha)
        if self.centered:
            g_avg = _buffer(state, "g_avg", param)
            _ema(g_avg, g, self.alpha)
            np.multiply(g_avg, g_avg, out=tmp)
            np.subtract(v, tmp, out=tmp)
            np.sqrt(tmp, out=tmp)
        else:
            np.sqrt(v, out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)
        if self.momentum:
            buf = _buffer(state, "momentum", param)
            buf *= self.momentum
            buf += tmp
            tmp = buf
        add_scaled(param, -self.lr, tmp)


class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad``: ``lr_t = lr / (1 + (t-1) η)`` (η = lr_decay);
    ``g ← g + λθ``; ``s ← s + g²`` (s starts at initial_accumulator_value);
    ``θ ← θ - lr_t · g / (sqrt(s) + ε)``."""

    def __init__(self, lr: float = 0.01, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10):
        super().__init__(lr, weight_decay)
        self.lr_decay = check_range("adagrad lr_decay", lr_decay, 0)
        self.initial_accumulator_value = check_range(
            "adagrad initial_accumulator_value", initial_accumulator_value, 0)
        self.eps = check_range("adagrad eps", eps, 0)

    def update(self, param, grad, state):
        g = _l2(self, param, grad, state)
        s = _buffer(state, "sum", param, self.initial_accumulator_value)
        tmp = _buffer(state, "tmp", param)
        np.multiply(g, g, out=tmp)
        s += tmp
        np.sqrt(s, out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)
        add_scaled(param, -self.lr / (1.0 + (self.t - 1) * self.lr_decay), tmp)


# -- learning-rate schedules -----------------------------------------------------------------
def _epochs(where: str, value, low: int = 1) -> int:
    """``value`` as a whole number of epochs ``>= low``, or a ConfigError naming ``where``."""
    return check_int(where, value, low, f"a whole number of epochs >= {low}")


class WarmupSchedule(Schedule):
    """A schedule with optional linear warmup, as torch's ``SequentialLR`` of
    ``LinearLR(start_factor=warmup_start, total_iters=warmup)`` and the main schedule:
    for ``epoch < warmup``, ``lr = base · (s + (1 - s) · epoch / warmup)``; afterwards the main
    schedule runs on ``epoch - warmup`` over ``epochs - warmup`` epochs.
    Subclasses define :meth:`main_lr`."""

    def __init__(self, warmup: int = 0, warmup_start: float = 0.1):
        self.warmup = _epochs("schedule warmup", warmup, 0)
        self.warmup_start = check_range("schedule warmup_start", warmup_start, 0, 1)

    def lr_at(self, epoch: int, base_lr: float, epochs: int) -> float:
        if epoch < self.warmup:
            s = self.warmup_start
            return base_lr * (s + (1.0 - s) * epoch / self.warmup)
        return self.main_lr(epoch - self.warmup, base_lr, max(epochs - self.warmup, 1))

    def main_lr(self, epoch: int, base_lr: float, epochs: int) -> float:
        raise NotImplementedError


class Constant(WarmupSchedule):
    """``lr = base_lr`` every epoch (after the optional warmup)."""

    check_points = {(0, 10): 1.0, (9, 10): 1.0}  # (epoch, epochs) -> lr / base_lr, for the kit

    def main_lr(self, epoch, base_lr, epochs):
        return base_lr


class StepDecay(WarmupSchedule):
    """torch's ``StepLR``: ``lr = base_lr · gamma^floor(epoch / step_size)``."""

    check_points = {(0, 30): 1.0, (9, 30): 1.0, (10, 30): 0.1, (29, 30): 0.01}

    def __init__(self, step_size: int = 10, gamma: float = 0.1, warmup: int = 0,
                 warmup_start: float = 0.1):
        super().__init__(warmup, warmup_start)
        self.step_size = _epochs("step schedule step_size", step_size)
        self.gamma = check_range("step schedule gamma", gamma, 0)

    def main_lr(self, epoch, base_lr, epochs):
        return base_lr * self.gamma ** (epoch // self.step_size)


class Cosine(WarmupSchedule):
    """torch's ``CosineAnnealingLR`` in closed form:
    ``lr = eta_min + (base_lr - eta_min) · (1 + cos(π · epoch / t_max)) / 2``;
    ``t_max`` defaults to the number of (post-warmup) epochs."""

    check_points = {(0, 10): 1.0, (5, 10): 0.5, (10, 10): 0.0}

    def __init__(self, t_max: int | None = None, eta_min: float = 0.0, warmup: int = 0,
                 warmup_start: float = 0.1):
        super().__init__(warmup, warmup_start)
        self.t_max = None if t_max is None else _epochs("cosine schedule t_max", t_max)
        self.eta_min = check_range("cosine schedule eta_min", eta_min, 0)

    def main_lr(self, epoch, base_lr, epochs):
        t_max = self.t_max or epochs
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / t_max)) / 2


class Exponential(WarmupSchedule):
    """torch's ``ExponentialLR``: ``lr = base_lr · gamma^epoch``."""

    check_points = {(0, 10): 1.0, (2, 10): 0.95 ** 2}

    def __init__(self, gamma: float = 0.95, warmup: int = 0, warmup_start: float = 0.1):
        super().__init__(warmup, warmup_start)
        self.gamma = check_range("exponential schedule gamma", gamma, 0)

    def main_lr(self, epoch, base_lr, epochs):
        return base_lr * self.gamma ** epoch


@hookimpl
def register_optimizers(register):
    register("sgd", SGD)
    register("adam", Adam)
    register("adamw", AdamW)
    register("rmsprop", RMSprop)
    register("adagrad", Adagrad)


@hookimpl
def register_schedules(register):
    register("constant", Constant)
    register("step", StepDecay, aliases=("step_lr",))
    register("cosine", Cosine, aliases=("cosine_annealing",))
    register("exponential", Exponential)
