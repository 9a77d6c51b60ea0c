"""The conformance kit checks every kind: for each, good components pass every check and
deliberately broken ones (tests/kit_specimens.py) fail exactly the checks that concern their
mistake, with a message that names it."""

import kit_specimens
import pytest

import nnexp
from nnexp.testing import CHECKED_KINDS, checks_for, run_checks

REGISTRY = nnexp.load_registry(entry_points=False, extra_plugins=[("specimens", kit_specimens)],
                               strict=True)

#: (kind, broken component, {failing check: words of its message})
BROKEN = [
    ("layer", "noise_in_evaluation", {"modes": "evaluation forward drew random numbers"}),
    ("layer", "undeclared_noise", {"modes": "does not set stochastic = True"}),
    ("activation", "jittery_tanh", {"modes": "evaluation output of a second forward",
                                    "input_gradient": "gradient check", "shape_and_dtype": "float32",
                                    "batch_independence": "sample 0", "determinism": "two builds",
                                    "config_round_trip": "rebuilt from config", "derivative": "forward(z)"}),
    ("loss", "summed_half_mse", {"batch_mean": "must be a mean over the batch"}),
    ("optimizer", "lion_uphill", {"quadratic_update": "not downhill"}),
    ("optimizer", "lion_misdocumented", {"quadratic_update": "against check_reference"}),
    ("optimizer", "lion_cached_lr", {"lr_each_step": "is lr cached"}),
    ("optimizer", "lion_coupled_claim", {"weight_decay": "as declared, L2"}),
    ("optimizer", "momentum_aliased", {"no_aliasing": "shares memory with gradient",
                                       "weight_decay": "as declared, L2"}),
    ("optimizer", "sgd_upcast", {"no_aliasing": "instead of updating it in place",
                                 "dtype_kept": "float32 parameter dense_0.W became float64"}),
    ("optimizer", "sgd_list_state", {"state_round_trip": "is a list: checkpoints hold numpy arrays"}),
    ("schedule", "call_counting", {"pure": "asked backwards", "documented_values": "documented"}),
    ("schedule", "overshoot", {"bounds": "declare check_max_factor", "documented_values": "documented"}),
    ("schedule", "off_by_one", {"documented_values": "lr_at(0, base_lr=0.1, epochs=10)"}),
    ("schedule", "warmup_over_whole_run", {"warmup": "after a 3-epoch warmup"}),
    ("initializer", "keras_fans", {"fans": "shape (100, 900), fan_in=900"}),
    ("initializer", "std_for_variance", {"variance": "sample variance", "fans": "sample variance"}),
    ("initializer", "global_numpy", {"determinism": "draw only from the rng argument"}),
    ("initializer", "always_float64", {"shape_and_dtype": "float32) returned ndarray float64"}),
    ("dataset", "leaky_blobs", {"disjoint_splits": "leak between splits", "splits": "val split"}),
    ("dataset", "seedless_blobs", {"determinism": "the seed is not used"}),
    ("dataset", "two_names_blobs", {"targets": "3 target columns for 2 classes"}),
    ("dataset", "integer_blobs", {"dtypes": "y is int64"}),
    ("dataset", "fixed_split_blobs", {"splits": "with val_fraction=0.25"}),
    ("dataset", "not_a_dataset", {c: "not nnexp.Dataset" for c in
                                  ("splits", "dtypes", "determinism", "disjoint_splits", "targets")}),
]
GOOD = [(kind, name) for kind, names in kit_specimens.GOOD.items() for name in names]


def failures(kind, name) -> dict[str, str]:
    return {r.check: r.message for r in run_checks(REGISTRY.get(kind, name), REGISTRY) if not r.passed}


@pytest.mark.parametrize(("kind", "name", "expected"), BROKEN, ids=[f"{k}:{n}" for k, n, _ in BROKEN])
def test_kit_fails_the_broken_component_on_the_check_for_its_mistake(kind, name, expected):
    failed = failures(kind, name)
    assert set(failed) == set(expected), failed
    for check, words in expected.items():
        assert words in failed[check], (check, failed[check])


@pytest.mark.parametrize(("kind", "name"), GOOD, ids=[f"{k}:{n}" for k, n in GOOD])
def test_kit_passes_the_good_component(kind, name):
    assert failures(kind, name) == {}


def test_every_kind_has_a_good_and_a_broken_specimen_and_checks():
    assert {k for k, _, _ in BROKEN} == {k for k, _ in GOOD} == set(CHECKED_KINDS)
    for kind, name in GOOD:
        assert checks_for(REGISTRY.get(kind, name)), kind
    warmup = [c.name for c in checks_for(REGISTRY.get("schedule", "linear_warmup"))]
    assert "warmup" in warmup and "warmup" not in [c.name for c in checks_for(REGISTRY.get("schedule", "linear_decay"))]


def test_a_package_without_components_selects_nothing_instead_of_failing():
    import types

    from nnexp.testing import parametrize_with_checks, select_components

    listener = types.SimpleNamespace(on_epoch_end=nnexp.hookimpl(lambda run, epoch, metrics: None))
    registry = nnexp.load_registry(entry_points=False, extra_plugins=[("listen", listener)])
    assert select_components(registry, distribution="local") == (registry, [])
    assert parametrize_with_checks(registry, distribution="local").args[1] == []
    with pytest.raises(nnexp.UnknownComponentError, match="Did you mean 'local'"):
        select_components(registry, distribution="locl")


def test_a_plugin_module_is_checked_before_it_is_installed():
    from nnexp.testing import select_components

    _, comps = select_components(kit_specimens, kinds=["optimizer"], names=["lion"])
    assert [(c.name, c.provenance.plugin) for c in comps] == [("lion", "kit_specimens")]
