"""Good and deliberately broken components of every kind, as one plugin module, for
tests/test_kit_kinds.py: each broken one makes one real mistake of its kind that the kit must
catch; each good one must pass every check."""

import numpy as np

from nnexp_extras import Lion  # the good optimizer: nnexp-extras' (the test venv has it)

from nnexp import Activation, Layer, Loss, Optimizer, Schedule, hookimpl
from nnexp.data import make_splits


# -- layers and activations: noise belongs to training ----------------------------------------
class GaussianNoise(Layer):
    """``y = x + σ ε`` in training (ε ~ N(0, 1) from ``ctx.dropout_rng``), ``y = x`` in evaluation."""

    stochastic = True
    check_options = {"sigma": 0.1}

    def __init__(self, sigma: float = 0.1):
        super().__init__()
        self.sigma = sigma

    def build(self, input_shape, ctx):
        self._rng = ctx.dropout_rng
        return tuple(input_shape)

    def forward(self, x, training=False):
        if not training:
            return x
        return x + self.sigma * self._rng.standard_normal(x.shape).astype(x.dtype)

    def backward(self, grad_out):
        return grad_out


class NoiseInEvaluation(GaussianNoise):
    """Broken: adds its noise in evaluation too."""

    def forward(self, x, training=False):
        return x + self.sigma * self._rng.standard_normal(x.shape).astype(x.dtype)


class UndeclaredNoise(GaussianNoise):
    """Broken: draws in training without declaring ``stochastic = True``."""

    stochastic = False


class ScaledTanh(Activation):
    """``f(z) = 2 tanh(z)``; ``f'(z) = 2 (1 - tanh(z)²)``."""

    def f(self, z):
        return 2 * np.tanh(z)

    def df(self, z):
        t = np.tanh(z)
        return 2 * (1 - t * t)


class JitteryTanh(ScaledTanh):
    """Broken: forward jitters with numpy's global generator, in evaluation too."""

    def forward(self, x, training=False):
        self._z = x
        return self.f(x) + 1e-3 * np.random.standard_normal(x.shape)


# -- losses ----------------------------------------------------------------------------------
class HalfMSE(Loss):
    """``L = ½ mean (ŷ - y)²``. Reduction: mean over batch and outputs."""

    def forward(self, y_pred, y_true, from_logits=False):
        self._d = y_pred - y_true
        return float(0.5 * (self._d * self._d).mean())

    def backward(self):
        return self._d / self._d.size


class HalfSSE(HalfMSE):
    """Broken: sums over the batch (the gradient too) instead of averaging."""

    def forward(self, y_pred, y_true, from_logits=False):
        self._d = y_pred - y_true
        return float(0.5 * (self._d * self._d).sum())

    def backward(self):
        return self._d.copy()


# -- optimizers ------------------------------------------------------------------------------
class LionUphill(Lion):
    """Broken: a sign error, it climbs."""

    def update(self, param, grad, state):
        super().update(param, -grad, state)


class LionCachedLr(Lion):
    """Broken: keeps the lr it was built with, so schedules do nothing."""

    def __init__(self, lr: float = 1e-4, betas=(0.9, 0.99), weight_decay: float = 0.0):
        super().__init__(lr, betas, weight_decay)
        self._lr = self.lr

    def update(self, param, grad, state):
        lr, self.lr = self.lr, self._lr
        super().update(param, grad, state)
        self.lr = lr


class LionCoupledClaim(Lion):
    """Broken: decouples its weight decay but says it is torch's L2 form."""

    decoupled = False


class LionMisdocumented(Lion):
    """Broken: the code interpolates with β2 where the documented formula (check_reference)
    has β1."""

    def update(self, param, grad, state):
        b2 = self.betas[1]
        m = state.setdefault("m", np.zeros_like(param))
        param *= 1 - self.lr * self.weight_decay
        param -= self.lr * np.sign(b2 * m + (1 - b2) * grad)
        m *= b2
        m += (1 - b2) * grad


