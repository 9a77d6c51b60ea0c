"""Gradient checking and a conformance kit for components, for nnexp and plugin authors.

Check one thing by hand::

    from nnexp.testing import check_gradients
    report = check_gradients(network, X, y, loss="mse")   # or a Loss, Layer or activation
    print(report.worst)            # tensor, index, analytic vs numeric, relative error

Check every component a plugin registers — activations, losses, layers, optimizers, schedules,
initializers and datasets — one pytest case per (component, check)::

    from nnexp.testing import parametrize_with_checks

    @parametrize_with_checks(nnexp.load_registry(), distribution="my-acts")
    def test_conformance(component, check):
        check(component)

How a component declares its example options, kinks, targets, documented values and variances
for the kit: :mod:`nnexp.testing.examples`. The same checks run from the shell: ``nnexp check``.
pytest is imported only by :func:`parametrize_with_checks`.
"""

from nnexp.testing.checks import CheckFailure
from nnexp.testing.gradcheck import (
    GradientCheckError,
    GradientReport,
    TensorError,
    assert_gradients,
    check_gradients,
    check_layer_gradients,
    check_loss_gradients,
    check_network_gradients,
    numeric_gradient,
)
from nnexp.testing.kit import (
    CHECKED_KINDS,
    CHECKS,
    Check,
    CheckResult,
    checks_for,
    parametrize_with_checks,
    run_check,
    run_checks,
    select_components,
)

__all__ = [
    "CHECKED_KINDS", "CHECKS", "Check", "CheckFailure", "CheckResult", "GradientCheckError",
    "GradientReport", "TensorError", "assert_gradients", "check_gradients", "check_layer_gradients",
    "check_loss_gradients", "check_network_gradients", "checks_for", "numeric_gradient",
    "parametrize_with_checks", "run_check", "run_checks", "select_components",
]
