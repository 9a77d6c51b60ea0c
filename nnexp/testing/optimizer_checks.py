"""Conformance checks for optimizers: the update on a known quadratic, lr read at every step,
weight decay as declared, no aliasing, dtype kept, state and config round trips.

Each check binds the optimizer to a real one-layer network (``W`` (3, 4), ``b`` (3,)) and writes
into its ``grads`` the gradient of the quadratic ``f(θ) = ½ Σ a ⊙ (θ - c)²`` (fixed ``a`` in
[0.5, 2], fixed ``c``) before every ``step()``, as :func:`nnexp.fit` does after backward.

An optimizer tells the kit about itself through class attributes, all optional:

- ``check_options``: options to build it with (a smaller ``lr``, ``momentum``, ...);
- ``decoupled = True``: weight decay shrinks the parameters (AdamW's ``θ ← θ (1 - lr λ)``)
  instead of torch's L2 form (``g ← g + λ θ``, the default);
- ``check_reference(theta, grad, state, t, **config)``: the documented update written plainly
  on float64 arrays, returning the new ``theta`` (``state`` is a dict it may fill, ``t`` counts
  from 1, ``config`` is the optimizer's ``config()``); the kit compares five steps with it.
"""

from __future__ import annotations

import copy
import numbers

import numpy as np

from nnexp.testing import examples as ex
from nnexp.testing.checks import CheckFailure, json_config, require, require_same

WEIGHT_DECAY = 0.1


