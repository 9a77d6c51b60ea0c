"""Network construction, naming, errors, parameters and persistence."""

import numpy as np
import pytest

import nnexp


def tiny(**kw):
    return nnexp.Network.mlp(4, [5], 3, activation="relu", output_activation="sigmoid", **kw)


def test_layers_are_named_by_type_and_count():
    net = tiny()
    assert net.names == ["dense_0", "relu_0", "dense_1", "sigmoid_0"]
    assert list(net.params) == ["dense_0.W", "dense_0.b", "dense_1.W", "dense_1.b"]


def test_explicit_layer_names_are_kept_and_must_be_unique():
    net = nnexp.Network([{"type": "dense", "units": 2, "name": "hidden"}, "relu",
                         {"type": "dense", "units": 1, "name": "out"}], 3)
    assert "hidden.W" in net.params and "out.b" in net.params
    with pytest.raises(nnexp.ConfigError, match="name"):
        nnexp.Network([{"type": "dense", "units": 2, "name": "x"},
                       {"type": "dense", "units": 2, "name": "x"}], 3)


def test_dense_activation_shorthand_expands_to_two_layers():
    net = nnexp.Network([{"type": "dense", "units": 2, "activation": "relu"}], 3)
    assert net.types == ["dense", "relu"]


def test_float32_by_default_and_float64_selectable():
    assert all(p.dtype == np.float32 for p in tiny().params.values())
    assert all(p.dtype == np.float64 for p in tiny(dtype="float64").params.values())


def test_unsupported_dtype_says_what_is_valid():
    with pytest.raises(nnexp.ConfigError, match="float32 or float64"):
        tiny(dtype="int8")


def test_unknown_layer_type_suggests_nearest():
    with pytest.raises(nnexp.UnknownComponentError, match="Did you mean 'dense'"):
        nnexp.Network([{"type": "dnese", "units": 2}], 3)


def test_input_shape_mismatch_names_the_layer_and_both_shapes():
    net = tiny()
    with pytest.raises(nnexp.ShapeError) as info:
        net.forward(np.zeros((32, 10), np.float32))
    assert str(info.value) == "dense_0 (layer 0) expects input of shape (batch, 4), got (32, 10)."


def test_invalid_input_size_is_rejected():
    with pytest.raises(nnexp.ConfigError, match="input_size"):
        nnexp.Network(["relu"], 0)


def test_same_seed_same_weights_different_seed_different_weights():
    a, b, c = tiny(seed=3), tiny(seed=3), tiny(seed=4)
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name])
    assert not np.array_equal(a.params["dense_0.W"], c.params["dense_0.W"])


def test_set_params_copies_in_place_and_checks_shapes():
    net = tiny()
    W = net.params["dense_0.W"]
    net.set_params({"dense_0.W": np.ones((5, 4))})
    assert W is net.params["dense_0.W"] and (W == 1).all()
    with pytest.raises(nnexp.ShapeError, match="dense_0.W"):
        net.set_params({"dense_0.W": np.ones((4, 5))})
    with pytest.raises(nnexp.UnknownComponentError, match="Did you mean 'dense_0.W'"):
        net.set_params({"dense_0.w": np.ones((5, 4))})


def test_save_and_load_roundtrip_without_pickle(tmp_path):
    net = tiny(dtype="float64", seed=7)
    path = net.save(tmp_path / "net.npz")
    with np.load(path, allow_pickle=False) as data:  # loadable without pickle
        assert set(data.files) == {"__spec__", *net.params}
    back = nnexp.Network.load(path)
    X = np.random.default_rng(0).normal(size=(6, 4))
    np.testing.assert_array_equal(back.forward(X), net.forward(X))
    assert back.names == net.names and back.dtype == net.dtype


def test_spec_rebuilds_the_same_architecture():
    net = tiny(seed=2)
    again = nnexp.Network.from_spec(net.spec())
    assert again.names == net.names
    for name in net.params:
        np.testing.assert_array_equal(again.params[name], net.params[name])


def test_backward_returns_input_gradient_matching_finite_differences():
    net = tiny(dtype="float64", seed=1)
    X = np.random.default_rng(1).normal(size=(3, 4))
    out = net.forward(X)
    grad_in = net.backward(np.ones_like(out))
    eps, numeric = 1e-6, np.zeros_like(X)
    for idx in np.ndindex(X.shape):
        Xp, Xm = X.copy(), X.copy()
        Xp[idx] += eps
        Xm[idx] -= eps
        numeric[idx] = (net.forward(Xp).sum() - net.forward(Xm).sum()) / (2 * eps)
    np.testing.assert_allclose(grad_in, numeric, rtol=1e-6, atol=1e-9)


def test_outputs_hold_each_layers_output():
    net = tiny()
    X = np.zeros((2, 4), np.float32)
    out = net.forward(X)
    assert len(net.outputs) == 4 and net.outputs[-1] is out
    assert net.outputs[1].shape == (2, 5)


def test_summary_lists_each_layer_with_its_parameter_count():
    text = tiny().summary().splitlines()
    assert text[0].startswith("dense_0") and text[0].endswith("params=25")  # 5x4 W + 5 b
    assert text[1].startswith("relu_0") and text[1].endswith("params=0")
    assert text[-1] == "total params: 43  dtype: float32"  # 25 + (3x5 + 3)
