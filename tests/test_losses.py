"""Built-in losses agree with PyTorch's definitions and reductions, and the fused
cross-entropy paths stay finite and exact for huge logits."""

import numpy as np
import pytest

import nnexp

torch = pytest.importorskip("torch")
F = torch.nn.functional

RNG = np.random.default_rng(0)
N, C = 5, 4
REAL = RNG.normal(size=(N, C))
TARGET = RNG.normal(size=(N, C))
BINARY = RNG.integers(0, 2, size=(N, C)).astype(float)
ONEHOT = np.eye(C)[RNG.integers(0, C, size=N)]
PROBS = 1 / (1 + np.exp(-REAL))
SOFTMAX = np.exp(REAL) / np.exp(REAL).sum(axis=1, keepdims=True)
LOG_SOFTMAX = np.log(np.exp(TARGET) / np.exp(TARGET).sum(axis=1, keepdims=True))

# loss spec, from_logits, y_pred, y_true, the torch definition
CASES = [
    ("mse", False, REAL, TARGET, F.mse_loss),
    ("half_squared_error", False, REAL, TARGET, lambda p, y: 0.5 * ((p - y) ** 2).sum(dim=1).mean()),
    ("mae", False, REAL, TARGET, F.l1_loss),
    ("huber", False, REAL * 2, TARGET, F.huber_loss),
    ({"type": "huber", "delta": 0.3}, False, REAL, TARGET, lambda p, y: F.huber_loss(p, y, delta=0.3)),
    ("bce", False, PROBS, BINARY, F.binary_cross_entropy),
    ("bce", True, REAL, BINARY, F.binary_cross_entropy_with_logits),
    ("bce", True, REAL, PROBS, F.binary_cross_entropy_with_logits),  # soft targets
    ("cross_entropy", True, REAL, ONEHOT, F.cross_entropy),
    ("cross_entropy", True, REAL, SOFTMAX, F.cross_entropy),  # probability targets
    ("cross_entropy", False, SOFTMAX, ONEHOT, lambda p, y: F.nll_loss(torch.log(p), y.argmax(dim=1))),
    ("hinge", False, REAL, BINARY, lambda p, y: torch.clamp(1 - (2 * y - 1) * p, min=0).mean()),
    ("hinge", False, REAL, 2 * BINARY - 1, lambda p, y: torch.clamp(1 - y * p, min=0).mean()),
    ("smooth_l1", False, REAL * 2, TARGET, F.smooth_l1_loss),
    ({"type": "smooth_l1", "beta": 0.3}, False, REAL, TARGET, lambda p, y: F.smooth_l1_loss(p, y, beta=0.3)),
    ({"type": "smooth_l1", "beta": 0.0}, False, REAL, TARGET, lambda p, y: F.smooth_l1_loss(p, y, beta=0.0)),
    ("kl_div", False, LOG_SOFTMAX, SOFTMAX, lambda p, y: F.kl_div(p, y, reduction="batchmean")),
    ("kl_div", False, LOG_SOFTMAX, ONEHOT, lambda p, y: F.kl_div(p, y, reduction="batchmean")),
    ("kl_div", True, REAL, SOFTMAX, lambda z, y: F.kl_div(F.log_softmax(z, dim=1), y, reduction="batchmean")),
]


@pytest.fixture(scope="module")
def registry():
    return nnexp.load_registry(entry_points=False)


def torch_loss_and_grad(fn, pred, y):
    t = torch.tensor(pred, requires_grad=True)
    value = fn(t, torch.tensor(y))
    value.backward()
    return value.item(), t.grad.numpy()


@pytest.mark.parametrize(("spec", "from_logits", "pred", "y", "fn"), CASES,
                         ids=[f"{c[0] if isinstance(c[0], str) else c[0]['type']}-{'logits' if c[1] else 'pred'}-{i}"
                              for i, c in enumerate(CASES)])
