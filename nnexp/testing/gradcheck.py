"""Central-difference gradient checking for activations, losses, layers and whole networks.

``numeric = (L(θ + h) - L(θ - h)) / 2h`` per entry, in float64, beside the analytic gradient
from ``backward``. The relative error of an entry is
``max(|a - n| - noise, 0) / max(|a|, |n|, 1e-3 · max|n| over the tensor)`` where
``noise = 10 ε max(|L|, 1) / h`` is the rounding error of the difference itself (ε = 2.2e-16):
entries that are tiny next to the rest of the tensor (sigmoid tails) or exactly zero (a bias
before batchnorm) do not fail on rounding noise alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nnexp.base import Layer, Loss
from nnexp.errors import ConfigError

DEFAULT_TOL = 1e-6
DEFAULT_EPS = 1e-6


class GradientCheckError(AssertionError):
    """Analytic and numeric gradients disagree; ``.report`` holds the details."""

    def __init__(self, report: GradientReport):
        self.report = report
        super().__init__(str(report))


@dataclass
class TensorError:
    """The worst entry of one tensor's gradient."""

    tensor: str
    index: tuple[int, ...]
    analytic: float
    numeric: float
    rel_error: float

    def describe(self) -> str:
        return (f"{self.tensor}[{', '.join(map(str, self.index))}]: analytic {self.analytic:.10g} "
                f"vs numeric {self.numeric:.10g} (relative error {self.rel_error:.2e})")


@dataclass
class GradientReport:
    """Per-tensor worst errors of one check; ``worst`` is the worst over all tensors."""

    target: str
    tol: float = DEFAULT_TOL
    tensors: list[TensorError] = field(default_factory=list)

    @property
    def worst(self) -> TensorError | None:
        return max(self.tensors, key=lambda t: t.rel_error, default=None)

    @property
    def max_error(self) -> float:
        worst = self.worst  # None exactly when there are no tensors
        return worst.rel_error if worst is not None else 0.0

    @property
    def ok(self) -> bool:
        return self.max_error <= self.tol

    def raise_if_failed(self) -> GradientReport:
        if not self.ok:
            raise GradientCheckError(self)
        return self

    def __str__(self):
        head = (f"gradient check of {self.target}: worst relative error {self.max_error:.2e} "
                f"({'ok' if self.ok else 'FAILED'}, tolerance {self.tol:.0e})")
        return "\n".join([head] + [f"  {t.describe()}" for t in self.tensors])


def compare(name: str, analytic: np.ndarray, numeric: np.ndarray, indices, noise: float = 1e-10) -> TensorError:
    """The worst entry of ``analytic[indices]`` against ``numeric`` (same order); differences
    below ``noise`` (the finite difference's rounding error) do not count."""
    a = np.array([analytic[i] for i in indices], dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if a.size == 0:
        return TensorError(name, (), 0.0, 0.0, 0.0)
    floor = max(1e-3 * float(np.abs(n).max()), np.finfo(np.float64).tiny)
    err = np.maximum(np.abs(a - n) - noise, 0) / np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)
    k = int(np.nanargmax(err)) if not np.isnan(err).all() else 0
    rel = float(err[k]) if np.isfinite(err[k]) else float("inf")
    return TensorError(name, tuple(int(i) for i in indices[k]), float(a[k]), float(n[k]), rel)


def pick_indices(shape, max_entries: int | None, rng: np.random.Generator) -> list[tuple]:
    """Every index of ``shape``, or ``max_entries`` of them drawn without replacement."""
    all_idx = list(np.ndindex(*shape))
    if max_entries is None or len(all_idx) <= max_entries:
        return all_idx
    chosen = rng.choice(len(all_idx), size=max_entries, replace=False)
    return [all_idx[i] for i in sorted(chosen)]


def numeric_gradient(f: Callable[[], float], x: np.ndarray, indices, eps: float = DEFAULT_EPS):
    """Central differences of ``f()`` w.r.t. ``x[i]`` for each index; ``x`` is restored."""
    out = np.empty(len(indices))
    for k, i in enumerate(indices):
        old = x[i]
        x[i] = old + eps
        up = f()
        x[i] = old - eps
        down = f()
        x[i] = old
        out[k] = (up - down) / (2 * eps)
    return out


def rewinder(rng: np.random.Generator | None) -> Callable[[], None]:
    """A function that puts ``rng`` back to its present state, so a stochastic layer draws
    the same mask at every evaluation of the loss."""
    state = rng.bit_generator.state if rng is not None else None

    def rewind():
        if rng is not None:
            rng.bit_generator.state = state

    return rewind


def _require_float64(name: str, arrays) -> None:
    for key, arr in arrays:
        if arr.dtype != np.float64:
            raise ConfigError(f"gradient check of {name}: {key} dtype", str(arr.dtype),
                              "float64 (build the component with dtype float64)")


WRT = ("all", "input", "params")