class Quadratic:
    """``f(θ) = ½ Σ a ⊙ (θ - c)²`` over a network's parameters, ``∇f = a ⊙ (θ - c)``."""

    def __init__(self, network, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.a = {k: rng.uniform(0.5, 2.0, p.shape) for k, p in network.params.items()}
        self.c = {k: rng.normal(size=p.shape) for k, p in network.params.items()}

    def value(self, params: dict) -> float:
        return float(sum(0.5 * np.sum(self.a[k] * (p - self.c[k]) ** 2) for k, p in params.items()))

    def gradient(self, name: str, param: np.ndarray) -> np.ndarray:
        return self.a[name] * (param - self.c[name])

    def write_grads(self, network, decay: float = 0.0) -> dict:
        """Write ``∇f`` (plus ``decay · θ``) into the layers' grads; return copies of them."""
        for name, layer, key in network.param_refs():
            p = layer.params[key]
            layer.grads[key][...] = self.gradient(name, p) + decay * p
        return {k: g.copy() for k, g in network.grads.items()}


def _network(registry, dtype="float64"):
    from nnexp.network import Network

    net = Network([{"type": "dense", "units": 3}], 4, dtype=dtype, seed=0, registry=registry)
    rng = np.random.default_rng(5)
    net.set_params({k: rng.normal(size=p.shape) for k, p in net.params.items()})  # b off zero
    return net


def _snapshot(network) -> dict:
    return {k: p.copy() for k, p in network.params.items()}


def _steps(opt, net, quad, n: int, before_step=None) -> list[dict]:
    """``n`` steps on ``quad``; ``before_step(net, opt)`` may change grads or params first."""
    out = []
    for _ in range(n):
        quad.write_grads(net)
        if before_step is not None:
            before_step(net, opt)
        opt.step()
        out.append(_snapshot(net))
    return out


def _start(component, registry, dtype="float64", **overrides):
    """A fresh optimizer (built with ``overrides`` it accepts), a network and the quadratic."""
    net = _network(registry, dtype)
    opt = ex.make(component, **overrides)
    opt.bind(net)
    return opt, net, Quadratic(net)


def _require_same_trajectory(what: str, got: list[dict], want: list[dict], exact=True, rtol=1e-12):
    for t, (g, w) in enumerate(zip(got, want), 1):
        for k in w:
            if exact:
                require_same(f"{what}: {k} after step {t}", g[k], w[k], exact=True)
            elif not np.allclose(g[k], w[k], rtol=rtol, atol=rtol * 1e-3):
                i = np.unravel_index(np.argmax(np.abs(g[k] - w[k])), w[k].shape)
                raise CheckFailure(f"{what}: {k}{list(map(int, i))} after step {t} is {g[k][i]:.12g}, "
                                   f"expected {w[k][i]:.12g}")


def quadratic_update(component, registry):
    """On ``f(θ) = ½ Σ a (θ - c)²`` the first step moves every parameter entry against its
    gradient, 20 steps lower ``f``, and (with ``check_reference``) 5 steps match the
    documented update."""
    opt, net, quad = _start(component, registry, weight_decay=0.0)
    before, grads = _snapshot(net), quad.write_grads(net)
    opt.step()
    for k, p in net.params.items():
        uphill = (p - before[k]) * grads[k] >= 0
        uphill &= grads[k] != 0
        if uphill.any():
            i = tuple(int(j) for j in np.argwhere(uphill)[0])
            raise CheckFailure(f"first step moved {k}{list(i)} from {before[k][i]:.6g} to {p[i]:.6g} "
                               f"against gradient {grads[k][i]:.6g}: not downhill")
    start = quad.value(before)
    _steps(opt, net, quad, 19)
    require(quad.value(net.params) < start, f"20 steps did not lower f: {start:.6g} -> "
                                            f"{quad.value(net.params):.6g}")
    _reference(component, registry)


def _reference(component, registry) -> None:
    ref = getattr(component.factory, "check_reference", None)
    if ref is None:
        return
    opt, net, quad = _start(component, registry)
    thetas = {k: p.astype(np.float64) for k, p in net.params.items()}
    states: dict[str, dict] = {k: {} for k in thetas}
    want = []
    for t in range(1, 6):
        grads = {k: quad.gradient(k, th) for k, th in thetas.items()}
        thetas = {k: np.asarray(ref(th.copy(), grads[k], states[k], t, **opt.config()), dtype=np.float64)
                  for k, th in thetas.items()}
        want.append(thetas)
    got = _steps(opt, net, quad, 5)
    _require_same_trajectory("against check_reference", got, want, exact=False, rtol=1e-10)


def lr_each_step(component, registry):
    """``lr`` is read at every step (schedules set ``optimizer.lr``): after 3 steps, a step
    with lr halved moves every parameter half as far as the same step with lr unchanged."""
    moves = []
    for scale in (1.0, 0.5):
        opt, net, quad = _start(component, registry, weight_decay=0.0)
        _steps(opt, net, quad, 3)
        before = _snapshot(net)
        opt.lr = opt.lr * scale
        _steps(opt, net, quad, 1)
        moves.append({k: p - before[k] for k, p in net.params.items()})
    full, half = moves
    require(any(np.any(v != 0) for v in full.values()), "a step moved no parameter")
    for k in full:
        if not np.allclose(half[k], full[k] / 2, rtol=1e-6, atol=1e-12 * np.abs(full[k]).max()):
            raise CheckFailure(f"{k}: with lr halved after 3 steps the 4th step moved "
                               f"{np.ravel(half[k])[:3]} instead of {np.ravel(full[k] / 2)[:3]}: "
                               "is lr cached instead of read from self.lr at every step?")


def weight_decay(component, registry):
    """Weight decay as declared: torch's L2 form by default (a step with ``weight_decay=λ`` equals
    the step on ``g + λθ`` without decay), or, with ``decoupled = True``, ``θ ← θ (1 - lr λ)``
    followed by the step on ``g`` (AdamW)."""
    require(ex.accepts(component.factory, "weight_decay"),
            "the factory takes no weight_decay: optimizers are factory(lr=..., weight_decay=..., **options)")
    opt, net, quad = _start(component, registry, weight_decay=WEIGHT_DECAY)
    decoupled = bool(getattr(opt, "decoupled", False))
    got = _steps(opt, net, quad, 4)

    def by_hand(net, undecayed_opt):
        if decoupled:
            for p in net.params.values():
                p *= 1 - undecayed_opt.lr * WEIGHT_DECAY
        else:
            quad.write_grads(net, decay=WEIGHT_DECAY)

    plain, net2, _ = _start(component, registry, weight_decay=0.0)
    form = "decoupled (θ ← θ(1 - lr λ), then the step on g)" if decoupled else "L2 (the step on g + λθ)"
    _require_same_trajectory(f"weight_decay={WEIGHT_DECAY} as declared, {form}",
                             got, _steps(plain, net2, quad, 4, by_hand), exact=False, rtol=1e-9)
    plain, net3, _ = _start(component, registry, weight_decay=0.0)
    undecayed = _steps(plain, net3, quad, 4)
    require(any(not np.array_equal(got[-1][k], undecayed[-1][k]) for k in got[-1]),
            f"weight_decay={WEIGHT_DECAY} changed nothing")


def _state_arrays(opt) -> list[tuple[str, np.ndarray]]:
    """Every array the optimizer keeps as state (``state`` dicts, or ``state_dict()``)."""
    found, todo = [], [("state", opt.state_dict() if hasattr(opt, "state_dict") else getattr(opt, "state", {}))]
    while todo:
        where, value = todo.pop()
        if isinstance(value, np.ndarray):
            found.append((where, value))
        elif isinstance(value, dict):
            todo += [(f"{where}[{k!r}]", v) for k, v in value.items()]
        elif isinstance(value, (list, tuple)):
            todo += [(f"{where}[{i}]", v) for i, v in enumerate(value)]
    return found


def no_aliasing(component, registry):
    """``step()`` updates each parameter array in place (layers and optimizer share them),
    leaves the gradients as they were written, and keeps no state array that shares memory
    with a parameter or a gradient."""
    for decay in (0.0, WEIGHT_DECAY):  # without decay the gradient itself is at hand to alias
        _no_aliasing(*_start(component, registry, weight_decay=decay))


def _no_aliasing(opt, net, quad) -> None:
    arrays = dict(net.params)
    for t in range(1, 4):
        written = quad.write_grads(net)
        opt.step()
        for k, p in net.params.items():
            require(p is arrays[k], f"step {t} replaced {k} instead of updating it in place")
        for k, g in net.grads.items():
            require_same(f"gradient {k} after step {t} (the optimizer must not change it)", g, written[k],
                         exact=True)
        held = [*(("parameter", k, p) for k, p in net.params.items()),
                *(("gradient", k, g) for k, g in net.grads.items())]
        for where, arr in _state_arrays(opt):
            for what, k, p in held:
                require(not np.shares_memory(arr, p), f"optimizer {where} shares memory with {what} "
                                                      f"{k}: keep a copy, not the array itself")


def dtype_kept(component, registry):
    """float32 parameters stay float32 (float64 stay float64), finite, and move."""
    for dtype in ("float32", "float64"):
        opt, net, quad = _start(component, registry, dtype, weight_decay=WEIGHT_DECAY)
        before = _snapshot(net)
        _steps(opt, net, quad, 3)
        for k, p in net.params.items():
            require(p.dtype == np.dtype(dtype), f"{dtype} parameter {k} became {p.dtype}")
            require(np.isfinite(p).all(), f"{dtype} parameter {k} is not finite after 3 steps")
        require(any(not np.array_equal(p, before[k]) for k, p in net.params.items()),
                f"{dtype}: 3 steps left every parameter where it was")


def capture(opt) -> dict:
    """The optimizer's checkpoint: ``state_dict()`` when it defines one, else ``t``, ``lr``,
    ``initial_lr`` and the per-parameter ``state`` (arrays copied)."""
    if hasattr(opt, "state_dict"):
        return {"custom": copy.deepcopy(opt.state_dict())}
    for name, entries in opt.state.items():
        for key, value in entries.items():
            ok = isinstance(value, (np.ndarray, numbers.Number, str, bool)) or value is None
            require(ok, f"state[{name!r}][{key!r}] is a {type(value).__name__}: checkpoints hold numpy "
                        "arrays and numbers only (or define state_dict()/load_state_dict())")
    return {"t": opt.t, "lr": opt.lr, "initial_lr": getattr(opt, "initial_lr", opt.lr),
            "state": copy.deepcopy(opt.state)}


def restore(opt, saved: dict) -> None:
    """Put :func:`capture`'s result into a freshly bound optimizer, buffers laid out as the
    parameters are (as the optimizer made them)."""
    if "custom" in saved:
        opt.load_state_dict(copy.deepcopy(saved["custom"]))
        return
    opt.t, opt.lr, opt.initial_lr = saved["t"], saved["lr"], saved["initial_lr"]
    params = {name: layer.params[key] for name, layer, key in getattr(opt, "_refs", ())}
    for name, entries in saved["state"].items():
        opt.state[name] = {k: _like(v, params.get(name)) for k, v in entries.items()}


def _like(value, param):
    if not isinstance(value, np.ndarray) or param is None or value.shape != param.shape:
        return copy.deepcopy(value)
    out = np.empty_like(param, dtype=value.dtype)
    np.copyto(out, value)
    return out


def state_round_trip(component, registry):
    """The state survives a checkpoint: after 3 steps, its step count, lr and per-parameter
    state (numpy arrays and numbers only: checkpoints are npz/JSON, never pickle) loaded into a
    fresh optimizer on a copy of the parameters give bitwise the same next 3 steps."""
    opt, net, quad = _start(component, registry, weight_decay=WEIGHT_DECAY)
    _steps(opt, net, quad, 3)
    saved = capture(opt)
    twin, net2, _ = _start(component, registry, weight_decay=WEIGHT_DECAY)
    net2.set_params(net.params)
    restore(twin, saved)
    _require_same_trajectory("resumed from its state", _steps(twin, net2, quad, 3), _steps(opt, net, quad, 3))


def config_round_trip(component, registry):
    """``config()`` is JSON-like and ``factory(**config())`` steps bitwise like the original."""
    opt, net, quad = _start(component, registry, weight_decay=WEIGHT_DECAY)
    cfg = json_config(opt)
    twin, net2 = component.factory(**cfg), _network(registry)
    twin.bind(net2)
    _require_same_trajectory(f"rebuilt from config {cfg}", _steps(twin, net2, quad, 3), _steps(opt, net, quad, 3))
