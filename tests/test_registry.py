"""The registry: provenance, unknown names, duplicates, broken and blocked plugins."""

import types

import pytest

import nnexp
from nnexp import hookimpl, plugins
from nnexp.base import Activation


class Cube(Activation):
    """f(z) = z³; f'(z) = 3z²."""

    def f(self, z):
        return z**3

    def df(self, z):
        return 3 * z**2


def plugin(**hooks):
    """A plugin object whose hook functions are the given callables."""
    ns = types.SimpleNamespace()
    for name, fn in hooks.items():
        setattr(ns, name, hookimpl(fn))
    return ns


def registers(kind_hook, name, factory=Cube, aliases=()):
    def hook(register):
        register(name, factory, aliases=aliases)
    return plugin(**{kind_hook: hook})


def test_builtins_carry_nnexp_provenance():
    reg = nnexp.load_registry(entry_points=False)
    prov = reg.get("activation", "relu").provenance
    assert prov.distribution == "nnexp"
    assert prov.version == nnexp.__version__
    assert prov.plugin == "nnexp.activations"


def test_unknown_activation_lists_available_and_suggests_nearest():
    reg = nnexp.load_registry(entry_points=False)
    with pytest.raises(nnexp.UnknownComponentError) as info:
        reg.get("activation", "rleu")
    err = info.value
    assert err.suggestion == "relu"
    assert "Did you mean 'relu'?" in str(err)
    assert "relu" in err.available and "sigmoid" in err.available


def test_extra_plugin_component_records_its_plugin_name():
    reg = nnexp.load_registry(entry_points=False,
                              extra_plugins=[("cubes", registers("register_activations", "cube"))])
    comp = reg.get("activation", "cube")
    assert comp.provenance.plugin == "cubes"
    assert isinstance(reg.create("activation", "cube"), Cube)


def test_alias_resolves_to_the_same_component():
    reg = nnexp.load_registry(entry_points=False, extra_plugins=[
        ("cubes", registers("register_activations", "cube", aliases=("cubic",)))])
    assert reg.get("activation", "cubic") is reg.get("activation", "cube")
    assert "cubic" not in reg.names("activation") and "cubic" in reg.names("activation", aliases=True)


def test_builtin_keeps_its_name_and_a_duplicate_answers_to_its_qualified_name(caplog):
    reg = nnexp.load_registry(entry_points=False, extra_plugins=[
        ("my_relu", registers("register_activations", "relu"))])
    assert reg.get("activation", "relu").provenance.plugin == "nnexp.activations"
    theirs = reg.get("activation", "local:relu")
    assert theirs.provenance.plugin == "my_relu" and theirs.name == "local:relu"
    assert isinstance(reg.create("activation", "local:relu"), Cube)
    assert reg.create("activation", "local:relu").type_name == "local:relu"
    assert "local:relu" in reg.names("activation") and "relu" in reg.names("activation")
    assert reg.failures == []  # not a load failure: both components work
    (conflict,) = reg.conflicts.values()
    assert conflict.kept.provenance.plugin == "nnexp.activations" and conflict.qualified == ["local:relu"]


def test_conflict_is_one_warning_line_naming_both_providers(caplog):
    plugins.reset_warnings()
    nnexp.load_registry(entry_points=False, extra_plugins=[
        ("my_sigmoid", registers("register_activations", "sigmoid"))])
    (line,) = [r.getMessage() for r in caplog.records if "sigmoid" in r.getMessage()]
    assert "\n" not in line and f"nnexp {nnexp.__version__} (plugin 'nnexp.activations')" in line
    assert "local 0 (plugin 'my_sigmoid')" in line and "'local:sigmoid'" in line


def third_party(reg, plugin, dist, *names):
    prov = nnexp.Provenance(plugin, dist, "1.0")
    reg.plugins[plugin] = prov
    for name in names:
        reg.add("activation", name, Cube, prov)


def test_two_third_party_providers_make_the_bare_name_ambiguous_and_keep_the_rest():
    reg = nnexp.load_registry(entry_points=False)
    third_party(reg, "a", "pkg-a", "twin", "only_a")
    third_party(reg, "b", "pkg_B", "twin", "only_b")
    with pytest.raises(nnexp.AmbiguousComponentError) as info:
        reg.get("activation", "twin")
    msg = str(info.value)
    assert "pkg-a 1.0 (plugin 'a') and pkg_B 1.0 (plugin 'b') both register it" in msg
    assert "'pkg-a:twin' or 'pkg-b:twin'" in msg
    assert ("activation", "twin") not in reg and isinstance(reg.missing("activation", "twin"),
                                                           nnexp.AmbiguousComponentError)
    assert reg.get("activation", "Pkg_A:twin").provenance.plugin == "a"  # PEP 503 spelling
    assert reg.get("activation", "pkg-b:twin").provenance.plugin == "b"
    assert reg.get("activation", "only_a").name == "only_a"
    assert {c.provenance.plugin for c in reg.candidates("activation", "twin")} == {"a", "b"}


