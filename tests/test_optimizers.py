"""Optimizers and schedules: trajectories against PyTorch and against the documented formulas
worked out independently on scalars; hyperparameter validation; schedules inside fit."""

import math

import numpy as np
import pytest

import nnexp
from nnexp.errors import ConfigError, UnknownComponentError

#: (registry name, options); option names are torch.optim's, so the same dict builds both.
CASES = [
    ("sgd", {"lr": 0.1}),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "dampening": 0.2, "weight_decay": 0.01}),
    ("sgd", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1}),
    ("adam", {"lr": 0.01}),
    ("adam", {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1, "amsgrad": True}),
    ("adamw", {"lr": 0.01, "weight_decay": 0.1}),
    ("adamw", {"lr": 0.01, "amsgrad": True}),
    ("rmsprop", {"lr": 0.01}),
    ("rmsprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True, "weight_decay": 0.05}),
    ("adagrad", {"lr": 0.1}),
    ("adagrad", {"lr": 0.1, "lr_decay": 0.05, "initial_accumulator_value": 0.1, "weight_decay": 0.02}),
]
TORCH_CLASS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "adagrad": "Adagrad"}
STEPS = 6


def case_id(case):
    name, opts = case
    return name + "".join(f"-{k}={v}" for k, v in opts.items() if k != "lr")


def one_dense(n_in=4, n_out=3, seed=0):
    return nnexp.Network([{"type": "dense", "units": n_out}], n_in, dtype="float64", seed=seed)


def grad_sequence(net, steps=STEPS, seed=1):
    """Random gradients, one dict per step, keyed like ``net.params``."""
    rng = np.random.default_rng(seed)
    return [{k: rng.normal(size=p.shape) for k, p in net.params.items()} for _ in range(steps)]


def run_nnexp(net, optimizer, grads):
    """Apply ``optimizer`` to ``net`` for each gradient dict; parameters after every step."""
    optimizer.bind(net)
    trajectory = []
    for g in grads:
        for name, layer, key in net.param_refs():
            layer.grads[key][...] = g[name]
        optimizer.step()
        trajectory.append({k: v.copy() for k, v in net.params.items()})
    return trajectory


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_trajectory_matches_torch(case):
    torch = pytest.importorskip("torch")
    name, opts = case
    net = one_dense()
    tparams = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in net.params.items()}
    topt = getattr(torch.optim, TORCH_CLASS[name])(list(tparams.values()), **opts)
    grads = grad_sequence(net)
    ours = run_nnexp(net, nnexp.get_registry().create("optimizer", name, **opts), grads)
    for step, (g, mine) in enumerate(zip(grads, ours), 1):
        for k, p in tparams.items():
            p.grad = torch.tensor(g[k])
        topt.step()
        for k, p in tparams.items():
            np.testing.assert_allclose(mine[k], p.detach().numpy(), rtol=1e-10, atol=1e-12,
                                       err_msg=f"{name} {opts} step {step} param {k}")


