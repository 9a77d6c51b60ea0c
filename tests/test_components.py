"""Every registered activation, layer and loss passes the conformance kit, and the
built-in catalogue is complete and documented.

Parametrized over the registry loaded at test time: registering a component (built in or
from an installed plugin) adds its checks here.
"""

import pytest

import nnexp
from nnexp.testing import parametrize_with_checks

CATALOGUE = {
    "activation": ["identity", "relu", "leaky_relu", "elu", "selu", "sigmoid", "tanh", "softplus",
                   "softsign", "gelu", "silu", "swish", "hard_sigmoid", "softmax", "hardtanh",
                   "hardswish", "celu", "log_softmax"],
    "loss": ["mse", "half_squared_error", "mae", "huber", "binary_cross_entropy", "bce",
             "cross_entropy", "categorical_cross_entropy", "hinge", "smooth_l1", "kl_div"],
    "layer": ["dense", "activation", "dropout", "batchnorm", "layernorm"],
}


@parametrize_with_checks(nnexp.load_registry())
def test_component_conforms(component, check):
    check(component)


@pytest.mark.parametrize("kind", CATALOGUE)
def test_builtin_catalogue_is_registered_by_nnexp(kind):
    registry = nnexp.load_registry(entry_points=False)
    for name in CATALOGUE[kind]:
        assert registry.get(kind, name).provenance.distribution == "nnexp"


def builtins(kind):
    registry = nnexp.load_registry(entry_points=False)
    return [c for c in registry.components(kind) if c.provenance.distribution == "nnexp"]


@pytest.mark.parametrize("component", builtins("activation"), ids=lambda c: c.name)
def test_builtin_activation_documents_formula_and_derivative(component):
    doc = component.doc
    assert "f(z)" in doc or "σ(z)" in doc or "s_i" in doc
    assert "'(z)" in doc or "∂" in doc


@pytest.mark.parametrize("component", builtins("loss"), ids=lambda c: c.name)
def test_builtin_loss_documents_its_reduction(component):
    assert "Reduction:" in component.doc and "mean over batch" in component.doc
