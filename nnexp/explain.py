"""The chain rule on real numbers: every factor of one forward and backward pass.

:func:`explain` runs a network on one sample in float64 and returns each factor in the
tutorial's notation (``z1, a1, …, L, ∂L/∂a2, ∂a2/∂z2, δ2, ∂L/∂W2, …``), each derivative beside
its central finite difference. Layer ``k`` ("stage") is a layer with a weight matrix ``W``
followed by everything up to the next one (its activation, dropout, …), so the notation
extends to any depth and to any registered component::

    z_k = W_k a_{k-1} + b_k     a_k = f_k(z_k)     (a_0 = x)
    δ_K = ∂L/∂a_K · ∂a_K/∂z_K   δ_k = (W_{k+1}ᵀ δ_{k+1}) · ∂a_k/∂z_k
    ∂L/∂W_k = δ_k a_{k-1}ᵀ      ∂L/∂b_k = δ_k
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from nnexp.errors import ShapeError

#: SPEC.md's worked example: the tutorial's network, sample and target.
SPEC_PARAMS = {
    "dense_0.W": [[0.1, -0.2, 0.3, 0.4], [-0.5, 0.6, -0.1, 0.2]],
    "dense_0.b": [0.05, -0.05],
    "dense_1.W": [[0.3, -0.6], [0.8, 0.1], [-0.4, 0.5]],
    "dense_1.b": [0.1, -0.2, 0.0],
}
SPEC_X = [0.5, -1.0, 2.0, 0.25]
SPEC_Y = [1.0, 0.0, 0.5]
SPEC_LOSS = "half_squared_error"
FD_STEP = 1e-6


@dataclass
class Factor:
    """One factor: its symbol (``δ2``), how it is computed, its value and, for derivatives,
    the central finite difference of the same quantity (None for forward values)."""

    symbol: str
    formula: str
    value: np.ndarray
    numeric: np.ndarray | None = None

    @property
    def max_abs_diff(self) -> float | None:
        if self.numeric is None:
            return None
        return float(np.max(np.abs(self.value - self.numeric), initial=0.0))

    def to_dict(self) -> dict:
        return {"symbol": self.symbol, "formula": self.formula, "shape": list(np.shape(self.value)),
                "value": np.asarray(self.value).tolist(),
                "finite_difference": None if self.numeric is None else self.numeric.tolist(),
                "max_abs_diff": self.max_abs_diff}


@dataclass
class Explanation:
    """All factors of one pass, in the order the chain rule uses them."""

    layers: list[str]
    loss: str
    x: np.ndarray
    y: np.ndarray
    params: dict[str, np.ndarray]
    factors: list[Factor] = field(default_factory=list)
    #: network parameter name (``dense_0.W``) -> symbol (``W1``)
    param_symbols: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, symbol: str) -> Factor:
        for f in self.factors:
            if f.symbol == symbol:
                return f
        raise KeyError(f"no factor {symbol!r}; factors: {', '.join(self.symbols)}")

    @property
    def symbols(self) -> list[str]:
        return [f.symbol for f in self.factors]

    def to_dict(self) -> dict:
        return {"layers": self.layers, "loss": self.loss, "x": self.x.tolist(), "y": self.y.tolist(),
                "params": {k: v.tolist() for k, v in self.params.items()},
                "param_symbols": self.param_symbols,
                "factors": [f.to_dict() for f in self.factors]}

    def to_text(self, decimals: int = 10) -> str:
        return render(self, decimals)


# -- networks to explain --------------------------------------------------------------------
def tutorial_network(registry=None):
    """The tutorial's 4 -> 2 ReLU -> 3 sigmoid network with SPEC.md's weights, in float64."""
    from nnexp.network import Network

    net = Network.mlp(4, [2], 3, activation="relu", output_activation="sigmoid",
                      dtype="float64", registry=registry)
    net.set_params(SPEC_PARAMS)
    return net


def as_float64(net):
    """``net`` itself when it is float64, else a float64 copy with the same parameters (a
    run's float32 network is explained in float64, so finite differences are meaningful)."""
    if net.dtype == np.float64:
        return net
    from nnexp.network import Network

    copy = Network.from_spec({**net.spec(), "dtype": "float64"}, registry=net.registry)
    copy.set_params({k: v.astype(np.float64) for k, v in net.params.items()})
    return copy


def sample_for(net, loss, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A random sample ``x ~ N(0, 1)`` and a target ``y`` in the loss's domain: one-hot after
    softmax or for losses of distributions (kl_div), 0/1 for binary losses, in (0, 1) after a sigmoid, else ``N(0, 1)``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=net.input_shape)
    n_out = int(np.prod(net.output_shape))
    if net.types[-1] == "softmax" or getattr(loss, "check_targets", None) in ("onehot", "probabilities"):
        y = np.eye(n_out)[rng.integers(n_out)]
    elif getattr(loss, "check_targets", None) == "binary":
        y = rng.integers(0, 2, size=n_out).astype(np.float64)
    elif net.types[-1] == "sigmoid":
        y = rng.uniform(0.05, 0.95, size=n_out)
    else:
        y = rng.normal(size=n_out)
    return x, y


# -- the computation ------------------------------------------------------------------------
def stages(net) -> list[tuple[int, int]]:
    """``(start, end)`` layer ranges: stage k starts at a layer with a weight ``W`` (or at 0)."""
    starts = [i for i, layer in enumerate(net.layers) if i == 0 or "W" in layer.params]
    return list(zip(starts, [*starts[1:], len(net.layers)]))


def _run(layers: Sequence, h: np.ndarray) -> np.ndarray:
    for layer in layers:
        h = layer.forward(h, False)
    return h


def finite_difference(f: Callable[[np.ndarray], np.ndarray], point: np.ndarray,
                      step: float = FD_STEP) -> np.ndarray:
    """Central differences ``(f(p + h e_i) - f(p - h e_i)) / 2h``: shape ``f(p).shape + p.shape``
    (the Jacobian ``J[i, j] = ∂f_i/∂p_j``; the gradient when ``f`` is a scalar)."""
    point = np.array(point, dtype=np.float64)
    cols = []
    for i in range(point.size):
        plus, minus = point.copy(), point.copy()
        plus.flat[i] += step
        minus.flat[i] -= step
        cols.append((np.asarray(f(plus)) - np.asarray(f(minus))) / (2 * step))
    out = np.stack(cols, axis=-1)
    return out.reshape(np.shape(f(point)) + point.shape)


def jacobian(layers: Sequence, h: np.ndarray) -> np.ndarray:
    """``J[i, j] = ∂out_i/∂h_j`` of ``layers`` at one sample ``h`` (1-D), via their backward."""
    n_out = _run(layers, h[None]).shape[1]
    rows = []
    for i in range(n_out):
        _run(layers, h[None])  # refresh each layer's cache for this backward
        g = np.eye(n_out)[i][None]
        for layer in reversed(layers):
            g = layer.backward(g)
        rows.append(g[0])
    return np.array(rows)


def explain(network=None, x=None, y=None, loss=SPEC_LOSS, registry=None) -> Explanation:
    """Every factor of one forward and backward pass of ``network`` (default: the tutorial's
    with SPEC.md's weights) on one sample ``x`` ``(n_in,)`` with target ``y`` ``(n_out,)``.
    A missing ``x`` or ``y`` is SPEC.md's for the tutorial, else drawn by :func:`sample_for`."""
    from nnexp.base import Loss
    from nnexp.train import resolve

    net = as_float64(network) if network is not None else tutorial_network(registry)
    loss_obj = resolve(registry or net.registry, "loss", loss, Loss)
    if x is None or y is None:
        x0, y0 = (SPEC_X, SPEC_Y) if network is None else sample_for(net, loss_obj)
        x, y = x0 if x is None else x, y0 if y is None else y
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    _check_sample(net, x, y)
    out = Explanation(list(net.names), _loss_name(loss, loss_obj), x, y,
                      {k: v.copy() for k, v in net.params.items()}, param_symbols=_param_symbols(net))
    _forward_factors(net, x, y, loss_obj, out)
    _backward_factors(net, x, y, loss_obj, out)
    return out


def _loss_name(spec, loss_obj) -> str:
    return spec if isinstance(spec, str) else getattr(loss_obj, "type_name", type(loss_obj).__name__)


def _check_sample(net, x, y) -> None:
    if x.shape != net.input_shape:
        raise ShapeError(f"explain: x has {x.size} values but the network takes {net.input_shape}.")
    if (y.size,) != (int(np.prod(net.output_shape)),):
        raise ShapeError(f"explain: y has {y.size} values but the network outputs {net.output_shape}.")


def _symbol_of_param(net, index: int, key: str, k: int) -> str:
    """``W2`` for the stage's first layer's params, ``batchnorm_0.gamma`` for the others."""
    return f"{key}{k}" if index == stages(net)[k - 1][0] else f"{net.names[index]}.{key}"


def _param_symbols(net) -> dict[str, str]:
    return {f"{net.names[i]}.{key}": _symbol_of_param(net, i, key, k)
            for k, (start, end) in enumerate(stages(net), 1)
            for i in range(start, end) for key in net.layers[i].params}


def _describe(net, start: int, end: int, k: int) -> tuple[str, str]:
    """Formulas for ``z_k`` and ``a_k`` in the tutorial's notation."""
    prev = "x" if k == 1 else f"a{k - 1}"
    first = net.layers[start]
    if "W" in first.params:
        z = f"W{k} {prev}" + (f" + b{k}" if "b" in first.params else "")
    else:
        z = f"{net.types[start]}({prev})"
    a = f"z{k}"
    for t in net.types[start + 1:end]:
        a = f"{t}({a})"
    return z, a


def _forward_factors(net, x, y, loss_obj, out: Explanation) -> None:
    net.forward(x[None])
    for k, (start, end) in enumerate(stages(net), 1):
        z_formula, a_formula = _describe(net, start, end, k)
        out.factors.append(Factor(f"z{k}", z_formula, net.outputs[start][0].copy()))
        if end - start > 1:
            out.factors.append(Factor(f"a{k}", a_formula, net.outputs[end - 1][0].copy()))
    K = len(stages(net))
    value = loss_obj.forward(net.outputs[-1], y[None])
    out.factors.append(Factor("L", f"{out.loss}(a{K}, y)", np.asarray(value)))


def _layer_grads(net, x, y, loss_obj) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Analytic pass: ``grad_in[i]`` = dL/d(input of layer i); copies of every layer's grads."""
    net.forward(x[None])
    loss_obj.forward(net.outputs[-1], y[None])
    g = loss_obj.backward()
    grad_in: list = [None] * len(net.layers) + [g]
    for i in reversed(range(len(net.layers))):
        g = net.layers[i].backward(g)
        grad_in[i] = g
    return grad_in, {k: v.copy() for k, v in net.grads.items()}


def _backward_factors(net, x, y, loss_obj, out: Explanation) -> None:
    grad_in, grads = _layer_grads(net, x, y, loss_obj)
    acts = [x] + [o[0].copy() for o in net.outputs]  # acts[i] = input of layer i
    spans = stages(net)

    def loss_from(i):  # L as a function of the input of layer i
        return lambda h: loss_obj.forward(_run(net.layers[i:], h[None]), y[None])

    for k in range(len(spans), 0, -1):
        start, end = spans[k - 1]
        if end - start > 1:
            _stage_activation(net, out, k, start, end, acts, grad_in, loss_from)
        if end - start == 1:  # no activation: a_k = z_k, so δ_k = ∂L/∂z_k directly
            out.factors.append(Factor(f"δ{k}", f"∂L/∂z{k} = {_dl_formula(k, len(spans), out.loss)}",
                                      grad_in[end][0], finite_difference(loss_from(end), acts[end])))
        _stage_params(net, out, k, start, end, acts, grads, loss_from)
        if k > 1:
            _stage_input(net, out, k, start, acts)


def _dl_formula(k: int, K: int, loss: str) -> str:
    return f"{loss}'(a{K}, y)" if k == K else f"W{k + 1}ᵀ δ{k + 1}"


def _stage_activation(net, out, k, start, end, acts, grad_in, loss_from) -> None:
    """``∂L/∂a_k``, ``∂a_k/∂z_k`` (the diagonal when element-wise) and ``δ_k``."""
    K = len(stages(net))
    out.factors.append(Factor(f"∂L/∂a{k}", _dl_formula(k, K, out.loss), grad_in[end][0],
                              finite_difference(loss_from(end), acts[end])))
    segment = net.layers[start + 1:end]
    z = acts[start + 1]
    J = jacobian(segment, z)
    J_fd = finite_difference(lambda h: _run(segment, h[None])[0], z)
    f_names = "∘".join(reversed(net.types[start + 1:end]))
    if J.shape[0] == J.shape[1] and not np.any(J - np.diag(np.diag(J))):
        out.factors.append(Factor(f"∂a{k}/∂z{k}", f"{f_names}'(z{k}) (element-wise)",
                                  np.diag(J).copy(), np.diag(J_fd).copy()))
    else:
        out.factors.append(Factor(f"∂a{k}/∂z{k}", f"Jacobian of {f_names} at z{k}", J, J_fd))
    out.factors.append(Factor(f"δ{k}", f"∂L/∂z{k} = ∂L/∂a{k} · ∂a{k}/∂z{k}",
                              grad_in[start + 1][0], finite_difference(loss_from(start + 1), z)))


def _stage_params(net, out, k, start, end, acts, grads, loss_from) -> None:
    """``∂L/∂W_k``, ``∂L/∂b_k`` (and any other parameter of the stage's layers)."""
    prev = "x" if k == 1 else f"a{k - 1}"
    for i in range(start, end):
        for key, param in net.layers[i].params.items():
            sym = _symbol_of_param(net, i, key, k)
            formula = {"W": f"δ{k} {prev}ᵀ", "b": f"δ{k}"}.get(key, "") if i == start else ""
            out.factors.append(Factor(f"∂L/∂{sym}", formula, grads[f"{net.names[i]}.{key}"],
                                      _param_fd(net, param, loss_from(0), acts[0])))


def _param_fd(net, param: np.ndarray, loss_of_input, x) -> np.ndarray:
    original = param.copy()

    def loss_at(value):
        param[...] = value
        return loss_of_input(x)

    try:
        return finite_difference(loss_at, original)
    finally:
        param[...] = original


def _stage_input(net, out, k, start, acts) -> None:
    """``∂z_k/∂a_{k-1}``: the Jacobian of stage k's first layer (``W_k`` for a dense layer)."""
    layer = [net.layers[start]]
    a_prev = acts[start]
    formula = f"W{k}" if "W" in net.layers[start].params else f"Jacobian of {net.types[start]}"
    out.factors.append(Factor(f"∂z{k}/∂a{k - 1}", formula, jacobian(layer, a_prev),
                              finite_difference(lambda h: _run(layer, h[None])[0], a_prev)))


# -- text -----------------------------------------------------------------------------------
def _fmt(value, decimals: int) -> list[str]:
    """Lines of an array (or scalar) with fixed decimals, so columns line up."""
    arr = np.asarray(value, dtype=np.float64) + 0.0  # + 0.0 turns -0.0 into 0.0
    if arr.ndim == 0:
        return [f"{float(arr): .{decimals}f}"]
    text = np.array2string(arr, max_line_width=10_000, threshold=10_000,
                           formatter={"float_kind": lambda v: f"{v: .{decimals}f}"})
    return text.splitlines()


def _side_by_side(left: list[str], right: list[str], indent: str = "    ") -> list[str]:
    width = max(map(len, left), default=0) + 4
    rows = max(len(left), len(right))
    left, right = left + [""] * (rows - len(left)), right + [""] * (rows - len(right))
    return [f"{indent}{a:<{width}}{b}".rstrip() for a, b in zip(left, right)]


def _factor_lines(f: Factor, decimals: int) -> list[str]:
    head = f"{f.symbol} = {f.formula}" if f.formula else f.symbol
    head += f"    shape {tuple(np.shape(f.value))}" if np.ndim(f.value) else ""
    if f.numeric is None:
        return [head, *(f"    {line}" for line in _fmt(f.value, decimals))]
    left = ["analytic", *_fmt(f.value, decimals)]
    right = ["finite difference", *_fmt(f.numeric, decimals)]
    return [head, *_side_by_side(left, right), f"    max |analytic - finite difference| = "
            f"{f.max_abs_diff:.1e}"]


def render(ex: Explanation, decimals: int = 10) -> str:
    """The explanation as text: the sample and parameters, then each factor in order."""
    lines = ["One forward and backward pass, float64, on one sample",
             f"network: x -> {' -> '.join(ex.layers)} -> L = {ex.loss}(output, y)",
             f"x = {' '.join(_fmt(ex.x, decimals))}", f"y = {' '.join(_fmt(ex.y, decimals))}", ""]
    lines.append("Parameters")
    for name, value in ex.params.items():
        symbol = ex.param_symbols.get(name, name)
        label = f"{symbol} ({name})" if symbol != name else name
        lines += [f"  {label}    shape {value.shape}", *(f"    {line}" for line in _fmt(value, decimals))]
    backward = False
    lines += ["", "Forward pass"]
    for f in ex.factors:
        if f.numeric is not None and not backward:
            backward = True
            lines += ["", "Backward pass (chain rule), each factor beside its central finite "
                      f"difference (step {FD_STEP:g})"]
        lines += ["  " + line for line in _factor_lines(f, decimals)]
    return "\n".join(lines) + "\n"
