"""`nnexp check` through the installed console script: passes on the built-ins, fails naming
component and distribution for a wrong one, did-you-mean for an unknown name."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import gradcheck_mutants
import pytest

import nnexp
from nnexp.commands import check

NNEXP = str(Path(sys.executable).parent / "nnexp")
BUILTIN_NAMES = ["relu", "gelu", "softmax", "dense", "batchnorm", "dropout", "cross_entropy", "hinge",
                 "adam", "sgd", "cosine", "step", "he_normal", "xavier_uniform", "spirals", "csv"]


def run_nnexp(*args, pythonpath=None):
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    return subprocess.run([NNEXP, "check", *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def broken_dist(tmp_path_factory):
    """The mutants as an installed-looking distribution 'broken-acts' 0.3 (dist-info on the path)."""
    root = tmp_path_factory.mktemp("site")
    shutil.copy(gradcheck_mutants.__file__, root / "broken_acts_plugin.py")
    info = root / "broken_acts-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-acts\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text("[nnexp]\nbroken_acts = broken_acts_plugin\n")
    return root


def test_check_passes_on_the_builtins():
    proc = run_nnexp("--distribution", "nnexp")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    for name in BUILTIN_NAMES:
        assert any(line.startswith("PASS") and f" {name} " in line and "nnexp==" in line for line in lines), name
    assert "FAIL" not in proc.stdout


def test_check_fails_naming_the_wrong_component_and_its_distribution(broken_dist):
    proc = run_nnexp(pythonpath=broken_dist)
    assert proc.returncode == 1
    line = next(line for line in proc.stdout.splitlines() if " bad_relu " in line)
    assert line.startswith("FAIL") and "broken-acts==0.3" in line
    assert "input_gradient" in proc.stdout and "analytic" in proc.stdout and "numeric" in proc.stdout
    assert any(line.startswith("PASS") and " relu " in line for line in proc.stdout.splitlines())


def test_check_json_reports_each_check_with_the_worst_error(broken_dist):
    proc = run_nnexp("bad_dense", "relu", "--json", pythonpath=broken_dist)
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    by_name = {c["name"]: c for c in report["components"]}
    assert by_name["relu"]["passed"] and not by_name["bad_dense"]["passed"]
    assert by_name["bad_dense"]["distribution"] == "broken-acts" and by_name["bad_dense"]["version"] == "0.3"
    (failed,) = [c for c in by_name["bad_dense"]["checks"] if not c["passed"]]
    assert failed["check"] == "param_gradients" and failed["worst"]["tensor"] == "W"
    assert failed["worst"]["analytic"] == pytest.approx(2 * failed["worst"]["numeric"], rel=1e-6)


def test_check_unknown_name_exits_2_with_did_you_mean():
    proc = run_nnexp("rleu")
    assert proc.returncode == 2
    assert "Did you mean 'relu'" in proc.stderr and "Traceback" not in proc.stderr


def test_check_main_with_a_registry_fails_for_a_registered_wrong_component(capsys):
    registry = nnexp.load_registry(extra_plugins=[("mutants", gradcheck_mutants)], entry_points=False)
    assert check.main(["sum_loss", "mse"], registry=registry) == 1
    out = capsys.readouterr().out
    assert "FAIL  loss        sum_loss" in out and "local==0" in out and "batch_mean" in out
    assert "PASS  loss        mse" in out
    assert check.main(["--kind", "loss", "mse", "hinge"], registry=registry) == 0


def test_check_reaches_every_kind_by_name_including_an_installed_optimizer():
    proc = run_nnexp("lion", "polynomial", "orthogonal", "constant")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    for kind, name, dist in [("optimizer", "lion", "nnexp-extras"), ("schedule", "polynomial", "nnexp-extras"),
                             ("initializer", "orthogonal", "nnexp-extras"), ("schedule", "constant", "nnexp"),
                             ("initializer", "constant", "nnexp")]:
        assert any(line.split()[:3] == ["PASS", kind, name] and f"{dist}==" in line for line in lines), (kind, name)


def test_check_distribution_checks_a_package_of_datasets():
    proc = run_nnexp("--distribution", "nnexp_sklearn", "--json")  # any spelling of the name
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert sorted(c["name"] for c in report["components"]) == [
        "breast_cancer", "digits", "iris", "sk_circles", "sk_moons", "wine"]
    for comp in report["components"]:
        assert comp["kind"] == "dataset" and comp["passed"]
        assert {c["check"] for c in comp["checks"]} == {"splits", "dtypes", "determinism",
                                                        "disjoint_splits", "targets"}


def test_check_unknown_distribution_suggests_the_nearest():
    proc = run_nnexp("--distribution", "nnexp-sklaern")
    assert proc.returncode == 2
    assert "Did you mean 'nnexp-sklearn'" in proc.stderr and "Traceback" not in proc.stderr


def test_check_fails_a_broken_optimizer_naming_the_check(capsys):
    import kit_specimens

    registry = nnexp.load_registry(extra_plugins=[("specimens", kit_specimens)], entry_points=False)
    assert check.main(["lion_cached_lr", "lion"], registry=registry) == 1
    out = capsys.readouterr().out
    assert "FAIL  optimizer   lion_cached_lr" in out and "lr_each_step: dense_0.W" in out
    assert "PASS  optimizer   lion" in out
