"""nnexp explain: the SPEC.md numbers, finite differences beside every derivative, any network."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnexp
from nnexp.explain import explain, sample_for

NNEXP = str(Path(sys.executable).with_name("nnexp"))

# SPEC.md's worked example, copied from the page (not from the implementation).
SPEC = {
    "z1": [1.0, -1.05], "a1": [1.0, 0.0], "z2": [0.4, 0.6, -0.4],
    "a2": [0.5986876601, 0.6456563062, 0.4013123399], "L": 0.2938314571,
    "∂L/∂W2": [[-0.0964196021, 0.0], [0.1477159876, 0.0], [-0.0237107708, 0.0]],
    "∂L/∂b2": [-0.0964196021, 0.1477159876, -0.0237107708],
    "∂L/∂W1": [[0.0493656089, -0.0987312178, 0.1974624356, 0.0246828045], [0.0, 0.0, 0.0, 0.0]],
    "∂L/∂b1": [0.0987312178, 0.0],
}
CHAIN = ["z1", "a1", "z2", "a2", "L", "∂L/∂a2", "∂a2/∂z2", "δ2", "∂L/∂W2", "∂L/∂b2", "∂z2/∂a1",
         "δ1", "∂L/∂W1", "∂L/∂b1"]


@pytest.fixture(scope="module")
def tutorial():
    return explain()


def assert_finite_differences_agree(ex):
    checked = 0
    for f in ex.factors:
        if f.numeric is None:
            continue
        scale = np.maximum(1.0, np.abs(f.numeric))
        rel = np.max(np.abs(f.value - f.numeric) / scale, initial=0.0)
        assert rel <= 1e-6, f"{f.symbol}: analytic {f.value} vs finite difference {f.numeric}"
        checked += 1
    assert checked >= 5


def test_tutorial_factors_match_spec_to_1e9(tutorial):
    for symbol, expected in SPEC.items():
        np.testing.assert_allclose(tutorial[symbol].value, expected, atol=1e-9, err_msg=symbol)


def test_tutorial_lists_every_chain_rule_factor_in_order(tutorial):
    positions = [tutorial.symbols.index(s) for s in CHAIN]
    assert positions == sorted(positions)


def test_tutorial_factors_follow_the_chain_rule(tutorial):
    t = tutorial
    np.testing.assert_allclose(t["δ2"].value, t["∂L/∂a2"].value * t["∂a2/∂z2"].value, atol=1e-15)
    np.testing.assert_allclose(t["∂a2/∂z2"].value, np.array(SPEC["a2"]) * (1 - np.array(SPEC["a2"])),
                               atol=1e-9)
    np.testing.assert_allclose(t["∂z2/∂a1"].value, [[0.3, -0.6], [0.8, 0.1], [-0.4, 0.5]])
    np.testing.assert_allclose(t["δ1"].value, (t["∂z2/∂a1"].value.T @ t["δ2"].value) * [1, 0],
                               atol=1e-15)


def test_every_derivative_agrees_with_its_finite_difference(tutorial):
    assert_finite_differences_agree(tutorial)


def test_forward_values_have_no_finite_difference(tutorial):
    assert all(tutorial[s].numeric is None for s in ("z1", "a1", "z2", "a2", "L"))


def test_deeper_softmax_network_with_cross_entropy():
    reg = nnexp.get_registry()
    net = nnexp.Network.mlp(4, [3, 2], 3, activation="tanh", output_activation="softmax",
                            dtype="float64", seed=1, registry=reg)
    x, y = sample_for(net, reg.create("loss", "cross_entropy"), seed=1)
    ex = explain(net, x, y, "cross_entropy")
    for s in ("z3", "a3", "∂a3/∂z3", "δ3", "∂L/∂W3", "∂z3/∂a2", "δ2", "∂z2/∂a1", "δ1", "∂L/∂b1"):
        assert s in ex.symbols
    assert ex["∂a3/∂z3"].value.shape == (3, 3)  # softmax mixes a row: a full Jacobian
    a3 = ex["a3"].value
    np.testing.assert_allclose(ex["δ3"].value, a3 - y, atol=1e-12)  # softmax + CE: δ = ŷ - y
    np.testing.assert_allclose(ex["L"].value, -np.log(a3[y.argmax()]), atol=1e-12)
    assert_finite_differences_agree(ex)


def test_network_without_output_activation_gets_delta_from_the_loss():
    net = nnexp.Network.mlp(3, [4], 2, activation="sigmoid", output_activation="identity",
                            dtype="float64", seed=2)
    x, y = np.array([0.3, -0.2, 0.9]), np.array([0.5, -1.0])
    ex = explain(net, x, y, "mse")
    assert "a2" not in ex.symbols
    np.testing.assert_allclose(ex["δ2"].value, (ex["z2"].value - y) * 2 / 2, atol=1e-12)
    assert_finite_differences_agree(ex)


def test_float32_network_is_explained_in_float64_with_its_own_weights():
    net = nnexp.Network.mlp(4, [2], 3, output_activation="sigmoid", seed=3)
    assert net.dtype == np.float32
    x, y = np.array([0.1, 0.2, -0.3, 0.4]), np.array([0.0, 1.0, 0.5])
    ex = explain(net, x, y, "mse")
    W1, b1 = (net.params[k].astype(np.float64) for k in ("dense_0.W", "dense_0.b"))
    np.testing.assert_allclose(ex["z1"].value, W1 @ x + b1, atol=1e-12)
    assert ex["z1"].value.dtype == np.float64
    assert_finite_differences_agree(ex)


def test_network_without_a_sample_gets_one_drawn_for_its_loss():
    # explain(net) used to fail with "x has 1 values" (np.asarray(None) is one NaN)
    net = nnexp.Network.mlp(4, [2], 3, output_activation="sigmoid", seed=3)
    loss = net.registry.create("loss", "mse")
    x, y = sample_for(net, loss)
    ex = explain(net, loss="mse")
    np.testing.assert_array_equal(ex.x, x)
    np.testing.assert_array_equal(ex.y, y)
    given = explain(net, x=[0.1, 0.2, -0.3, 0.4], loss="mse")
    np.testing.assert_array_equal(given.x, [0.1, 0.2, -0.3, 0.4])
    np.testing.assert_array_equal(given.y, y)


def test_cli_explains_a_saved_model(tmp_path):
    net = nnexp.Network.mlp(3, [4], 2, activation="tanh", output_activation="softmax", seed=5)
    path = net.save(tmp_path / "model.npz")
    proc = run("--model", str(path), "--loss", "cross_entropy", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    np.testing.assert_allclose(data["params"]["dense_0.W"], net.params["dense_0.W"], rtol=1e-6)
    assert "δ2" in [f["symbol"] for f in data["factors"]]
    proc = run("--model", str(tmp_path / "missing.npz"))
    assert proc.returncode == 2 and "missing.npz" in proc.stderr


def run(*args, cwd=None):
    return subprocess.run([NNEXP, "explain", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def test_cli_prints_spec_numbers_and_writes_the_same_text(tmp_path):
    out = tmp_path / "explain.txt"
    proc = run("--out", str(out))
    assert proc.returncode == 0, proc.stderr
    for number in ("1.0500000000", "0.5986876601", "0.6456563062", "0.4013123399",
                   "0.2938314571", "-0.0964196021", "0.1477159876", "-0.0237107708",
                   "0.0493656089", "-0.0987312178", "0.1974624356", "0.0246828045"):
        assert number in proc.stdout, number
    for label in ("δ2 =", "∂L/∂W1 =", "∂z2/∂a1 =", "finite difference"):
        assert label in proc.stdout
    assert out.read_text(encoding="utf-8") == proc.stdout


def test_cli_json_for_another_network():
    proc = run("--hidden", "3,2", "--activation", "tanh", "--output-activation", "softmax",
               "--loss", "cross_entropy", "--seed", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    factors = {f["symbol"]: f for f in data["factors"]}
    assert data["loss"] == "cross_entropy" and "δ3" in factors and "∂L/∂W3" in factors
    assert all(f["max_abs_diff"] < 1e-6 for f in factors.values() if f["max_abs_diff"] is not None)


def test_cli_unknown_activation_suggests_and_exits_2():
    proc = run("--activation", "rleu")
    assert proc.returncode == 2
    assert "Did you mean 'relu'?" in proc.stderr and "Traceback" not in proc.stderr