def _wrt(wrt: str, x: np.ndarray, params: dict) -> dict:
    """The tensors to differentiate: the input, the parameters or both (``wrt``)."""
    if wrt not in WRT:
        raise ConfigError("gradient check wrt", wrt, " or ".join(map(repr, WRT)))
    tensors = {"input": x} if wrt != "params" else {}
    if wrt != "input":
        tensors.update(params)
    return tensors


def _check(target: str, f, analytic: dict, tensors: dict, eps, tol, max_entries, seed) -> GradientReport:
    """Compare each analytic gradient against central differences of ``f`` in its tensor."""
    rng = np.random.default_rng(seed)
    report = GradientReport(target, tol)
    noise = 10 * np.finfo(np.float64).eps * max(abs(f()), 1.0) / eps
    for name, arr in tensors.items():
        idx = pick_indices(arr.shape, max_entries, rng)
        report.tensors.append(compare(name, analytic[name], numeric_gradient(f, arr, idx, eps), idx, noise))
    return report


def check_loss_gradients(loss: Loss, y_pred, y_true, *, from_logits=False, eps=DEFAULT_EPS,
                         tol=DEFAULT_TOL, max_entries=None, seed=0) -> GradientReport:
    """dL/dy_pred of ``loss.forward(y_pred, y_true)`` against central differences."""
    y_pred = np.array(y_pred, dtype=np.float64)
    y_true = np.asarray(y_true, dtype=np.float64)
    loss.forward(y_pred, y_true, from_logits=from_logits)
    analytic = {"y_pred": np.array(loss.backward(), dtype=np.float64)}

    def f():
        return loss.forward(y_pred, y_true, from_logits=from_logits)

    name = f"loss {type(loss).__name__}" + (" (from logits)" if from_logits else "")
    return _check(name, f, analytic, {"y_pred": y_pred}, eps, tol, max_entries, seed)


def check_layer_gradients(layer: Layer, x, *, training=True, wrt="all", dropout_rng=None,
                          eps=DEFAULT_EPS, tol=DEFAULT_TOL, max_entries=None, seed=0) -> GradientReport:
    """dL/dx and dL/dparam of a built layer (or activation) for ``L = Σ R ⊙ layer(x)``, R random.

    ``wrt``: ``"all"``, ``"input"`` or ``"params"``. ``dropout_rng``: the generator a stochastic
    layer draws from, rewound before every forward so each evaluation sees the same mask.
    """
    x = np.array(x, dtype=np.float64)
    _require_float64(type(layer).__name__, layer.params.items())
    rewind = rewinder(dropout_rng)
    rewind()
    out = layer.forward(x, training)
    proj = np.random.default_rng(seed + 1).normal(size=out.shape)
    grad_in = layer.backward(proj.copy())
    analytic = {"input": np.array(grad_in, dtype=np.float64)}
    analytic.update({k: np.array(g, dtype=np.float64) for k, g in layer.grads.items()})

    def f():
        rewind()
        return float(np.sum(proj * layer.forward(x, training)))

    return _check(type(layer).__name__, f, analytic, _wrt(wrt, x, layer.params), eps, tol, max_entries, seed)


def check_network_gradients(network, X, y, loss="mse", *, training=True, wrt="all",
                            eps=DEFAULT_EPS, tol=DEFAULT_TOL, max_entries=64, seed=0) -> GradientReport:
    """dL/dX and every dL/d(param) (by name, ``dense_0.W``) of a float64 network under ``loss``."""
    if isinstance(loss, (str, dict)):
        loss = network.registry.create("loss", loss)
    X = np.array(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    _require_float64("network", network.params.items())
    rewind = rewinder(network.rngs["dropout"])
    rewind()
    loss.forward(network.forward(X, training), y)
    grad_in = network.backward(loss.backward())
    analytic = {"input": np.array(grad_in), **{k: np.array(g) for k, g in network.grads.items()}}

    def f():
        rewind()
        return loss.forward(network.forward(X, training), y)

    return _check(repr(network), f, analytic, _wrt(wrt, X, network.params), eps, tol, max_entries, seed)


def check_gradients(target, x=None, y=None, **options) -> GradientReport:
    """Check the gradients of a :class:`Loss` (``x`` = y_pred, ``y`` = targets), a
    :class:`Network` (``x`` = inputs, ``y`` = targets, ``loss=``), or a built :class:`Layer` /
    activation (``x`` = inputs). Returns a :class:`GradientReport`; see the ``check_*_gradients``
    functions for the options."""
    from nnexp.network import Network

    if isinstance(target, Loss):
        return check_loss_gradients(target, x, y, **options)
    if isinstance(target, Network):
        return check_network_gradients(target, x, y, **options)
    if isinstance(target, Layer):
        return check_layer_gradients(target, x, **options)
    raise ConfigError("check_gradients target", type(target).__name__, "a Loss, Layer, Activation or Network")


def assert_gradients(target, x=None, y=None, **options) -> GradientReport:
    """:func:`check_gradients`, raising :class:`GradientCheckError` (analytic beside numeric)
    when the worst relative error exceeds ``tol``."""
    return check_gradients(target, x, y, **options).raise_if_failed()
