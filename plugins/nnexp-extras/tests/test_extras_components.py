"""What each nnexp-extras component computes, checked against independent facts about it
(the gradients themselves are the conformance kit's job: test_extras_conformance.py)."""

import math

import numpy as np
import pytest

import nnexp
from nnexp.testing import check_gradients

REG = nnexp.load_registry()


def make(kind, spec):
    return REG.create(kind, spec)


def test_mish_matches_its_definition_and_known_minimum():
    z = np.linspace(-6, 6, 2001)
    out = make("activation", "mish").forward(z)
    np.testing.assert_allclose(out, z * np.tanh(np.log1p(np.exp(z))), rtol=1e-12)
    # Mish's global minimum is about -0.30884 near z = -1.19 (Misra, 2019).
    assert out.min() == pytest.approx(-0.30884, abs=1e-4)
    assert z[out.argmin()] == pytest.approx(-1.19, abs=0.01)


def test_mish_does_not_overflow_for_large_inputs():
    z = np.array([-1000.0, 1000.0])
    with np.errstate(over="raise"):
        np.testing.assert_allclose(make("activation", "mish").forward(z), [0.0, 1000.0])


def test_mish_matches_torch():
    torch = pytest.importorskip("torch")
    z = np.random.default_rng(0).normal(scale=3, size=50)
    want = torch.nn.functional.mish(torch.tensor(z)).numpy()
    np.testing.assert_allclose(make("activation", "mish").forward(z), want, rtol=1e-12)


@pytest.mark.parametrize("frequency", [0.5, 1.0, 3.0])
def test_snake_wiggles_around_identity_with_period_pi_over_frequency(frequency):
    snake = make("activation", {"type": "snake", "frequency": frequency})
    z = np.random.default_rng(1).normal(size=20)
    period = math.pi / frequency
    np.testing.assert_allclose(snake.forward(z + period) - snake.forward(z), period, rtol=1e-12)
    assert np.all(snake.forward(z) >= z)  # sin²/a >= 0


def test_snake_rejects_a_non_positive_frequency_with_the_valid_range():
    with pytest.raises(nnexp.ConfigError, match="snake frequency.*0 < value"):
        make("activation", {"type": "snake", "frequency": 0})


def test_prelu_learns_the_negative_slope_of_a_leaky_target():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(256, 3))
    y = np.where(X > 0, X, 0.1 * X)
    net = nnexp.Network(["prelu"], 3, dtype="float64", registry=REG)
    nnexp.fit(net, X, y, loss="mse", optimizer={"type": "sgd", "lr": 0.5}, epochs=40,
              batch_size=64, task="regression")
    np.testing.assert_allclose(net.params["prelu_0.alpha"], 0.1, atol=1e-3)


def test_prelu_as_mlp_activation_gives_each_hidden_layer_its_own_slopes():
    net = nnexp.Network.mlp(4, [6, 5], 2, activation="prelu", registry=REG)
    assert net.params["prelu_0.alpha"].shape == (6,)
    assert net.params["prelu_1.alpha"].shape == (5,)
    shared = nnexp.Network.mlp(4, [6], 2, activation={"type": "prelu", "shared": True}, registry=REG)
    assert shared.params["prelu_0.alpha"].shape == (1,)


def test_maxout_with_two_opposite_pieces_is_absolute_value():
    net = nnexp.Network([{"type": "maxout", "units": 1, "pieces": 2}], 1, dtype="float64",
                        registry=REG)
    net.set_params({"maxout_0.W": [[[1.0]], [[-1.0]]], "maxout_0.b": [[0.0], [0.0]]})
    x = np.linspace(-3, 3, 13).reshape(-1, 1)
    np.testing.assert_allclose(net.forward(x), np.abs(x))


def test_maxout_rejects_non_integer_units_naming_the_option():
    with pytest.raises(nnexp.ConfigError, match="maxout units: got 2.5; expected a positive integer"):
        nnexp.Network([{"type": "maxout", "units": 2.5}], 3, registry=REG)


def test_residual_dense_with_zero_weights_is_the_identity_and_keeps_the_width():
    net = nnexp.Network([{"type": "residual_dense", "hidden": 7}], 4, dtype="float64", registry=REG)
    assert net.output_shape == (4,)
    net.set_params({k: np.zeros_like(v) for k, v in net.params.items()})
    x = np.random.default_rng(2).normal(size=(5, 4))
    np.testing.assert_array_equal(net.forward(x), x)


def test_residual_dense_uses_any_registered_activation():
    layer = make("layer", {"type": "residual_dense", "hidden": 3, "activation": "mish"})
    x = np.random.default_rng(3).normal(size=(4, 5))
    net = nnexp.Network([layer], 5, dtype="float64", registry=REG)
    assert check_gradients(net.layers[0], x).ok
    with pytest.raises(nnexp.UnknownComponentError, match="Did you mean 'mish'"):
        nnexp.Network([{"type": "residual_dense", "activation": "mihs"}], 5, registry=REG)


