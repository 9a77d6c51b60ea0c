"""Hyperparameter search through the real ``nnexp`` CLI: nnexp's Optuna sweeper, every trial
a child run of one parent, a persistent study that an interrupted search continues."""

from __future__ import annotations

import math
import signal
import sqlite3
import time

import optuna
import pytest
import yaml
from conftest import Watched, store_client, store_runs

from nnexp.search import objective
from nnexp.search.space import search_space

#: A small, quick search on the spirals: 8 trials of a few epochs, no pictures per run.
SEARCH = ["-m", "+experiment=spirals", "hparams_search=spirals_optuna", "dataset.n=200",
          "trainer.epochs=4", "tracking.plot=false", "hydra.sweeper.n_trials=8",
          "hydra.sweeper.sampler.n_startup_trials=4"]


def test_hydra_sweep_syntax_becomes_optuna_distributions():
    space, fixed = search_space([
        "optimizer.lr=tag(log, interval(0.001, 0.1))", "model.hidden=choice([32,32],[64,64])",
        "trainer.epochs=range(10, 40, 10)", "seed=3", "+experiment=spirals"])
    lr, hidden, epochs = space["optimizer.lr"], space["model.hidden"], space["trainer.epochs"]
    assert (lr.low, lr.high, lr.log) == (0.001, 0.1, True)
    assert hidden.choices == ("[32,32]", "[64,64]")  # lists as their override text
    assert (epochs.low, epochs.high, epochs.step) == (10, 30, 10)  # range's end is exclusive
    assert fixed == {"seed": "3", "+experiment": "spirals"}
    (units,) = search_space(["model.hidden.0=tag(log, int(interval(8, 256)))"])[0].values()
    assert (type(units).__name__, units.low, units.high, units.log) == ("IntDistribution", 8, 256, True)


def test_the_task_returns_the_optimized_metric_and_nan_for_a_failed_run():
    done = {"status": "FINISHED", "metrics": {"val_loss": 0.25, "loss": 0.5}}
    assert objective({"optimized_metric": "val_loss"}, done) == 0.25
    assert math.isnan(objective({"optimized_metric": "val_loss"}, {**done, "status": "FAILED"}))
    assert math.isnan(objective({"optimized_metric": "test_loss"}, done))  # not reported
    assert objective({"optimized_metric": None}, done) is None


def _study(tmp_path):
    return optuna.load_study(study_name="spirals_optuna", storage=f"sqlite:///{tmp_path / 'optuna.db'}")


