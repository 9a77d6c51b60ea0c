"""The conformance checks for activations and layers (losses: :mod:`.loss_checks`).

Each check is ``check(component, registry=None)`` for a registered
:class:`nnexp.registry.Component`, raising :class:`CheckFailure` with analytic beside numeric
values when the component misbehaves. Gradient checks run in float64 (tolerance 1e-6).
"""

from __future__ import annotations

import json

import numpy as np

from nnexp.testing import examples as ex
from nnexp.testing.gradcheck import (
    DEFAULT_TOL,
    check_layer_gradients,
    compare,
    numeric_gradient,
    rewinder,
)

MODES = {True: "training", False: "evaluation"}


class CheckFailure(AssertionError):
    """A component failed a conformance check; ``.report`` is the GradientReport, if any."""

    def __init__(self, message: str, report=None):
        self.report = report
        super().__init__(message)


def require(ok, message: str, report=None) -> None:
    if not ok:
        raise CheckFailure(message, report)


def require_same(name: str, got, want, exact: bool = False) -> None:
    """Arrays equal (bitwise with ``exact``, else to 1e-12 relative), or a failure naming them."""
    got, want = np.asarray(got), np.asarray(want)
    same = got.shape == want.shape and (np.array_equal(got, want) if exact else
                                         np.allclose(got, want, rtol=1e-12, atol=1e-12))
    if not same:
        diff = np.abs(got.astype(float) - want.astype(float)).max() if got.shape == want.shape else "shape"
        raise CheckFailure(f"{name}: got {np.array2string(got.ravel()[:6], precision=6)} "
                           f"expected {np.array2string(want.ravel()[:6], precision=6)} (max difference {diff})")


def _gradient_report(report, mode: str) -> None:
    require(report.ok, f"{mode}: {report}", report)


# -- layers and activations ----------------------------------------------------------------
def _layer_gradients(component, registry, wrt):
    for training in (True, False):
        built = ex.build_layer(component, registry)
        ex.perturb_params(built.obj, seed=1)
        if wrt == "params" and not built.obj.params:
            return
        x = ex.layer_input(built, seed=2)
        _gradient_report(check_layer_gradients(built.obj, x, training=training, wrt=wrt,
                                               dropout_rng=built.dropout_rng), MODES[training])


def input_gradient(component, registry):
    """dL/dx from backward matches central differences, in training and evaluation."""
    _layer_gradients(component, registry, "input")


def param_gradients(component, registry):
    """Every dL/dparam in ``grads`` matches central differences, in training and evaluation."""
    _layer_gradients(component, registry, "params")


def derivative(component, registry):
    """``forward`` equals ``f``; ``df`` equals the numeric derivative of ``f`` (its diagonal for
    non-element-wise activations); element-wise backward equals ``g ⊙ df(z)``."""
    built = ex.build_layer(component, registry)
    act, z = built.obj, ex.layer_input(built, seed=2)
    a = act.f(z)
    require_same("forward(z) vs f(z)", act.forward(z.copy(), True), a)
    idx = list(np.ndindex(*z.shape))
    numeric = [numeric_gradient(lambda i=i: float(act.f(z)[i]), z, [i])[0] for i in idx]
    dz = act.df(z)
    require(np.shape(dz) == z.shape, f"df(z) has shape {np.shape(dz)}, expected {z.shape}")
    worst = compare("df(z)", dz, numeric, idx)
    require(worst.rel_error <= DEFAULT_TOL, f"df does not match the derivative of f: {worst.describe()}")
    if getattr(act, "elementwise", True):
        g = np.random.default_rng(3).normal(size=z.shape)
        act.forward(z, True)
        require_same("backward(g) vs g * df(z)", act.backward(g), g * dz)


def _shape_dtype_once(component, registry, dtype):
    built = ex.build_layer(component, registry, dtype=dtype)
    layer, x = built.obj, ex.layer_input(built, seed=2, dtype=dtype)
    want = (len(x), *built.output_shape)
    for training, mode in MODES.items():
        y = layer.forward(x, training)
        require(y.shape == want and y.dtype == x.dtype,
                 f"{dtype} {mode} forward returned {y.dtype} {y.shape}, expected {dtype} {want}")
        g = layer.backward(np.ones_like(y))
        require(g.shape == x.shape and g.dtype == x.dtype,
                 f"{dtype} {mode} backward returned {g.dtype} {g.shape}, expected {dtype} {x.shape}")
        for k, p in layer.params.items():
            gk = layer.grads.get(k)
            require(p.dtype == x.dtype and gk is not None and gk.shape == p.shape and gk.dtype == p.dtype,
                     f"{dtype}: param {k!r} is {p.dtype} {p.shape} but its grad is "
                     f"{None if gk is None else (gk.dtype, gk.shape)}; both should be {dtype} {p.shape}")
    if component.kind == "activation":
        for fn in ("f", "df"):
            out = getattr(layer, fn)(x)
            require(out.shape == x.shape and out.dtype == x.dtype,
                     f"{dtype} {fn}(z) returned {out.dtype} {out.shape}, expected {dtype} {x.shape}")


def shape_and_dtype(component, registry):
    """Outputs have the built shape; float32 and float64 are preserved through forward,
    backward and grads."""
    for dtype in ("float32", "float64"):
        _shape_dtype_once(component, registry, dtype)


