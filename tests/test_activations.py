"""Built-in activations agree with PyTorch: values, derivatives (kinks included) and dtypes."""

import math

import numpy as np
import pytest

import nnexp

torch = pytest.importorskip("torch")
F = torch.nn.functional

# name, options, the torch function of the same definition
CASES = [
    ("identity", {}, lambda t: t),
    ("relu", {}, F.relu),
    ("leaky_relu", {}, lambda t: F.leaky_relu(t, 0.01)),
    ("leaky_relu", {"alpha": 0.2}, lambda t: F.leaky_relu(t, 0.2)),
    ("elu", {}, F.elu),
    ("elu", {"alpha": 0.5}, lambda t: F.elu(t, alpha=0.5)),
    ("selu", {}, F.selu),
    ("sigmoid", {}, torch.sigmoid),
    ("tanh", {}, torch.tanh),
    ("softplus", {}, F.softplus),
    ("softplus", {"beta": 2.0, "threshold": 10.0}, lambda t: F.softplus(t, beta=2.0, threshold=10.0)),
    ("softsign", {}, F.softsign),
    ("gelu", {}, F.gelu),
    ("gelu", {"approximate": "tanh"}, lambda t: F.gelu(t, approximate="tanh")),
    ("silu", {}, F.silu),
    ("swish", {}, F.silu),
    ("hard_sigmoid", {}, F.hardsigmoid),
    ("hardtanh", {}, F.hardtanh),
    ("hardtanh", {"min_val": -2.0, "max_val": 0.5}, lambda t: F.hardtanh(t, -2.0, 0.5)),
    ("hardswish", {}, F.hardswish),
    ("celu", {}, F.celu),
    ("celu", {"alpha": 0.5}, lambda t: F.celu(t, alpha=0.5)),
]
# torch's hardsigmoid backward multiplies by 1/6 rounded to float32 even in float64.
DF_RTOL = {"hard_sigmoid": 1e-7}
# A grid with the kinks (0, ±1, ±3, -2, 0.5), the softplus thresholds and large magnitudes.
Z = np.concatenate([np.linspace(-8, 8, 161), [-3.0, -2.0, -1.0, 0.0, 0.5, 1.0, 3.0, 4.99, 5.01, 19.9,
                                              20.1, -40.0, 40.0, -700.0]])


@pytest.fixture(scope="module")
def registry():
    return nnexp.load_registry(entry_points=False)


def torch_value_and_grad(fn, z):
    t = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    out = fn(t)
    out.sum().backward()
    return out.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize(("name", "opts", "fn"), CASES, ids=lambda v: v if isinstance(v, str) else "")
def test_activation_matches_torch_value_and_derivative(registry, name, opts, fn):
    act = registry.create("activation", name, **opts)
    want, dwant = torch_value_and_grad(fn, Z)
    rtol = DF_RTOL.get(name, 1e-12)
    np.testing.assert_allclose(act.f(Z), want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(act.df(Z), dwant, rtol=rtol, atol=1e-14)
    out = act.forward(Z.reshape(-1, 1), True)
    np.testing.assert_allclose(out.ravel(), want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(act.backward(np.ones_like(out)).ravel(), dwant, rtol=rtol, atol=1e-14)


def test_softmax_matches_torch_forward_and_vector_jacobian_product(registry):
    rng = np.random.default_rng(0)
    z, g = rng.normal(scale=5, size=(7, 4)), rng.normal(size=(7, 4))
    z[0] += 1000.0  # the max subtraction keeps a row of huge logits finite
    act = registry.create("activation", "softmax")
    t = torch.tensor(z, requires_grad=True)
    out = F.softmax(t, dim=-1)
    out.backward(torch.tensor(g))
    np.testing.assert_allclose(act.forward(z, True), out.detach().numpy(), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(act.backward(g), t.grad.numpy(), rtol=1e-10, atol=1e-15)
    s = out.detach().numpy()
    np.testing.assert_allclose(act.df(z), s * (1 - s), rtol=1e-12)  # documented: the diagonal


def test_log_softmax_matches_torch_forward_and_vector_jacobian_product(registry):
    rng = np.random.default_rng(1)
    z, g = rng.normal(scale=5, size=(7, 4)), rng.normal(size=(7, 4))
    z[0] += 1000.0
    act = registry.create("activation", "log_softmax")
    t = torch.tensor(z, requires_grad=True)
    out = F.log_softmax(t, dim=-1)
    out.backward(torch.tensor(g))
    np.testing.assert_allclose(act.forward(z, True), out.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(act.backward(g), t.grad.numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(act.df(z), 1 - np.exp(out.detach().numpy()), rtol=1e-12, atol=1e-15)


def test_exact_gelu_is_accurate_to_relative_1e12_even_in_the_tails(registry):
    # torch computes 1 + erf(z/√2), which cancels to 0 below z ≈ -8; math.erfc does not.
    z = np.linspace(-37, 37, 20001)
    want = np.array([v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in z])
    np.testing.assert_allclose(registry.create("activation", "gelu").f(z), want, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", ["sigmoid", "softplus", "silu", "gelu", "elu", "softmax", "celu",
                                  "hardswish", "log_softmax"])
def test_activation_stays_finite_and_float32_for_extreme_inputs(registry, name):
    z = np.array([[-1e4, -80.0, 0.0, 80.0, 1e4]], dtype=np.float32)
    act = registry.create("activation", name)
    with np.errstate(over="raise", invalid="raise"):
        out = act.forward(z, True)
        grad = act.backward(np.ones_like(out))
    assert out.dtype == grad.dtype == np.float32
    assert np.isfinite(out).all() and np.isfinite(grad).all()


def test_gelu_rejects_an_unknown_approximation(registry):
    with pytest.raises(nnexp.ConfigError, match="gelu approximate.*'none' or 'tanh'"):
        registry.create("activation", "gelu", approximate="fast")


@pytest.mark.parametrize(("name", "options", "where"), [
    ("hardtanh", {"min_val": 1.0, "max_val": 1.0}, "hardtanh max_val"),
    ("celu", {"alpha": 0.0}, "celu alpha"),
])
def test_new_activations_refuse_bad_options(registry, name, options, where):
    with pytest.raises(nnexp.ConfigError, match=where):
        registry.create("activation", name, **options)
