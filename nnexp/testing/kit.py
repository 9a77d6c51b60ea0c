"""Which checks apply to which component, running them, and the pytest helper."""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from nnexp.errors import UnknownComponentError
from nnexp.registry import KINDS, Component, Registry, normalize_distribution
from nnexp.testing import checks as layer_checks
from nnexp.testing import dataset_checks, initializer_checks, loss_checks, optimizer_checks, schedule_checks
from nnexp.testing.checks import CheckFailure

#: The kinds the kit checks, in report order: all of them.
CHECKED_KINDS = tuple(KINDS)


@dataclass(frozen=True)
class Check:
    """One named conformance check: ``check(component, registry=None)`` raises
    :class:`CheckFailure` when the component fails it. ``applies(component)`` says whether
    it concerns a component at all (the warmup check: schedules with a ``warmup`` option)."""

    name: str
    function: Callable[[Component, Registry], None]
    applies: Callable[[Component], bool] | None = None

    @property
    def doc(self) -> str:
        return (self.function.__doc__ or "").strip()

    def __call__(self, component: Component, registry: Registry | None = None) -> None:
        if registry is None:
            from nnexp.plugins import get_registry

            registry = get_registry()
        self.function(component, registry)

    def __repr__(self):
        return self.name


def _checks(module, names: str) -> list[Check]:
    return [Check(n, getattr(module, n)) for n in names.split()]


_LAYER = ("input_gradient param_gradients shape_and_dtype batch_independence inputs_not_mutated "
          "determinism config_round_trip modes")
CHECKS: dict[str, list[Check]] = {
    "activation": _checks(layer_checks, _LAYER + " derivative"),
    "loss": _checks(loss_checks, "gradient scalar_output batch_mean inputs_not_mutated "
                                 "determinism config_round_trip"),
    "layer": _checks(layer_checks, _LAYER),
    "optimizer": _checks(optimizer_checks, "quadratic_update lr_each_step weight_decay no_aliasing "
                                           "dtype_kept state_round_trip config_round_trip"),
    "schedule": [*_checks(schedule_checks, "documented_values bounds pure"),
                 Check("warmup", schedule_checks.warmup, schedule_checks.has_warmup)],
    "initializer": _checks(initializer_checks, "shape_and_dtype variance fans determinism"),
    "dataset": _checks(dataset_checks, "splits dtypes determinism disjoint_splits targets"),
}


def checks_for(component: Component) -> list[Check]:
    """The checks that apply to a component of its kind."""
    return [c for c in CHECKS.get(component.kind, []) if c.applies is None or c.applies(component)]


@dataclass
class CheckResult:
    """The outcome of one check on one component; ``report`` is the GradientReport, if any."""

    component: Component
    check: str
    passed: bool
    message: str = ""
    report: object = None

    def to_dict(self) -> dict:
        out = {"check": self.check, "passed": self.passed, "message": self.message}
        worst = getattr(self.report, "worst", None)
        if worst is not None:
            out["worst"] = {"tensor": worst.tensor, "index": list(worst.index), "analytic": worst.analytic,
                            "numeric": worst.numeric, "rel_error": worst.rel_error}
        return out


def run_check(check: Check, component: Component, registry: Registry | None = None) -> CheckResult:
    """Run one check; a failure or any exception the component raises becomes a failed result."""
    try:
        check(component, registry)
    except CheckFailure as exc:
        return CheckResult(component, check.name, False, str(exc), exc.report)
    except Exception as exc:  # noqa: BLE001 - a plugin's bug is a failed check, not a crash
        return CheckResult(component, check.name, False, f"raised {type(exc).__name__}: {exc}")
    return CheckResult(component, check.name, True)


def run_checks(component: Component, registry: Registry | None = None) -> list[CheckResult]:
    """Every applicable check on one component."""
    return [run_check(check, component, registry) for check in checks_for(component)]


def _lookup(registry: Registry, name: str, kinds) -> list[Component]:
    """What ``name`` means in each kind: a component, or every claimant of an ambiguous name."""
    found = [c for k in kinds for c in registry.candidates(k, name)]
    if not found:
        every = {n for k in kinds for n in registry.names(k, aliases=True)}
        raise UnknownComponentError("component", name, every)
    return found


def _distributions(registry: Registry) -> dict[str, str]:
    """Every distribution the registry knows (components, hook-only and failed plugins), by
    its normal form (so ``nnexp_sklearn`` finds ``nnexp-sklearn``)."""
    provs = [c.provenance for k in KINDS for c in registry.components(k)] + list(registry.plugins.values())
    names = {p.distribution for p in provs} | {f.distribution for f in registry.failures}
    return {normalize_distribution(n): n for n in names}


def _only_distribution(registry: Registry, comps: list[Component], distribution: str) -> list[Component]:
    known = _distributions(registry)
    if normalize_distribution(distribution) not in known:
        raise UnknownComponentError("distribution", distribution, known.values(), hint="")
    return [c for c in comps if c.provenance.qualifier == normalize_distribution(distribution)]


def _from_plugin(plugin) -> tuple[Registry, str]:
    """A registry of the built-ins plus ``plugin`` (a module or object with hookimpls)."""
    from nnexp.plugins import load_registry

    name = getattr(plugin, "__name__", type(plugin).__name__)
    return load_registry(entry_points=False, extra_plugins=[(name, plugin)], strict=True), name


def _source(source, registry, kinds) -> tuple[Registry, list[Component]]:
    """The registry and every component of ``kinds`` that ``source`` stands for."""
    if isinstance(source, Registry):
        registry, source = source, None
    elif isinstance(source, types.ModuleType) or (source is not None and not isinstance(source, Iterable)):
        registry, plugin = _from_plugin(source)
        return registry, [c for k in kinds for c in registry.components(k) if c.provenance.plugin == plugin]
    if registry is None:
        from nnexp.plugins import get_registry

        registry = get_registry()
    if source is None:
        return registry, [c for k in kinds for c in registry.components(k)]
    return registry, [c for c in source if c.kind in kinds]


def select_components(source=None, *, kinds=None, names=None, distribution=None,
                      registry: Registry | None = None) -> tuple[Registry, list[Component]]:
    """The registry and the components to check.

    ``source``: a :class:`Registry` (default: ``nnexp.get_registry()``), an iterable of
    :class:`Component`, or a plugin module (checked with the built-ins, before it is installed).
    ``kinds``, ``names``, ``distribution`` narrow the selection; an unknown name or
    distribution raises the registry's "did you mean" error. A distribution that registers no
    component (lifecycle hooks only) selects nothing.
    """
    kinds = tuple(kinds or CHECKED_KINDS)
    registry, comps = _source(source, registry, kinds)
    if names:
        wanted = {id(c) for n in names for c in _lookup(registry, n, kinds)}
        comps = [c for c in comps if id(c) in wanted]
    if distribution:
        comps = _only_distribution(registry, comps, distribution)
    return registry, comps


def parametrize_with_checks(source=None, **filters):
    """A ``pytest.mark.parametrize`` over (component, check) pairs, one test case per check,
    with ids like ``activation:relu-input_gradient``::

        @parametrize_with_checks(nnexp.load_registry(), distribution="my-acts")
        def test_conformance(component, check):
            check(component)

    ``source`` and ``filters`` are those of :func:`select_components`.
    """
    import pytest  # only plugin authors' test suites need pytest

    registry, comps = select_components(source, **filters)
    params = [pytest.param(c, functools.partial(check, registry=registry), id=f"{c.kind}:{c.name}-{check.name}")
              for c in comps for check in checks_for(c)]
    return pytest.mark.parametrize(("component", "check"), params)