class MomentumAliased(Optimizer):
    """Broken: heavy ball whose buffer *is* the first gradient array (no copy)."""

    check_options = {"lr": 0.05}

    def update(self, param, grad, state):
        g = self.decayed(param, grad)
        if "v" not in state:
            state["v"] = g
        else:
            state["v"] *= 0.9
            state["v"] += g
        param -= self.lr * state["v"]


class SgdUpcast(Optimizer):
    """Broken: rebinds each parameter to a new float64 array instead of updating in place."""

    def update(self, param, grad, state):
        pass

    def step(self):
        self.t += 1
        for _, layer, key in self._refs:
            p = layer.params[key]
            layer.params[key] = p.astype(np.float64) - self.lr * self.decayed(p, layer.grads[key])


class SgdListState(Optimizer):
    """Broken: keeps its history in a Python list, which no checkpoint can hold."""

    def update(self, param, grad, state):
        state.setdefault("history", []).append(grad.copy())
        param -= self.lr * self.decayed(param, grad)


# -- schedules -------------------------------------------------------------------------------
class LinearDecay(Schedule):
    """``lr = base_lr · (1 - epoch / epochs)``."""

    check_points = {(0, 10): 1.0, (5, 10): 0.5}

    def lr_at(self, epoch, base_lr, epochs):
        return base_lr * (1 - epoch / epochs)


class CallCounting(LinearDecay):
    """Broken: decays by the number of calls, not by the epoch it is asked about."""

    def __init__(self):
        self.calls = 0

    def lr_at(self, epoch, base_lr, epochs):
        self.calls += 1
        return base_lr * 0.9 ** (self.calls - 1)


class Overshoot(LinearDecay):
    """Broken: goes above the base lr without declaring check_max_factor."""

    def lr_at(self, epoch, base_lr, epochs):
        return base_lr * (1 + epoch / epochs)


class OffByOne(LinearDecay):
    """Broken: its docstring says ``1 - epoch/epochs``, its code ``1 - (epoch+1)/epochs``."""

    def lr_at(self, epoch, base_lr, epochs):
        return base_lr * max(1 - (epoch + 1) / epochs, 0.0)


class LinearWarmup(LinearDecay):
    """Linear decay after ``warmup`` epochs rising linearly from ``0.1 · base_lr``."""

    def __init__(self, warmup: int = 0):
        self.warmup = warmup

    def lr_at(self, epoch, base_lr, epochs):
        if epoch < self.warmup:
            return base_lr * (0.1 + 0.9 * epoch / self.warmup)
        return super().lr_at(epoch - self.warmup, base_lr, epochs - self.warmup)


class WarmupOverWholeRun(LinearWarmup):
    """Broken: after warmup the main schedule still counts the whole run."""

    def lr_at(self, epoch, base_lr, epochs):
        if epoch < self.warmup:
            return base_lr * (0.1 + 0.9 * epoch / self.warmup)
        return LinearDecay.lr_at(self, epoch, base_lr, epochs)


