"""``nnexp plugins new`` writes a package that installs and passes its own tests as generated:
it is written by the real console script, pip-installed (its entry point then found through
its dist-info), its generated tests run with pytest, ``nnexp check`` passes it, and a tracked
run uses every component it made, each tagged with the package's name and version."""

import re
import sys

import pytest
from conftest import FAST, store_runs
from plugin_fixtures import NNEXP, pip_install, run

KINDS = ("activation", "loss", "layer", "optimizer", "schedule", "initializer", "dataset")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """``nnexp plugins new demo`` (every kind), written and pip-installed: (package, site)."""
    parent = tmp_path_factory.mktemp("new")
    out = run([NNEXP, "plugins", "new", "demo", "--dir", parent])
    assert out.returncode == 0, out.stderr
    assert "nnexp check --distribution nnexp-demo" in out.stdout
    package = parent / "nnexp-demo"
    site = pip_install([package], tmp_path_factory.mktemp("site"), tmp_path_factory.mktemp("build"))
    return package, site


def test_the_package_has_an_entry_point_and_a_module_per_kind(demo):
    package, _ = demo
    files = sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file())
    modules = ["activations", "datasets", "hooks", "initializers", "layers", "losses", "optimizers",
               "schedules"]
    assert files == sorted(["README.md", "pyproject.toml", "tests/test_demo.py",
                            "src/nnexp_demo/__init__.py", "src/nnexp_demo/plugin.py",
                            *(f"src/nnexp_demo/{m}.py" for m in modules)])
    assert '[project.entry-points.nnexp]\ndemo = "nnexp_demo.plugin"' in (package / "pyproject.toml").read_text()


def test_the_generated_tests_pass_once_installed(demo):
    package, site = demo
    out = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", package / "tests"], site,
              cwd=package)
    assert out.returncode == 0, out.stdout + out.stderr
    passed = int(re.search(r"(\d+) passed", out.stdout).group(1))
    assert passed >= 45 and "failed" not in out.stdout  # the kit's checks of 7 components, and more
    collected = run([sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider",
                     package / "tests"], site, cwd=package).stdout
    assert all(f"[{kind}:demo_" in collected for kind in KINDS), collected


def test_nnexp_check_passes_every_generated_component(demo):
    _, site = demo
    out = run([NNEXP, "check", "--distribution", "nnexp-demo"], site)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "7 component(s) checked: 7 passed, 0 failed." in out.stdout


def test_a_tracked_run_uses_every_generated_component_and_tags_each(demo, tmp_path):
    _, site = demo
    layers = "[{type:dense,units:8},demo_scale,demo_isru,{type:dense,units:3},softmax]"
    out = run([NNEXP, "dataset=demo_blobs", "model=layers", f"model.layers={layers}",
               "model.init=demo_lecun_uniform", "loss=demo_log_cosh", "optimizer=demo_sign_sgd",
               "optimizer.lr=0.01", "schedule=demo_linear", "trainer.epochs=2", *FAST], site, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "demo: run FINISHED after 2 epoch(s), best loss" in out.stderr  # the generated hook
    (tracked,) = store_runs(tmp_path / "mlflow.db")
    tags = tracked.data.tags
    for kind, name in [("dataset", "demo_blobs"), ("layer", "demo_scale"), ("activation", "demo_isru"),
                       ("initializer", "demo_lecun_uniform"), ("loss", "demo_log_cosh"),
                       ("optimizer", "demo_sign_sgd"), ("schedule", "demo_linear")]:
        assert tags[f"nnexp.component.{kind}.{name}"] == "nnexp-demo==0.1.0", (kind, name)
    assert tags["nnexp.plugin.demo"] == "nnexp-demo==0.1.0"


def test_only_the_kinds_asked_for_are_written_and_pass(tmp_path):
    out = run([NNEXP, "plugins", "new", "nnexp-my-acts", "--kinds", "activation,hook", "--dir", tmp_path])
    assert out.returncode == 0, out.stderr
    package = tmp_path / "nnexp-my-acts"
    modules = sorted(p.name for p in (package / "src" / "nnexp_my_acts").iterdir())
    assert modules == ["__init__.py", "activations.py", "hooks.py", "plugin.py"]
    site = pip_install([package], tmp_path / "site", tmp_path / "build")
    tests = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", package / "tests"], site,
                cwd=package)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "my_acts_isru" in run([NNEXP, "plugins"], site).stdout


@pytest.mark.parametrize(("args", "words"), [
    (["new", "Demo!"], "plugins new NAME: got 'Demo!'"),
    (["new", "demo", "--kinds", "activaton"], "Did you mean 'activation'"),
    (["new", "here"], "a directory that does not exist yet"),
])
def test_a_bad_request_is_one_message_and_exit_2(tmp_path, args, words):
    (tmp_path / "nnexp-here").mkdir()
    out = run([NNEXP, "plugins", *args, "--dir", tmp_path])
    assert out.returncode == 2, out.stdout + out.stderr
    assert words in out.stderr and "Traceback" not in out.stderr