def test_loss_matches_torch_value_and_gradient(registry, spec, from_logits, pred, y, fn):
    loss = registry.create("loss", spec)
    value = loss.forward(pred, y, from_logits=from_logits)
    want, grad = torch_loss_and_grad(fn, pred, y)
    assert value == pytest.approx(want, rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(loss.backward(), grad, rtol=1e-10, atol=1e-15)


def test_fused_cross_entropy_is_finite_and_exact_for_logits_of_1000(registry):
    logits = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0], [0.0, 0.0, -1000.0]])
    y = np.eye(3)[[1, 2, 0]]
    loss = registry.create("loss", "cross_entropy")
    value = loss.forward(logits, y, from_logits=True)
    grad = loss.backward()
    # By hand: -log softmax of the true class = max - z_true + log Σ e^(z - max).
    per_sample = [2000.0, 1.0 + np.log1p(np.exp(-1.0)), np.log(2.0)]
    assert value == pytest.approx(np.mean(per_sample), rel=1e-12)
    soft = np.array([[1, 0, 0], [0, 1 / (1 + np.exp(-1.0)), np.exp(-1.0) / (1 + np.exp(-1.0))], [0.5, 0.5, 0]])
    np.testing.assert_allclose(grad, (soft - y) / 3, atol=1e-15)
    want, tgrad = torch_loss_and_grad(F.cross_entropy, logits, y)
    assert value == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(grad, tgrad, atol=1e-15)


def test_fused_binary_cross_entropy_is_finite_for_logits_of_1000(registry):
    logits = np.array([[1000.0, -1000.0, 1000.0, -1000.0]])
    y = np.array([[1.0, 0.0, 0.0, 1.0]])
    loss = registry.create("loss", "bce")
    assert loss.forward(logits, y, from_logits=True) == pytest.approx(500.0, rel=1e-12)
    np.testing.assert_allclose(loss.backward(), np.array([[0, 0, 1, -1]]) / 4, atol=1e-15)


def test_unfused_cross_entropy_clips_zero_probabilities_to_a_finite_loss(registry):
    loss = registry.create("loss", "cross_entropy")
    value = loss.forward(np.array([[0.0, 1.0]], dtype=np.float32), np.array([[1.0, 0.0]], dtype=np.float32))
    assert np.isfinite(value) and value > 10
    assert np.isfinite(loss.backward()).all()


def test_trainer_fuses_softmax_with_cross_entropy_and_stays_finite_for_huge_logits(registry):
    net = nnexp.Network([{"type": "dense", "units": 3}, "softmax"], 2, dtype="float64", registry=registry)
    net.set_params({"dense_0.W": [[1000.0, 0.0], [-1000.0, 0.0], [0.0, 1000.0]], "dense_0.b": [0.0, 0.0, 0.0]})
    trainer = nnexp.Trainer(net, "cross_entropy", "sgd", registry)
    assert trainer.fused
    value = trainer.train_step(np.array([[1.0, 0.0], [0.0, 1.0]]), np.eye(3)[[1, 0]])
    assert np.isfinite(value) and value == pytest.approx((2000.0 + 1000.0) / 2, rel=1e-9)
    assert all(np.isfinite(p).all() for p in net.params.values())


def test_hinge_treats_01_and_pm1_targets_alike(registry):
    loss = registry.create("loss", "hinge")
    a = loss.forward(REAL, BINARY)
    ga = loss.backward()
    b = loss.forward(REAL, 2 * BINARY - 1)
    np.testing.assert_array_equal(ga, loss.backward())
    assert a == b


def test_huber_rejects_a_non_positive_delta(registry):
    with pytest.raises(nnexp.ConfigError, match="huber delta: got 0"):
        registry.create("loss", "huber", delta=0)


def test_kl_div_fuses_with_a_log_softmax_output_and_learns_soft_targets(registry):
    rng = np.random.default_rng(6)
    X = rng.normal(size=(200, 3))
    logits = X @ rng.normal(size=(3, 4))
    y = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)  # a teacher's soft labels
    net = nnexp.Network.mlp(3, [], 4, output_activation="log_softmax", dtype="float64", seed=0,
                            registry=registry)
    assert nnexp.Trainer(net, loss="kl_div").fused
    history = nnexp.fit(net, X, y, loss="kl_div", optimizer={"type": "adam", "lr": 0.1}, epochs=60,
                        batch_size=50, task="regression")
    assert history["loss"][-1] < 0.01 * history["loss"][0]


def test_smooth_l1_refuses_a_negative_beta(registry):
    with pytest.raises(nnexp.ConfigError, match="smooth_l1 beta: got -1"):
        registry.create("loss", {"type": "smooth_l1", "beta": -1})
