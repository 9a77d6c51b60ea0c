"""Initializers: sampling statistics against their formulas, fans as dense layers pass them,
torch's gains, determinism from the given rng only, and option validation."""

import math

import numpy as np
import pytest

import nnexp
from nnexp.builtins.initializers import GAINS, calculate_gain
from nnexp.errors import ConfigError, UnknownComponentError

FAN_IN, FAN_OUT = 300, 500
SHAPE = (FAN_OUT, FAN_IN)  # a dense W: (n_out, n_in)
N = FAN_IN * FAN_OUT

#: (spec, "uniform" bound or "normal" std, mean) from each documented formula.
EXPECTED = [
    ({"type": "normal", "std": 0.2, "mean": 0.5}, "normal", 0.2, 0.5),
    ("normal", "normal", 0.05, 0.0),
    ({"type": "uniform", "a": 0.3}, "uniform", 0.3, 0.0),
    ("xavier_uniform", "uniform", math.sqrt(6 / (FAN_IN + FAN_OUT)), 0.0),
    ({"type": "glorot_uniform", "gain": 2.0}, "uniform", 2 * math.sqrt(6 / (FAN_IN + FAN_OUT)), 0.0),
    ("xavier_normal", "normal", math.sqrt(2 / (FAN_IN + FAN_OUT)), 0.0),
    ("he_uniform", "uniform", math.sqrt(6 / FAN_IN), 0.0),
    ({"type": "kaiming_uniform", "mode": "fan_out", "nonlinearity": "tanh"}, "uniform",
     5 / 3 * math.sqrt(3 / FAN_OUT), 0.0),
    ("he_normal", "normal", math.sqrt(2 / FAN_IN), 0.0),
    ({"type": "kaiming_normal", "a": 0.2, "nonlinearity": "leaky_relu"}, "normal",
     math.sqrt(2 / 1.04) / math.sqrt(FAN_IN), 0.0),
    ("lecun_uniform", "uniform", math.sqrt(3 / FAN_IN), 0.0),
    ("lecun", "normal", math.sqrt(1 / FAN_IN), 0.0),
]


def draw(spec, seed=0, dtype="float64", shape=SHAPE):
    init = nnexp.get_registry().create("initializer", spec)
    return init(shape, FAN_IN, FAN_OUT, np.random.default_rng(seed), np.dtype(dtype))


@pytest.mark.parametrize("spec, dist, scale, mean", EXPECTED, ids=[str(e[0]) for e in EXPECTED])
def test_samples_follow_the_documented_distribution(spec, dist, scale, mean):
    w = draw(spec)
    std = scale / math.sqrt(3) if dist == "uniform" else scale
    # 150k samples: the sample mean is within 5 standard errors, the std within 2%.
    assert abs(w.mean() - mean) < 5 * std / math.sqrt(N)
    assert w.std() == pytest.approx(std, rel=0.02)
    if dist == "uniform":
        assert -scale <= w.min() < -0.99 * scale and 0.99 * scale < w.max() <= scale


@pytest.mark.parametrize("spec, value", [("zeros", 0.0), ("ones", 1.0), ({"type": "constant", "value": -0.5}, -0.5)])
def test_constant_initializers_fill_every_element(spec, value):
    np.testing.assert_array_equal(draw(spec, shape=(3, 4)), np.full((3, 4), value))


def test_dense_layer_passes_n_in_as_fan_in():
    # n_in = 300, n_out = 20: he's bound uses fan_in only, so a swapped orientation shows.
    net = nnexp.Network([{"type": "dense", "units": 20, "init": "he_uniform"}], 300)
    w = net.params["dense_0.W"]
    assert w.shape == (20, 300)
    bound = math.sqrt(6 / 300)
    assert w.max() <= bound and w.max() > 0.98 * bound


def test_dense_default_is_xavier_uniform_with_zero_bias():
    net = nnexp.Network.mlp(100, [60], 40, seed=3)
    for name, (n_out, n_in) in {"dense_0": (60, 100), "dense_1": (40, 60)}.items():
        w, b = net.params[f"{name}.W"], net.params[f"{name}.b"]
        bound = math.sqrt(6 / (n_in + n_out))
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
        np.testing.assert_array_equal(b, 0)


def test_network_init_option_applies_to_every_dense_layer():
    net = nnexp.Network.mlp(50, [40], 30, init={"type": "normal", "std": 1e-3})
    for k in ("dense_0.W", "dense_1.W"):
        assert net.params[k].std() == pytest.approx(1e-3, rel=0.2)


def test_gains_match_torch():
    torch = pytest.importorskip("torch")
    for name in GAINS:
        for a in (0.01, 0.2):
            torch_name = "linear" if name == "identity" else name
            param = a if name == "leaky_relu" else None
            assert calculate_gain(name, a) == pytest.approx(torch.nn.init.calculate_gain(torch_name, param))


def test_gains_have_their_documented_values():
    assert calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert calculate_gain("tanh") == pytest.approx(5 / 3)
    assert calculate_gain("leaky_relu", 1.0) == pytest.approx(1.0)


def every_initializer():
    return nnexp.get_registry().names("initializer")


@pytest.mark.parametrize("name", every_initializer())
def test_every_initializer_returns_the_shape_and_dtype_asked_for(name):
    for dtype in ("float32", "float64"):
        w = draw(name, dtype=dtype, shape=(7, 5))
        assert w.shape == (7, 5) and w.dtype == np.dtype(dtype) and np.isfinite(w).all()


@pytest.mark.parametrize("name", every_initializer())
def test_every_initializer_draws_only_from_the_given_rng(name):
    np.random.seed(123)
    expected_global = np.random.random()
    np.random.seed(123)
    a, b = draw(name, seed=7), draw(name, seed=7)
    np.testing.assert_array_equal(a, b)
    assert np.random.random() == expected_global  # the global numpy stream was not touched


def test_different_rng_seeds_give_different_weights():
    assert not np.array_equal(draw("he_normal", seed=1), draw("he_normal", seed=2))


@pytest.mark.parametrize("spec, where", [
    ({"type": "normal", "std": -1.0}, "std"),
    ({"type": "uniform", "a": -0.1}, "uniform initializer a"),
    ({"type": "he_uniform", "mode": "fan_avg"}, "mode"),
    ({"type": "xavier_normal", "gain": "big"}, "gain"),
])
def test_invalid_initializer_option_is_refused(spec, where):
    with pytest.raises(ConfigError, match=where):
        nnexp.get_registry().create("initializer", spec)


def test_unknown_nonlinearity_lists_the_known_ones():
    with pytest.raises(UnknownComponentError, match="Did you mean 'relu'") as info:
        nnexp.get_registry().create("initializer", {"type": "he_normal", "nonlinearity": "rellu"})
    assert "tanh" in info.value.available
