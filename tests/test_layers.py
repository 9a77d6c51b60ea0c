"""Built-in layers: batchnorm and layernorm against PyTorch in training and evaluation,
dropout's contract, the activation layer, build-time validation, saved running stats."""

import numpy as np
import pytest

import nnexp

RNG = np.random.default_rng(0)
X = RNG.normal(loc=1.5, scale=2.0, size=(8, 5))
G = RNG.normal(size=(8, 5))
GAMMA, BETA = RNG.normal(size=5), RNG.normal(size=5)


@pytest.fixture(scope="module")
def registry():
    return nnexp.load_registry(entry_points=False)


def one_layer(spec, registry, n_in=5, **kw):
    return nnexp.Network([spec], n_in, dtype="float64", registry=registry, **kw)


def torch_run(module, x, g, training):
    import torch

    module.train(training)
    t = torch.tensor(x, requires_grad=True)
    out = module(t)
    out.backward(torch.tensor(g))
    return out.detach().numpy(), t.grad.numpy(), module.weight.grad.numpy(), module.bias.grad.numpy()


def nnexp_run(layer, x, g, training):
    out = layer.forward(x, training)
    return out, layer.backward(g), layer.grads["gamma"].copy(), layer.grads["beta"].copy()


@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
def test_batchnorm_matches_torch_batchnorm1d(registry, training):
    torch = pytest.importorskip("torch")
    ref = torch.nn.BatchNorm1d(5, momentum=0.1, eps=1e-5).double()
    net = one_layer("batchnorm", registry)
    bn = net.layers[0]
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(GAMMA))
        ref.bias.copy_(torch.tensor(BETA))
    net.set_params({"batchnorm_0.gamma": GAMMA, "batchnorm_0.beta": BETA})
    for step in range(3):  # move the running statistics away from (0, 1) first
        xs = X + step
        ref.train()
        ref(torch.tensor(xs))
        bn.forward(xs, training=True)
    ref.zero_grad()
    for got, want in zip(nnexp_run(bn, X, G, training), torch_run(ref, X, G, training)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(bn.buffers["running_mean"], ref.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(bn.buffers["running_var"], ref.running_var.numpy(), rtol=1e-12)


def test_layernorm_matches_torch_layernorm(registry):
    torch = pytest.importorskip("torch")
    ref = torch.nn.LayerNorm(5, eps=1e-5).double()
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(GAMMA))
        ref.bias.copy_(torch.tensor(BETA))
    net = one_layer("layernorm", registry)
    net.set_params({"layernorm_0.gamma": GAMMA, "layernorm_0.beta": BETA})
    for training in (True, False):
        ref.zero_grad()
        for got, want in zip(nnexp_run(net.layers[0], X, G, training), torch_run(ref, X, G, training)):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_batchnorm_running_stats_are_buffers_not_params_and_survive_save_load(registry, tmp_path):
    net = nnexp.Network([{"type": "dense", "units": 4}, "batchnorm"], 3, dtype="float64", registry=registry)
    assert set(net.params) == {"dense_0.W", "dense_0.b", "batchnorm_0.gamma", "batchnorm_0.beta"}
    net.forward(RNG.normal(loc=3.0, size=(16, 3)), training=True)
    saved = {k: v.copy() for k, v in net.buffers.items()}
    assert set(saved) == {"batchnorm_0.running_mean", "batchnorm_0.running_var"}
    loaded = nnexp.Network.load(net.save(tmp_path / "bn.npz"), registry=registry)
    for k, v in saved.items():
        np.testing.assert_array_equal(loaded.buffers[k], v)
    x = RNG.normal(size=(4, 3))
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))


def test_batchnorm_in_training_needs_two_samples_and_says_so(registry):
    net = one_layer("batchnorm", registry)
    with pytest.raises(nnexp.ShapeError, match="batchnorm_0: .*at least 2 samples.*got 1"):
        net.forward(X[:1], training=True)
    assert net.forward(X[:1], training=False).shape == (1, 5)


def test_dropout_is_identity_in_evaluation_and_inverted_in_training(registry):
    layer = one_layer({"type": "dropout", "rate": 0.25}, registry, n_in=1000).layers[0]
    x = np.ones((20, 1000))
    assert layer.forward(x, training=False) is x
    y = layer.forward(x, training=True)
    assert set(np.unique(y)) == {0.0, 1 / 0.75}
    assert abs((y == 0).mean() - 0.25) < 0.01
    np.testing.assert_array_equal(layer.backward(np.full_like(x, 2.0)), 2.0 * y)


def test_dropout_draws_only_from_the_dropout_stream(registry):
    spec = [{"type": "dense", "units": 4}, {"type": "dropout", "rate": 0.5}, {"type": "dense", "units": 2}]
    with_dropout = nnexp.Network(spec, 3, seed=5, registry=registry)
    other_rate = nnexp.Network([spec[0], {"type": "dropout", "rate": 0.1}, spec[2]], 3, seed=5, registry=registry)
    for k, v in with_dropout.params.items():
        np.testing.assert_array_equal(v, other_rate.params[k])
    global_state = np.random.get_state()[1].copy()
    init_state = with_dropout.rngs["init"].bit_generator.state
    with_dropout.forward(np.ones((4, 3), dtype=np.float32), training=True)
    np.testing.assert_array_equal(np.random.get_state()[1], global_state)
    assert with_dropout.rngs["init"].bit_generator.state == init_state


@pytest.mark.parametrize(("spec", "message"), [
    ({"type": "dropout", "rate": 1.5}, r"dropout_0 \(layer 1\): dropout rate: got 1.5; expected .*0 <= value < 1"),
    ({"type": "dropout", "rate": -0.1}, r"dropout_0 \(layer 1\): dropout rate: got -0.1"),
    ({"type": "dense", "units": 0}, r"dense_1 \(layer 1\): dense units: got 0; expected a positive integer"),
    ({"type": "dense", "units": 2.5}, r"dense_1 \(layer 1\): dense units: got 2.5"),
    ({"type": "batchnorm", "momentum": 1.5}, r"batchnorm_0 \(layer 1\): batchnorm momentum: got 1.5"),
    ({"type": "layernorm", "eps": 0}, r"layernorm_0 \(layer 1\): layernorm eps: got 0"),
])
def test_bad_hyperparameter_is_reported_with_the_layer_at_build_time(registry, spec, message):
    with pytest.raises(nnexp.ConfigError, match=message):
        nnexp.Network([{"type": "dense", "units": 3}, spec], 4, registry=registry)


def test_unknown_activation_in_an_activation_layer_suggests_the_nearest(registry):
    with pytest.raises(nnexp.UnknownComponentError, match="Did you mean 'relu'"):
        one_layer({"type": "activation", "activation": "rleu"}, registry)


def test_activation_layer_applies_the_named_activation_with_options(registry):
    net = one_layer({"type": "activation", "activation": {"type": "leaky_relu", "alpha": 0.2}}, registry)
    leaky = registry.create("activation", "leaky_relu", alpha=0.2)
    np.testing.assert_array_equal(net.forward(X), leaky.f(X))
    rebuilt = nnexp.Network.from_spec(net.spec(), registry=registry)
    np.testing.assert_array_equal(rebuilt.forward(X), leaky.f(X))


def test_layers_need_a_flat_feature_vector(registry):
    with pytest.raises(nnexp.ShapeError, match="layernorm expects input of shape \\(batch, features\\)"):
        nnexp.Network(["layernorm"], (2, 3), registry=registry)