def test_log_cosh_is_half_squared_error_for_small_and_abs_minus_log2_for_large_errors():
    loss = make("loss", "log_cosh")
    y = np.zeros((4, 2))
    small = np.full((4, 2), 1e-3)
    assert loss(small, y) == pytest.approx(0.5e-6, rel=1e-6)
    large = np.full((4, 2), 50.0)
    assert loss(large, y) == pytest.approx(50 - math.log(2), rel=1e-12)
    assert np.isfinite(loss(np.full((1, 1), 1e4), np.zeros((1, 1))))


def test_focal_with_gamma_zero_is_cross_entropy_value_and_gradient():
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(8, 3))
    y = np.eye(3)[rng.integers(0, 3, size=8)]
    focal, ce = make("loss", {"type": "focal", "gamma": 0}), make("loss", "cross_entropy")
    assert focal(logits, y, from_logits=True) == pytest.approx(ce(logits, y, from_logits=True), rel=1e-12)
    np.testing.assert_allclose(focal.backward(), ce.backward(), atol=1e-15)


def test_focal_down_weights_confidently_correct_samples():
    y = np.array([[1.0, 0.0]])
    confident, unsure = np.array([[0.95, 0.05]]), np.array([[0.55, 0.45]])
    focal, ce = make("loss", "focal"), make("loss", {"type": "focal", "gamma": 0})
    ratio = lambda p: focal(p, y) / ce(p, y)  # noqa: E731 - (1 - p)^γ for the true class
    assert ratio(confident) == pytest.approx(0.05 ** 2)
    assert ratio(unsure) == pytest.approx(0.45 ** 2)


def test_focal_fuses_with_a_softmax_output_and_trains():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(120, 2))
    y = np.eye(2)[(X[:, 0] + X[:, 1] > 0).astype(int)]
    net = nnexp.Network.mlp(2, [8], 2, activation="mish", output_activation="softmax", seed=1,
                            registry=REG)
    history = nnexp.fit(net, X, y, loss="focal", optimizer={"type": "adam", "lr": 0.05},
                        epochs=30, batch_size=32)
    trainer = nnexp.Trainer(net, loss="focal")
    assert trainer.fused
    assert history["accuracy"][-1] > 0.9
    assert history["loss"][-1] < history["loss"][0] / 2


def lion_by_hand(theta, grads, lr, betas, weight_decay):
    """The paper's Algorithm 2 on one float, written out independently of the package."""
    m, out = 0.0, []
    for g in grads:
        c = betas[0] * m + (1 - betas[0]) * g
        theta = theta * (1 - lr * weight_decay) - lr * math.copysign(1.0, c) * (c != 0)
        m = betas[1] * m + (1 - betas[1]) * g
        out.append(theta)
    return out


@pytest.mark.parametrize("options", [{"lr": 0.01}, {"lr": 0.003, "betas": [0.8, 0.95], "weight_decay": 0.5}])
def test_lion_follows_the_papers_algorithm(options):
    net = nnexp.Network([{"type": "dense", "units": 1, "use_bias": False}], 1, dtype="float64", registry=REG)
    net.set_params({"dense_0.W": [[0.7]]})
    lion = make("optimizer", {"type": "lion", **options}).bind(net)
    grads = [0.5, -1.5, 2.0, 0.25, -0.75, 1.0]
    ours = []
    for g in grads:
        net.layers[0].grads["W"][...] = g
        lion.step()
        ours.append(net.params["dense_0.W"].item())
    want = lion_by_hand(0.7, grads, options["lr"], options.get("betas", (0.9, 0.99)),
                        options.get("weight_decay", 0.0))
    np.testing.assert_allclose(ours, want, rtol=1e-13)


def test_lion_rejects_bad_betas_naming_the_option():
    with pytest.raises(nnexp.ConfigError, match=r"lion betas\[1\]: got 1.5"):
        make("optimizer", {"type": "lion", "betas": [0.9, 1.5]})


def test_polynomial_matches_torch_polynomial_lr():
    torch = pytest.importorskip("torch")
    for power, total in ((1.0, 8), (2.0, 5)):
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
        sched = torch.optim.lr_scheduler.PolynomialLR(opt, total_iters=total, power=power)
        want = []
        for _ in range(10):
            want.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        ours = make("schedule", {"type": "polynomial", "power": power, "total_epochs": total})
        np.testing.assert_allclose([ours.lr_at(e, 0.3, 10) for e in range(10)], want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("shape", [(3, 7), (7, 3), (2, 3, 4)])
def test_orthogonal_gives_orthonormal_rows_or_columns_times_gain(shape):
    init = make("initializer", {"type": "orthogonal", "gain": 2.0})
    W = init(shape, shape[-1], shape[-2], np.random.default_rng(0), np.float64)
    M = W.reshape(-1, shape[-1])
    small = M @ M.T if M.shape[0] <= M.shape[1] else M.T @ M
    np.testing.assert_allclose(small, 4.0 * np.eye(len(small)), atol=1e-12)
