"""The gradient checker and the conformance kit catch what they claim to catch."""

import subprocess
import sys
import types

import gradcheck_mutants
import numpy as np
import pytest

import nnexp
from nnexp.testing import (
    GradientCheckError,
    assert_gradients,
    check_gradients,
    parametrize_with_checks,
    run_checks,
    select_components,
)
from nnexp.testing.examples import KINK_MARGIN, away_from_kinks


@pytest.fixture(scope="module")
def mutants():
    return select_components(gradcheck_mutants)


def failed_checks(registry, component):
    return {r.check for r in run_checks(component, registry) if not r.passed}


@pytest.mark.parametrize(("name", "expected"), [
    ("bad_relu", {"input_gradient", "derivative"}),
    ("wrong_df", {"derivative"}),
    ("bad_dense", {"param_gradients"}),
    ("batch_mixer", {"batch_independence"}),
    ("forgetful", {"config_round_trip"}),
    ("upcaster", {"shape_and_dtype"}),
    ("sum_loss", {"batch_mean"}),
])
def test_kit_fails_exactly_the_check_a_bug_breaks(mutants, name, expected):
    registry, comps = mutants
    (comp,) = [c for c in comps if c.name == name]
    assert failed_checks(registry, comp) == expected


@pytest.mark.parametrize(("name", "check"), [("in_place", "inputs_not_mutated"), ("noisy", "determinism")])
def test_kit_catches_mutated_inputs_and_unseeded_randomness(mutants, name, check):
    registry, comps = mutants
    (comp,) = [c for c in comps if c.name == name]
    assert check in failed_checks(registry, comp)


def test_failed_gradient_check_names_tensor_and_shows_analytic_beside_numeric(mutants):
    registry, comps = mutants
    (comp,) = [c for c in comps if c.name == "bad_dense"]
    (result,) = [r for r in run_checks(comp, registry) if r.check == "param_gradients"]
    worst = result.report.worst
    assert worst.tensor == "W"
    assert worst.analytic == pytest.approx(2 * worst.numeric, rel=1e-6)
    assert worst.rel_error == pytest.approx(0.5, rel=1e-6)
    assert "analytic" in result.message and "numeric" in result.message and "W[" in result.message


def test_loss_gradient_report_locates_a_missing_factor():
    from nnexp.builtins.losses import MSE

    class MissingTwo(MSE):
        def backward(self):
            return super().backward() / 2

    rng = np.random.default_rng(0)
    pred, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    report = check_gradients(MissingTwo(), pred, y)
    assert not report.ok
    assert report.worst.tensor == "y_pred"
    np.testing.assert_allclose(report.worst.numeric, 2 * report.worst.analytic, rtol=1e-6)
    with pytest.raises(GradientCheckError, match="analytic .* vs numeric"):
        assert_gradients(MissingTwo(), pred, y)
    assert check_gradients(MSE(), pred, y).max_error < 1e-8


def test_whole_network_gradients_match_finite_differences_in_training():
    layers = [{"type": "dense", "units": 6}, "batchnorm", "gelu", {"type": "dropout", "rate": 0.3},
              "layernorm", {"type": "dense", "units": 3}, "softmax"]
    net = nnexp.Network(layers, 4, dtype="float64", seed=1)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 4)), np.eye(3)[rng.integers(0, 3, 8)]
    report = check_gradients(net, X, y, loss="cross_entropy", training=True)
    assert report.ok, str(report)
    assert {t.tensor for t in report.tensors} == {"input", *net.params}


def test_network_check_points_at_the_broken_layer():
    registry = nnexp.load_registry(extra_plugins=[("mutants", gradcheck_mutants)], entry_points=False)
    net = nnexp.Network([{"type": "dense", "units": 5}, "bad_relu", {"type": "dense", "units": 2}], 3,
                        dtype="float64", registry=registry)
    X, y = np.random.default_rng(0).normal(size=(6, 3)), np.zeros((6, 2))
    report = check_gradients(net, X, y, loss="mse")
    assert not report.ok
    by_tensor = {t.tensor: t.rel_error for t in report.tensors}
    assert by_tensor["dense_1.W"] < 1e-6  # after the bug: right
    assert by_tensor["dense_0.W"] > 1e-3  # before it: wrong


def test_checker_sees_a_kink_and_the_kit_samples_away_from_it():
    relu = nnexp.get_registry().create("activation", "relu")
    at_kink = np.array([[0.0, 1.0, -1.0]])
    worst = check_gradients(relu, at_kink).worst
    # relu'(0) = 0 by convention; the central difference straddles the kink and sees 1/2.
    assert worst.index == (0, 0) and worst.analytic == 0 and worst.numeric != 0
    assert worst.rel_error == pytest.approx(1, abs=1e-6)
    moved = away_from_kinks(np.array([0.0, 2e-4, -2e-4, 0.5, 2.9999]), (0.0, 3.0))
    np.testing.assert_array_equal(moved, [KINK_MARGIN, KINK_MARGIN, -KINK_MARGIN, 0.5, 3.0 - KINK_MARGIN])


def test_gradient_check_refuses_float32_components():
    dense = nnexp.Network([{"type": "dense", "units": 2}], 3).layers[0]
    with pytest.raises(nnexp.ConfigError, match="float64"):
        check_gradients(dense, np.ones((2, 3)))


def test_gradient_check_wrt_selects_tensors_and_rejects_a_typo():
    net = nnexp.Network([{"type": "dense", "units": 2}], 3, dtype="float64")
    X, y = np.ones((2, 3)), np.zeros((2, 2))
    assert {t.tensor for t in check_gradients(net, X, y, wrt="input").tensors} == {"input"}
    assert {t.tensor for t in check_gradients(net, X, y, wrt="params").tensors} == set(net.params)
    # A misspelt wrt used to check nothing and report success.
    with pytest.raises(nnexp.ConfigError, match="'params'"):
        check_gradients(net, X, y, wrt="param")
    with pytest.raises(nnexp.ConfigError, match="wrt"):
        check_gradients(net.layers[0], X, wrt="inputs")


def test_parametrize_with_checks_gives_one_case_per_component_and_check():
    mark = parametrize_with_checks(nnexp.load_registry(entry_points=False), names=["relu", "mse"])
    ids = [p.id for p in mark.args[1]]
    assert "activation:relu-input_gradient" in ids and "loss:mse-batch_mean" in ids
    assert len(ids) == len(set(ids)) == 9 + 6


def test_a_plugin_module_is_checked_before_it_is_installed():
    from nnexp.builtins.activations import Tanh

    plugin = types.ModuleType("cube_plugin")

    class Cube(Tanh):
        def f(self, z):
            return z * z * z

        def df_from_output(self, a):  # wrong on purpose: 3 a instead of 3 z²
            return 3 * a

    @nnexp.hookimpl
    def register_activations(register):
        register("cube", Cube)

    plugin.register_activations = register_activations
    registry, comps = select_components(plugin)
    assert [c.name for c in comps] == ["cube"]
    assert "input_gradient" in failed_checks(registry, comps[0])


def test_unknown_component_name_suggests_the_nearest():
    with pytest.raises(nnexp.UnknownComponentError, match="Did you mean 'relu'"):
        select_components(nnexp.load_registry(entry_points=False), names=["rleu"])


def test_importing_nnexp_testing_does_not_need_pytest():
    code = "import sys, nnexp, nnexp.testing; sys.exit('pytest' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