def batch_independence(component, registry):
    """Changing the other samples of a batch changes neither one sample's output nor its
    input gradient (evaluation only for ``batch_independent = False`` components)."""
    built = ex.build_layer(component, registry)
    ex.perturb_params(built.obj, seed=1)
    x = ex.layer_input(built, seed=2)
    x2 = x.copy()
    x2[1:] = ex.layer_input(built, seed=3)[1:]
    modes = (True, False) if getattr(built.obj, "batch_independent", True) else (False,)
    rewind = rewinder(built.dropout_rng)
    for training in modes:
        runs = []
        for inputs in (x, x2):
            rewind()
            y = built.obj.forward(inputs, training).copy()
            g = np.random.default_rng(4).normal(size=y.shape)
            runs.append((y[0], built.obj.backward(g)[0].copy()))
        require_same(f"{MODES[training]} output of sample 0 after changing the others", runs[1][0], runs[0][0])
        require_same(f"{MODES[training]} input gradient of sample 0 after changing the others",
                      runs[1][1], runs[0][1])


def inputs_not_mutated(component, registry):
    """forward/backward (and f/df) leave their input arrays and the parameters unchanged."""
    built = ex.build_layer(component, registry)
    layer, x = built.obj, ex.layer_input(built, seed=2)
    x0, params0 = x.copy(), {k: p.copy() for k, p in layer.params.items()}
    for training, mode in MODES.items():
        y = layer.forward(x, training)
        g = np.random.default_rng(4).normal(size=y.shape)
        g0 = g.copy()
        layer.backward(g)
        require_same(f"{mode} input x after forward/backward", x, x0, exact=True)
        require_same(f"{mode} grad_out after backward", g, g0, exact=True)
    if component.kind == "activation":
        layer.f(x), layer.df(x)
        require_same("z after f(z) and df(z)", x, x0, exact=True)
    for k, p in layer.params.items():
        require_same(f"param {k!r} after forward/backward (only optimizers update)", p, params0[k], exact=True)


def _buffers(layer) -> dict:
    return {k: v.copy() for k, v in getattr(layer, "buffers", {}).items()}


def modes(component, registry):
    """Evaluation is deterministic: ``forward(x, training=False)`` draws no random numbers,
    changes no buffers and gives the same output twice. In training only a layer marked
    ``stochastic`` draws, and only from ``ctx.dropout_rng`` (rewound, it repeats its output)."""
    built = ex.build_layer(component, registry)
    layer, x, rng = built.obj, ex.layer_input(built, seed=2), built.dropout_rng
    ex.perturb_params(layer, seed=1)
    for training in (False, True):
        mode, before, buffers = MODES[training], rng.bit_generator.state, _buffers(layer)
        first = layer.forward(x, training).copy()
        drew = rng.bit_generator.state != before
        rng.bit_generator.state = before
        second = layer.forward(x, training)
        if training:
            require(not drew or getattr(layer, "stochastic", False),
                    "training forward draws from ctx.dropout_rng but the layer does not set "
                    "stochastic = True")
        else:
            require(not drew, "evaluation forward drew random numbers from ctx.dropout_rng: "
                              "in evaluation a layer must be deterministic (noise and dropout "
                              "belong to training only)")
            for k, v in _buffers(layer).items():
                require_same(f"buffer {k!r} after evaluation forwards (only training updates it)",
                             v, buffers[k], exact=True)
        rewound = " (ctx.dropout_rng rewound)" if training else ""
        require_same(f"{mode} output of a second forward on the same input{rewound}", second, first,
                     exact=True)


def _layer_run(component, registry, seed, opts=None):
    """Params, training output, input gradient and grads of one fresh build (for comparisons)."""
    built = ex.build_layer(component, registry, seed=seed, opts=opts)
    layer, x = built.obj, ex.layer_input(built, seed=2)
    params = {k: p.copy() for k, p in layer.params.items()}
    outs = {}
    for training, mode in MODES.items():
        y = layer.forward(x, training)
        outs[f"{mode} output"] = y.copy()
        outs[f"{mode} input gradient"] = layer.backward(np.random.default_rng(4).normal(size=y.shape)).copy()
        outs.update({f"{mode} grad {k!r}": g.copy() for k, g in layer.grads.items()})
    return {**{f"initial param {k!r}": v for k, v in params.items()}, **outs}


def _require_same_runs(first: dict, second: dict, what: str) -> None:
    require(first.keys() == second.keys(), f"{what}: different parameters {sorted(first)} vs {sorted(second)}")
    for key in first:
        require_same(f"{what}: {key}", second[key], first[key], exact=True)


def determinism(component, registry):
    """Two builds from the same seed give bitwise-identical parameters, outputs and gradients."""
    _require_same_runs(_layer_run(component, registry, 7), _layer_run(component, registry, 7),
                       "two builds from seed 7")


def json_config(obj) -> dict:
    cfg = obj.config()
    try:
        json.dumps(cfg)
    except TypeError as exc:
        raise CheckFailure(f"config() must be JSON-like (it goes into configs and saved specs): {exc}") from None
    return cfg


def config_round_trip(component, registry):
    """``factory(**config())`` builds a component that behaves bitwise like the original."""
    cfg = json_config(ex.build_layer(component, registry).obj)
    _require_same_runs(_layer_run(component, registry, 3), _layer_run(component, registry, 3, cfg),
                       f"rebuilt from config {cfg}")