# -- initializers ----------------------------------------------------------------------------
def lecun_like():
    """``N(0, 1 / fan_in)``."""
    return lambda shape, fan_in, fan_out, rng, dtype: (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(dtype)


lecun_like.check_variance = lambda fan_in, fan_out: 1 / fan_in


def keras_fans():
    """Broken: ``N(0, 1 / fan_in)`` with fan_in read from the shape in Keras's (n_in, n_out) order."""
    return lambda shape, fan_in, fan_out, rng, dtype: (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(dtype)


keras_fans.check_variance = lecun_like.check_variance


def std_for_variance():
    """Broken: documents variance 1/fan_in but draws with standard deviation 1/fan_in."""
    return lambda shape, fan_in, fan_out, rng, dtype: (rng.standard_normal(shape) / fan_in).astype(dtype)


std_for_variance.check_variance = lecun_like.check_variance


def global_numpy():
    """Broken: draws from numpy's global generator, not the rng it is given."""
    return lambda shape, fan_in, fan_out, rng, dtype: (np.random.standard_normal(shape) / np.sqrt(fan_in)).astype(dtype)


global_numpy.check_variance = lecun_like.check_variance


def always_float64():
    """Broken: ignores the dtype it is asked for."""
    return lambda shape, fan_in, fan_out, rng, dtype: rng.standard_normal(shape) / np.sqrt(fan_in)


always_float64.check_variance = lecun_like.check_variance


# -- datasets --------------------------------------------------------------------------------
def _blob_arrays(seed, n=120):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=n)
    return rng.normal(size=(n, 2)) + 3.0 * labels[:, None], labels


def blobs(seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.2):
    """Three Gaussian blobs in 2-D, 120 points."""
    X, labels = _blob_arrays(seed)
    return make_splits(X, labels, name="blobs", seed=seed, val_fraction=val_fraction,
                       test_fraction=test_fraction, classes=["a", "b", "c"])


def leaky_blobs(seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.2):
    """Broken: validation is the first rows of training."""
    data = blobs(seed, val_fraction, test_fraction)
    data.X_val, data.y_val = data.X_train[:20].copy(), data.y_train[:20].copy()
    return data


def seedless_blobs(seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.2):
    """Broken: ignores its seed."""
    return blobs(0, val_fraction, test_fraction)


def two_names_blobs(seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.2):
    """Broken: three one-hot columns, two class names."""
    data = blobs(seed, val_fraction, test_fraction)
    data.classes = ["a", "b"]
    return data


def integer_blobs(seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.2):
    """Broken: integer targets."""
    data = blobs(seed, val_fraction, test_fraction)
    data.y_train, data.y_val, data.y_test = (y.astype(np.int64) for y in (data.y_train, data.y_val, data.y_test))
    return data


def fixed_split_blobs(seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.2):
    """Broken: takes val_fraction and test_fraction but always splits 60/20/20."""
    return blobs(seed)


def not_a_dataset(seed: int = 0):
    """Broken: returns a tuple of arrays."""
    return _blob_arrays(seed)


# -- the plugin --------------------------------------------------------------------------------
GOOD = {"layer": ["gaussian_noise"], "activation": ["scaled_tanh"], "loss": ["half_mse"],
        "optimizer": ["lion"], "schedule": ["linear_decay", "linear_warmup"],
        "initializer": ["lecun_like"], "dataset": ["blobs"]}


@hookimpl
def register_layers(register):
    register("gaussian_noise", GaussianNoise)
    register("noise_in_evaluation", NoiseInEvaluation)
    register("undeclared_noise", UndeclaredNoise)


@hookimpl
def register_activations(register):
    register("scaled_tanh", ScaledTanh)
    register("jittery_tanh", JitteryTanh)


@hookimpl
def register_losses(register):
    register("half_mse", HalfMSE)
    register("summed_half_mse", HalfSSE)


@hookimpl
def register_optimizers(register):
    for name, cls in [("lion", Lion), ("lion_uphill", LionUphill), ("lion_cached_lr", LionCachedLr),
                      ("lion_coupled_claim", LionCoupledClaim), ("lion_misdocumented", LionMisdocumented),
                      ("momentum_aliased", MomentumAliased), ("sgd_upcast", SgdUpcast),
                      ("sgd_list_state", SgdListState)]:
        register(name, cls)


@hookimpl
def register_schedules(register):
    for name, cls in [("linear_decay", LinearDecay), ("call_counting", CallCounting),
                      ("overshoot", Overshoot), ("off_by_one", OffByOne),
                      ("linear_warmup", LinearWarmup), ("warmup_over_whole_run", WarmupOverWholeRun)]:
        register(name, cls)


@hookimpl
def register_initializers(register):
    for factory in (lecun_like, keras_fans, std_for_variance, global_numpy, always_float64):
        register(factory.__name__, factory)


@hookimpl
def register_datasets(register):
    for factory in (blobs, leaky_blobs, seedless_blobs, two_names_blobs, integer_blobs,
                    fixed_split_blobs, not_a_dataset):
        register(factory.__name__, factory)
