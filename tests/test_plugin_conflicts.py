"""Name conflicts do not break the host (issue 11, item 3), through the real entry-point path.

nnexp-fixture-duplicate (``relu`` and ``mse``, which nnexp has, and ``fixture_twin``) and
nnexp-fixture-twin (``fixture_twin`` too, and ``twin_only``) are pip-installed: the built-ins
keep their names, so default runs work; ``distribution:name`` reaches each plugin's component
from the command line (Hydra values and group options) and the Python API; two plugins claiming
one new name make the bare name ambiguous while their other components keep working; strict
mode refuses. The duplicate's relu and mse say on stderr when they are built.
"""

import json

import pytest
from conftest import FAST, store_runs
from plugin_fixtures import HERE, NNEXP, TWIN, pip_install, python, run

import nnexp

QUICK = ["dataset=moons", "dataset.n=100", "trainer.epochs=1"]
RELU_BUILT, MSE_BUILT = "nnexp-fixture-duplicate: relu built", "nnexp-fixture-duplicate: mse built"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return pip_install([HERE / "duplicate", HERE / TWIN], tmp_path_factory.mktemp("site"),
                       tmp_path_factory.mktemp("build"))


def test_default_run_keeps_the_builtins_and_warns_in_one_line_naming_both(site, tmp_path):
    out = run([NNEXP, *QUICK, "tracking=off"], site, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert RELU_BUILT not in out.stderr
    warning = [line for line in out.stderr.splitlines() if "'relu' is registered by" in line]
    assert len(warning) == 1, out.stderr
    assert f"nnexp {nnexp.__version__} (plugin 'nnexp.activations')" in warning[0]
    assert "nnexp-fixture-duplicate 0.1.0 (plugin 'duplicate')" in warning[0]
    assert "'nnexp-fixture-duplicate:relu'" in warning[0]
    mse = run([NNEXP, *QUICK, "loss=mse", "tracking=off"], site, cwd=tmp_path)
    assert mse.returncode == 0 and MSE_BUILT not in mse.stderr, mse.stderr


def test_qualified_names_reach_the_plugins_components_from_the_command_line(site, tmp_path):
    out = run([NNEXP, *QUICK, "model.activation=nnexp-fixture-duplicate:relu",
               "loss=nnexp-fixture-duplicate:mse", *FAST], site, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert RELU_BUILT in out.stderr and MSE_BUILT in out.stderr
    (tracked,) = store_runs(tmp_path / "mlflow.db")
    tags = tracked.data.tags
    for kind, name in (("activation", "relu"), ("loss", "mse")):
        assert tags[f"nnexp.component.{kind}.nnexp-fixture-duplicate:{name}"] == "nnexp-fixture-duplicate==0.1.0"
        assert f"nnexp.component.{kind}.{name}" not in tags  # the built-in took no part


def test_a_sweep_over_both_relus_runs_each_from_its_provider(site, tmp_path):
    out = run([NNEXP, "-m", *QUICK, "model.activation=relu,nnexp-fixture-duplicate:relu", *FAST],
              site, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert RELU_BUILT in out.stderr
    children = [r for r in store_runs(tmp_path / "mlflow.db") if "mlflow.parentRunId" in r.data.tags]
    providers = sorted(v for r in children for k, v in r.data.tags.items()
                       if k.startswith("nnexp.component.activation.") and "relu" in k)
    assert providers == ["nnexp-fixture-duplicate==0.1.0", f"nnexp=={nnexp.__version__}"]


def test_a_name_two_plugins_claim_is_ambiguous_and_their_other_components_work(site, tmp_path):
    out = run([NNEXP, *QUICK, "model.activation=fixture_twin", "tracking=off"], site, cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "'fixture_twin' is ambiguous" in out.stderr and "Traceback" not in out.stderr
    assert "'nnexp-fixture-duplicate:fixture_twin' or 'nnexp-fixture-twin:fixture_twin'" in out.stderr
    for activation in ("nnexp-fixture-twin:fixture_twin", "twin_only", "fixture_cube"):
        ok = run([NNEXP, *QUICK, f"model.activation={activation}", "tracking=off"], site, cwd=tmp_path)
        assert ok.returncode == 0, (activation, ok.stderr)


def test_python_api_reaches_each_provider_by_its_qualified_name(site):
    code = """
import json, nnexp
reg = nnexp.get_registry()
def module(kind, name):
    return type(reg.create(kind, name)).__module__
print(json.dumps({n: module(k, n) for k, n in [
    ("activation", "relu"), ("activation", "nnexp-fixture-duplicate:relu"), ("loss", "mse"),
    ("loss", "nnexp_fixture_duplicate:mse"), ("activation", "NNEXP-fixture-twin:fixture_twin"),
    ("activation", "nnexp:relu")]}))
"""
    out = python(code, site)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "relu": "nnexp.builtins.activations", "nnexp-fixture-duplicate:relu": "nnexp_fixture_duplicate",
        "mse": "nnexp.builtins.losses", "nnexp_fixture_duplicate:mse": "nnexp_fixture_duplicate",
        "NNEXP-fixture-twin:fixture_twin": "nnexp_fixture_twin", "nnexp:relu": "nnexp.builtins.activations"}


def test_strict_mode_refuses_a_conflict(site, tmp_path):
    out = run([NNEXP, *QUICK, "tracking=off"], site, cwd=tmp_path, NNEXP_STRICT_PLUGINS="1")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Activation 'relu' is registered twice" in out.stderr and "Traceback" not in out.stderr
    listing = run([NNEXP, "plugins", "--json"], site)
    conflicts = {c["name"]: c for c in json.loads(listing.stdout)["conflicts"]}
    assert conflicts["fixture_twin"]["kept"] is None
    assert conflicts["mse"]["qualified"] == ["nnexp-fixture-duplicate:mse"]
