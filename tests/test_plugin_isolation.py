"""Broken plugins do not break the host (issue 4, item 5), through the real entry-point path.

The packages in tests/plugin_fixtures are pip-installed into a throwaway directory; the real
``nnexp`` console script (and fresh interpreters) get it on PYTHONPATH and discover them through
their ``*.dist-info/entry_points.txt``, exactly as after ``pip install``.
"""

import json
import re

import pytest
from plugin_fixtures import BROKEN, HERE, LISTENER, NNEXP, pip_install, python, run

import nnexp

#: plugin -> (distribution, load stage, exception type, words of its message)
LOAD_FAILURES = {
    "broken_import": ("nnexp-fixture-broken-import", "import", "ModuleNotFoundError",
                      "nnexp_fixture_missing_dependency"),
    "hook_raises": ("nnexp-fixture-hook-raises", "hook register_activations", "RuntimeError",
                    "weights file"),
    "misspelled": ("nnexp-fixture-misspelled", "validate", "PluginValidationError",
                   "register_activation"),
}
FAILING = sorted(LOAD_FAILURES)
#: registers 'relu' too: a name conflict, not a failure (tests/test_plugin_conflicts.py)
CONFLICTING = "duplicate"
#: a one-epoch run of the experiment app on the built-in xor data, without tracking
APP_RUN = ["dataset=xor", "trainer.epochs=1", "tracking=off"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """All five broken packages and the healthy listener, installed with pip into one directory."""
    projects = [HERE / name for name in (*BROKEN, LISTENER)]
    return pip_install(projects, tmp_path_factory.mktemp("site"), tmp_path_factory.mktemp("build"))


@pytest.fixture
def on_path(site, monkeypatch):
    """The broken packages discoverable in this process (importlib.metadata reads sys.path)."""
    monkeypatch.syspath_prepend(str(site))
    return site


def app(site, *overrides, **env):
    """The Hydra experiment app (``nnexp KEY=VALUE ...``) in a subprocess."""
    pytest.importorskip("nnexp.app", reason="the Hydra experiment app (nnexp/app.py) is missing")
    return run([NNEXP, *overrides], site, **env)


def test_host_trains_with_every_kind_of_broken_plugin_installed(site):
    code = """
import json, numpy as np, nnexp
reg = nnexp.get_registry()
rng = np.random.default_rng(0)
X = rng.normal(size=(256, 2)); y = (X[:, :1] * X[:, 1:] > 0).astype(float)
net = nnexp.Network.mlp(2, [16], 1, activation="tanh", output_activation="sigmoid", seed=0)
h = nnexp.fit(net, X, y, loss="mse", optimizer={"type": "adam", "lr": 0.05}, epochs=40)
names = reg.names("activation") + reg.names("layer")
print(json.dumps({"loss": h["loss"], "accuracy": h["accuracy"][-1], "names": names,
                  "failed": sorted({f.plugin for f in reg.failures})}))
"""
    out = python(code, site)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["failed"] == FAILING
    assert result["loss"][-1] < result["loss"][0] / 2 and result["accuracy"] > 0.85
    # The duplicate plugin's activations (its relu by qualified name), the wrong-gradient one
    # (only `nnexp check` can tell) and the real plugins stay; what a raising hook registered
    # before raising is gone.
    assert {"fixture_cube", "nnexp-fixture-duplicate:relu", "bad_tanh", "tanh", "sigmoid"} <= set(result["names"])
    assert not {"raiser_half", "misspelled_double", "never_seen"} & set(result["names"])
    # An installed plugin's lifecycle hooks hear every run, broken neighbours or not.
    assert "listener: epoch 40 of 40" in out.stderr and "listener: run FINISHED after" in out.stderr


def test_registry_records_each_failure_and_refuses_the_duplicate_naming_both(on_path):
    registry = nnexp.load_registry(strict=False)
    by_plugin = {f.plugin: f for f in registry.failures}
    assert sorted(by_plugin) == FAILING
    for plugin, (dist, stage, error_type, words) in LOAD_FAILURES.items():
        failure = by_plugin[plugin]
        assert (failure.distribution, failure.version, failure.stage) == (dist, "0.1.0", stage)
        assert type(failure.error).__name__ == error_type and words in str(failure.error)
    assert "Did you mean 'register_activations'" in str(by_plugin["misspelled"].error)
    with pytest.raises(nnexp.ComponentLoadError, match="plugin 'hook_raises' .* weights file"):
        registry.get("activation", "raiser_half")  # registered, then withdrawn when the hook raised
    assert registry.get("activation", "relu").provenance.plugin == "nnexp.activations"
    assert registry.conflicts[("activation", "relu")].qualified == ["nnexp-fixture-duplicate:relu"]


def test_nnexp_plugins_shows_what_failed_and_why(site):
    out = run([NNEXP, "plugins", "--json"], site)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    failures = {f["plugin"]: f for f in report["failures"]}
    for plugin, (dist, stage, error_type, words) in LOAD_FAILURES.items():
        assert (failures[plugin]["distribution"], failures[plugin]["stage"]) == (dist, stage)
        assert failures[plugin]["error_type"] == error_type and words in failures[plugin]["error"]
        assert "Traceback" in failures[plugin]["traceback"]
    entries = {e["name"]: e for e in report["plugins"]}
    assert entries["duplicate"]["status"] == "ok"
    assert "nnexp-fixture-duplicate:relu" in entries["duplicate"]["components"]["activation"]
    assert entries["hook_raises"]["status"] == "failed" and entries["hook_raises"]["components"] == {}
    assert entries["wrong_backward"]["status"] == "ok"
    assert entries["listener"]["components"] == {} and entries["listener"]["status"] == "ok"
    assert entries["listener"]["hooks"] == ["on_epoch_end", "on_run_end"]
    relu = next(c for c in report["conflicts"] if c["name"] == "relu")
    assert relu["kept"].startswith("nnexp ") and relu["qualified"] == ["nnexp-fixture-duplicate:relu"]

    text = run([NNEXP, "plugins"], site).stdout
    assert "3 failed to load, 2 name conflict(s)" in text  # relu and mse
    assert "broken_import   nnexp-fixture-broken-import 0.1.0  FAILED" in text
    assert ("  error         import: ModuleNotFoundError: No module named "
            "'nnexp_fixture_missing_dependency'") in text
    assert "hook register_activations: RuntimeError: could not read the plugin's weights file" in text
    conflicts = text[text.index("Name conflicts"):]
    assert re.search(rf"'relu': nnexp {re.escape(nnexp.__version__)} .* keeps it; use\s+nnexp-fixture-duplicate:relu",
                     conflicts)
    assert re.search(r"^  hooks +on_epoch_end, on_run_end$", text, re.M)
    assert "NNEXP_BLOCK_PLUGINS=<plugin>" in text  # says what the user can do about it


@pytest.mark.parametrize("override, words", [
    ("model.layers=[{type:dense,units:4},raiser_half,{type:dense,units:2},softmax]",
     ["'raiser_half' is unavailable", "hook_raises", "RuntimeError", "weights file"]),
    ("model.layers=[{type:dense,units:4},never_seen,{type:dense,units:2},softmax]",
     ["Unknown layer 'never_seen'", "broken_import", "ModuleNotFoundError"]),
    ("model.activation=raiser_half", ["'raiser_half' is unavailable", "hook_raises"]),
    ("model.activation=never_seen", ["Unknown activation (model.activation) 'never_seen'",
                                     "broken_import", "ModuleNotFoundError"]),
], ids=["withdrawn", "never-imported", "withdrawn-activation", "never-imported-activation"])
def test_run_naming_a_broken_component_exits_2_with_a_clear_message(site, override, words):
    out = app(site, override, *APP_RUN)
    assert out.returncode == 2, out.stdout + out.stderr
    for word in words:
        assert word in out.stderr
    assert "Traceback" not in out.stderr


def test_run_with_healthy_components_succeeds_beside_broken_plugins(site):
    out = app(site, "model.activation=fixture_cube", *APP_RUN)
    assert out.returncode == 0, out.stderr


def test_nnexp_check_fails_the_wrong_gradient_naming_component_and_distribution(site):
    out = run([NNEXP, "check", "bad_tanh", "fixture_cube", "tanh"], site)
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    bad = next(line for line in lines if "bad_tanh" in line)
    assert bad.startswith("FAIL") and "nnexp-fixture-wrong-backward==0.1.0" in bad
    assert any(line.startswith("PASS") and "fixture_cube" in line for line in lines)
    assert "analytic" in out.stdout and "numeric" in out.stdout

    broken = run([NNEXP, "check", "--distribution", "nnexp-fixture-broken-import"], site)
    assert broken.returncode == 1 and "LOAD FAILED  plugin 'broken_import'" in broken.stdout

    report = json.loads(run([NNEXP, "check", "--json"], site).stdout)
    failed = {(c["name"], c["distribution"]) for c in report["components"] if not c["passed"]}
    assert failed == {("bad_tanh", "nnexp-fixture-wrong-backward")}
    assert report["passed"] is False and len(report["load_failures"]) == len(FAILING)


def test_strict_mode_turns_a_load_failure_into_a_hard_error(site, on_path):
    with pytest.raises(nnexp.PluginLoadError) as err:
        nnexp.load_registry(strict=True)
    assert all(plugin in str(err.value) for plugin in [*FAILING, CONFLICTING])

    out = app(site, "model.activation=tanh", *APP_RUN, NNEXP_STRICT_PLUGINS="1")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "5 plugin(s) failed to load" in out.stderr and "Traceback" not in out.stderr  # 3 + 2 conflicts
    assert all(plugin in out.stderr for plugin in [*FAILING, CONFLICTING])

    listing = run([NNEXP, "plugins", "--strict"], site)
    assert listing.returncode == 2 and "broken_import" in listing.stdout  # listed, then refused
    assert "failed to load" in listing.stderr


def test_blocking_the_broken_plugins_by_name_gives_a_clean_strict_host(site, on_path):
    registry = nnexp.load_registry(strict=True, blocked=[*FAILING, CONFLICTING])
    assert registry.get("activation", "relu").provenance.distribution == "nnexp"
    assert "wrong_backward" in registry.plugins

    blocked = sorted([*FAILING, CONFLICTING])
    out = run([NNEXP, "plugins", "--json"], site, NNEXP_BLOCK_PLUGINS=",".join(blocked),
              NNEXP_STRICT_PLUGINS="1")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["failures"] == [] and report["conflicts"] == []
    assert [b["plugin"] for b in report["blocked"]] == blocked
    assert ("broken_import", LOAD_FAILURES["broken_import"][0]) in [
        (b["plugin"], b["distribution"]) for b in report["blocked"]]
    assert not set(blocked) & {e["name"] for e in report["plugins"]}