#: torch.optim's defaults, for the options a case leaves out.
DEFAULTS = {
    "sgd": {"momentum": 0.0, "dampening": 0.0, "nesterov": False, "weight_decay": 0.0},
    "adam": {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False},
    "adamw": {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01, "amsgrad": False},
    "rmsprop": {"alpha": 0.99, "eps": 1e-8, "momentum": 0.0, "centered": False, "weight_decay": 0.0},
    "adagrad": {"lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0, "eps": 1e-10},
}


def _sgd(h, s, t, g):
    mu = h["momentum"]
    if mu:
        s["b"] = g if t == 1 else mu * s["b"] + (1 - h["dampening"]) * g
        g = g + mu * s["b"] if h["nesterov"] else s["b"]
    return h["lr"] * g


def _adam(h, s, t, g):
    b1, b2 = h["betas"]
    s["m"] = b1 * s["m"] + (1 - b1) * g
    s["v"] = b2 * s["v"] + (1 - b2) * g * g
    s["v_max"] = max(s["v_max"], s["v"]) if h["amsgrad"] else s["v"]
    return h["lr"] * (s["m"] / (1 - b1 ** t)) / (math.sqrt(s["v_max"] / (1 - b2 ** t)) + h["eps"])


def _rmsprop(h, s, t, g):
    alpha = h["alpha"]
    s["v"] = alpha * s["v"] + (1 - alpha) * g * g
    s["g_avg"] = alpha * s["g_avg"] + (1 - alpha) * g
    v = s["v"] - s["g_avg"] ** 2 if h["centered"] else s["v"]
    step = g / (math.sqrt(v) + h["eps"])
    if h["momentum"]:
        s["b"] = h["momentum"] * s["b"] + step
        step = s["b"]
    return h["lr"] * step


def _adagrad(h, s, t, g):
    s["sum"] += g * g
    return h["lr"] / (1 + (t - 1) * h["lr_decay"]) * g / (math.sqrt(s["sum"]) + h["eps"])


REFERENCE_STEP = {"sgd": _sgd, "adam": _adam, "adamw": _adam, "rmsprop": _rmsprop, "adagrad": _adagrad}


def reference(name, opts, theta, grads):
    """torch.optim's documented pseudo-code, written out on one Python float per step."""
    h = {**DEFAULTS[name], **opts}
    s = {"b": 0.0, "m": 0.0, "v": 0.0, "v_max": 0.0, "g_avg": 0.0,
         "sum": h.get("initial_accumulator_value", 0.0)}
    out = []
    for t, g in enumerate(grads, 1):
        if name == "adamw":  # decoupled: shrink θ, leave g alone
            theta *= 1 - h["lr"] * h["weight_decay"]
        else:
            g = g + h["weight_decay"] * theta
        theta -= REFERENCE_STEP[name](h, s, t, g)
        out.append(theta)
    return out


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_trajectory_matches_documented_formula_on_scalars(case):
    name, opts = case
    net = nnexp.Network([{"type": "dense", "units": 1, "use_bias": False}], 1, dtype="float64")
    net.set_params({"dense_0.W": [[0.7]]})
    grads = [0.5, -1.5, 2.0, 0.25, -0.75, 1.0]
    ours = run_nnexp(net, nnexp.get_registry().create("optimizer", name, **opts),
                     [{"dense_0.W": np.array([[g]])} for g in grads])
    expected = reference(name, opts, 0.7, grads)
    np.testing.assert_allclose([p["dense_0.W"].item() for p in ours], expected, rtol=1e-12)


def test_adam_first_step_moves_each_weight_by_lr_against_its_gradient_sign():
    net = one_dense()
    before = {k: v.copy() for k, v in net.params.items()}
    grads = grad_sequence(net, steps=1)
    after = run_nnexp(net, nnexp.get_registry().create("optimizer", "adam", lr=0.01), grads)[0]
    for k in before:  # m̂ = g and v̂ = g² at t = 1, so the step is lr · g / (|g| + eps)
        np.testing.assert_allclose(after[k] - before[k], -0.01 * np.sign(grads[0][k]), rtol=1e-6)


def test_sgd_with_momentum_accumulates_velocity_as_documented():
    net = nnexp.Network([{"type": "dense", "units": 1, "use_bias": False}], 1, dtype="float64")
    net.set_params({"dense_0.W": [[1.0]]})
    opt = nnexp.get_registry().create("optimizer", "sgd", lr=0.1, momentum=0.5)
    out = run_nnexp(net, opt, [{"dense_0.W": np.array([[g]])} for g in (1.0, 1.0, 0.0)])
    # b = 1, 1.5, 0.75 -> θ = 1 - 0.1, then - 0.15, then - 0.075
    np.testing.assert_allclose([p["dense_0.W"].item() for p in out], [0.9, 0.75, 0.675])


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop", "adagrad"])
def test_weight_decay_leaves_the_layer_gradients_untouched(name):
    net = one_dense()
    grads = grad_sequence(net, steps=2)
    run_nnexp(net, nnexp.get_registry().create("optimizer", name, lr=0.1, weight_decay=0.5), grads)
    for k, g in net.grads.items():
        np.testing.assert_array_equal(g, grads[-1][k])


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_float32_parameters_stay_float32_and_in_place(name):
    net = nnexp.Network([{"type": "dense", "units": 3}], 4)
    arrays = {k: v for k, v in net.params.items()}
    opt = nnexp.get_registry().create("optimizer", name, lr=0.1, weight_decay=0.1)
    run_nnexp(net, opt, [{k: g.astype("float32") for k, g in d.items()} for d in grad_sequence(net, 2)])
    for k, v in net.params.items():
        assert v is arrays[k] and v.dtype == np.float32
        assert all(s.dtype == np.float32 for s in opt.state[k].values())


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_config_rebuilds_the_same_optimizer(case):
    name, opts = case
    reg = nnexp.get_registry()
    opt = reg.create("optimizer", name, **opts)
    assert reg.create("optimizer", name, **opt.config()).config() == opt.config()


BAD = [
    ("sgd", {"lr": -0.1}, "lr"),
    ("adam", {"lr": 0.0}, "lr"),
    ("sgd", {"momentum": -0.5}, "momentum"),
    ("sgd", {"nesterov": True}, "nesterov"),
    ("sgd", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "dampening = 0"),
    ("sgd", {"weight_decay": -1e-4}, "weight_decay"),
    ("adam", {"betas": (1.0, 0.999)}, "betas[0]"),
    ("adam", {"betas": (0.9, -0.1)}, "betas[1]"),
    ("adamw", {"betas": 0.9}, "betas"),
    ("adam", {"betas": "ab"}, "betas"),
    ("adam", {"eps": -1e-8}, "eps"),
    ("adam", {"lr": "fast"}, "lr"),
    ("rmsprop", {"alpha": -0.1}, "alpha"),
    ("rmsprop", {"momentum": -0.1}, "momentum"),
    ("adagrad", {"lr_decay": -0.1}, "lr_decay"),
    ("adagrad", {"initial_accumulator_value": -1.0}, "initial_accumulator_value"),
]


@pytest.mark.parametrize("name, opts, where", BAD, ids=[f"{n}-{w}" for n, _, w in BAD])
def test_invalid_hyperparameter_is_refused_when_the_optimizer_is_built(name, opts, where):
    with pytest.raises(ConfigError, match="got .*expected") as info:
        nnexp.get_registry().create("optimizer", name, **opts)
    assert where in str(info.value)


def test_adam_takes_betas_from_a_hydra_list():
    from omegaconf import OmegaConf

    betas = OmegaConf.create({"betas": [0.8, 0.9]}).betas  # a ListConfig, as configs pass it
    opt = nnexp.get_registry().create("optimizer", "adam", betas=betas)
    assert opt.betas == (0.8, 0.9) and opt.config()["betas"] == [0.8, 0.9]


def test_fit_refuses_a_negative_learning_rate_before_any_step():
    net = nnexp.Network.mlp(2, [3], 1, seed=0)
    before = {k: v.copy() for k, v in net.params.items()}
    with pytest.raises(ConfigError, match=r"sgd lr: got -0.5; expected a number with 0 < value"):
        nnexp.fit(net, np.ones((4, 2)), np.ones(4), optimizer={"type": "sgd", "lr": -0.5})
    for k, v in net.params.items():
        np.testing.assert_array_equal(v, before[k])


def test_unknown_optimizer_suggests_the_nearest_name():
    with pytest.raises(UnknownComponentError, match="Did you mean 'adam'") as info:
        nnexp.get_registry().create("optimizer", "adma")
    assert {"sgd", "adam", "adamw", "rmsprop", "adagrad"} <= set(info.value.available)


# -- schedules -----------------------------------------------------------------------------------
EPOCHS = 12
SCHEDULES = [
    ({"type": "constant"}, lambda t, o: t.optim.lr_scheduler.ConstantLR(o, factor=1.0, total_iters=0)),
    ({"type": "step", "step_size": 3, "gamma": 0.5}, lambda t, o: t.optim.lr_scheduler.StepLR(o, 3, 0.5)),
    ({"type": "exponential", "gamma": 0.8}, lambda t, o: t.optim.lr_scheduler.ExponentialLR(o, 0.8)),
    ({"type": "cosine"}, lambda t, o: t.optim.lr_scheduler.CosineAnnealingLR(o, T_max=EPOCHS)),
    ({"type": "cosine", "t_max": 5, "eta_min": 0.01},
     lambda t, o: t.optim.lr_scheduler.CosineAnnealingLR(o, T_max=5, eta_min=0.01)),
]


def torch_lrs(torch, make, epochs=EPOCHS, base_lr=0.1):
    """The lr torch uses in each epoch: read before the epoch's ``scheduler.step()``."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr)
    sched = make(torch, opt)
    out = []
    for _ in range(epochs):
        out.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize("spec, make", SCHEDULES, ids=[str(s) for s, _ in SCHEDULES])
def test_schedule_matches_torch(spec, make):
    torch = pytest.importorskip("torch")
    sched = nnexp.get_registry().create("schedule", spec)
    ours = [sched.lr_at(e, 0.1, EPOCHS) for e in range(EPOCHS)]
    np.testing.assert_allclose(ours, torch_lrs(torch, make), rtol=1e-12)


def test_warmup_matches_torch_linear_then_cosine():
    torch = pytest.importorskip("torch")
    lr_s = torch.optim.lr_scheduler

    def make(t, opt):
        warm = lr_s.LinearLR(opt, start_factor=0.25, end_factor=1.0, total_iters=3)
        return lr_s.SequentialLR(opt, [warm, lr_s.CosineAnnealingLR(opt, T_max=EPOCHS - 3)], milestones=[3])

    sched = nnexp.get_registry().create("schedule", {"type": "cosine", "warmup": 3, "warmup_start": 0.25})
    ours = [sched.lr_at(e, 0.1, EPOCHS) for e in range(EPOCHS)]
    np.testing.assert_allclose(ours, torch_lrs(torch, make), rtol=1e-12)


def test_schedules_reach_their_documented_values():
    reg = nnexp.get_registry()
    cos = reg.create("schedule", {"type": "cosine", "eta_min": 0.1})
    assert [cos.lr_at(e, 1.0, 10) for e in (0, 5, 10)] == pytest.approx([1.0, 0.55, 0.1])
    step = reg.create("schedule", {"type": "step", "step_size": 2, "gamma": 0.1})
    assert [step.lr_at(e, 1.0, 10) for e in range(5)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    warm = reg.create("schedule", {"type": "constant", "warmup": 4, "warmup_start": 0.0})
    assert [warm.lr_at(e, 2.0, 10) for e in range(6)] == pytest.approx([0, 0.5, 1.0, 1.5, 2, 2])


def test_fit_sets_the_scheduled_lr_at_the_start_of_each_epoch():
    net = nnexp.Network.mlp(2, [3], 1, seed=0)
    rng = np.random.default_rng(0)
    history = nnexp.fit(net, rng.normal(size=(8, 2)), rng.normal(size=8), epochs=5,
                        optimizer={"type": "sgd", "lr": 0.2}, schedule={"type": "step", "step_size": 2},
                        task="regression")
    assert history["lr"] == pytest.approx([0.2, 0.2, 0.02, 0.02, 0.002])


@pytest.mark.parametrize("spec, where", [
    ({"type": "step", "step_size": 0}, "step_size"),
    ({"type": "step", "step_size": None}, "step_size"),  # was accepted, then TypeError in lr_at
    ({"type": "constant", "warmup": 1.5}, "warmup"),
    ({"type": "step", "gamma": -0.5}, "gamma"),
    ({"type": "cosine", "t_max": 2.5}, "t_max"),
    ({"type": "cosine", "eta_min": -1}, "eta_min"),
    ({"type": "exponential", "gamma": "x"}, "gamma"),
    ({"type": "constant", "warmup": -1}, "warmup"),
    ({"type": "constant", "warmup": 2, "warmup_start": 1.5}, "warmup_start"),
])
def test_invalid_schedule_option_is_refused(spec, where):
    with pytest.raises(ConfigError, match=where):
        nnexp.get_registry().create("schedule", spec)


@pytest.mark.parametrize("dtype, y_order, x_order, step", [
    ("float32", "C", "C", 1), ("float64", "F", "F", 1), ("float32", "C", "F", 1),
    ("float32", "C", "C", 2), ("float64", "F", "C", 1),
])
def test_add_scaled_updates_in_place_for_any_layout(dtype, y_order, x_order, step):
    from nnexp.builtins.optimizers import add_scaled

    rng = np.random.default_rng(0)
    y = np.asarray(rng.normal(size=(6, 8)), dtype=dtype, order=y_order)[:, ::step]
    x = np.asarray(rng.normal(size=y.shape), dtype=dtype, order=x_order)
    expected = y.astype("float64") - 0.3 * x
    assert add_scaled(y, -0.3, x) is y
    np.testing.assert_allclose(y, expected, rtol=1e-6)


def test_add_scaled_mixes_dtypes_like_numpy():
    from nnexp.builtins.optimizers import add_scaled

    y = np.ones(5, dtype="float32")
    add_scaled(y, 2.0, np.arange(5.0))
    np.testing.assert_array_equal(y, [1, 3, 5, 7, 9])
    assert y.dtype == np.float32


def test_reusing_an_optimizer_object_restarts_its_state_and_step_count():
    X, y = np.random.default_rng(0).normal(size=(16, 2)), np.linspace(0, 1, 16)
    adam = nnexp.get_registry().create("optimizer", "adam", lr=0.01)
    results = []
    for optimizer in (adam, adam, {"type": "adam", "lr": 0.01}):
        net = nnexp.Network.mlp(2, [4], 1, seed=0)
        nnexp.fit(net, X, y, optimizer=optimizer, epochs=2, batch_size=8, task="regression")
        results.append(net.params["dense_0.W"].copy())
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[1], results[2])
