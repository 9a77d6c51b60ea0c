"""`nnexp compare` on real SQLite stores: in-process through the CLI's subcommand runner, and
once through the real `nnexp` command in a subprocess (exit code, no traceback)."""

import shutil
import subprocess
import sys

import pandas as pd
import pytest

from nnexp import tracking
from tracking_helpers import make_sweep, tracked_fit


@pytest.fixture(scope="module")
def sweep_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    uri = tracking.resolve_uri("sqlite:///mlflow.db", root)
    exp = tracking.ensure_experiment(uri, "lr-sweep")
    (root / "empty").mkdir()
    shutil.copy(root / "mlflow.db", root / "empty" / "mlflow.db")  # a store with no runs yet
    parent, jobs, _ = make_sweep(uri, exp, lrs=(0.2, 1.0), seeds=(0, 1))
    other = tracking.ensure_experiment(uri, "single")
    tracked_fit(uri, other, run_name="lonely", epochs=1)
    return root, parent, jobs


@pytest.fixture
def compare(subcommand):
    """Run `nnexp compare ARGS` from ``cwd``; returns returncode, stdout, stderr."""
    return lambda cwd, *args: subcommand("compare", cwd, *args)


def test_latest_sweep_leaderboard_shows_varying_keys_and_writes_csv_and_pngs(sweep_store, tmp_path, compare):
    root, parent, jobs = sweep_store
    out = compare(root, "--sweep", "--csv", str(tmp_path / "t.csv"), "--png", str(tmp_path / "c.png"))
    assert out.returncode == 0, out.stderr
    header = out.stdout.splitlines()[1].split()
    assert header[:4] == ["run_name", "status", "optimizer.lr", "seed"]
    assert "epochs" not in header and "val_loss" in header  # constant keys are not columns
    table = pd.read_csv(tmp_path / "t.csv")
    assert sorted(table["run_id"]) == sorted(j["run_id"] for j in jobs)
    assert list(table["val_loss"]) == sorted(table["val_loss"])  # best first
    assert (tmp_path / "c.png").stat().st_size > 0
    assert (tmp_path / "c_seeds.png").stat().st_size > 0  # seeds vary: mean ± std chart


def test_sort_by_another_metric_and_pick_a_sweep_by_id(sweep_store, tmp_path, compare):
    root, parent, jobs = sweep_store
    out = compare(root, "--sweep", parent, "--metric", "val_accuracy", "--no-png",
                  "--csv", str(tmp_path / "t.csv"))
    assert out.returncode == 0, out.stderr
    acc = list(pd.read_csv(tmp_path / "t.csv")["val_accuracy"])
    assert acc == sorted(acc, reverse=True)


def test_an_experiment_by_name_without_a_sweep_parent(sweep_store, compare):
    root, parent, _ = sweep_store
    out = compare(root, "--experiment", "lr-sweep", "--no-png")
    assert out.returncode == 0, out.stderr
    assert "4 run(s)" in out.stdout and parent not in out.stdout


def test_unknown_experiment_suggests_the_nearest_name(sweep_store):
    root, _, _ = sweep_store
    out = subprocess.run([sys.executable, "-m", "nnexp.cli", "compare", "--experiment", "lr_sweep",
                          "--no-png"], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "Unknown experiment 'lr_sweep'" in out.stderr and "Did you mean 'lr-sweep'?" in out.stderr
    assert "Traceback" not in out.stderr


def test_unknown_metric_lists_the_available_ones(sweep_store, compare):
    root, _, _ = sweep_store
    out = compare(root, "--sweep", "--metric", "val_los", "--no-png")
    assert out.returncode == 2 and "Did you mean 'val_loss'?" in out.stderr


def test_a_missing_store_says_how_to_create_runs(tmp_path, compare):
    out = compare(tmp_path, "--no-png")
    assert out.returncode == 2
    assert "No MLflow store" in out.stderr and "nnexp +experiment=tutorial" in out.stderr
    assert not (tmp_path / "mlflow.db").exists()  # compare never creates a store


def test_an_empty_store_says_how_to_create_runs(sweep_store, compare):
    out = compare(sweep_store[0] / "empty", "--no-png")
    assert out.returncode == 2 and "no runs yet" in out.stderr


def test_picture_titles_cut_run_ids_to_eight_characters():
    from nnexp.commands.compare import short_title

    title = "sweep sweep-xor-20261125-144840 (63991cedccea4da78b2020fdf9872555)"
    assert short_title(title) == "sweep sweep-xor-20261125-144840 (63991ced)"
    assert short_title("experiment lr-sweep") == "experiment lr-sweep"


def test_a_run_that_is_not_a_sweep_parent_is_refused_by_sweep(sweep_store, compare):
    root, _, jobs = sweep_store
    out = compare(root, "--sweep", jobs[0]["run_id"], "--no-png")
    assert out.returncode == 2 and "is not a sweep's parent run" in out.stderr
    assert jobs[0]["run_name"] in out.stderr


def test_a_negative_top_is_refused_rather_than_dropping_rows(sweep_store, compare, capsys):
    with pytest.raises(SystemExit) as exc:  # argparse's usage error
        compare(sweep_store[0], "--top", "-1", "--no-png")
    assert exc.value.code == 2
    assert "--top: got -1; expected a number of rows >= 0" in capsys.readouterr().err


def test_a_sweep_without_jobs_says_how_to_create_runs(tmp_path, compare):
    uri = tracking.resolve_uri("sqlite:///mlflow.db", tmp_path)
    parent = tracking.start_sweep(uri, tracking.ensure_experiment(uri, "e"), "no-jobs")
    out = compare(tmp_path, "--sweep", parent, "--no-png")
    assert out.returncode == 2 and "no-jobs" in out.stderr and "holds no runs yet" in out.stderr


def test_importing_compare_loads_no_heavy_library():
    # pandas, mlflow and scipy (~0.2 s each) load when a command needs them, not at import
    code = ("import sys, nnexp.commands.compare\n"
            "print([m for m in ('mlflow', 'pandas', 'scipy', 'matplotlib') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr + out.stdout


def test_runs_are_read_page_by_page_so_none_is_cut_off(sweep_store):
    from mlflow.tracking import MlflowClient

    from nnexp.commands.compare import search_all

    root, parent, jobs = sweep_store
    mc = MlflowClient(tracking.resolve_uri("sqlite:///mlflow.db", root))
    children = search_all(mc, [mc.get_run(parent).info.experiment_id],
                          f"tags.mlflow.parentRunId = '{parent}'", page_size=3)  # 4 jobs: 2 pages
    assert sorted(r.info.run_id for r in children) == sorted(j["run_id"] for j in jobs)


def test_printed_table_drops_an_empty_error_column_and_a_repeated_key():
    """Issue 12: an empty `error` column, and both `seed` and `dataset.seed`."""
    from nnexp.commands.compare import _redundant

    shown = pd.DataFrame({"run_name": ["a", "b"], "seed": [0, 1], "dataset.seed": [0, 1],
                          "optimizer.lr": [0.1, 0.1], "loss": [0.5, 0.4], "error": ["", ""]})
    assert _redundant(shown, ["seed", "dataset.seed", "optimizer.lr"]) == ["error", "dataset.seed"]
    shown.loc[1, "error"] = "diverged"
    assert _redundant(shown, ["seed", "optimizer.lr"]) == []


def test_a_sweeps_title_names_it_once(sweep_store, compare):
    root, parent, _ = sweep_store
    out = compare(root, "--sweep", "--no-png")
    assert out.returncode == 0 and "sweep sweep" not in out.stdout.splitlines()[0]