def test_withdrawing_one_claimant_gives_the_other_the_bare_name():
    reg = nnexp.load_registry(entry_points=False)
    third_party(reg, "a", "pkg-a", "twin")
    third_party(reg, "b", "pkg-b", "twin")
    reg.remove_plugin("b")
    assert reg.get("activation", "twin").provenance.plugin == "a" and not reg.conflicts


def test_one_distribution_registering_a_name_twice_is_refused():
    def twice(register):
        register("cube", Cube)
        register("cube", Cube)

    reg = nnexp.load_registry(entry_points=False, extra_plugins=[("twice", plugin(register_activations=twice))])
    assert [f.stage for f in reg.failures] == ["register"]
    assert "registered twice" in str(reg.failures[0].error)
    assert reg.get("activation", "cube").provenance.plugin == "twice"


def test_strict_mode_turns_a_duplicate_into_a_load_error():
    with pytest.raises(nnexp.PluginLoadError, match="my_relu"):
        nnexp.load_registry(entry_points=False, strict=True, extra_plugins=[
            ("my_relu", registers("register_activations", "relu"))])


def test_strict_mode_from_environment(monkeypatch):
    monkeypatch.setenv("NNEXP_STRICT_PLUGINS", "1")
    boom = plugin(register_losses=lambda register: 1 / 0)
    with pytest.raises(nnexp.PluginLoadError, match="ZeroDivisionError"):
        nnexp.load_registry(entry_points=False, extra_plugins=[("boom", boom)])


def test_raising_hook_is_isolated_and_its_components_dropped():
    def half_then_fail(register):
        register("cube", Cube)
        raise RuntimeError("hook exploded")

    reg = nnexp.load_registry(entry_points=False, extra_plugins=[
        ("flaky", plugin(register_activations=half_then_fail)),
        ("cubes2", registers("register_activations", "cube2"))])
    (failure,) = reg.failures
    assert failure.plugin == "flaky" and failure.stage == "hook register_activations"
    assert "hook exploded" in failure.describe()
    assert ("activation", "cube") not in reg
    assert ("activation", "cube2") in reg


def test_misspelled_hook_name_fails_that_plugin_only():
    typo = plugin(register_activation=lambda register: register("cube", Cube))
    reg = nnexp.load_registry(entry_points=False, extra_plugins=[("typo", typo)])
    (failure,) = reg.failures
    assert failure.plugin == "typo" and failure.stage == "validate"
    assert "register_activation" in str(failure.error)
    assert ("activation", "relu") in reg


def test_blocked_plugin_is_not_loaded(monkeypatch):
    extra = [("cubes", registers("register_activations", "cube"))]
    assert ("activation", "cube") not in nnexp.load_registry(entry_points=False, blocked=["cubes"],
                                                              extra_plugins=extra)
    monkeypatch.setenv("NNEXP_BLOCK_PLUGINS", "cubes, other")
    assert ("activation", "cube") not in nnexp.load_registry(entry_points=False, extra_plugins=extra)


def test_invalid_component_name_is_a_plugin_failure():
    reg = nnexp.load_registry(entry_points=False, extra_plugins=[
        ("shouty", registers("register_activations", "Cube"))])
    assert reg.failures and "lower-case" in str(reg.failures[0].error)


def test_component_of_a_failed_plugin_names_the_failure():
    boom = plugin(register_activations=lambda register: 1 / 0)
    reg = nnexp.load_registry(entry_points=False, extra_plugins=[("boom", boom)])
    with pytest.raises(nnexp.UnknownComponentError, match="failed to load"):
        reg.get("activation", "mish")


def test_create_with_bad_options_says_what_the_factory_accepts():
    reg = nnexp.load_registry(entry_points=False)
    with pytest.raises(nnexp.ConfigError, match="units"):
        reg.create("layer", {"type": "dense", "unitz": 3})


def test_each_load_gets_a_fresh_plugin_manager():
    a = nnexp.load_registry(entry_points=False)
    b = nnexp.load_registry(entry_points=False)
    assert a.pm is not b.pm