def test_a_search_of_8_trials_records_every_trial_under_one_finished_parent(nnexp_cli, tmp_path):
    out = nnexp_cli(*SEARCH, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    study = _study(tmp_path)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 8
    runs = store_runs(tmp_path / "mlflow.db")
    (parent,) = [r for r in runs if r.data.tags.get("nnexp.sweep") == "true"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.info.status == "FINISHED" and len(children) == 8, out.stdout[-2000:] + out.stderr[-3000:]
    assert all(c.info.status == "FINISHED" for c in children)
    # Each trial's value is its run's val_loss; the best one is recorded on the parent.
    by_run = {c.info.run_id: c.data.metrics["val_loss"] for c in children}
    assert sorted(t.value for t in study.trials) == pytest.approx(sorted(by_run.values()))
    best = min(by_run, key=by_run.get)
    assert study.best_trial.user_attrs["nnexp.run_id"] == best
    assert parent.data.tags["nnexp.search.best_run_id"] == best
    mc = store_client(tmp_path / "mlflow.db")
    files = {a.path for a in mc.list_artifacts(parent.info.run_id, "search")}
    assert files == {"search/trials.csv", "search/best.yaml", "search/optimization_history.png",
                     "search/param_importances.png"}
    local = mc.download_artifacts(parent.info.run_id, "search/best.yaml", str(tmp_path))
    assert yaml.safe_load(open(local))["value"] == pytest.approx(by_run[best])
    assert f"nnexp: best trial #{study.best_trial.number}" in out.stdout


def test_an_interrupted_search_continues_its_study_when_run_again(tmp_path):
    args = [*SEARCH[:4], "dataset.n=400", "trainer.epochs=40", "tracking.plot=false",
            "hydra.sweeper.n_trials=6", "hydra.sweeper.sampler.n_startup_trials=3"]
    first = Watched(args, tmp_path)
    deadline = time.monotonic() + 300
    while _complete(tmp_path) < 2:  # two trials finished: stop the search in its third
        assert first.proc.poll() is None and time.monotonic() < deadline, first.stderr[-3000:]
        time.sleep(0.3)
    assert first.stop(signal.SIGTERM) == 143, first.stderr[-3000:]
    before = {t.number: t.value for t in _study(tmp_path).trials if t.state.name == "COMPLETE"}
    assert 2 <= len(before) < 6
    (killed,) = [r for r in store_runs(tmp_path / "mlflow.db") if r.data.tags.get("nnexp.sweep")]
    assert killed.info.status == "KILLED"

    second = Watched(args, tmp_path)
    assert second.proc.wait(600) == 0, second.stderr[-3000:]
    assert f"{len(before)} of 6 trials done, {6 - len(before)} to run" in second.stdout
    trials = _study(tmp_path).trials
    done = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]  # a verdict each
    assert len(done) == 6, [(t.number, t.state.name) for t in trials]  # the study's total, not 6 more
    assert {t.number: t.value for t in done if t.number in before} == before  # kept
    # an interrupted trial runs again with the same parameters; one stopped while Optuna drew
    # them (the signal landed in the sampler, before any job) keeps what it had drawn
    interrupted = [t for t in trials if t.state.name == "FAIL"]
    for lost in interrupted:
        again = [t for t in done if t.number > lost.number]
        assert any(lost.params.items() <= t.params.items() for t in again), \
            [(t.number, t.state.name, t.params) for t in trials]


def _complete(tmp_path) -> int:
    db = tmp_path / "optuna.db"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return con.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is being created
        return 0


def test_pruned_trials_stop_early_and_are_recorded_as_pruned(nnexp_cli, tmp_path):
    out = nnexp_cli(*SEARCH[:4], "trainer.epochs=12", "tracking.plot=false", "hydra.sweeper.n_trials=8",
                    "hydra.sweeper.sampler.n_startup_trials=4", "hydra.sweeper.pruner.n_startup_trials=2",
                    "hydra.sweeper.pruner.n_warmup_steps=1",
                    "optimizer.lr=tag(log, interval(0.0001, 0.3))", timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    trials = _study(tmp_path).trials
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert pruned, [t.state.name for t in trials]
    mc = store_client(tmp_path / "mlflow.db")
    for trial in trials:
        epochs = len(mc.get_metric_history(trial.user_attrs["nnexp.run_id"], "val_loss"))
        if trial.state.name == "PRUNED":  # stopped at the epoch the pruner chose, run kept
            assert epochs == trial.user_attrs["nnexp.pruned_epoch"] < 12
            assert max(trial.intermediate_values) == epochs
        else:
            assert epochs == 12


def test_an_unknown_optimized_metric_is_one_message_before_any_run(nnexp_cli, tmp_path):
    out = nnexp_cli(*SEARCH, "optimized_metric=val_acc")
    assert out.returncode == 2
    assert "Unknown optimized_metric 'val_acc'" in out.stderr and "val_accuracy" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "mlflow.db").exists() or store_runs(tmp_path / "mlflow.db") == []


def test_a_bad_choice_in_the_search_space_is_found_before_any_trial(nnexp_cli, tmp_path):
    out = nnexp_cli(*SEARCH, "model.activation=choice(relu, rleu)")
    assert out.returncode == 2, out.stderr[-2000:]
    assert "model.activation=rleu" in out.stderr and "Did you mean 'relu'" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "optuna.db").exists()
    assert not (tmp_path / "mlflow.db").exists() or store_runs(tmp_path / "mlflow.db") == []
